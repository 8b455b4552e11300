import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import * as ManagerApi from "@tally/domain/ManagerApi"
import type * as Snowflake from "@tally/domain/Snowflake"
import { Array as Arr, Effect, Schedule } from "effect"
import { DbShards } from "./DbShards"

/** A guild route or a user route: which table, which id column, which counter. */
interface RouteKind {
  readonly table: "guildRoute" | "userRoute"
  readonly idColumn: "guildId" | "userId"
  readonly countColumn: "guildCount" | "userCount"
}

const guildKind: RouteKind = { table: "guildRoute", idColumn: "guildId", countColumn: "guildCount" }
const userKind: RouteKind = { table: "userRoute", idColumn: "userId", countColumn: "userCount" }

interface RouteRow {
  readonly id: string
  readonly dbShardId: number
}

/**
 * Gives each new id to the DB shard with the fewest routes of its kind so far (ties to the lowest
 * id), one at a time, so a batch spreads as evenly as single asks would.
 */
export const assignFewest = (
  ids: ReadonlyArray<string>,
  counts: ReadonlyArray<{ readonly dbShardId: number; readonly count: number }>,
): ReadonlyArray<RouteRow> => {
  const load = counts.map((shard) => ({ ...shard }))
  return ids.map((id) => {
    let target = load[0]
    if (target === undefined) throw new Error("no DB shards to assign to")
    for (const shard of load) {
      if (
        shard.count < target.count ||
        (shard.count === target.count && shard.dbShardId < target.dbShardId)
      ) {
        target = shard
      }
    }
    target.count += 1
    return { id, dbShardId: target.dbShardId }
  })
}

const isRetryable = (error: SqlError) => {
  const code = (error.cause as { errno?: number } | undefined)?.errno
  return code === 1213 || code === 1205
}

/**
 * Routes from the manager database. A route is written once and never updated; the first ask
 * assigns it inside a transaction that holds the per-DB-shard counter rows `FOR UPDATE`, so
 * concurrent first asks (from any manager process) queue on those rows and the later ones find
 * the route the first one wrote.
 */
export class Routes extends Effect.Service<Routes>()("@tally/manager/Routes", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const dbShards = yield* DbShards

    const selectKnown = (kind: RouteKind, ids: ReadonlyArray<string>, forUpdate: boolean) =>
      sql<RouteRow>`
        SELECT CAST(${sql(kind.idColumn)} AS CHAR) AS id, db_shard_id
        FROM ${sql(kind.table)}
        WHERE ${sql(kind.idColumn)} IN ${sql.in(ids)}
        ${forUpdate ? sql`FOR UPDATE` : sql``}`

    const assignMissing = (kind: RouteKind, missing: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        // Every configured counter row is locked, whichever DB shards are candidates, so all
        // assignments queue on the same rows. Reads below are locking reads: they see the latest
        // committed routes, not a snapshot.
        const candidates = yield* dbShards.assignable
        const counts = yield* sql<{ dbShardId: number; count: number }>`
          SELECT db_shard_id, ${sql(kind.countColumn)} AS count
          FROM db_shard_load
          WHERE db_shard_id IN ${sql.in(dbShards.ids)}
          ORDER BY db_shard_id
          FOR UPDATE`
        const known = yield* selectKnown(kind, missing, true)
        const knownIds = new Set(known.map((row) => row.id))
        const fresh = missing.filter((id) => !knownIds.has(id))
        if (fresh.length === 0) return known

        const assigned = assignFewest(
          fresh,
          counts
            .filter((row) => candidates.includes(row.dbShardId))
            .map((row) => ({ dbShardId: row.dbShardId, count: Number(row.count) })),
        )
        yield* sql`
          INSERT INTO ${sql(kind.table)} ${sql.insert(
            assigned.map((route) => ({ [kind.idColumn]: route.id, dbShardId: route.dbShardId })),
          )}`
        const added = Arr.groupBy(assigned, (route) => String(route.dbShardId))
        for (const [dbShardId, routes] of Object.entries(added)) {
          yield* sql`
            UPDATE db_shard_load
            SET ${sql(kind.countColumn)} = ${sql(kind.countColumn)} + ${routes.length}
            WHERE db_shard_id = ${Number(dbShardId)}`
        }
        yield* Effect.logDebug("assigned routes").pipe(
          Effect.annotateLogs({ table: kind.table, count: assigned.length }),
        )
        return [...known, ...assigned]
      }).pipe(
        sql.withTransaction,
        Effect.retry({
          while: isRetryable,
          schedule: Schedule.exponential("10 millis").pipe(Schedule.jittered),
          times: 5,
        }),
      )

    const unavailable = (error: SqlError) =>
      Effect.logWarning("route lookup failed", error).pipe(
        Effect.zipRight(new ManagerApi.RoutingUnavailable({ reason: error.message })),
      )

    const resolve = (kind: RouteKind, requested: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const ids = [...new Set(requested)]
        if (ids.length === 0) return new Map<string, number>()
        const found = new Map<string, number>()
        for (const row of yield* selectKnown(kind, ids, false)) found.set(row.id, row.dbShardId)
        const missing = ids.filter((id) => !found.has(id))
        if (missing.length > 0) {
          for (const row of yield* assignMissing(kind, missing)) found.set(row.id, row.dbShardId)
        }
        return found
      }).pipe(
        Effect.catchTag("SqlError", unavailable),
        Effect.withSpan("Routes.resolve", {
          attributes: { table: kind.table, count: requested.length },
        }),
      )

    const dbShardOf = (found: Map<string, number>, id: string) => {
      const dbShardId = found.get(id)
      if (dbShardId === undefined) throw new Error(`route for ${id} vanished`)
      return dbShardId
    }

    const guilds = (guildIds: ReadonlyArray<Snowflake.Snowflake>) =>
      Effect.map(resolve(guildKind, guildIds), (found) =>
        guildIds.map(
          (guildId) => new ManagerApi.GuildRoute({ guildId, dbShardId: dbShardOf(found, guildId) }),
        ),
      )

    const users = (userIds: ReadonlyArray<Snowflake.Snowflake>) =>
      Effect.map(resolve(userKind, userIds), (found) =>
        userIds.map(
          (userId) => new ManagerApi.UserRoute({ userId, dbShardId: dbShardOf(found, userId) }),
        ),
      )

    /** Read-only: a guild without a route fails with `GuildNotRouted` and still has none. */
    const existingGuild = (guildId: Snowflake.Snowflake) =>
      selectKnown(guildKind, [guildId], false).pipe(
        Effect.catchTag("SqlError", unavailable),
        Effect.flatMap(([row]) =>
          row === undefined
            ? new ManagerApi.GuildNotRouted({ guildId })
            : Effect.succeed(new ManagerApi.GuildRoute({ guildId, dbShardId: row.dbShardId })),
        ),
        Effect.withSpan("Routes.existingGuild"),
      )

    return { guilds, users, existingGuild } as const
  }),
}) {}
