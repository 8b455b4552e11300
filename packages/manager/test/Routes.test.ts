import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import * as Snowflake from "@tally/domain/Snowflake"
import * as Testing from "@tally/sql/testing"
import { serverUrl } from "@tally/sql/testing"
import { Cause, Effect, Exit, Redacted, Scope } from "effect"
import {
  ask,
  environment,
  freePort,
  inheritedEnvironment,
  makeDatabases,
  packageRoot,
  repoRoot,
  spawnManager,
  startManager,
} from "./fixtures"

const guildIds = (count: number, seed: number) =>
  Array.from({ length: count }, (_, index) =>
    Snowflake.fromTimestamp(1_600_000_000_000 + seed * 10_000_000 + index * 1000, index),
  )

/** Direct reads of the manager database, to check what the API says against what is stored. */
const managerSql = (url: string) => Testing.client(Redacted.make(url), { maxConnections: 2 })

describe("a new guild goes to the DB shard with the fewest guilds", () => {
  it.scopedLive(
    "1,000 new guilds over three DB shards: no DB shard more than one over its fair share",
    () =>
      Effect.gen(function* () {
        const databases = yield* makeDatabases(3)
        const manager = yield* startManager(environment(databases))
        const ids = guildIds(1000, 1)

        // Single asks and batches mixed, concurrently, as gateways would send them.
        const single = ids.slice(0, 50)
        const batched = ids.slice(50)
        yield* Effect.all(
          [
            Effect.forEach(single, (id) => ask(manager.url, `/v1/routes/guilds/${id}`), {
              concurrency: 20,
            }),
            Effect.forEach(
              Array.from({ length: 10 }, (_, index) => batched.slice(index * 95, index * 95 + 95)),
              (chunk) =>
                ask(manager.url, "/v1/routes/guilds/batch", {
                  method: "POST",
                  body: JSON.stringify({ guildIds: chunk }),
                }),
              { concurrency: "unbounded" },
            ),
          ],
          { concurrency: "unbounded" },
        )

        const { status, body } = yield* ask(manager.url, "/v1/shards")
        expect(status).toBe(200)
        const counts = body.shards.map((shard: { guildCount: number }) => shard.guildCount)
        expect(body.shards.map((shard: { dbShardId: number }) => shard.dbShardId)).toEqual([
          0, 1, 2,
        ])
        expect(counts.reduce((a: number, b: number) => a + b, 0)).toBe(1000)
        for (const count of counts) expect(count).toBeLessThanOrEqual(Math.floor(1000 / 3) + 1)

        const sql = yield* managerSql(databases.managerUrl)
        const stored = yield* sql<{ dbShardId: number; count: number }>`
          SELECT db_shard_id, COUNT(*) AS count FROM guild_route GROUP BY db_shard_id ORDER BY db_shard_id`
        expect(stored.map((row) => Number(row.count))).toEqual(counts)
        expect(body.shards[0]).not.toHaveProperty("url")
      }),
  )

  it.scopedLive("new users are balanced over DB shards the same way", () =>
    Effect.gen(function* () {
      const databases = yield* makeDatabases(2)
      const manager = yield* startManager(environment(databases))
      const { body } = yield* ask(manager.url, "/v1/routes/users/batch", {
        method: "POST",
        body: JSON.stringify({ userIds: guildIds(101, 2) }),
      })
      const onFirst = body.routes.filter((route: { dbShardId: number }) => route.dbShardId === 0)
      expect(body.routes).toHaveLength(101)
      expect(onFirst.length).toBe(51)
      const single = yield* ask(manager.url, `/v1/routes/users/${body.routes[7].userId}`)
      expect(single.body).toEqual(body.routes[7])
    }),
  )

  it.scopedLive("a batch of more than 1,000 ids is refused", () =>
    Effect.gen(function* () {
      const databases = yield* makeDatabases(1)
      const manager = yield* startManager(environment(databases))
      const { status, body } = yield* ask(manager.url, "/v1/routes/guilds/batch", {
        method: "POST",
        body: JSON.stringify({ guildIds: guildIds(1001, 3) }),
      })
      expect(status).toBe(400)
      expect(body._tag).toBe("HttpApiDecodeError")
    }),
  )
})

describe("concurrent first asks get one answer: the database decides", () => {
  it.scopedLive(
    "100 parallel first asks for one guild, split over two manager processes, give one route",
    () =>
      Effect.gen(function* () {
        const databases = yield* makeDatabases(3)
        const cwd = mkdtempSync(path.join(tmpdir(), "tally-manager-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(cwd, { recursive: true })))

        // The second process has no MANAGER_TOKEN: it writes one, which this process then uses.
        const { MANAGER_TOKEN: _, ...withoutToken } = environment(databases)
        const other = yield* spawnManager(withoutToken, cwd)
        const tokenFile = path.join(cwd, ".tally/manager.token")
        const token = readFileSync(tokenFile, "utf8").trim()
        expect(statSync(tokenFile).mode & 0o777).toBe(0o600)
        expect(other.output()).toContain(".tally/manager.token")
        expect(other.output()).not.toContain(token)

        const here = yield* startManager({ ...environment(databases), MANAGER_TOKEN: token })
        const managers = [here.url, other.url]

        // Give the DB shards unequal loads first, so a wrong answer would pick another shard.
        yield* ask(
          here.url,
          "/v1/routes/guilds/batch",
          { method: "POST", body: JSON.stringify({ guildIds: guildIds(5, 4) }) },
          token,
        )

        const [guildId] = guildIds(1, 5)
        const answers = yield* Effect.forEach(
          Array.from({ length: 100 }, (_, index) => index),
          (index) =>
            index % 3 === 0
              ? Effect.map(
                  ask(
                    managers[index % 2]!,
                    "/v1/routes/guilds/batch",
                    { method: "POST", body: JSON.stringify({ guildIds: [guildId] }) },
                    token,
                  ),
                  ({ status, body }) => ({ status, body: body.routes?.[0] }),
                )
              : ask(managers[index % 2]!, `/v1/routes/guilds/${guildId}`, {}, token),
          { concurrency: "unbounded" },
        )
        expect(answers.every((answer) => answer.status === 200)).toBe(true)
        const dbShardIds = new Set(answers.map((answer) => answer.body.dbShardId))
        expect(dbShardIds.size).toBe(1)

        const sql = yield* managerSql(databases.managerUrl)
        const rows = yield* sql<{ dbShardId: number }>`
          SELECT db_shard_id FROM guild_route WHERE guild_id = ${guildId}`
        expect(rows.map((row) => row.dbShardId)).toEqual([...dbShardIds])
        const [total] = yield* sql<{
          total: number
        }>`SELECT SUM(guild_count) AS total FROM db_shard_load`
        expect(Number(total?.total)).toBe(6)
      }),
    90_000,
  )
})

describe("a route never changes", () => {
  it.scopedLive(
    "routes survive a restart; a route to a DB shard missing from config stops the start",
    () =>
      Effect.gen(function* () {
        const databases = yield* makeDatabases(3)
        const env = environment(databases)
        const ids = guildIds(60, 6)
        const body = JSON.stringify({ guildIds: ids })
        const post = { method: "POST", body }

        const first = yield* Effect.scoped(
          Effect.flatMap(startManager(env), (manager) =>
            ask(manager.url, "/v1/routes/guilds/batch", post),
          ),
        )
        expect(
          new Set(first.body.routes.map((route: { dbShardId: number }) => route.dbShardId)),
        ).toEqual(new Set([0, 1, 2]))

        const restarted = yield* startManager(env)
        const second = yield* ask(restarted.url, "/v1/routes/guilds/batch", post)
        expect(second.body).toEqual(first.body)
        const shards = yield* ask(restarted.url, "/v1/shards")
        expect(shards.body.shards.map((shard: { guildCount: number }) => shard.guildCount)).toEqual(
          [20, 20, 20],
        )

        const withoutShard2 = {
          ...env,
          SHARD_DATABASE_URLS: databases.shardUrls.split(",").slice(0, 2).join(","),
        }
        const scope = yield* Scope.make()
        const exit = yield* Effect.exit(Scope.extend(startManager(withoutShard2), scope))
        yield* Scope.close(scope, Exit.void)
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause) as Error
          expect((error as { _tag?: string })._tag).toBe("RouteToUnconfiguredDbShard")
          expect(error.message).toContain("DB shard 2")
          expect(error.message).toContain("SHARD_DATABASE_URLS")
        }
      }),
  )
})

describe("start-up", () => {
  it.scopedLive("the manager and every DB shard database are created if missing and migrated", () =>
    Effect.gen(function* () {
      const databases = yield* makeDatabases(2)
      const manager = yield* startManager(environment(databases))
      const ready = yield* ask(manager.url, "/health/ready")
      expect(ready).toMatchObject({ status: 200, body: { status: "ready", dbShardIds: [0, 1] } })

      const sql = yield* managerSql(databases.managerUrl)
      const tables = yield* sql<{ schema: string; name: string }>`
        SELECT table_schema AS \`schema\`, table_name AS name FROM information_schema.tables
        WHERE table_schema IN ${sql.in(databases.names)}`
      const byDatabase = (name: string) =>
        tables.filter((row) => row.schema === name).map((row) => row.name)
      expect(byDatabase(databases.names[0]!)).toEqual(
        expect.arrayContaining(["guild_route", "user_route", "db_shard", "db_shard_load"]),
      )
      expect(byDatabase(databases.names[1]!)).toEqual(
        expect.arrayContaining(["guild_member", "flush_ledger"]),
      )
      expect(byDatabase(databases.names[2]!)).toEqual(
        expect.arrayContaining(["guild_member", "flush_ledger"]),
      )
      const registered = yield* sql<{ dbShardId: number }>`SELECT db_shard_id FROM db_shard`
      expect(registered.map((row) => row.dbShardId).sort()).toEqual([0, 1])
    }),
  )

  it.scopedLive(
    "a DB shard that is down does not stop the start, gets no new guilds, and /health/ready names it",
    () =>
      Effect.gen(function* () {
        const databases = yield* makeDatabases(1)
        const manager = yield* startManager(
          environment(databases, {
            SHARD_DATABASE_URLS: `${databases.shardUrls},1=mysql://root@127.0.0.1:1/tally_nowhere`,
          }),
        )
        const ready = yield* ask(manager.url, "/health/ready")
        expect(ready.status).toBe(503)
        expect(ready.body).toMatchObject({ _tag: "NotReady", unreachableDbShardIds: [1] })
        const routes = yield* ask(manager.url, "/v1/routes/guilds/batch", {
          method: "POST",
          body: JSON.stringify({ guildIds: guildIds(10, 7) }),
        })
        expect(routes.body.routes.map((route: { dbShardId: number }) => route.dbShardId)).toEqual(
          Array(10).fill(0),
        )
        const alive = yield* ask(manager.url, "/health")
        expect(alive).toMatchObject({ status: 200, body: { status: "alive" } })
      }),
  )
})

describe("the manager process with settings it cannot use", () => {
  /**
   * The manager run to its end in a folder of its own (a token file it writes goes there, not
   * into the source tree); `prepare` readies that folder first.
   */
  const run = (env: Record<string, string>, prepare: (folder: string) => void = () => {}) =>
    Effect.promise(() => {
      const folder = mkdtempSync(path.join(tmpdir(), "tally-manager-run-"))
      prepare(folder)
      return promisify(execFile)(
        path.join(repoRoot, "node_modules/.bin/tsx"),
        [path.join(packageRoot, "src/main.ts")],
        {
          cwd: folder,
          env: { ...inheritedEnvironment(), MANAGER_PORT: String(freePort()), ...env },
        },
      )
        .then(
          () => ({ code: 0, output: "" }),
          (error: { code: number; stdout: string; stderr: string }) => ({
            code: error.code,
            output: error.stdout + error.stderr,
          }),
        )
        .finally(() => rmSync(folder, { recursive: true, force: true }))
    })

  it.scopedLive("an empty token file: exit 1, one sentence naming the file", () =>
    Effect.gen(function* () {
      const databases = yield* makeDatabases(1)
      const { code, output } = yield* run(
        { ...environment(databases), MANAGER_TOKEN: "" },
        (folder) => {
          mkdirSync(path.join(folder, ".tally"))
          writeFileSync(path.join(folder, ".tally/manager.token"), "\n")
        },
      )
      expect(code).toBe(1)
      expectOneLine(output, ".tally/manager.token is empty")
    }),
  )

  it.live("a database it cannot reach: exit 1, a sentence naming the setting, no password", () =>
    Effect.gen(function* () {
      const { code, output } = yield* run({
        MANAGER_DATABASE_URL: "mysql://root:a-secret-password@127.0.0.1:9/tally_unreachable",
      })
      expect(code).toBe(1)
      expect(output).toMatch(/cannot reach its database \(MANAGER_DATABASE_URL\)/)
      expect(output).not.toContain("a-secret-password")
    }),
  )

  it.live("SHARD_DATABASE_URLS that cannot be read: exit 1, the variable named", () =>
    Effect.gen(function* () {
      const { code, output } = yield* run({ SHARD_DATABASE_URLS: "0=nonsense" })
      expect(code).toBe(1)
      expect(output).toMatch(/SHARD_DATABASE_URLS is not valid: DB shard 0: not a URL/)
    }),
  )

  /** The one line a wrong setting gets: the sentence, no stack. */
  const expectOneLine = (output: string, sentence: string) => {
    const lines = output.trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/ERROR \(#\d+\): the manager cannot start: /)
    expect(lines[0]!.slice(lines[0]!.indexOf("the manager"))).toBe(
      `the manager cannot start: ${sentence}`,
    )
  }

  it.scopedLive("a wrong MANAGER_PORT stops the start before any database is created", () =>
    Effect.gen(function* () {
      const databases = yield* makeDatabases(1)
      const { code, output } = yield* run({ ...environment(databases), MANAGER_PORT: "abc" })
      expect(code).toBe(1)
      expectOneLine(output, 'MANAGER_PORT is not valid: "abc" is not a port (1 to 65535)')
      const sql = yield* managerSql(serverUrl)
      const created = yield* sql`
        SELECT schema_name FROM information_schema.schemata
        WHERE schema_name IN ${sql.in(databases.names)}`
      expect(created).toEqual([])
    }),
  )

  it.live("every wrong setting is named in the one line: a port out of range, a log level", () =>
    Effect.gen(function* () {
      const { code, output } = yield* run({ MANAGER_PORT: "70000", LOG_LEVEL: "loud" })
      expect(code).toBe(1)
      expectOneLine(
        output,
        'MANAGER_PORT is not valid: "70000" is not a port (1 to 65535); LOG_LEVEL is not valid: ' +
          'unknown level "loud" (Trace, Debug, Info, Warning, Error, Fatal or None)',
      )
    }),
  )

  it.live("a database URL that is not one: exit 1, MANAGER_DATABASE_URL and the reason", () =>
    Effect.gen(function* () {
      const { code, output } = yield* run({ MANAGER_DATABASE_URL: "junk" })
      expect(code).toBe(1)
      expectOneLine(
        output,
        "MANAGER_DATABASE_URL is not valid: not a usable database URL: not a URL",
      )
    }),
  )

  it.live("a DB shard URL that is not one: exit 1, one line, no password", () =>
    Effect.gen(function* () {
      const { code, output } = yield* run({
        SHARD_DATABASE_URLS: "0=mysql://root@127.0.0.1/a,1=http://root:a-secret-password@x/b",
      })
      expect(code).toBe(1)
      expectOneLine(
        output,
        "SHARD_DATABASE_URLS is not valid: DB shard 1: the scheme must be mysql://",
      )
      expect(output).not.toContain("a-secret-password")
    }),
  )
})

describe("the manager process with a request it cannot read", () => {
  it.scopedLive("a malformed JSON body is one log line without a stack", () =>
    Effect.gen(function* () {
      const databases = yield* makeDatabases(1)
      const cwd = mkdtempSync(path.join(tmpdir(), "tally-manager-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(cwd, { recursive: true })))
      const manager = yield* spawnManager(environment(databases), cwd)
      const before = manager.output().length
      const answer = yield* ask(manager.url, "/v1/routes/guilds/batch", {
        method: "POST",
        body: "{not json",
      })
      expect(answer).toMatchObject({ status: 400, body: { message: "the body is not valid JSON" } })
      yield* Effect.sleep("200 millis")
      const entries = manager
        .output()
        .slice(before)
        .split(/\n(?=\[)/)
        .filter((entry) => entry.includes("/v1/routes/guilds/batch"))
      expect(entries).toHaveLength(1)
      expect(entries[0]).toContain("http.status: 400")
      expect(manager.output()).not.toMatch(/RequestError|\n\s+at /)
    }),
  )
})
