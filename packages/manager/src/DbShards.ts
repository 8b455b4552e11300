import { SqlClient } from "@effect/sql"
import * as ManagerApi from "@tally/domain/ManagerApi"
import * as DatabaseUrl from "@tally/sql/DatabaseUrl"
import * as Migrations from "@tally/sql/Migrations"
import * as ShardClients from "@tally/sql/ShardClients"
import { Clock, Data, Effect, Layer, Ref, Schedule } from "effect"

/** Routes point to a DB shard that SHARD_DATABASE_URLS does not name; routes never move. */
export class RouteToUnconfiguredDbShard extends Data.TaggedError("RouteToUnconfiguredDbShard")<{
  readonly dbShardIds: ReadonlyArray<number>
  readonly configuredDbShardIds: ReadonlyArray<number>
}> {
  override get message() {
    return (
      `routes point to DB shard ${this.dbShardIds.join(", ")}, which SHARD_DATABASE_URLS does not ` +
      `name (it names ${this.configuredDbShardIds.join(", ")}); add it back: a route never moves`
    )
  }
}

/** Creates a DB shard's database if missing, connecting to its server without a database. */
const ensureDatabase = (config: DatabaseUrl.DatabaseConfig) =>
  Effect.scoped(
    Effect.gen(function* () {
      if (config.database === undefined) return
      const sql = (yield* DatabaseUrl.serverClient(config)).withoutTransforms()
      yield* sql`CREATE DATABASE IF NOT EXISTS ${sql(config.database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`
        .raw
    }),
  )

/**
 * `ShardClients` from SHARD_DATABASE_URLS, after creating every DB shard's database that is
 * missing (where the user may; a server that is down is left to the migration retries).
 */
export const layerShardClients = Layer.scoped(
  ShardClients.ShardClients,
  Effect.gen(function* () {
    const shards = yield* ShardClients.shardUrlsConfig
    yield* Effect.forEach(
      shards,
      ([dbShardId, config]) =>
        ensureDatabase(config).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("could not create the DB shard's database").pipe(
              Effect.annotateLogs({ dbShardId, cause: error.message }),
            ),
          ),
        ),
      { concurrency: "unbounded", discard: true },
    )
    return yield* ShardClients.make(shards)
  }),
)

interface CountRow {
  readonly dbShardId: number
  readonly count: number | string
}

/**
 * The configured DB shards: registered in the manager database at start, checked against the
 * routes already given, migrated, and probed for readiness.
 */
export class DbShards extends Effect.Service<DbShards>()("@tally/manager/DbShards", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const clients = yield* ShardClients.ShardClients
    const ids = clients.ids

    const migrated = yield* Ref.make<ReadonlySet<number>>(new Set())

    const now = yield* Clock.currentTimeMillis
    yield* sql`INSERT IGNORE INTO db_shard ${sql.insert(
      ids.map((dbShardId) => ({ dbShardId, addedAt: Math.floor(now / 1000) })),
    )}`
    yield* sql`INSERT IGNORE INTO db_shard_load ${sql.insert(ids.map((dbShardId) => ({ dbShardId })))}`

    // Recount under the counter rows' locks: routes written by other means (imports) count too,
    // and the recount finds every DB shard that routes point to.
    yield* Effect.gen(function* () {
      yield* sql`SELECT db_shard_id FROM db_shard_load FOR UPDATE`
      const guilds = yield* sql<CountRow>`
        SELECT db_shard_id, COUNT(*) AS count FROM guild_route GROUP BY db_shard_id`
      const users = yield* sql<CountRow>`
        SELECT db_shard_id, COUNT(*) AS count FROM user_route GROUP BY db_shard_id`
      const unknown = [...new Set([...guilds, ...users].map((row) => row.dbShardId))]
        .filter((dbShardId) => !ids.includes(dbShardId))
        .sort((a, b) => a - b)
      if (unknown.length > 0) {
        return yield* new RouteToUnconfiguredDbShard({
          dbShardIds: unknown,
          configuredDbShardIds: ids,
        })
      }
      const countOf = (rows: ReadonlyArray<CountRow>, dbShardId: number) =>
        Number(rows.find((row) => row.dbShardId === dbShardId)?.count ?? 0)
      for (const dbShardId of ids) {
        yield* sql`
          UPDATE db_shard_load
          SET guild_count = ${countOf(guilds, dbShardId)}, user_count = ${countOf(users, dbShardId)}
          WHERE db_shard_id = ${dbShardId}`
      }
    }).pipe(sql.withTransaction)

    const migrate = (dbShardId: number) =>
      ShardClients.use(dbShardId, Migrations.runShardMigrations).pipe(
        Effect.tap((applied) =>
          Effect.logInfo("DB shard migrated").pipe(
            Effect.annotateLogs({ dbShardId, applied: applied.length }),
          ),
        ),
        Effect.zipRight(Ref.update(migrated, (done) => new Set([...done, dbShardId]))),
        Effect.provideService(ShardClients.ShardClients, clients),
      )

    // A DB shard that is down at start does not stop the manager: it is migrated when it returns,
    // and /health/ready says not ready until then.
    yield* Effect.forEach(
      ids,
      (dbShardId) =>
        migrate(dbShardId).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("DB shard not migrated; retrying").pipe(
              Effect.annotateLogs({ dbShardId, cause: String(error) }),
              Effect.zipRight(
                migrate(dbShardId).pipe(
                  Effect.tapError((error) =>
                    Effect.logWarning("DB shard still not migrated").pipe(
                      Effect.annotateLogs({ dbShardId, cause: String(error) }),
                    ),
                  ),
                  Effect.retry(Schedule.spaced("5 seconds")),
                  Effect.forkScoped,
                ),
              ),
            ),
          ),
        ),
      { concurrency: "unbounded", discard: true },
    )

    const reachable = (dbShardId: number) =>
      clients.get(dbShardId).pipe(
        Effect.flatMap((client) => client`SELECT 1`),
        Effect.timeout("2 seconds"),
        Effect.as(true),
        Effect.orElseSucceed(() => false),
      )

    // Which DB shards answered the last probe; new routes go only to those (all of them if none
    // does: a route is needed either way, and the gateway's buffers wait for the DB shard).
    const answering = yield* Ref.make<ReadonlySet<number>>(new Set(ids))
    const probeAll = Effect.forEach(ids, reachable, { concurrency: "unbounded" }).pipe(
      Effect.tap((probes) =>
        Ref.set(answering, new Set(ids.filter((_, index) => probes[index] === true))),
      ),
    )
    yield* probeAll
    yield* probeAll.pipe(Effect.repeat(Schedule.spaced("10 seconds")), Effect.forkScoped)

    const assignable = Effect.map(Ref.get(answering), (live) =>
      live.size === 0 ? ids : ids.filter((dbShardId) => live.has(dbShardId)),
    )

    const ready = Effect.gen(function* () {
      const managerReachable = yield* sql`SELECT 1`.pipe(
        Effect.timeout("2 seconds"),
        Effect.as(true),
        Effect.orElseSucceed(() => false),
      )
      const done = yield* Ref.get(migrated)
      const probes = yield* probeAll
      const unreachableDbShardIds = ids.filter((_, index) => probes[index] === false)
      const allMigrated = ids.every((dbShardId) => done.has(dbShardId))
      if (!managerReachable || unreachableDbShardIds.length > 0 || !allMigrated) {
        return yield* new ManagerApi.NotReady({
          reason: !managerReachable
            ? "the manager database cannot be reached"
            : unreachableDbShardIds.length > 0
              ? "some DB shards cannot be reached"
              : "some DB shards are not migrated yet",
          migrated: allMigrated,
          unreachableDbShardIds,
        })
      }
      return { status: "ready" as const, dbShardIds: ids }
    })

    const list = Effect.map(
      sql<{ dbShardId: number; guildCount: number | string }>`
        SELECT db_shard_id, guild_count FROM db_shard_load
        WHERE db_shard_id IN ${sql.in(ids)}
        ORDER BY db_shard_id`,
      (rows) =>
        rows.map(
          (row) =>
            new ManagerApi.DbShard({
              dbShardId: row.dbShardId,
              guildCount: Number(row.guildCount),
            }),
        ),
    )

    return { ids, assignable, ready, list } as const
  }),
}) {}
