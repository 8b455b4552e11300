import { describe, expect, it } from "@effect/vitest"
import * as ShardClients from "@tally/sql/ShardClients"
import { Context, Effect, Fiber, Layer, Option } from "effect"
import { ActivityBuffer } from "../src/ActivityBuffer"
import { Flusher } from "../src/Flusher"
import * as MemberTotalsModule from "../src/MemberTotals"
import { MemberTotals } from "../src/MemberTotals"
import {
  coreLayer,
  databaseUrl,
  id,
  makeDatabases,
  makeStateDirectory,
  query,
  startManager,
} from "./counterFixtures"

const guild = id(100_000_000_000_000_011n)
const member = (n: number) => id(200_000_000_000_000_000n + BigInt(n))

/** One DB shard whose guild_member rows hold `stored[n]` XP for member n. */
const setup = (stored: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const databases = yield* makeDatabases(1)
    const manager = yield* startManager(databases)
    const directory = yield* makeStateDirectory
    const shardName = databases.shardNames[0]!
    for (const [n, xp] of stored.entries()) {
      yield* query(
        shardName,
        "INSERT INTO guild_member (guild_id, user_id, alltime) VALUES (?, ?, ?)",
        [guild, member(n), xp],
      )
    }
    const context = yield* Layer.build(
      coreLayer({
        managerUrl: manager.url,
        shardUrls: new Map([[0, databaseUrl(shardName)]]),
        directory,
        // Two members per load: one call's members are split across several loads.
        core: { memberTotals: { maxBatch: 2, gatherWindow: 0 } },
      }),
    )
    return {
      context,
      totals: context.unsafeMap.get(MemberTotals.key) as MemberTotals["Type"],
      buffer: context.unsafeMap.get(ActivityBuffer.key) as ActivityBuffer["Type"],
    }
  })

describe("MemberTotals", () => {
  it.scopedLive(
    "a call returns only once every member it asked for is loaded, also when its members are split across loads and shared with another call",
    () =>
      Effect.gen(function* () {
        const stored = [10, 20, 30, 40, 50, 60, 70]
        const { totals, buffer } = yield* setup(stored)
        const first = [0, 1, 2, 3, 4].map(member)
        const second = [3, 4, 5, 6].map(member)
        const totalsOf = (members: ReadonlyArray<string>) =>
          Effect.forEach(members, (userId) =>
            Effect.map(buffer.totalOf(0, guild, userId as never), Option.getOrUndefined),
          )

        const one = yield* Effect.fork(
          Effect.zipRight(totals.ensureAllLoaded(0, guild, first), totalsOf(first)),
        )
        const two = yield* Effect.fork(
          Effect.zipRight(totals.ensureAllLoaded(0, guild, second), totalsOf(second)),
        )
        // What each call saw the moment it returned: every member it asked for, with its total.
        expect(yield* Fiber.join(one)).toEqual([10, 20, 30, 40, 50])
        expect(yield* Fiber.join(two)).toEqual([40, 50, 60, 70])
        expect(yield* buffer.missingTotals(0, guild, [...first, ...second])).toEqual([])
      }),
    30_000,
  )

  it.scopedLive(
    "a member without a stored row loads as 0, and a loaded member is not asked for again",
    () =>
      Effect.gen(function* () {
        const { totals, buffer } = yield* setup([5])
        yield* totals.ensureAllLoaded(0, guild, [member(0), member(1)])
        expect(Option.getOrUndefined(yield* buffer.totalOf(0, guild, member(1)))).toBe(0)
        expect(Option.getOrUndefined(yield* buffer.totalOf(0, guild, member(0)))).toBe(5)
        // Already in: returns without a load (a load would block on nothing here, so a hang shows).
        yield* totals
          .ensureAllLoaded(0, guild, [member(0), member(1)])
          .pipe(Effect.timeout("1 second"))
      }),
    30_000,
  )

  it.scopedLive(
    "a load that dies is retried: the call waiting for it returns with the stored total",
    () =>
      Effect.gen(function* () {
        const { context, buffer } = yield* setup([42])
        let installs = 0
        // The real buffer, but its first install dies (a defect, not a failure).
        const dyingOnce: ActivityBuffer["Type"] = {
          ...buffer,
          installTotals: (dbShardId, totals) =>
            ++installs === 1
              ? Effect.dieMessage("install broke")
              : buffer.installTotals(dbShardId, totals),
        }
        const totals = yield* MemberTotalsModule.make({
          gatherWindow: 0,
          retryDelay: "10 millis",
        }).pipe(
          Effect.provide(
            Context.make(ActivityBuffer, dyingOnce).pipe(
              Context.add(Flusher, Context.get(context, Flusher)),
              Context.add(
                ShardClients.ShardClients,
                Context.get(context, ShardClients.ShardClients),
              ),
            ),
          ),
        )
        yield* totals.ensureLoaded(0, guild, member(0)).pipe(Effect.timeout("10 seconds"))
        expect(Option.getOrUndefined(yield* buffer.totalOf(0, guild, member(0)))).toBe(42)
        expect(installs).toBe(2)
      }),
    30_000,
  )
})
