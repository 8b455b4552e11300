import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import type { Statistic } from "@tally/domain/ActivityDelta"
import type { PeriodKeys } from "@tally/domain/PeriodKey"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Cache, Data, type Duration, Effect, type ParseResult, Schema } from "effect"
import { Counter, Id, PeriodColumns } from "./Columns"

/** What members are ranked by: XP or one statistic (text and voice summed over channels). */
export type Ranking = "xp" | Statistic

export type Period = "alltime" | keyof PeriodKeys

export const periods: ReadonlyArray<Period> = ["alltime", "year", "month", "week", "day"]

/** Per member, one row each, kept by the flush (see `ActivityWriter.targets`). */
const memberTables: Record<Ranking, string> = {
  xp: "guild_member",
  textMessages: "text_message_member",
  voiceMinutes: "voice_minute_member",
  invites: "invite",
  votes: "vote",
  bonus: "bonus",
}

export type ChannelStatistic = "textMessages" | "voiceMinutes"

const channelTables: Record<
  ChannelStatistic,
  { readonly perChannel: string; readonly perMember: string }
> = {
  textMessages: { perChannel: "text_message_channel", perMember: "text_message" },
  voiceMinutes: { perChannel: "voice_minute_channel", perMember: "voice_minute" },
}

type Failure = SqlError | ParseResult.ParseError

export interface Query {
  readonly guildId: Snowflake
  readonly period: Period
  /** The current period keys in the guild's zone; a counter with another key reads as zero. */
  readonly keys: PeriodKeys
}

export interface Page {
  /** 1-based. */
  readonly page: number
  readonly pageSize: number
}

export interface MemberEntry {
  readonly userId: Snowflake
  readonly value: number
  /** 1 + members strictly ahead; tied members share it. */
  readonly position: number
}

export interface ChannelEntry {
  readonly channelId: Snowflake
  readonly value: number
}

/**
 * The current-period condition and value: `alltime` counts always; another period counts only
 * when its stored key is the current one. Column names come from the closed `Period` type.
 */
const inPeriod = (sql: SqlClient.SqlClient, query: Query) =>
  query.period === "alltime"
    ? { where: sql`alltime > 0`, column: sql("alltime") }
    : {
        where: sql`${sql(`${query.period}_key`)} = ${query.keys[query.period]} AND ${sql(query.period)} > 0`,
        column: sql(query.period),
      }

const MemberRow = Schema.Struct({ userId: Id, value: Counter })
const ChannelRow = Schema.Struct({ channelId: Id, value: Counter })
const CountRow = Schema.Struct({ ahead: Counter })

const offsetOf = (page: Page) => (Math.max(1, Math.floor(page.page)) - 1) * page.pageSize

/** Members who are strictly ahead of `value`, counted up to `limit` when given. */
const countAhead = (
  sql: SqlClient.SqlClient,
  table: string,
  query: Query,
  value: number,
  limit?: number,
) =>
  Effect.gen(function* () {
    const { column } = inPeriod(sql, query)
    const keyCondition =
      query.period === "alltime"
        ? sql`TRUE`
        : sql`${sql(`${query.period}_key`)} = ${query.keys[query.period]}`
    const ahead = sql`SELECT 1 FROM ${sql(table)}
      WHERE guild_id = ${query.guildId} AND ${keyCondition} AND ${column} > ${value}`
    const rows =
      limit === undefined
        ? yield* sql`SELECT COUNT(*) AS ahead FROM (${ahead}) AS ahead_rows`
        : yield* sql`SELECT COUNT(*) AS ahead FROM (${ahead} LIMIT ${limit}) AS ahead_rows`
    const [row] = yield* Schema.decodeUnknown(Schema.Array(CountRow))(rows)
    return row?.ahead ?? 0
  })

/**
 * One page of rows of `table` ranked by the period's value, highest first, ties in id order,
 * rows with nothing in the period left out; `filter` narrows the rows (a member, a channel).
 */
const rankedPage = (
  sql: SqlClient.SqlClient,
  query: Query & Page,
  from: { readonly table: string; readonly idColumn: "user_id" | "channel_id" },
  filter: Statement.Fragment = sql`TRUE`,
) => {
  const { where, column } = inPeriod(sql, query)
  const id = sql(from.idColumn)
  return sql`SELECT ${id}, ${column} AS value FROM ${sql(from.table)}
    WHERE guild_id = ${query.guildId} AND ${filter} AND ${where}
    ORDER BY ${column} DESC, ${id}
    LIMIT ${query.pageSize} OFFSET ${offsetOf(query)}`
}

/**
 * One page of members ranked by XP or a statistic in a period: highest first, ties in user-id
 * order (so pages never overlap), members with zero in the period left out.
 */
export const topMembers = (
  query: Query & Page & { readonly by: Ranking },
): Effect.Effect<ReadonlyArray<MemberEntry>, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const table = memberTables[query.by]
    const offset = offsetOf(query)
    const rows = yield* rankedPage(sql, query, { table, idColumn: "user_id" })
    const entries = yield* Schema.decodeUnknown(Schema.Array(MemberRow))(rows)
    const first = entries[0]
    if (first === undefined) return []

    // Positions from the page itself: an entry that differs from the one before has every
    // member ahead of it before it; only a first entry after page 1 may be mid-tie.
    let position = offset === 0 ? 1 : 1 + (yield* countAhead(sql, table, query, first.value))
    return entries.map((entry, index) => {
      const previous = entries[index - 1]
      if (previous !== undefined && previous.value !== entry.value) position = offset + index + 1
      return { userId: entry.userId, value: entry.value, position }
    })
  })

/** A member's value in a period (zero when the stored key is not the current one). */
export const memberValue = (
  query: Query & { readonly by: Ranking; readonly userId: Snowflake },
): Effect.Effect<number, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { where, column } = inPeriod(sql, query)
    const rows = yield* sql`SELECT ${column} AS value FROM ${sql(memberTables[query.by])}
      WHERE guild_id = ${query.guildId} AND user_id = ${query.userId} AND ${where}`
    const [row] = yield* Schema.decodeUnknown(Schema.Array(Schema.Struct({ value: Counter })))(rows)
    return row?.value ?? 0
  })

/**
 * A member's exact position: 1 + members strictly ahead; `null` with nothing in the period.
 * Counts every member ahead: in very large guilds prefer `makePositions`.
 */
export const position = (
  query: Query & { readonly by: Ranking; readonly userId: Snowflake },
): Effect.Effect<number | null, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const value = yield* memberValue(query)
    if (value <= 0) return null
    return 1 + (yield* countAhead(sql, memberTables[query.by], query, value))
  })

export interface PositionOptions {
  /** Up to this many members ahead are counted exactly, on every call. */
  readonly exactLimit?: number
  /** Beyond that, positions come from a snapshot of the ranking at most this old. */
  readonly maxAge?: Duration.DurationInput
  /** Snapshots kept (each holds one number per ranked member). */
  readonly capacity?: number
}

class SnapshotKey extends Data.Class<{
  readonly sql: SqlClient.SqlClient
  readonly table: string
  readonly guildId: Snowflake
  readonly period: Period
  readonly periodKey: number
}> {}

/** Members with a value above `value` in a snapshot sorted from highest to lowest. */
const countAbove = (values: Float64Array, value: number) => {
  let low = 0
  let high = values.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (values[middle]! > value) low = middle + 1
    else high = middle
  }
  return low
}

/**
 * Positions that stay fast in guilds of a million members: counting the members ahead is exact
 * up to `exactLimit` (a bounded index scan); further down, the count comes from a sorted
 * snapshot of the ranking's values (one scan, kept for `maxAge`), searched in memory. Such a
 * position is exact as of the snapshot; members who moved since may be counted where they were.
 */
export const makePositions = (options?: PositionOptions) =>
  Effect.gen(function* () {
    const exactLimit = options?.exactLimit ?? 1000

    const snapshots = yield* Cache.make({
      capacity: options?.capacity ?? 16,
      timeToLive: options?.maxAge ?? "1 minute",
      lookup: ({ sql, table, guildId, period, periodKey }: SnapshotKey) =>
        Effect.gen(function* () {
          const query = {
            guildId,
            period,
            keys: { year: periodKey, month: periodKey, week: periodKey, day: periodKey },
          }
          const { where, column } = inPeriod(sql, query)
          const rows = yield* sql`SELECT ${column} FROM ${sql(table)}
            WHERE guild_id = ${query.guildId} AND ${where} ORDER BY ${column} DESC`.values
          const values = new Float64Array(rows.length)
          for (let i = 0; i < rows.length; i++) values[i] = Number(rows[i]![0])
          return values
        }).pipe(Effect.withSpan("Leaderboard.snapshot")),
    })

    const position = (
      query: Query & { readonly by: Ranking; readonly userId: Snowflake },
    ): Effect.Effect<number | null, Failure, SqlClient.SqlClient> =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const table = memberTables[query.by]
        const value = yield* memberValue(query)
        if (value <= 0) return null
        const ahead = yield* countAhead(sql, table, query, value, exactLimit)
        if (ahead < exactLimit) return 1 + ahead
        const key = new SnapshotKey({
          sql,
          table,
          guildId: query.guildId,
          period: query.period,
          periodKey: query.period === "alltime" ? 0 : query.keys[query.period],
        })
        return 1 + countAbove(yield* snapshots.get(key), value)
      })

    return { position } as const
  })

const PeriodRow = Schema.Struct(PeriodColumns)

/** Every ranking's value for one member in every period (zero when the key is stale). */
export const memberValues = (
  guildId: Snowflake,
  userId: Snowflake,
  keys: PeriodKeys,
): Effect.Effect<Record<Ranking, Record<Period, number>>, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rankings = Object.keys(memberTables) as Array<Ranking>
    const rows = yield* Effect.forEach(
      rankings,
      (by) =>
        sql`SELECT alltime, year, year_key, month, month_key, week, week_key, day, day_key
          FROM ${sql(memberTables[by])} WHERE guild_id = ${guildId} AND user_id = ${userId}`.pipe(
          Effect.flatMap(Schema.decodeUnknown(Schema.Array(PeriodRow))),
        ),
      { concurrency: 3 },
    )
    const current = (row: typeof PeriodRow.Type | undefined): Record<Period, number> => ({
      alltime: row?.alltime ?? 0,
      year: row !== undefined && row.yearKey === keys.year ? row.year : 0,
      month: row !== undefined && row.monthKey === keys.month ? row.month : 0,
      week: row !== undefined && row.weekKey === keys.week ? row.week : 0,
      day: row !== undefined && row.dayKey === keys.day ? row.day : 0,
    })
    return Object.fromEntries(rankings.map((by, i) => [by, current(rows[i]?.[0])])) as Record<
      Ranking,
      Record<Period, number>
    >
  })

/** One page of the guild's channels by text messages or voice minutes in a period. */
export const topChannels = (
  query: Query & Page & { readonly by: ChannelStatistic },
): Effect.Effect<ReadonlyArray<ChannelEntry>, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const table = channelTables[query.by].perChannel
    const rows = yield* rankedPage(sql, query, { table, idColumn: "channel_id" })
    return yield* Schema.decodeUnknown(Schema.Array(ChannelRow))(rows)
  })

/** One page of a member's channels by text messages or voice minutes in a period. */
export const memberChannels = (
  query: Query & Page & { readonly by: ChannelStatistic; readonly userId: Snowflake },
): Effect.Effect<ReadonlyArray<ChannelEntry>, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const table = channelTables[query.by].perMember
    const rows = yield* rankedPage(
      sql,
      query,
      { table, idColumn: "channel_id" },
      sql`user_id = ${query.userId}`,
    )
    return yield* Schema.decodeUnknown(Schema.Array(ChannelRow))(rows)
  })

/** One page of the members of one channel by text messages or voice minutes in a period. */
export const topMembersInChannel = (
  query: Query & Page & { readonly by: ChannelStatistic; readonly channelId: Snowflake },
): Effect.Effect<ReadonlyArray<Omit<MemberEntry, "position">>, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const table = channelTables[query.by].perMember
    // TODO: sorts the channel's rows for periods other than all-time (index covers all-time
    // only) — remove when a guild's channel with very many members needs it faster.
    const rows = yield* rankedPage(
      sql,
      query,
      { table, idColumn: "user_id" },
      sql`channel_id = ${query.channelId}`,
    )
    return yield* Schema.decodeUnknown(Schema.Array(MemberRow))(rows)
  })
