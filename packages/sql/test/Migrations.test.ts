import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import * as Migrations from "../src/Migrations"
import * as Testing from "../src/testing"

const tables = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ tableName: string }>`SELECT table_name AS table_name FROM information_schema.tables
      WHERE table_schema = DATABASE() ORDER BY table_name`,
    (rows) => rows.map((row) => row.tableName),
  ),
)

const create = (name: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe(`CREATE TABLE IF NOT EXISTS ${name} (id INT PRIMARY KEY)`),
  )

describe("Migrations.run", () => {
  it.scoped("a migration that failed halfway is safe to rerun: the rest runs next time", () =>
    Effect.gen(function* () {
      const failing = {
        "0001_a": create("a"),
        "0002_b": create("b"),
        "0003_broken": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE c (`),
        "0004_d": create("d"),
      }
      const first = yield* Effect.exit(Migrations.run(failing))
      expect(Exit.isFailure(first)).toBe(true)
      expect(yield* tables).toEqual(["a", "b", "tally_migrations"])

      const fixed = { ...failing, "0003_broken": create("c") }
      const second = yield* Migrations.run(fixed)
      expect(second.map(([id]) => id)).toEqual([3, 4])
      expect(yield* tables).toEqual(["a", "b", "c", "d", "tally_migrations"])
    }).pipe(Effect.provide(Testing.layer())),
  )

  it.scoped("running all shard migrations twice is a no-op the second time", () =>
    Effect.gen(function* () {
      const first = yield* Migrations.runShardMigrations
      const before = yield* tables
      const second = yield* Migrations.runShardMigrations
      expect(first.length).toBe(Object.keys(Migrations.shardMigrations).length)
      expect(second).toEqual([])
      expect(yield* tables).toEqual(before)
      expect(before).toContain("guild_member")
      expect(before).toContain("flush_ledger")
    }).pipe(Effect.provide(Testing.layer())),
  )

  it.scoped("every shard migration can run again on a schema that already has it", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* Migrations.runShardMigrations
      yield* sql`DELETE FROM tally_migrations`
      const again = yield* Migrations.runShardMigrations
      expect(again.length).toBe(Object.keys(Migrations.shardMigrations).length)
    }).pipe(Effect.provide(Testing.layer())),
  )

  it.scoped("the manager schema takes extra migrations after its own", () =>
    Effect.gen(function* () {
      const applied = yield* Migrations.runManagerMigrations({ "0100_extra": create("extra") })
      expect(applied.map(([, name]) => name)).toEqual([
        "db_shard",
        "guild_route",
        "user_route",
        "user_route_by_db_shard",
        "extra",
      ])
      expect(yield* Migrations.runManagerMigrations({ "0100_extra": create("extra") })).toEqual([])
    }).pipe(Effect.provide(Testing.layer())),
  )

  it.scoped("routes are counted per DB shard by index, and the index migration can run again", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* Migrations.runManagerMigrations()
      yield* sql`DELETE FROM tally_migrations`
      yield* Migrations.runManagerMigrations()
      const plan = yield* sql.unsafe<{ key: string | null }>(
        "EXPLAIN SELECT db_shard_id, COUNT(*) FROM user_route GROUP BY db_shard_id",
      )
      expect(plan.map((row) => row.key)).toEqual(["by_db_shard"])
    }).pipe(Effect.provide(Testing.layer())),
  )
})

describe("Migrations.ensureDatabase", () => {
  it.scoped("creates a missing database and leaves an existing one alone", () =>
    Effect.gen(function* () {
      const database = yield* Testing.makeDatabase()
      const missing = `${database.name}_new`
      const url = Redacted.make(`${Testing.serverUrl}/${missing}`)
      const admin = yield* Testing.client(database.url)
      yield* Effect.addFinalizer(() =>
        admin.withoutTransforms()`DROP DATABASE IF EXISTS ${admin(missing)}`.pipe(Effect.orDie),
      )
      yield* Migrations.ensureDatabase(url)
      yield* Migrations.ensureDatabase(url)
      const rows = yield* admin<{
        name: string
      }>`SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name = ${missing}`
      expect(rows).toEqual([{ name: missing }])
    }),
  )
})
