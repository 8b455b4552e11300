import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Either, Exit, Layer, Redacted, TestClock } from "effect"
import * as ShardClients from "../src/ShardClients"
import * as Testing from "../src/testing"

const build = <E>(layer: Layer.Layer<ShardClients.ShardClients, E>) =>
  Effect.map(Layer.build(layer), Context.get(ShardClients.ShardClients))

const bigId = "18446744073709551615" // 2^64 - 1, far above 2^53
const smallId = "42"

describe("ShardClients.parseShardUrls", () => {
  it("keys shards by their explicit ids, not by list position", () => {
    const shards = Either.getOrThrow(
      ShardClients.parseShardUrls("7=mysql://root@h1:3306/a, 2=mysql://root@h2/b"),
    )
    expect([...shards.keys()]).toEqual([7, 2])
    expect(shards.get(2)?.host).toBe("h2")
  })

  it("rejects an entry without an id and a repeated id", () => {
    expect(Either.isLeft(ShardClients.parseShardUrls("mysql://root@h/a"))).toBe(true)
    expect(
      Either.isLeft(ShardClients.parseShardUrls("1=mysql://root@h/a,1=mysql://root@h/b")),
    ).toBe(true)
  })
})

describe("ShardClients.shardUrlsConfig", () => {
  it.effect("reads SHARD_DATABASE_URLS, defaulting to shards 0 and 1 on the local server", () =>
    Effect.gen(function* () {
      const given = yield* ShardClients.shardUrlsConfig.pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["SHARD_DATABASE_URLS", "3=mysql://u:pw@db:3307/s3"]])),
        ),
      )
      expect([...given.keys()]).toEqual([3])
      expect(given.get(3)).toMatchObject({ host: "db", port: 3307, database: "s3" })
      const defaults = yield* ShardClients.shardUrlsConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map())),
      )
      expect([...defaults.values()].map((shard) => shard.database)).toEqual([
        "tally_shard_0",
        "tally_shard_1",
      ])
    }),
  )

  it.effect("a malformed value fails without repeating it (it may hold a password)", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        ShardClients.shardUrlsConfig.pipe(
          Effect.withConfigProvider(
            ConfigProvider.fromMap(new Map([["SHARD_DATABASE_URLS", "mysql://u:hunter2@db/x"]])),
          ),
        ),
      )
      expect(String(error)).not.toContain("hunter2")
    }),
  )
})

describe("ShardClients", () => {
  it.scoped("gives each DB shard its own database", () =>
    Effect.gen(function* () {
      const urls = yield* Testing.makeShards(2)
      const shards = yield* build(ShardClients.layerFromUrls(urls))
      expect(shards.ids).toEqual([0, 1])
      const databaseOf = (dbShardId: number) =>
        Effect.flatMap(
          shards.get(dbShardId),
          (sql) => sql<{ name: string }>`SELECT DATABASE() AS name`,
        )
      const [zero, one] = yield* Effect.all([databaseOf(0), databaseOf(1)])
      expect(zero[0]?.name).toContain("tally_test_shard0_")
      expect(one[0]?.name).toContain("tally_test_shard1_")
      const unknown = yield* Effect.flip(shards.get(5))
      expect(unknown).toMatchObject({ _tag: "ShardUnavailable", reason: "unknown", dbShardId: 5 })
    }),
  )

  it.scoped("a DB shard down at start does not stop the others, and connects once it is up", () =>
    Effect.gen(function* () {
      const up = yield* Testing.makeDatabase()
      const laterName = `tally_test_later_${Date.now().toString(36)}`
      const later = Redacted.make(`${Testing.serverUrl}/${laterName}`)
      const shards = yield* build(
        ShardClients.layerFromUrls(
          new Map([
            [0, up.url],
            [1, later],
          ]),
        ),
      )
      const rows = yield* Effect.flatMap(shards.get(0), (sql) => sql`SELECT 1 AS one`)
      expect(rows).toEqual([{ one: 1 }])
      const down = yield* Effect.exit(shards.get(1))
      expect(Exit.isFailure(down)).toBe(true)

      const admin = yield* Testing.client(up.url)
      yield* Effect.addFinalizer(() =>
        admin.withoutTransforms()`DROP DATABASE IF EXISTS ${admin(laterName)}`.pipe(Effect.orDie),
      )
      yield* admin.withoutTransforms()`CREATE DATABASE ${admin(laterName)}`
      // Right after a failed connect, callers fail at once instead of waiting on another.
      expect(Exit.isFailure(yield* Effect.exit(shards.get(1)))).toBe(true)
      yield* TestClock.adjust("3 seconds")
      const again = yield* Effect.flatMap(
        shards.get(1),
        (sql) => sql<{ name: string }>`SELECT DATABASE() AS name`,
      )
      expect(again[0]?.name).toBe(laterName)
    }),
  )
})

describe("a DB shard that answers but refuses", () => {
  it.scoped("an unknown user or database is told apart from a server that is down", () =>
    Effect.gen(function* () {
      const server = new URL(Testing.serverUrl)
      const withUser = new URL(Testing.serverUrl)
      withUser.username = "tally_no_such_user"
      withUser.password = "wrong"
      const shards = yield* build(
        ShardClients.layerFromUrls(
          new Map([
            [0, Redacted.make(`${withUser.toString().replace(/\/$/, "")}/mysql`)],
            [1, Redacted.make(`${Testing.serverUrl}/tally_test_no_such_database`)],
            // A port nothing listens on (the discard port).
            [2, Redacted.make(`mysql://root@${server.hostname}:9/x`)],
          ]),
        ),
      )
      const [user, database, down] = yield* Effect.all(
        [0, 1, 2].map((id) => Effect.flip(shards.get(id))),
      )
      expect(user).toMatchObject({ _tag: "ShardUnavailable", reason: "refused", dbShardId: 0 })
      expect(database).toMatchObject({ reason: "refused", dbShardId: 1 })
      expect(database?.message).toContain("SHARD_DATABASE_URLS")
      expect(down).toMatchObject({ reason: "unreachable", dbShardId: 2 })
      expect(String(user?.message)).not.toContain("wrong")
    }),
  )
})

describe("values read back", () => {
  it.scoped("ids come back as strings whatever their size, sums as numbers", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE t (id BIGINT UNSIGNED PRIMARY KEY, amount BIGINT NOT NULL)`
      yield* sql`INSERT INTO t ${sql.insert([
        { id: bigId, amount: 2 ** 40 },
        { id: smallId, amount: 3 },
      ])}`
      const prepared = yield* sql<{
        id: unknown
        amount: unknown
      }>`SELECT id, amount FROM t ORDER BY id`
      const unprepared = yield* sql<{ id: unknown }>`SELECT id FROM t ORDER BY id`.unprepared
      expect(prepared.map((row) => row.id)).toEqual([smallId, bigId])
      expect(unprepared.map((row) => row.id)).toEqual([smallId, bigId])

      const [sums] = yield* sql<{ total: unknown }>`SELECT SUM(amount) AS total FROM t`
      const [sumsUnprepared] = yield* sql<{ total: unknown }>`SELECT SUM(amount) AS total FROM t`
        .unprepared
      expect(sums?.total).toBe(2 ** 40 + 3)
      expect(sumsUnprepared?.total).toBe(2 ** 40 + 3)
    }).pipe(Effect.provide(Testing.layer())),
  )
})
