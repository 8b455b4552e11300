import { describe, expect, it } from "@effect/vitest"
import * as ActivityDelta from "@tally/domain/ActivityDelta"
import * as Award from "@tally/domain/Award"
import * as Snowflakes from "@tally/domain/Snowflake"
import * as ActivityWriter from "@tally/sql/ActivityWriter"
import * as ShardClients from "@tally/sql/ShardClients"
import { Effect, FastCheck, Layer, Option } from "effect"
import * as ActivityBuffers from "../src/ActivityBuffer"
import { ActivityBuffer, memberKey } from "../src/ActivityBuffer"
import { Counter } from "../src/Counter"
import { Flusher } from "../src/Flusher"
import * as SeenMessages from "../src/SeenMessages"
import * as Spill from "../src/Spill"
import {
  coreLayer,
  databaseUrl,
  eventually,
  id,
  keys,
  makeDatabases,
  makeStateDirectory,
  mariaDbProxy,
  message,
  query,
  startManager,
  token,
} from "./counterFixtures"

const guildId = id(500_000_000_000_000_001n)
const channelId = id(500_000_000_000_000_002n)
const member = (n: number) => id(600_000_000_000_000_000n + BigInt(n))

const xpDelta = (userId: Snowflakes.Snowflake, amount: number) =>
  ActivityDelta.make({ kind: "xp", guildId, userId, amount, keys })

/** A counted award of `messages` text messages (0: XP alone) worth `xp`. */
const award = (xp: number, messages = 1): Award.Counted =>
  Award.Award.Counted({
    statistic: "textMessages",
    amount: messages,
    baseXp: xp,
    bonus: 0,
    xp,
    channelId,
  }) as Award.Counted

describe("the buffer and the member's total change in one step", () => {
  it.effect("a swap hands rows over in primary-key order: guilds, members, then channels", () =>
    Effect.gen(function* () {
      const buffer = yield* ActivityBuffers.make()
      // Numeric order differs from the order of accrual and from the ids' text order.
      const [otherGuild, users, channels] = [id(7n), [id(30n), id(4n), id(200n)], [90n, 1000n, 7n]]
      const guilds = [guildId, otherGuild]
      yield* buffer.installTotals(
        0,
        guilds.flatMap((guild) => users.map((userId) => [memberKey(guild, userId), 0] as const)),
      )
      yield* buffer.transact(0, (step) => {
        for (const guild of guilds) {
          for (const userId of users) {
            for (const channel of channels) {
              step.accrue(guild, userId, { ...award(1), channelId: id(channel) }, keys)
            }
          }
        }
      })
      const { deltas } = Option.getOrThrow(yield* buffer.swap(0))
      const ofKind = (kind: ActivityDelta.DeltaKind) =>
        deltas.filter((delta) => delta.kind === kind)
      const inOrder = [otherGuild, guildId].flatMap((guild) =>
        [id(4n), id(30n), id(200n)].map((userId) => [guild, userId]),
      )
      expect(ofKind("xp").map((delta) => [delta.guildId, delta.userId])).toEqual(inOrder)
      expect(
        ofKind("textMessages").map((delta) => [delta.guildId, delta.userId, delta.channelId]),
      ).toEqual(inOrder.flatMap((member) => ["7", "90", "1000"].map((c) => [...member, c])))
      // So the writer takes the rows of a member's table (of a per-member kind) and of a
      // member-and-channel table as they are, not even copied.
      for (const target of ActivityWriter.targets) {
        const rows = ofKind(target.kind)
        const oneRowEach = ActivityDelta.isPerChannel(target.kind)
          ? target.idFields.length === 3
          : target.idFields.includes("userId")
        if (oneRowEach && rows.length > 0) expect(ActivityWriter.rowsOf(target, rows)).toBe(rows)
      }
    }),
  )

  it.effect("nothing is accrued for a member whose total is not loaded", () =>
    Effect.gen(function* () {
      const buffer = yield* ActivityBuffers.make()
      const result = yield* buffer.accrue(0, guildId, member(1), award(6), keys)
      expect(Option.isNone(result)).toBe(true)
      expect((yield* buffer.stats).rows).toBe(0)
    }),
  )

  it.effect("old and new totals come out of the accrual; equal keys merge into one row", () =>
    Effect.gen(function* () {
      const buffer = yield* ActivityBuffers.make()
      yield* buffer.installTotals(0, [[memberKey(guildId, member(1)), 100]])
      const first = yield* buffer.accrue(0, guildId, member(1), award(6), keys)
      const second = yield* buffer.accrue(0, guildId, member(1), award(6), keys)
      expect(first).toEqual(Option.some({ oldTotal: 100, newTotal: 106 }))
      expect(second).toEqual(Option.some({ oldTotal: 106, newTotal: 112 }))
      expect((yield* buffer.stats).rows).toBe(2)
      const swapped = yield* buffer.swap(0)
      const deltas = Option.getOrThrow(swapped).deltas
      expect(deltas.find((delta) => delta.kind === "xp")?.alltime).toBe(12)
      expect(deltas.find((delta) => delta.kind === "textMessages")?.day).toEqual({
        key: 20261203,
        amount: 2,
      })
    }),
  )

  it.effect(
    "a swap empties the buffer but keeps every total; a later load never overwrites a total",
    () =>
      Effect.gen(function* () {
        const buffer = yield* ActivityBuffers.make()
        yield* buffer.installTotals(3, [[memberKey(guildId, member(2)), 50]])
        yield* buffer.accrue(3, guildId, member(2), award(6, 0), keys)
        expect(Option.isSome(yield* buffer.swap(3))).toBe(true)
        expect(Option.isNone(yield* buffer.swap(3))).toBe(true)
        yield* buffer.installTotals(3, [[memberKey(guildId, member(2)), 50]])
        expect(yield* buffer.totalOf(3, guildId, member(2))).toEqual(Option.some(56))
        expect(yield* buffer.dbShardIds).toEqual([3])
      }),
  )
})

describe("a counted award goes straight into the member's rows", () => {
  const statistic = FastCheck.constantFrom<ActivityDelta.Statistic>(...ActivityDelta.statistics)
  // Days move forward, now and then across a week, month or year, and sometimes back (a late event).
  const periodKeys = FastCheck.record({
    year: FastCheck.integer({ min: 2025, max: 2027 }),
    month: FastCheck.integer({ min: 202501, max: 202512 }),
    week: FastCheck.integer({ min: 20250101, max: 20250103 }),
    day: FastCheck.integer({ min: 20250101, max: 20250104 }),
  })
  const counted = FastCheck.record({
    userId: FastCheck.constantFrom(member(1), member(2)),
    statistic,
    amount: FastCheck.integer({ min: -3, max: 3 }),
    baseXp: FastCheck.integer({ min: 0, max: 20 }),
    bonus: FastCheck.integer({ min: 0, max: 2 }),
    channelId: FastCheck.constantFrom(channelId, id(500_000_000_000_000_003n), null),
    keys: periodKeys,
  })

  it.effect.prop(
    "as the deltas `Award.toDeltas` would make them, merged: the same rows and totals",
    [FastCheck.array(counted, { maxLength: 30 })],
    ([events]) =>
      Effect.gen(function* () {
        const buffer = yield* ActivityBuffers.make()
        const start = new Map([
          [member(1), 10],
          [member(2), 20],
        ])
        yield* buffer.installTotals(
          0,
          [...start].map(([userId, total]) => [memberKey(guildId, userId), total] as const),
        )
        const awards = events.map((event) => ({
          ...event,
          award: Award.Award.Counted({
            statistic: event.statistic,
            amount: event.amount,
            baseXp: event.baseXp,
            bonus: event.bonus,
            xp: event.baseXp + event.bonus * 2,
            channelId: event.channelId,
          }) as Award.Counted,
        }))
        const totals = yield* buffer.transact(0, (step) =>
          awards.map((event) => step.accrue(guildId, event.userId, event.award, event.keys)),
        )
        // The reference: each award's deltas, merged by key, and running sums of XP.
        const expectedTotals = awards.map((event) => {
          const oldTotal = start.get(event.userId)!
          start.set(event.userId, oldTotal + event.award.xp)
          return { oldTotal, newTotal: oldTotal + event.award.xp }
        })
        const byKey = (list: ReadonlyArray<ActivityDelta.ActivityDelta>) =>
          list
            .map((delta) => ({ ...delta }))
            .sort((a, b) => ActivityDelta.key(a).localeCompare(ActivityDelta.key(b)))
        const expectedRows = ActivityDelta.mergeAll(
          awards.flatMap((event) =>
            Award.toDeltas(event.award, { guildId, userId: event.userId, keys: event.keys }),
          ),
        )
        const swapped = yield* buffer.swap(0)
        expect(totals).toEqual(expectedTotals)
        expect(byKey(Option.match(swapped, { onNone: () => [], onSome: (s) => s.deltas }))).toEqual(
          byKey(expectedRows),
        )
      }),
  )
})

describe("a window of recently counted message ids per Discord shard", () => {
  it.effect(
    "an id is new once per Discord shard; the last capacity/2 ids are kept, older ones leave",
    () =>
      Effect.gen(function* () {
        const seen = SeenMessages.make(4)
        const ids = [1n, 2n, 3n, 4n, 5n, 6n].map(id)
        expect(yield* seen.markIfNew(0, ids[0]!)).toBe(true)
        expect(yield* seen.markIfNew(0, ids[0]!)).toBe(false)
        expect(yield* seen.markIfNew(1, ids[0]!)).toBe(true)
        for (const next of ids.slice(1, 4)) yield* seen.markSeen(0, next)
        // 4 ids recorded, capacity 4: all still seen.
        for (const old of ids.slice(0, 4)) expect(yield* seen.isSeen(0, old)).toBe(true)
        yield* seen.markSeen(0, ids[4]!)
        yield* seen.markSeen(0, ids[5]!)
        // The two newest (capacity/2) at least are kept; the oldest have left.
        expect(yield* seen.isSeen(0, ids[0]!)).toBe(false)
        expect(yield* seen.isSeen(0, ids[4]!)).toBe(true)
        expect(yield* seen.isSeen(0, ids[5]!)).toBe(true)
        expect(yield* seen.isSeen(1, ids[0]!)).toBe(true)
      }),
  )
})

describe("the window of message ids against a window of id strings", () => {
  /** What the window must do, with strings in two generations of sets. */
  const reference = (capacity: number) => {
    const generation = Math.max(1, Math.ceil(capacity / 2))
    let current = new Set<string>()
    let previous = new Set<string>()
    return {
      has: (messageId: string) => current.has(messageId) || previous.has(messageId),
      add: (messageId: string) => {
        if (current.size >= generation) {
          previous = current
          current = new Set()
        }
        current.add(messageId)
      },
    }
  }
  // Ids of 1 to 20 digits, many alike in their last 9 digits or their leading ones, so that
  // halves collide and the table's probing is exercised.
  const messageId = FastCheck.oneof(
    FastCheck.bigInt({ min: 0n, max: 99n }),
    FastCheck.bigInt({ min: 0n, max: 3n }).map((n) => n * 1_000_000_000n + 7n),
    FastCheck.bigInt({ min: 1n, max: 18_446_744_073_709_551_615n }),
  ).map((n) => id(n))

  it.prop(
    "answers as the reference after any sequence of checks and records",
    [
      // Small windows turn over often; large ones make the tables grow.
      FastCheck.oneof(
        FastCheck.integer({ min: 1, max: 12 }),
        FastCheck.integer({ min: 100, max: 1_000 }),
      ),
      FastCheck.array(FastCheck.tuple(FastCheck.boolean(), messageId), {
        maxLength: 1_500,
        size: "max",
      }),
    ],
    ([capacity, operations]) => {
      const seen = SeenMessages.make(capacity)
      const model = reference(capacity)
      for (const [record, messageId] of operations) {
        expect(seen.unsafeIsSeen(0, messageId)).toBe(model.has(messageId))
        if (record) {
          seen.unsafeMarkSeen(0, messageId)
          model.add(messageId)
        }
      }
    },
  )
})

const routeOf = (managerUrl: string, guild: Snowflakes.Snowflake) =>
  Effect.promise(async () => {
    const response = await fetch(`${managerUrl}/v1/routes/guilds/${guild}`, {
      headers: { authorization: `Bearer ${token}` },
    })
    return ((await response.json()) as { dbShardId: number }).dbShardId
  })

describe("loading a member's total never races a flush into counting a delta twice", () => {
  it.scopedLive("first sights and flushes interleaved: every in-memory total equals the DB's", () =>
    Effect.gen(function* () {
      const databases = yield* makeDatabases(2)
      const manager = yield* startManager(databases)
      const directory = yield* makeStateDirectory
      const shardUrls = new Map(
        databases.shardNames.map((name, dbShardId) => [dbShardId, databaseUrl(name)]),
      )
      const context = yield* Layer.build(
        coreLayer({ managerUrl: manager.url, shardUrls, directory }),
      )
      const counter = context.unsafeMap.get(Counter.key) as Counter["Type"]
      const flusher = context.unsafeMap.get(Flusher.key) as Flusher["Type"]
      const buffer = context.unsafeMap.get(ActivityBuffer.key) as ActivityBuffer["Type"]
      const shards = context.unsafeMap.get(
        ShardClients.ShardClients.key,
      ) as ShardClients.ShardClients["Type"]

      // Members already have XP in the DB shard from earlier runs.
      const dbShardId = yield* routeOf(manager.url, guildId)
      const members = Array.from({ length: 40 }, (_, n) => member(n))
      yield* ShardClients.use(
        dbShardId,
        ActivityWriter.apply({
          batchId: "earlier-run",
          deltas: members.map((userId, n) => xpDelta(userId, 100 + n)),
        }),
      ).pipe(Effect.provideService(ShardClients.ShardClients, shards), Effect.orDie)

      const at = Date.UTC(2026, 11, 3, 11, 0, 0)
      const rounds = 5
      const counting = Effect.forEach(
        Array.from({ length: rounds }, (_, round) => round),
        (round) =>
          Effect.forEach(members, (authorId, n) =>
            counter
              .countMessage(
                message({
                  guildId,
                  authorId,
                  messageId: Snowflakes.fromTimestamp(at + round * 60_000 + n, n),
                }),
              )
              .pipe(Effect.zipRight(Effect.yieldNow())),
          ),
        { discard: true },
      )
      const flushing = Effect.forEach(
        Array.from({ length: 30 }, (_, index) => index),
        () => Effect.zipRight(flusher.flushNow, Effect.sleep("5 millis")),
        { discard: true },
      )
      yield* Effect.all([counting, flushing], { concurrency: "unbounded" })
      yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
      yield* flusher.flushNow
      yield* eventually(flusher.stats, (stats) => stats.bufferedRows === 0)

      const rows = yield* query<{ userId: string; alltime: number }>(
        databases.shardNames[dbShardId]!,
        "SELECT user_id, alltime FROM guild_member WHERE guild_id = ?",
        [guildId],
      )
      const stored = new Map(rows.map((row) => [String(row.userId), Number(row.alltime)]))
      for (const [n, userId] of members.entries()) {
        const expected = 100 + n + rounds * 6
        expect(stored.get(userId)).toBe(expected)
        expect(yield* buffer.totalOf(dbShardId, guildId, userId)).toEqual(Option.some(expected))
      }
    }),
  )

  it.scopedLive("totals are loaded only after the last run's spill file reached the DB shard", () =>
    Effect.gen(function* () {
      const databases = yield* makeDatabases(2)
      const manager = yield* startManager(databases)
      const directory = yield* makeStateDirectory
      const proxy = yield* mariaDbProxy()
      const shardUrls = new Map(
        databases.shardNames.map((name, dbShardId) => [dbShardId, databaseUrl(name, proxy.port)]),
      )
      const dbShardId = yield* routeOf(manager.url, guildId)
      yield* Spill.make(directory).writeBatches([
        {
          dbShardId,
          batch: { batchId: "spilled-by-the-last-run", deltas: [xpDelta(member(1), 600)] },
        },
      ])

      // The DB shard is down at start: neither the spill nor the load can go first by luck.
      yield* proxy.refuse
      const context = yield* Layer.build(
        coreLayer({ managerUrl: manager.url, shardUrls, directory }),
      )
      const counter = context.unsafeMap.get(Counter.key) as Counter["Type"]
      const flusher = context.unsafeMap.get(Flusher.key) as Flusher["Type"]
      const buffer = context.unsafeMap.get(ActivityBuffer.key) as ActivityBuffer["Type"]
      yield* counter.countMessage(message({ guildId, authorId: member(1) }))
      yield* Effect.sleep("200 millis")
      yield* proxy.restore

      yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
      expect(yield* buffer.totalOf(dbShardId, guildId, member(1))).toEqual(Option.some(606))
      yield* flusher.flushNow
      const rows = yield* query<{ alltime: number }>(
        databases.shardNames[dbShardId]!,
        "SELECT alltime FROM guild_member WHERE guild_id = ? AND user_id = ?",
        [guildId, member(1)],
      )
      expect(rows.map((row) => Number(row.alltime))).toEqual([606])
    }),
  )
})
