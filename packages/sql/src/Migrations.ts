import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, type Redacted } from "effect"
import * as DatabaseUrl from "./DatabaseUrl"

/**
 * Migrations keyed `<id>_<name>` (as `Migrator.fromRecord` reads them), each ONE idempotent DDL
 * statement: MySQL commits DDL implicitly, so nothing can be rolled back and a rerun must be safe.
 */
export type Migrations = Record<string, Effect.Effect<unknown, unknown, SqlClient.SqlClient>>

const statement = (text: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text).raw)

const counters = (...periods: ReadonlyArray<string>) =>
  periods.map(
    (period) => `${period} BIGINT NOT NULL DEFAULT 0,\n  ${period}_key INT NOT NULL DEFAULT 0`,
  )

const periodCounters = [
  "alltime BIGINT NOT NULL DEFAULT 0",
  ...counters("year", "month", "week", "day"),
]

/** Leaderboard indexes: one per period, the current key first, ties broken by the id. */
const leaderboardIndexes = (idColumn = "user_id") => [
  `INDEX leaderboard_alltime (guild_id, alltime DESC, ${idColumn})`,
  ...["year", "month", "week", "day"].map(
    (period) =>
      `INDEX leaderboard_${period} (guild_id, ${period}_key, ${period} DESC, ${idColumn})`,
  ),
]

const table = (name: string, lines: ReadonlyArray<string>) =>
  statement(
    `CREATE TABLE IF NOT EXISTS ${name} (\n  ${lines.join(",\n  ")}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
  )

/**
 * `CREATE INDEX` when the table has no index of that name yet: MySQL has no `IF NOT EXISTS` for
 * indexes (MariaDB has). Names are the schema's own constants, never values.
 */
const index = (tableName: string, indexName: string, columns: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const existing = yield* sql`SELECT 1 FROM information_schema.statistics
      WHERE table_schema = DATABASE() AND table_name = ${tableName} AND index_name = ${indexName}
      LIMIT 1`
    if (existing.length === 0) {
      yield* sql.unsafe(`CREATE INDEX ${indexName} ON ${tableName} (${columns})`).raw
    }
  })

const bool = (name: string, value: boolean) =>
  `${name} BOOLEAN NOT NULL DEFAULT ${value ? "TRUE" : "FALSE"}`
const int = (name: string, value: number, type = "INT") =>
  `${name} ${type} NOT NULL DEFAULT ${value}`
const text = (name: string, length: number, value: string) =>
  `${name} VARCHAR(${length}) NOT NULL DEFAULT '${value}'`

/** Per member (PK guild, user), ranked: XP, invites, votes, bonus, and totals over channels. */
const memberTable = (name: string) =>
  table(name, [
    "guild_id BIGINT UNSIGNED NOT NULL",
    "user_id BIGINT UNSIGNED NOT NULL",
    ...periodCounters,
    "PRIMARY KEY (guild_id, user_id)",
    ...leaderboardIndexes(),
  ])

/** Per member and channel (PK guild, user, channel): text messages and voice minutes. */
const memberChannelTable = (name: string) =>
  table(name, [
    "guild_id BIGINT UNSIGNED NOT NULL",
    "user_id BIGINT UNSIGNED NOT NULL",
    "channel_id BIGINT UNSIGNED NOT NULL",
    ...periodCounters,
    "PRIMARY KEY (guild_id, user_id, channel_id)",
    "INDEX by_channel (guild_id, channel_id, alltime DESC, user_id)",
  ])

/** Per channel (PK guild, channel), totals over members, ranked. */
const channelTable = (name: string) =>
  table(name, [
    "guild_id BIGINT UNSIGNED NOT NULL",
    "channel_id BIGINT UNSIGNED NOT NULL",
    ...periodCounters,
    "PRIMARY KEY (guild_id, channel_id)",
    ...leaderboardIndexes("channel_id"),
  ])

/**
 * The schema of every DB shard: ids `BIGINT UNSIGNED`, counters `BIGINT`, each period counter
 * beside the `INT` key of the period it counts.
 */
export const shardMigrations: Migrations = {
  "0001_guild": table("guild", [
    "guild_id BIGINT UNSIGNED NOT NULL PRIMARY KEY",
    text("vote_tag", 56, "likes"),
    text("vote_emote", 128, ":heart:"),
    text("bonus_tag", 56, "bonus"),
    text("bonus_emote", 128, ":trophy:"),
    int("entries_per_page", 12, "SMALLINT"),
    bool("show_nicknames", false),
    bool("text_xp", true),
    bool("voice_xp", true),
    bool("invite_xp", true),
    bool("vote_xp", true),
    bool("bonus_xp", true),
    bool("notify_levelup_dm", false),
    bool("notify_levelup_current_channel", false),
    bool("notify_levelup_with_role", true),
    bool("take_away_assigned_roles_on_level_down", false),
    int("level_factor", 100),
    int("vote_cooldown_seconds", 1800),
    int("text_message_cooldown_seconds", 0),
    int("xp_per_voice_minute", 3),
    int("xp_per_text_message", 6),
    int("xp_per_vote", 30),
    int("xp_per_invite", 300),
    int("xp_per_bonus", 1),
    int("bonus_per_text_message", 6),
    int("bonus_per_voice_minute", 3),
    int("bonus_per_vote", 30),
    int("bonus_per_invite", 200),
    int("bonus_until", 0, "BIGINT"),
    bool("reaction_vote", false),
    bool("allow_muted_xp", true),
    bool("allow_deafened_xp", true),
    bool("allow_solo_xp", true),
    "levelup_channel_id BIGINT UNSIGNED NULL DEFAULT NULL",
    "server_join_channel_id BIGINT UNSIGNED NULL DEFAULT NULL",
    text("levelup_message", 2048, ""),
    text("server_join_message", 1024, ""),
    text("role_assign_message", 1024, ""),
    text("role_deassign_message", 1024, ""),
    bool("reset_deleted_members", false),
    bool("sticky_level_roles", true),
    text("time_zone", 64, "UTC"),
    int("week_starts_on", 0, "TINYINT"),
    bool("is_banned", false),
    int("added_at", 0, "BIGINT"),
  ]),
  "0002_guild_channel": table("guild_channel", [
    "guild_id BIGINT UNSIGNED NOT NULL",
    "channel_id BIGINT UNSIGNED NOT NULL",
    bool("no_xp", false),
    "PRIMARY KEY (guild_id, channel_id)",
  ]),
  "0003_guild_role": table("guild_role", [
    "guild_id BIGINT UNSIGNED NOT NULL",
    "role_id BIGINT UNSIGNED NOT NULL",
    int("assign_level", 0),
    int("deassign_level", 0),
    text("assign_message", 1024, ""),
    text("deassign_message", 1024, ""),
    int("xp_per_voice_minute", 0),
    int("xp_per_text_message", 0),
    int("xp_per_vote", 0),
    int("xp_per_invite", 0),
    bool("no_xp", false),
    "PRIMARY KEY (guild_id, role_id)",
  ]),
  "0004_guild_member": table("guild_member", [
    "guild_id BIGINT UNSIGNED NOT NULL",
    "user_id BIGINT UNSIGNED NOT NULL",
    bool("notify_levelup_dm", true),
    bool("reaction_vote", true),
    "inviter BIGINT UNSIGNED NULL DEFAULT NULL",
    ...periodCounters,
    "PRIMARY KEY (guild_id, user_id)",
    ...leaderboardIndexes(),
  ]),
  "0005_text_message": memberChannelTable("text_message"),
  "0006_voice_minute": memberChannelTable("voice_minute"),
  "0007_invite": memberTable("invite"),
  "0008_vote": memberTable("vote"),
  "0009_bonus": memberTable("bonus"),
  "0010_user": table("user", [
    "user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY",
    bool("is_banned", false),
    int("patreon_tier", 0, "TINYINT"),
    int("patreon_tier_until", 0, "BIGINT"),
    int("last_ask_for_premium_at", 0, "BIGINT"),
    int("added_at", 0, "BIGINT"),
  ]),
  "0011_flush_ledger": table("flush_ledger", [
    "batch_id VARCHAR(64) NOT NULL PRIMARY KEY",
    "applied_at BIGINT NOT NULL",
    "INDEX by_applied_at (applied_at)",
  ]),
  // Totals of `text_message` / `voice_minute` over channels and over members, written by the
  // same flush, so that rankings never sum a whole guild's rows.
  "0012_text_message_member": memberTable("text_message_member"),
  "0013_voice_minute_member": memberTable("voice_minute_member"),
  "0014_text_message_channel": channelTable("text_message_channel"),
  "0015_voice_minute_channel": channelTable("voice_minute_channel"),
}

/**
 * The manager's minimal schema. Ids 1–99 are taken here; the manager adds its own migrations
 * with ids from 100 through `runManagerMigrations(extra)`.
 */
export const managerMigrations: Migrations = {
  "0001_db_shard": table("db_shard", [
    "db_shard_id INT UNSIGNED NOT NULL PRIMARY KEY",
    int("added_at", 0, "BIGINT"),
  ]),
  "0002_guild_route": table("guild_route", [
    "guild_id BIGINT UNSIGNED NOT NULL PRIMARY KEY",
    "db_shard_id INT UNSIGNED NOT NULL",
    "INDEX by_db_shard (db_shard_id)",
  ]),
  "0003_user_route": table("user_route", [
    "user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY",
    "db_shard_id INT UNSIGNED NOT NULL",
  ]),
  // The manager counts routes per DB shard at every start; without it that scanned every user.
  "0004_user_route_by_db_shard": index("user_route", "by_db_shard", "db_shard_id"),
}

const migrationsTable = "tally_migrations"

/**
 * Runs the migrations not yet recorded, in id order, recording each AFTER it succeeded.
 *
 * Effect's `Migrator.make` records every pending id first and then runs them in one transaction;
 * on MySQL the first DDL commits that record, so a migration failing halfway would leave the rest
 * recorded but never run. Here a failure (or a crash) leaves it and the rest unrecorded, and
 * since each one is idempotent the next run simply runs them again.
 */
export const run = (
  migrations: Migrations,
): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  Migrator.MigrationError | SqlError,
  SqlClient.SqlClient
> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const loaded = yield* Migrator.fromRecord(migrations)
    if (new Set(loaded.map(([id]) => id)).size !== loaded.length) {
      return yield* new Migrator.MigrationError({
        reason: "duplicates",
        message: "two migrations share an id",
      })
    }

    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(migrationsTable)} (
      migration_id INT UNSIGNED NOT NULL PRIMARY KEY,
      name VARCHAR(255) NOT NULL,
      created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
    )`.raw

    const runPending = Effect.gen(function* () {
      const done = new Set(
        (yield* sql<{ migrationId: number }>`SELECT migration_id FROM ${sql(migrationsTable)}`).map(
          (row) => Number(row.migrationId),
        ),
      )
      const completed: Array<readonly [number, string]> = []
      for (const [id, name, load] of loaded) {
        if (done.has(id)) continue
        const migration = yield* load
        yield* Effect.mapError(
          migration as Effect.Effect<unknown, unknown, SqlClient.SqlClient>,
          (cause) =>
            new Migrator.MigrationError({
              cause,
              reason: "failed",
              message: `migration ${id}_${name} failed`,
            }),
        )
        yield* sql`INSERT IGNORE INTO ${sql(migrationsTable)} (migration_id, name) VALUES (${id}, ${name})`
        completed.push([id, name])
        yield* Effect.logDebug("migration applied").pipe(
          Effect.annotateLogs({ migrationId: id, migrationName: name }),
        )
      }
      return completed
    })

    // One connection for the whole run, so the named lock (per database, since GET_LOCK is
    // server-wide) keeps two migrating processes apart.
    return yield* sql.withTransaction(
      Effect.acquireUseRelease(
        sql<{
          locked: number | string | null
        }>`SELECT GET_LOCK(CONCAT('tally_migrations:', DATABASE()), 60) AS locked`,
        ([row]) =>
          Number(row?.locked) === 1
            ? runPending
            : Effect.fail(
                new Migrator.MigrationError({
                  reason: "locked",
                  message: "migrations already running",
                }),
              ),
        () => sql`SELECT RELEASE_LOCK(CONCAT('tally_migrations:', DATABASE()))`.pipe(Effect.ignore),
      ),
    )
  })

export const runShardMigrations = run(shardMigrations)

/** The manager's schema plus the manager's own migrations (ids from 100). */
export const runManagerMigrations = (extraMigrations: Migrations = {}) =>
  run({ ...managerMigrations, ...extraMigrations })

/** Creates the URL's database if it does not exist (connecting to the server without one). */
export const ensureDatabase = (
  url: Redacted.Redacted | string,
): Effect.Effect<void, SqlError | DatabaseUrl.InvalidDatabaseUrl> =>
  Effect.gen(function* () {
    const config = yield* DatabaseUrl.parse(url)
    const database = config.database
    if (database === undefined) {
      return yield* new DatabaseUrl.InvalidDatabaseUrl({ reason: "the database name is missing" })
    }
    yield* Effect.scoped(
      Effect.gen(function* () {
        const sql = (yield* DatabaseUrl.serverClient(config)).withoutTransforms()
        yield* sql`CREATE DATABASE IF NOT EXISTS ${sql(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`
          .raw
      }),
    )
  })
