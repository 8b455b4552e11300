import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as DatabaseUrl from "@tally/sql/DatabaseUrl"
import * as Migrations from "@tally/sql/Migrations"
import { Config, ConfigError, Effect, Either, Layer, Redacted } from "effect"

const statement = (text: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text).raw)

/**
 * The manager's own migrations, after the minimal schema of `@tally/sql` (ids from 100).
 * `db_shard_load` holds one counter row per DB shard: assignments lock those rows, which is what
 * makes concurrent first asks agree.
 */
export const migrations: Migrations.Migrations = {
  "0100_db_shard_load": statement(`CREATE TABLE IF NOT EXISTS db_shard_load (
    db_shard_id INT UNSIGNED NOT NULL PRIMARY KEY,
    guild_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
    user_count BIGINT UNSIGNED NOT NULL DEFAULT 0
  ) ENGINE=InnoDB`),
  "0101_gateway_heartbeat": statement(`CREATE TABLE IF NOT EXISTS gateway_heartbeat (
    instance_id VARCHAR(100) NOT NULL PRIMARY KEY,
    discord_shard_ids TEXT NOT NULL,
    guild_count INT UNSIGNED NOT NULL,
    events_per_second DOUBLE NOT NULL,
    buffered_rows BIGINT UNSIGNED NOT NULL,
    oldest_buffered_at BIGINT NULL,
    last_flush_at BIGINT NULL,
    last_heartbeat_at BIGINT NOT NULL
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`),
}

export const defaultUrl = "mysql://root@127.0.0.1:3306/tally_manager"

export const urlConfig = Config.redacted("MANAGER_DATABASE_URL").pipe(
  Config.withDefault(Redacted.make(defaultUrl)),
)

/** MANAGER_DATABASE_URL, read: the URL (for creating the database) and its parts. */
export const databaseConfig = urlConfig.pipe(
  Config.mapOrFail((url) =>
    Either.match(DatabaseUrl.parse(url), {
      onLeft: (error) =>
        Either.left(ConfigError.InvalidData(["MANAGER_DATABASE_URL"], error.message)),
      onRight: (config) => Either.right({ url, config }),
    }),
  ),
)

/**
 * The manager database's `SqlClient`: the database is created if missing (where the user may)
 * and migrated before anything uses it.
 */
export const layer = Layer.scoped(
  SqlClient.SqlClient,
  Effect.gen(function* () {
    const { url, config } = yield* databaseConfig

    yield* Migrations.ensureDatabase(url).pipe(
      Effect.catchTag("SqlError", (error) =>
        Effect.logWarning(
          "could not create the manager database; assuming it exists",
          error.message,
        ),
      ),
    )
    const sql = yield* MysqlClient.make(DatabaseUrl.clientConfig(config)).pipe(
      Effect.provide(Reactivity.layer),
    )
    const applied = yield* Effect.provideService(
      Migrations.runManagerMigrations(migrations),
      SqlClient.SqlClient,
      sql,
    )
    yield* Effect.logInfo("manager database migrated").pipe(
      Effect.annotateLogs({ database: config.database ?? "", applied: applied.length }),
    )
    return sql
  }),
)
