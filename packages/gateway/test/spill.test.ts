import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as ActivityDelta from "@tally/domain/ActivityDelta"
import * as Snowflakes from "@tally/domain/Snowflake"
import { ManagerClient } from "@tally/manager/ManagerClient"
import { Effect, Exit, Layer, Scope } from "effect"
import { Counter } from "../src/Counter"
import { Flusher } from "../src/Flusher"
import * as Spill from "../src/Spill"
import {
  accrueMessage,
  coreLayer,
  databaseUrl,
  eventually,
  flushGuildId,
  flushMember,
  id,
  keys,
  ledgerOf,
  makeDatabases,
  makeProxiedShards,
  makeProxy,
  makeStateDirectory,
  message,
  query,
  startFlusher,
  startManager,
  xpOfUrl,
} from "./counterFixtures"

const fileExists = (path: string) =>
  Effect.promise(() =>
    Fs.stat(path).then(
      () => true,
      () => false,
    ),
  )

describe("the spill file holds batches as they were, and replaces itself atomically", () => {
  it.scoped(
    "written batches read back equal; writing none removes the file; dead letters append",
    () =>
      Effect.gen(function* () {
        const directory = yield* makeStateDirectory
        const spill = Spill.make(directory)
        const guildId = id(1n)
        const userId = id(2n)
        const batch = {
          batchId: "01a2-test",
          deltas: [ActivityDelta.make({ kind: "xp", guildId, userId, amount: 6, keys })],
        }
        expect(yield* spill.readBatches).toEqual([])
        yield* spill.writeBatches([{ dbShardId: 3, batch }])
        expect(yield* spill.readBatches).toEqual([{ dbShardId: 3, batch }])
        yield* spill.writeBatches([])
        expect(yield* fileExists(Path.join(directory, Spill.fileNames.spill))).toBe(false)

        yield* spill.deadLetter({ dbShardId: 1, batch, attempts: 3, reason: "a", at: 1 })
        yield* spill.deadLetter({ dbShardId: 2, batch, attempts: 4, reason: "b", at: 2 })
        expect((yield* spill.readDeadLetters).map((letter) => letter.dbShardId)).toEqual([1, 2])
        const names = yield* Effect.promise(() => Fs.readdir(directory))
        expect(names.filter((name) => name.endsWith(".tmp"))).toEqual([])
      }),
  )
})

describe("shutdown with the DB shard down spills; the next start applies the spill exactly once", () => {
  it.scopedLive(
    "batch ids survive the spill, the spill is applied first and removed only after success",
    () =>
      Effect.gen(function* () {
        const { urls, proxy, gatewayUrls } = yield* makeProxiedShards
        const directory = yield* makeStateDirectory
        const spillPath = Path.join(directory, Spill.fileNames.spill)

        // First run: one batch fails before shutdown, more activity waits in the buffer.
        const firstRun = yield* Scope.make()
        const first = yield* startFlusher(gatewayUrls, { directory }).pipe(Scope.extend(firstRun))
        for (let n = 0; n < 5; n++) yield* accrueMessage(first.buffer, 0, flushMember(n))
        yield* proxy.refuse
        const failed = yield* first.flusher.flushNow
        expect(failed.failedBatches).toBe(1)
        for (let n = 0; n < 3; n++) yield* accrueMessage(first.buffer, 0, flushMember(n))
        const stopped = yield* first.flusher.shutdown("500 millis")
        expect(stopped).toEqual({ flushedRows: 0, spilledRows: 16 })
        yield* Scope.close(firstRun, Exit.void)

        const spilled = yield* Spill.make(directory).readBatches
        expect(spilled.map((entry) => entry.dbShardId)).toEqual([0, 0])
        expect(spilled.map((entry) => entry.batch.batchId)).toContain(failed.batchIds[0])
        const spillText = yield* Effect.promise(() => Fs.readFile(spillPath, "utf8"))

        // Second run, the DB shard is back: the spill is written first, then removed.
        yield* proxy.restore
        const secondRun = yield* Scope.make()
        const second = yield* startFlusher(gatewayUrls, { directory }).pipe(Scope.extend(secondRun))
        yield* second.flusher.spillSettled(0)
        expect(yield* fileExists(spillPath)).toBe(false)
        yield* Scope.close(secondRun, Exit.void)

        const xp = yield* xpOfUrl(urls.get(0)!)
        expect([0, 1, 2, 3, 4].map((n) => xp.get(flushMember(n)))).toEqual([12, 12, 12, 6, 6])
        const ledger = yield* ledgerOf(urls.get(0)!)
        expect(ledger).toEqual(spilled.map((entry) => entry.batch.batchId).sort())

        // A crash after the spill was written but before the file was removed: applied again, the
        // ledger makes it a no-op.
        yield* Effect.promise(() => Fs.writeFile(spillPath, spillText))
        const thirdRun = yield* Scope.make()
        const third = yield* startFlusher(gatewayUrls, { directory }).pipe(Scope.extend(thirdRun))
        yield* third.flusher.spillSettled(0)
        yield* Scope.close(thirdRun, Exit.void)
        expect(yield* fileExists(spillPath)).toBe(false)
        expect(yield* xpOfUrl(urls.get(0)!)).toEqual(xp)
        expect(yield* ledgerOf(urls.get(0)!)).toEqual(ledger)
      }),
  )

  it.scopedLive(
    "closing the layer with the DB shard down (the finalizer) spills within its time limit",
    () =>
      Effect.gen(function* () {
        const { proxy, gatewayUrls } = yield* makeProxiedShards
        const directory = yield* makeStateDirectory
        const run = yield* Scope.make()
        const { flusher, buffer } = yield* startFlusher(gatewayUrls, {
          directory,
          flusher: { shutdownTimeout: "700 millis" },
        }).pipe(Scope.extend(run))
        for (let n = 0; n < 4; n++) yield* accrueMessage(buffer, 0, flushMember(n))
        yield* proxy.refuse
        expect((yield* flusher.flushNow).failedBatches).toBe(1)
        for (let n = 0; n < 2; n++) yield* accrueMessage(buffer, 0, flushMember(n))

        const started = Date.now()
        yield* Scope.close(run, Exit.void)
        expect(Date.now() - started).toBeLessThan(5_000)
        const spilled = yield* Spill.make(directory).readBatches
        expect(spilled.reduce((rows, entry) => rows + entry.batch.deltas.length, 0)).toBe(12)
      }),
  )

  it.scopedLive(
    "events still waiting for their guild at shutdown are saved and counted once after the restart",
    () =>
      Effect.gen(function* () {
        const databases = yield* makeDatabases(2)
        const manager = yield* startManager(databases)
        const proxy = yield* makeProxy(Number(new URL(manager.url).port))
        const directory = yield* makeStateDirectory
        const shardUrls = new Map(
          databases.shardNames.map((name, dbShardId) => [dbShardId, databaseUrl(name)]),
        )
        const options = { managerUrl: `http://127.0.0.1:${proxy.port}`, shardUrls, directory }
        const at = Date.UTC(2026, 11, 3, 10, 0, 0)
        const events = Array.from({ length: 6 }, (_, index) =>
          message({
            guildId: flushGuildId,
            authorId: flushMember(index % 2),
            messageId: Snowflakes.fromTimestamp(at + index * 1000, index),
          }),
        )

        yield* proxy.refuse
        const firstRun = yield* Scope.make()
        const first = yield* Layer.build(coreLayer(options)).pipe(Scope.extend(firstRun))
        const counter = first.unsafeMap.get(Counter.key) as Counter["Type"]
        for (const event of events) yield* counter.countMessage(event)
        expect(yield* counter.shutdown).toEqual({ savedEvents: 6 })
        yield* Scope.close(firstRun, Exit.void)
        expect(yield* fileExists(Path.join(directory, Spill.fileNames.waiting))).toBe(true)

        yield* proxy.restore
        const secondRun = yield* Scope.make()
        const second = yield* Layer.build(coreLayer(options)).pipe(Scope.extend(secondRun))
        const counterAgain = second.unsafeMap.get(Counter.key) as Counter["Type"]
        const flusher = second.unsafeMap.get(Flusher.key) as Flusher["Type"]
        const routes = second.unsafeMap.get(ManagerClient.key) as ManagerClient["Type"]
        expect(yield* fileExists(Path.join(directory, Spill.fileNames.waiting))).toBe(false)
        yield* eventually(counterAgain.stats, (stats) => stats.waitingEvents === 0)
        yield* flusher.flushNow
        const dbShardId = yield* Effect.orDie(routes.guildRoute(flushGuildId))
        yield* Scope.close(secondRun, Exit.void)

        const rows = yield* query<{ userId: string; alltime: number }>(
          databases.shardNames[dbShardId]!,
          "SELECT user_id, alltime FROM guild_member WHERE guild_id = ? ORDER BY user_id",
          [flushGuildId],
        )
        expect(rows.map((row) => Number(row.alltime))).toEqual([18, 18])
      }),
  )
})
