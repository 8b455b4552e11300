import { describe, expect, it } from "@effect/vitest"
import * as Snowflakes from "@tally/domain/Snowflake"
import { ManagerClient } from "@tally/manager/ManagerClient"
import { Duration, Effect, Layer, Option, TestClock } from "effect"
import * as ActivityBuffers from "../src/ActivityBuffer"
import { ActivityBuffer, memberKey } from "../src/ActivityBuffer"
import { Counter, LastMessageChannels } from "../src/Counter"
import { Flusher } from "../src/Flusher"
import {
  accrueMessage,
  coreLayer,
  databaseUrl,
  eventually,
  flushMember,
  id,
  keys,
  makeDatabases,
  makeProxiedShards,
  makeStateDirectory,
  mariaDbProxy,
  message,
  query,
  queryUrl,
  startFlusher,
  startManager,
  testCoreOptions,
  textAward,
  throughProxy,
} from "./counterFixtures"

const guildId = id(700_000_000_000_000_001n)
const channelId = id(700_000_000_000_000_002n)
const member = (n: number) => id(800_000_000_000_000_000n + BigInt(n))
const at = Date.UTC(2026, 11, 4, 9, 0, 0)

const award = (xp: number) => textAward(xp, channelId)

describe("a member's total leaves memory only once idle and written", () => {
  it.effect(
    "rows in the buffer or in an unsettled swap keep a member; a settled, idle one goes",
    () =>
      Effect.gen(function* () {
        const buffer = yield* ActivityBuffers.make()
        const [a, b, c] = [member(1), member(2), member(3)]
        yield* buffer.installTotals(
          0,
          [a, b, c].map((userId) => [memberKey(guildId, userId), 10] as const),
        )
        const accrue = (userId: Snowflakes.Snowflake) =>
          buffer.transact(0, (step) => step.accrue(guildId, userId, award(5), keys))
        yield* accrue(a)
        yield* accrue(b)
        const first = Option.getOrThrow(yield* buffer.swap(0))
        yield* accrue(b)
        // Everything was touched at 0 (the test clock's start); the cutoff is a minute later.
        const cutoff = Duration.toMillis(Duration.minutes(1))

        // c never accrued: nothing of it is unwritten. a is in the unsettled first swap, b has
        // rows in the buffer.
        expect(yield* buffer.evictIdle(0, cutoff)).toBe(1)
        expect(yield* buffer.missingTotals(0, guildId, [a, b, c])).toEqual([c])

        yield* buffer.settle(0, first.swap)
        expect(yield* buffer.evictIdle(0, cutoff)).toBe(1)
        expect(yield* buffer.missingTotals(0, guildId, [a, b])).toEqual([a])
        expect(yield* buffer.totalOf(0, guildId, b)).toEqual(Option.some(20))

        // b's rows go into a second swap; settling it ahead of the first would not free a
        // member whose earlier rows an older, unsettled swap might hold.
        const second = Option.getOrThrow(yield* buffer.swap(0))
        expect(yield* buffer.evictIdle(0, cutoff)).toBe(0)
        yield* buffer.settle(0, second.swap)
        expect(yield* buffer.evictIdle(0, cutoff)).toBe(1)
        expect(yield* buffer.memberCount).toBe(0)
      }),
  )

  it.effect("a member touched since the cutoff stays", () =>
    Effect.gen(function* () {
      const buffer = yield* ActivityBuffers.make()
      yield* buffer.installTotals(0, [[memberKey(guildId, member(1)), 0]])
      yield* buffer.installTotals(0, [[memberKey(guildId, member(2)), 0]])
      yield* TestClock.adjust(Duration.minutes(10))
      yield* buffer.transact(0, (step) => step.accrue(guildId, member(2), award(5), keys))
      const swapped = Option.getOrThrow(yield* buffer.swap(0))
      yield* buffer.settle(0, swapped.swap)
      // Cut off at minute 5: member 1 (loaded at 0) is idle, member 2 (accrued at 10) is not.
      expect(yield* buffer.evictIdle(0, Duration.toMillis(Duration.minutes(5)))).toBe(1)
      expect(yield* buffer.missingTotals(0, guildId, [member(1), member(2)])).toEqual([member(1)])
    }),
  )
})

describe("a batch given up on keeps its members in memory", () => {
  it.scopedLive(
    "their totals hold its XP: a reload without it would repeat their level-ups (§9.10)",
    () =>
      Effect.gen(function* () {
        const { urls, gatewayUrls } = yield* makeProxiedShards
        const directory = yield* makeStateDirectory
        const { flusher, buffer } = yield* startFlusher(gatewayUrls, { directory })
        // Every write to this DB shard now fails for good (not retryable): dead-lettered.
        yield* queryUrl(urls.get(0)!, "DROP TABLE guild_member")
        yield* accrueMessage(buffer, 0, flushMember(1))
        yield* accrueMessage(buffer, 1, flushMember(2))
        yield* flusher.flushNow
        yield* eventually(flusher.stats, (stats) => stats.bufferedRows === 0)

        const everyone = Number.MAX_SAFE_INTEGER
        expect(yield* buffer.evictIdle(0, everyone)).toBe(0)
        // The written one, on the other DB shard, goes.
        expect(yield* buffer.evictIdle(1, everyone)).toBe(1)
        expect(yield* buffer.memberCount).toBe(1)
      }),
  )
})

/** One DB shard behind a proxy, a manager, and the counting core evicting soon when it may. */
const setup = Effect.gen(function* () {
  const databases = yield* makeDatabases(1)
  const manager = yield* startManager(databases)
  const directory = yield* makeStateDirectory
  const proxy = yield* mariaDbProxy()
  const shardName = databases.shardNames[0]!
  const context = yield* Layer.build(
    coreLayer({
      managerUrl: manager.url,
      shardUrls: new Map([[0, throughProxy(databaseUrl(shardName), proxy.port)]]),
      directory,
      core: {
        memberTotals: {
          ...testCoreOptions.memberTotals,
          // Short, yet longer than a load takes: a member loaded for a waiting event is not
          // evicted again before the event counts.
          idleTimeout: Duration.millis(100),
          sweepInterval: Duration.millis(20),
        },
        counter: { idleTimeout: Duration.hours(1), sweepInterval: Duration.millis(20) },
      },
    }),
  )
  return {
    proxy,
    shardName,
    counter: context.unsafeMap.get(Counter.key) as Counter["Type"],
    flusher: context.unsafeMap.get(Flusher.key) as Flusher["Type"],
    buffer: context.unsafeMap.get(ActivityBuffer.key) as ActivityBuffer["Type"],
    routes: context.unsafeMap.get(ManagerClient.key) as ManagerClient["Type"],
    lastChannels: context.unsafeMap.get(LastMessageChannels.key) as LastMessageChannels["Type"],
  }
})

const storedXp = (shardName: string, userId: Snowflakes.Snowflake) =>
  Effect.map(
    query<{ alltime: number }>(
      shardName,
      "SELECT alltime FROM guild_member WHERE guild_id = ? AND user_id = ?",
      [guildId, userId],
    ),
    (rows) => Number(rows[0]?.alltime ?? 0),
  )

describe("an evicted member's total comes back exact (ActivityRank lost unflushed XP, §9.10)", () => {
  it.scopedLive(
    "kept while its batch cannot be written; evicted once written; reloaded with every delta",
    () =>
      Effect.gen(function* () {
        const { proxy, shardName, counter, flusher, buffer, routes } = yield* setup
        const dbShardId = yield* Effect.orDie(routes.guildRoute(guildId))
        const writer = member(1)
        const sent = (offset: number) =>
          message({
            guildId,
            authorId: writer,
            channelId,
            messageId: Snowflakes.fromTimestamp(at + offset, offset),
          })
        const settled = eventually(counter.stats, (stats) => stats.waitingEvents === 0)

        yield* counter.countMessage(sent(0))
        yield* settled
        const before = Option.getOrThrow(yield* buffer.totalOf(dbShardId, guildId, writer))
        expect(before).toBeGreaterThan(0)

        // Its batch cannot be written: the member stays, whatever its idleness.
        yield* proxy.refuse
        expect((yield* flusher.flushNow).failedBatches).toBe(1)
        yield* Effect.sleep("250 millis")
        expect(yield* buffer.totalOf(dbShardId, guildId, writer)).toEqual(Option.some(before))

        // Written (the flusher's retry): evicted at the next sweep.
        yield* proxy.restore
        yield* eventually(buffer.memberCount, (count) => count === 0)
        expect(yield* storedXp(shardName, writer)).toBe(before)

        // The next message loads the total again, with every earlier delta in it.
        yield* counter.countMessage(sent(60_000))
        yield* settled
        const after = Option.getOrThrow(
          yield* eventually(buffer.totalOf(dbShardId, guildId, writer), Option.isSome),
        )
        expect(after).toBe(2 * before)
        yield* flusher.flushNow
        expect(yield* storedXp(shardName, writer)).toBe(2 * before)
      }),
  )

  it.scopedLive(
    "a writer is forgotten once the guild's messages are an hour newer than theirs, by the messages' times",
    () =>
      Effect.gen(function* () {
        const { counter, lastChannels } = yield* setup
        const quiet = member(2)
        const active = member(3)
        const sent = (authorId: Snowflakes.Snowflake, offset: number) =>
          message({
            guildId,
            authorId,
            channelId,
            messageId: Snowflakes.fromTimestamp(at + offset, offset % 4_000_000),
          })
        yield* counter.countMessage(sent(quiet, 0))
        yield* counter.countMessage(sent(active, 1_000))
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
        // Time passes for this process, little for the guild's messages: both are remembered.
        yield* Effect.sleep("100 millis")
        expect(yield* lastChannels.of(guildId, quiet)).toEqual(Option.some(channelId))

        yield* counter.countMessage(sent(active, 3_600_000 + 500))
        yield* eventually(lastChannels.of(guildId, quiet), Option.isNone)
        expect(yield* lastChannels.of(guildId, active)).toEqual(Option.some(channelId))
      }),
  )
})
