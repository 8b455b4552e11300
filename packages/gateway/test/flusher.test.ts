import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import type * as Flusher from "../src/Flusher"
import * as Spill from "../src/Spill"
import {
  accrueMessage,
  eventually,
  ledgerOf,
  makeProxiedShards as makeShards,
  makeStateDirectory,
  flushMember as member,
  queryUrl,
  startFlusher,
  xpOfUrl as xpOf,
} from "./counterFixtures"

describe("a failed flush keeps its batch and retries it", () => {
  it.scopedLive(
    "the DB shard refuses connections, then returns: same batch id, nothing lost or doubled",
    () =>
      Effect.gen(function* () {
        const { urls, proxy, gatewayUrls } = yield* makeShards
        const directory = yield* makeStateDirectory
        const { flusher, buffer } = yield* startFlusher(gatewayUrls, { directory })

        for (let n = 0; n < 10; n++) {
          for (let times = 0; times < 3; times++) yield* accrueMessage(buffer, 0, member(n))
        }
        yield* proxy.refuse
        const first = yield* flusher.flushNow
        expect(first).toMatchObject({ batches: 1, rows: 20, failedBatches: 1 })

        // New activity accumulates (merged, in the buffer) while the first batch waits; it
        // becomes a new batch once the first one is written.
        for (let n = 5; n < 15; n++) yield* accrueMessage(buffer, 0, member(n))
        const second = yield* flusher.flushNow
        expect(second).toMatchObject({ batches: 0, failedBatches: 0 })
        expect((yield* flusher.stats).bufferedRows).toBe(40)

        yield* Effect.sleep("300 millis")
        yield* proxy.restore
        yield* eventually(flusher.stats, (stats) => stats.flushes === 1)
        const third = yield* flusher.flushNow
        expect(third).toMatchObject({ batches: 1, rows: 20, failedBatches: 0 })
        expect(third.batchIds[0]).not.toBe(first.batchIds[0])
        expect((yield* flusher.stats).bufferedRows).toBe(0)

        expect(yield* ledgerOf(urls.get(0)!)).toEqual([...first.batchIds, ...third.batchIds].sort())
        const xp = yield* xpOf(urls.get(0)!)
        for (let n = 0; n < 15; n++) {
          expect(xp.get(member(n))).toBe((n < 10 ? 18 : 0) + (n >= 5 ? 6 : 0))
        }
      }),
  )

  it.scopedLive(
    "a commit whose reply is lost is not applied twice: the retry is a ledger no-op",
    () =>
      Effect.gen(function* () {
        const { urls, gatewayUrls } = yield* makeShards
        const directory = yield* makeStateDirectory
        const attempts: Array<string> = []
        const { flusher, buffer } = yield* startFlusher(gatewayUrls, {
          directory,
          wrap: (write) => (dbShardId, batch) =>
            Effect.gen(function* () {
              attempts.push(batch.batchId)
              yield* write(dbShardId, batch)
              if (attempts.length === 1) {
                // Committed, but the caller never hears of it.
                return yield* Effect.fail<Flusher.WriteFailure>({
                  retryable: true,
                  reason: "reply lost",
                })
              }
            }),
        })
        for (let n = 0; n < 4; n++) yield* accrueMessage(buffer, 0, member(n), 10)
        const summary = yield* flusher.flushNow
        expect(summary.failedBatches).toBe(1)
        yield* eventually(flusher.stats, (stats) => stats.bufferedRows === 0)

        expect(attempts).toEqual([summary.batchIds[0], summary.batchIds[0]])
        expect(yield* ledgerOf(urls.get(0)!)).toEqual([summary.batchIds[0]])
        const xp = yield* xpOf(urls.get(0)!)
        expect([...xp.values()]).toEqual([10, 10, 10, 10])
      }),
  )
})

describe("a batch that can never be written goes to the dead-letter file", () => {
  it.scopedLive(
    "after N non-retryable failures, with a log line; the other DB shard is not blocked",
    () =>
      Effect.gen(function* () {
        const { urls, gatewayUrls } = yield* makeShards
        const directory = yield* makeStateDirectory
        const { flusher, buffer, spill } = yield* startFlusher(gatewayUrls, {
          directory,
          flusher: { maxNonRetryableAttempts: 3 },
        })
        yield* queryUrl(urls.get(0)!, "DROP TABLE text_message")

        yield* accrueMessage(buffer, 0, member(1))
        yield* accrueMessage(buffer, 1, member(2))
        const summary = yield* flusher.flushNow
        expect(summary).toMatchObject({ batches: 2, failedBatches: 1 })

        const letters = yield* eventually(
          Effect.orDie(spill.readDeadLetters),
          (letters) => letters.length === 1,
        )
        expect(letters[0]).toMatchObject({ dbShardId: 0, attempts: 3 })
        expect(summary.batchIds).toContain(letters[0]!.batch.batchId)
        expect(letters[0]!.batch.deltas).toHaveLength(2)
        expect(letters[0]!.reason).toMatch(/text_message/)
        expect((yield* flusher.stats).bufferedRows).toBe(0)

        expect((yield* xpOf(urls.get(1)!)).get(member(2))).toBe(6)
        expect(yield* ledgerOf(urls.get(0)!)).toEqual([])
        const lines = (yield* Effect.promise(() =>
          Fs.readFile(Path.join(directory, Spill.fileNames.deadLetter), "utf8"),
        )).trim()
        expect(lines.split("\n")).toHaveLength(1)
      }),
  )
})

describe("flushes run every FLUSH_INTERVAL, and early when a buffer is full", () => {
  it.scoped(
    "nothing is written before the interval has passed, everything once it has (TestClock)",
    () =>
      Effect.gen(function* () {
        const { urls, gatewayUrls } = yield* makeShards
        const directory = yield* makeStateDirectory
        const { flusher, buffer } = yield* startFlusher(gatewayUrls, {
          directory,
          flusher: { interval: Duration.seconds(5) },
        })
        yield* accrueMessage(buffer, 1, member(7))
        yield* TestClock.adjust("4 seconds")
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 300)))
        expect((yield* flusher.stats).flushes).toBe(0)
        expect((yield* xpOf(urls.get(1)!)).size).toBe(0)

        yield* TestClock.adjust("1 second")
        yield* eventually(flusher.stats, (stats) => stats.flushes === 1)
        expect((yield* xpOf(urls.get(1)!)).get(member(7))).toBe(6)
      }),
  )

  it.scoped(
    "a buffer that passes its size threshold is flushed without waiting for the interval",
    () =>
      Effect.gen(function* () {
        const { urls, gatewayUrls } = yield* makeShards
        const directory = yield* makeStateDirectory
        const { flusher, buffer } = yield* startFlusher(gatewayUrls, {
          directory,
          buffer: { fullAt: 10 },
          flusher: { interval: Duration.hours(1) },
        })
        for (let n = 0; n < 4; n++) yield* accrueMessage(buffer, 1, member(n))
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 200)))
        expect((yield* flusher.stats).flushes).toBe(0)
        for (let n = 4; n < 5; n++) yield* accrueMessage(buffer, 1, member(n))
        yield* eventually(flusher.stats, (stats) => stats.flushes === 1)
        expect((yield* xpOf(urls.get(1)!)).size).toBe(5)
      }),
  )
})
