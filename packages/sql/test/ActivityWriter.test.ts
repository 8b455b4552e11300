import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it, layer } from "@effect/vitest"
import * as ActivityDelta from "@tally/domain/ActivityDelta"
import { unsafeMake as id, type Snowflake } from "@tally/domain/Snowflake"
import { Deferred, Effect, Fiber, FastCheck as fc, TestClock, TestServices } from "effect"
import * as ActivityWriter from "../src/ActivityWriter"
import * as Testing from "../src/testing"

const guildId = id("18446744073709551615")
const userId = id("9007199254740993")
const channelId = id("1234")

const keysOf = (day: number) => ({
  day,
  week: day - (day % 7),
  month: Math.floor(day / 100),
  year: Math.floor(day / 10000),
})

const delta = (
  kind: ActivityDelta.DeltaKind,
  amount: number,
  day: number,
  overrides?: { guildId?: Snowflake; userId?: Snowflake; channelId?: Snowflake },
) =>
  ActivityDelta.make({
    kind,
    guildId: overrides?.guildId ?? guildId,
    userId: overrides?.userId ?? userId,
    channelId: overrides?.channelId ?? channelId,
    amount,
    keys: keysOf(day),
  })

const orderOf: Record<string, string> = {
  text_message: "user_id + 0, channel_id + 0",
  voice_minute: "user_id + 0, channel_id + 0",
  text_message_channel: "channel_id + 0",
  voice_minute_channel: "channel_id + 0",
}

const rows = (table: string, guild: Snowflake = guildId) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<Record<string, unknown>>(
      `SELECT * FROM ${table} WHERE guild_id = ? ORDER BY ${orderOf[table] ?? "user_id + 0"}`,
      [guild],
    ),
  ).pipe(Effect.map((found) => found.map(({ guildId: _, ...row }) => row)))

const tables = ActivityWriter.targets.map((target) => target.table)

const everything = (guild: Snowflake) => Effect.forEach(tables, (table) => rows(table, guild))

let batchCount = 0
const batch = (...deltas: ReadonlyArray<ActivityDelta.ActivityDelta>) => ({
  batchId: `batch-${++batchCount}-${Math.random().toString(36).slice(2)}`,
  deltas,
})

describe("ActivityWriter.onDuplicateAssignments", () => {
  it("assigns each period counter before its key (MySQL evaluates left to right)", () => {
    const text = ActivityWriter.onDuplicateAssignments
    for (const period of ["year", "month", "week", "day"]) {
      expect(text.indexOf(`\n  ${period} = `)).toBeGreaterThan(-1)
      expect(text.indexOf(`\n  ${period} = `)).toBeLessThan(
        text.indexOf(`${period}_key = GREATEST`),
      )
    }
  })
})

describe("ActivityWriter.rowsOf", () => {
  const xp = ActivityWriter.targets[0]!
  const perChannel = ActivityWriter.targets[1]!
  const user = (u: string, amount = 1, channel = "1") =>
    delta("xp", amount, 20261203, { userId: id(u), channelId: id(channel) })

  it("puts rows in primary-key order, numerically, and merges deltas naming the same row", () => {
    const rows = ActivityWriter.rowsOf(xp, [
      user("10", 1),
      user("9", 2),
      user("10", 4),
      user("100"),
    ])
    expect(rows.map((row) => [row.userId, row.alltime])).toEqual([
      ["9", 2],
      ["10", 5],
      ["100", 1],
    ])
  })

  it("orders per-channel rows by user, then channel", () => {
    const text = (u: string, channel: string) =>
      delta("textMessages", 1, 20261203, { userId: id(u), channelId: id(channel) })
    const rows = ActivityWriter.rowsOf(perChannel, [
      text("2", "5"),
      text("1", "7"),
      text("2", "30"),
    ])
    expect(rows.map((row) => [row.userId, row.channelId])).toEqual([
      ["1", "7"],
      ["2", "5"],
      ["2", "30"],
    ])
  })
})

describe("ActivityWriter.rowsOf against a plain merge and sort", () => {
  /** The reference: deltas grouped by the target's ids, merged in arrival order, sorted as numbers. */
  const reference = (
    target: ActivityWriter.Target,
    deltas: ReadonlyArray<ActivityDelta.ActivityDelta>,
  ) => {
    const idsOf = (delta: ActivityDelta.ActivityDelta) =>
      target.idFields.map((field) => BigInt(delta[field] ?? "0"))
    const groups = new Map<string, ActivityDelta.ActivityDelta>()
    for (const delta of deltas) {
      const key = idsOf(delta).join("/")
      const merged = groups.get(key)
      groups.set(key, merged === undefined ? delta : ActivityDelta.merge(merged, delta))
    }
    return [...groups.values()].sort((a, b) => {
      const [x, y] = [idsOf(a), idsOf(b)]
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1
      return 0
    })
  }
  const snowflake = fc.constantFrom("7", "9", "10", "99", "100", "18446744073709551615")
  const arbitraryDelta = fc
    .record({
      guild: snowflake,
      user: snowflake,
      channel: snowflake,
      amount: fc.integer({ min: -5, max: 50 }),
      day: fc.integer({ min: 20261201, max: 20261209 }),
    })
    .map(({ guild, user, channel, amount, day }) =>
      delta("textMessages", amount, day, {
        guildId: id(guild),
        userId: id(user),
        channelId: id(channel),
      }),
    )
  const textTargets = ActivityWriter.targets.filter((target) => target.kind === "textMessages")

  it("merges and orders any arrival order, and the buffer's member order, like the reference", () => {
    expect(textTargets.map((target) => target.table)).toEqual([
      "text_message",
      "text_message_member",
      "text_message_channel",
    ])
    fc.assert(
      fc.property(fc.array(arbitraryDelta, { maxLength: 60 }), (deltas) => {
        const before = JSON.stringify(deltas)
        // As the activity buffer hands them over: by member, then channel (see its swap).
        const byMember = reference(textTargets[0]!, deltas)
        for (const target of textTargets) {
          expect(ActivityWriter.rowsOf(target, deltas)).toEqual(reference(target, deltas))
          expect(ActivityWriter.rowsOf(target, byMember)).toEqual(reference(target, byMember))
        }
        // Merging copies: the batch itself (kept for a retry) is never changed.
        expect(JSON.stringify(deltas)).toBe(before)
      }),
    )
  })
})

describe("ActivityWriter.classify", () => {
  const fail = (cause: object) => new SqlError({ cause, message: "Failed to execute statement" })
  it("deadlocks, lock waits and lost connections are retryable", () => {
    for (const cause of [
      { errno: 1213, code: "ER_LOCK_DEADLOCK" },
      { errno: 1205, code: "ER_LOCK_WAIT_TIMEOUT" },
      { code: "PROTOCOL_CONNECTION_LOST", fatal: true },
      { code: "ECONNREFUSED" },
      { code: "ECONNRESET" },
      { code: "ETIMEDOUT" },
      { errno: 2006 },
      { errno: 2013 },
    ]) {
      expect(ActivityWriter.classify(fail(cause)).retryable).toBe(true)
    }
  })
  it("other failures are not retryable", () => {
    for (const cause of [
      { errno: 1146, code: "ER_NO_SUCH_TABLE", message: "Table 'x' doesn't exist" },
      { errno: 1406, code: "ER_DATA_TOO_LONG" },
      new Error("something else"),
    ]) {
      expect(ActivityWriter.classify(fail(cause)).retryable).toBe(false)
    }
  })
})

layer(Testing.layerShard())("ActivityWriter.apply", (it) => {
  it.effect("writes every kind to its table, statistics per channel where they are", () =>
    Effect.gen(function* () {
      const guild = id("100")
      const at = { guildId: guild }
      const result = yield* ActivityWriter.apply(
        batch(
          delta("xp", 12, 20261203, at),
          delta("textMessages", 2, 20261203, at),
          delta("voiceMinutes", 5, 20261203, at),
          delta("invites", 1, 20261203, at),
          delta("votes", 3, 20261203, at),
          delta("bonus", -4, 20261203, at),
        ),
      )
      expect(result).toBe("applied")
      const [members, texts, textTotals, textChannels, voices, , , invites, votes, bonus] =
        yield* everything(guild)
      expect(members).toMatchObject([
        { userId, alltime: "12", day: "12", dayKey: 20261203, month: "12", monthKey: 202612 },
      ])
      expect(texts).toMatchObject([{ userId, channelId, alltime: "2" }])
      expect(textTotals).toMatchObject([{ userId, alltime: "2" }])
      expect(textChannels).toMatchObject([{ channelId, alltime: "2" }])
      expect(voices).toMatchObject([{ channelId, alltime: "5" }])
      expect(invites).toMatchObject([{ alltime: "1" }])
      expect(votes).toMatchObject([{ alltime: "3" }])
      expect(bonus).toMatchObject([{ alltime: "-4", yearKey: 2026 }])
    }),
  )

  it.effect("the same batch id twice changes nothing the second time", () =>
    Effect.gen(function* () {
      const guild = id("200")
      const once = batch(delta("xp", 7, 20261203, { guildId: guild }))
      expect(yield* ActivityWriter.apply(once)).toBe("applied")
      const after = yield* everything(guild)
      expect(yield* ActivityWriter.apply(once)).toBe("duplicate")
      expect(
        yield* ActivityWriter.apply({ ...once, deltas: [...once.deltas, ...once.deltas] }),
      ).toBe("duplicate")
      expect(yield* everything(guild)).toEqual(after)
    }),
  )

  it.effect("a newer period key restarts that counter; all-time keeps adding", () =>
    Effect.gen(function* () {
      const guild = id("300")
      yield* ActivityWriter.apply(batch(delta("xp", 10, 20261203, { guildId: guild })))
      yield* ActivityWriter.apply(batch(delta("xp", 4, 20261204, { guildId: guild })))
      const [member] = yield* rows("guild_member", guild)
      expect(member).toMatchObject({
        alltime: "14",
        day: "4",
        dayKey: 20261204,
        month: "14",
        monthKey: 202612,
      })
    }),
  )

  it.effect("an older period key never changes a newer counter", () =>
    Effect.gen(function* () {
      const guild = id("400")
      yield* ActivityWriter.apply(batch(delta("textMessages", 10, 20261204, { guildId: guild })))
      yield* ActivityWriter.apply(batch(delta("textMessages", 3, 20261203, { guildId: guild })))
      const [row] = yield* rows("text_message", guild)
      expect(row).toMatchObject({ alltime: "13", day: "10", dayKey: 20261204, week: "13" })
    }),
  )

  it.effect("rows beyond one chunk are all written", () =>
    Effect.gen(function* () {
      const guild = id("500")
      const deltas = Array.from({ length: 2345 }, (_, i) =>
        delta("xp", 1, 20261203, { guildId: guild, userId: id(String(1_000_000 - i)) }),
      )
      yield* ActivityWriter.apply(batch(...deltas), { chunkSize: 1000 })
      const sql = yield* SqlClient.SqlClient
      const [count] = yield* sql<{
        n: number
      }>`SELECT SUM(alltime) AS n FROM guild_member WHERE guild_id = ${guild}`
      expect(count?.n).toBe(2345)
    }),
  )

  it.effect("a failure rolls back the whole batch, ledger row included, and is not retryable", () =>
    Effect.gen(function* () {
      const guild = id("600")
      const sql = yield* SqlClient.SqlClient
      const broken = batch(
        delta("xp", 1, 20261203, { guildId: guild }),
        // A key too large for INT fails the second statement.
        { ...delta("bonus", 1, 20261203, { guildId: guild }), day: { key: 2 ** 40, amount: 1 } },
      )
      const error = yield* Effect.flip(ActivityWriter.apply(broken))
      expect(error).toMatchObject({ _tag: "FlushFailed", retryable: false })
      expect((yield* everything(guild)).flat()).toEqual([])
      const ledger =
        yield* sql`SELECT batch_id FROM flush_ledger WHERE batch_id = ${broken.batchId}`
      expect(ledger).toEqual([])
    }),
  )

  it.effect("a failure in a later chunk rolls back the chunks sent before and after it", () =>
    Effect.gen(function* () {
      const guild = id("650")
      const sql = yield* SqlClient.SqlClient
      const member = (i: number) => id(String(2_000_000 + i))
      const good = Array.from({ length: 95 }, (_, i) =>
        delta("xp", 1, 20261203, { guildId: guild, userId: member(i) }),
      )
      // A key too large for INT in the sixth of ten chunks, with statements in flight around it.
      const bad = {
        ...delta("xp", 1, 20261203, { guildId: guild, userId: member(55) }),
        day: { key: 2 ** 40, amount: 1 },
      }
      const broken = batch(...good.slice(0, 55), bad, ...good.slice(56))
      const error = yield* Effect.flip(ActivityWriter.apply(broken, { chunkSize: 10 }))
      expect(error).toMatchObject({ _tag: "FlushFailed", retryable: false })
      expect((yield* everything(guild)).flat()).toEqual([])
      expect(
        yield* sql`SELECT batch_id FROM flush_ledger WHERE batch_id = ${broken.batchId}`,
      ).toEqual([])
      // The shard goes on: the good rows under a new id are all written.
      expect(yield* ActivityWriter.apply(batch(...good), { chunkSize: 10 })).toBe("applied")
      const [count] = yield* sql<{
        n: number
      }>`SELECT SUM(alltime) AS n FROM guild_member WHERE guild_id = ${guild}`
      expect(count?.n).toBe(95)
    }),
  )

  it.effect("ledger rows older than the given age are pruned, newer ones kept", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* TestClock.setTime(Date.UTC(2026, 11, 1))
      const old = batch()
      yield* ActivityWriter.apply(old)
      yield* TestClock.setTime(Date.UTC(2026, 11, 9))
      const recent = batch()
      yield* ActivityWriter.apply(recent)
      const removed = yield* ActivityWriter.pruneLedger("7 days")
      expect(removed).toBeGreaterThanOrEqual(1)
      const left = yield* sql<{
        batchId: string
      }>`SELECT batch_id FROM flush_ledger WHERE batch_id IN (${old.batchId}, ${recent.batchId})`
      expect(left).toEqual([{ batchId: recent.batchId }])
    }),
  )

  it.effect("a statement waiting on a lock past its time limit fails as retryable", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const guild = id("700")
      yield* ActivityWriter.apply(batch(delta("xp", 1, 20261203, { guildId: guild })))
      const locked = yield* Deferred.make<void>()
      const holder = yield* sql
        .withTransaction(
          Effect.zipRight(
            sql`SELECT alltime FROM guild_member WHERE guild_id = ${guild} FOR UPDATE`,
            Effect.zipRight(Deferred.succeed(locked, undefined), Effect.sleep("3 seconds")),
          ),
        )
        .pipe(Effect.fork)
      yield* Deferred.await(locked)
      const error = yield* Effect.flip(
        ActivityWriter.apply(batch(delta("xp", 1, 20261203, { guildId: guild })), {
          statementTimeout: "1 second",
        }),
      )
      expect(error).toMatchObject({ _tag: "FlushFailed", retryable: true })
      yield* Fiber.interrupt(holder)
      const [member] = yield* rows("guild_member", guild)
      expect(member).toMatchObject({ alltime: "1" })
    }).pipe(TestServices.provideLive),
  )

  const arbitraryDelta = fc
    .record({
      kind: fc.constantFrom<ActivityDelta.DeltaKind>("xp", "textMessages", "votes"),
      user: fc.constantFrom("1", "2"),
      channel: fc.constantFrom("7", "8"),
      amount: fc.integer({ min: -5, max: 20 }),
      day: fc.constantFrom(20261130, 20261201, 20261203),
    })
    .map(({ kind, user, channel, amount, day }) =>
      delta(kind, amount, day, { userId: id(user), channelId: id(channel) }),
    )

  let propertyGuild = 1_000_000
  it.effect.prop(
    "applying A then B equals applying merge(A, B)",
    [fc.array(arbitraryDelta, { maxLength: 8 }), fc.array(arbitraryDelta, { maxLength: 8 })],
    ([a, b]) =>
      Effect.gen(function* () {
        const sequential = id(String(++propertyGuild))
        const merged = id(String(++propertyGuild))
        const inGuild = (guild: Snowflake, deltas: ReadonlyArray<ActivityDelta.ActivityDelta>) =>
          deltas.map((each) => ({ ...each, guildId: guild }))
        yield* ActivityWriter.apply(batch(...inGuild(sequential, a)))
        yield* ActivityWriter.apply(batch(...inGuild(sequential, b)))
        yield* ActivityWriter.apply(batch(...ActivityDelta.mergeAll(inGuild(merged, [...a, ...b]))))
        expect(yield* everything(merged)).toEqual(yield* everything(sequential))
      }),
    { fastCheck: { numRuns: 25 } },
  )
})
