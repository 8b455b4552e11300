import { SqlResolver } from "@effect/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Array as Arr, Data, Effect, type ParseResult, Schema } from "effect"
import { Id, PeriodColumns, type PeriodTotals, toPeriodTotals, zeroTotals } from "./Columns"

/** A member's XP per period as stored: each period's amount beside the key it counts. */
export type MemberTotals = PeriodTotals

const TotalsRow = Schema.Struct({ userId: Id, ...PeriodColumns })

/** At most this many ids in one `IN` list. */
const chunkSize = 1000

/**
 * The stored XP of many members of one guild, in one statement per 1000 members. Every requested
 * member has an entry; a member without a row has zero everywhere.
 */
export const loadTotals = (
  guildId: Snowflake,
  userIds: Iterable<Snowflake>,
): Effect.Effect<
  ReadonlyMap<Snowflake, MemberTotals>,
  SqlError | ParseResult.ParseError,
  SqlClient.SqlClient
> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const unique = Arr.dedupe(userIds)
    const totals = new Map<Snowflake, MemberTotals>(unique.map((userId) => [userId, zeroTotals]))
    // Unprepared: lists of every length would each leave a prepared statement on the server.
    const rows = yield* Effect.forEach(Arr.chunksOf(unique, chunkSize), (chunk) =>
      sql`SELECT user_id, alltime, year, year_key, month, month_key, week, week_key, day, day_key
        FROM guild_member WHERE guild_id = ${guildId} AND ${sql.in("user_id", chunk)}`.unprepared.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Array(TotalsRow))),
      ),
    )
    for (const row of rows.flat()) totals.set(row.userId, toPeriodTotals(row))
    return totals
  })

/** A member, as the key of `makeTotalsResolver`'s requests. */
export const MemberKey = Schema.Data(Schema.Struct({ guildId: Id, userId: Id }))
export type MemberKey = typeof MemberKey.Type

export const memberKey = (guildId: Snowflake, userId: Snowflake): MemberKey =>
  Data.struct({ guildId, userId })

const KeyedTotalsRow = Schema.Struct({ guildId: Id, ...TotalsRow.fields })

/**
 * Loads one member's totals at a time while batching concurrent loads (across guilds) into one
 * statement: `Effect.forEach(keys, resolver.execute, { batching: true })`.
 */
export const makeTotalsResolver = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return yield* SqlResolver.findById("MemberTotals", {
    Id: MemberKey,
    Result: KeyedTotalsRow,
    ResultId: (row) => memberKey(row.guildId, row.userId),
    execute: (keys) =>
      sql`SELECT guild_id, user_id, alltime, year, year_key, month, month_key, week, week_key, day, day_key
        FROM guild_member
        WHERE (guild_id, user_id) IN (${sql.csv(keys.map((key) => sql`(${key.guildId}, ${key.userId})`))})`
        .unprepared,
  })
})
