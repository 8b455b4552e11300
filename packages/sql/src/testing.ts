import { randomBytes } from "node:crypto"
import * as Reactivity from "@effect/experimental/Reactivity"
import type { MigrationError } from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import { Context, Effect, Layer, Redacted, type Scope } from "effect"
import * as DatabaseUrl from "./DatabaseUrl"
import * as Migrations from "./Migrations"
import * as ShardClients from "./ShardClients"

/** The test server: the local MariaDB, root without password (`TALLY_TEST_MYSQL_URL` overrides). */
export const serverUrl = process.env.TALLY_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306"

const server = (): DatabaseUrl.DatabaseConfig => {
  const parsed = DatabaseUrl.parse(serverUrl)
  if (parsed._tag === "Left") throw new Error(`TALLY_TEST_MYSQL_URL: ${parsed.left.reason}`)
  return parsed.right
}

/** A throwaway database, dropped when its scope closes. */
export interface TestDatabase {
  readonly name: string
  readonly url: Redacted.Redacted
}

export const TestDatabase = Context.GenericTag<TestDatabase>("@tally/sql/testing/TestDatabase")

const urlOf = (name: string) => Redacted.make(`${serverUrl.replace(/\/$/, "")}/${name}`)

const onServer = <A>(
  use: (sql: SqlClient.SqlClient) => Effect.Effect<A, SqlError>,
): Effect.Effect<A, SqlError> =>
  Effect.scoped(
    Effect.flatMap(DatabaseUrl.serverClient(server()), (sql) => use(sql.withoutTransforms())),
  )

/**
 * Test databases left behind by runs that were killed before their finalizers (named
 * `tally_test…` / `tally_bench…`, no table created in the last two hours) are dropped once per
 * process, before the first new one is made.
 */
const sweepStaleDatabases = Effect.runSync(
  Effect.cached(
    onServer((sql) =>
      Effect.gen(function* () {
        const stale = yield* sql<{ name: string }>`SELECT table_schema AS name
        FROM information_schema.tables
        WHERE table_schema LIKE 'tally_test_%' OR table_schema LIKE 'tally_bench_%'
        GROUP BY table_schema
        HAVING MAX(create_time) < NOW() - INTERVAL 2 HOUR`
        yield* Effect.forEach(stale, ({ name }) => sql`DROP DATABASE IF EXISTS ${sql(name)}`.raw, {
          discard: true,
        })
      }),
    ).pipe(Effect.ignore),
  ),
)

/** Creates `tally_test_<random>` (or `<prefix>_<random>`) and drops it when the scope closes. */
export const makeDatabase = (
  prefix = "tally_test",
): Effect.Effect<TestDatabase, SqlError, Scope.Scope> => {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`
  return Effect.acquireRelease(
    sweepStaleDatabases.pipe(
      Effect.zipRight(
        onServer((sql) => sql`CREATE DATABASE ${sql(name)} CHARACTER SET utf8mb4`.raw),
      ),
      Effect.as({ name, url: urlOf(name) }),
    ),
    () => onServer((sql) => sql`DROP DATABASE IF EXISTS ${sql(name)}`.raw).pipe(Effect.orDie),
  )
}

/** A `SqlClient` (Tally's client config) on an existing database. */
export const client = (
  url: Redacted.Redacted,
  options?: { readonly maxConnections?: number },
): Effect.Effect<MysqlClient.MysqlClient, SqlError, Scope.Scope> =>
  Effect.gen(function* () {
    const config = yield* Effect.orDie(DatabaseUrl.parse(url))
    return yield* MysqlClient.make(DatabaseUrl.clientConfig(config, options)).pipe(
      Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make),
    )
  })

/** A throwaway database with a `SqlClient` on it; `migrations` run first (default: none). */
export const layer = (options?: {
  readonly migrations?: Migrations.Migrations
  readonly prefix?: string
}): Layer.Layer<SqlClient.SqlClient | TestDatabase, SqlError | MigrationError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const database = yield* makeDatabase(options?.prefix)
      const sql = yield* client(database.url)
      if (options?.migrations !== undefined) {
        yield* Effect.provideService(Migrations.run(options.migrations), SqlClient.SqlClient, sql)
      }
      return Context.make(TestDatabase, database).pipe(Context.add(SqlClient.SqlClient, sql))
    }),
  )

/** A throwaway DB shard: a database with the shard schema and a `SqlClient` on it. */
export const layerShard = (): Layer.Layer<
  SqlClient.SqlClient | TestDatabase,
  SqlError | MigrationError
> => layer({ migrations: Migrations.shardMigrations, prefix: "tally_test_shard" })

/** `count` throwaway databases with the shard schema, keyed by DB shard ids 0, 1, …. */
export const makeShards = (
  count: number,
): Effect.Effect<ReadonlyMap<number, Redacted.Redacted>, SqlError | MigrationError, Scope.Scope> =>
  Effect.forEach(
    Array.from({ length: count }, (_, dbShardId) => dbShardId),
    (dbShardId) =>
      Effect.gen(function* () {
        const database = yield* makeDatabase(`tally_test_shard${dbShardId}`)
        yield* Effect.scoped(
          Effect.flatMap(client(database.url, { maxConnections: 1 }), (sql) =>
            Effect.provideService(Migrations.runShardMigrations, SqlClient.SqlClient, sql),
          ),
        )
        return [dbShardId, database.url] as const
      }),
    { concurrency: "unbounded" },
  ).pipe(Effect.map((entries) => new Map(entries)))

/** `ShardClients` over `count` throwaway, migrated DB shards (ids 0, 1, …). */
export const layerShardClients = (
  count = 2,
): Layer.Layer<ShardClients.ShardClients, SqlError | MigrationError> =>
  Layer.unwrapScoped(
    Effect.map(makeShards(count), (urls) =>
      Layer.orDie(ShardClients.layerFromUrls(urls, { maxConnections: 4 })),
    ),
  )
