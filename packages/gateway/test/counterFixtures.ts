/**
 * Fixtures for the counting core's tests: throwaway databases on the local MariaDB, an
 * in-process manager over them, a TCP proxy that can refuse and reset connections, and the
 * counting core itself wired to them.
 */
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import { createServer } from "node:http"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { HttpServer } from "@effect/platform"
import { NodeContext, NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql/SqlClient"
import * as Award from "@tally/domain/Award"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Snowflakes from "@tally/domain/Snowflake"
import * as Manager from "@tally/manager/Manager"
import * as ManagerClient from "@tally/manager/ManagerClient"
import * as ManagerHttp from "@tally/manager/ManagerHttp"
import * as ManagerToken from "@tally/manager/ManagerToken"
import * as DatabaseUrl from "@tally/sql/DatabaseUrl"
import * as ShardClients from "@tally/sql/ShardClients"
import * as Testing from "@tally/sql/testing"
import {
  ConfigProvider,
  Duration,
  Effect,
  Layer,
  Logger,
  LogLevel,
  Redacted,
  type Scope,
} from "effect"
import * as ActivityBuffers from "../src/ActivityBuffer"
import { ActivityBuffer, memberKey } from "../src/ActivityBuffer"
import type { MessageEvent } from "../src/Counter"
import * as CountingCore from "../src/CountingCore"
import * as Flusher from "../src/Flusher"
import * as Spill from "../src/Spill"

const serverConfig = () => {
  const parsed = DatabaseUrl.parse(Testing.serverUrl)
  if (parsed._tag === "Left") throw new Error(`TALLY_TEST_MYSQL_URL: ${parsed.left.reason}`)
  return parsed.right
}

const onServer = <A>(statement: (sql: SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.scoped(
    Effect.flatMap(DatabaseUrl.serverClient(serverConfig()), (sql) =>
      statement(sql.withoutTransforms()),
    ),
  ).pipe(Effect.orDie)

/** Names of a manager database and DB shards (created by the manager), dropped afterwards. */
export interface Databases {
  readonly managerName: string
  readonly shardNames: ReadonlyArray<string>
}

export const makeDatabases = (shardCount: number): Effect.Effect<Databases, never, Scope.Scope> => {
  const prefix = `tally_test_gw_${randomBytes(5).toString("hex")}`
  const shardNames = Array.from({ length: shardCount }, (_, id) => `${prefix}_s${id}`)
  return Effect.acquireRelease(Effect.succeed({ managerName: prefix, shardNames }), () =>
    Effect.forEach([prefix, ...shardNames], (name) =>
      onServer((sql) => sql`DROP DATABASE IF EXISTS ${sql(name)}`.raw),
    ),
  )
}

const base = Testing.serverUrl.replace(/\/$/, "")
const serverPort = serverConfig().port ?? 3306
const serverHost = serverConfig().host

/** A database URL on the test server, optionally through another port (a proxy). */
export const databaseUrl = (name: string, port?: number) =>
  port === undefined ? `${base}/${name}` : `mysql://root@127.0.0.1:${port}/${name}`

export const token = `test-${randomBytes(16).toString("hex")}`

/** A manager in this process on a free port; it creates and migrates every database. */
export const startManager = (databases: Databases) =>
  Effect.gen(function* () {
    const env = new Map([
      ["MANAGER_DATABASE_URL", databaseUrl(databases.managerName)],
      [
        "SHARD_DATABASE_URLS",
        databases.shardNames.map((name, id) => `${id}=${databaseUrl(name)}`).join(","),
      ],
      ["MANAGER_TOKEN", token],
    ])
    const context = yield* Layer.build(
      ManagerHttp.layerServe.pipe(
        Layer.provide(Manager.layerServices),
        Layer.provide(ManagerToken.layer),
        Layer.provide(NodeContext.layer),
        Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
        Layer.provide(Logger.minimumLogLevel(LogLevel.Error)),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(env))),
      ),
    )
    const server = context.unsafeMap.get(HttpServer.HttpServer.key) as HttpServer.HttpServer
    if (server.address._tag !== "TcpAddress") throw new Error("expected a TCP address")
    return { url: `http://127.0.0.1:${server.address.port}` }
  }).pipe(Effect.orDie)

/**
 * A TCP proxy to a target port. `refuse` closes the listener and resets every open connection
 * (the port then refuses connections); `restore` listens again on the same port.
 */
export interface Proxy {
  readonly port: number
  readonly refuse: Effect.Effect<void>
  readonly restore: Effect.Effect<void>
}

export const makeProxy = (targetPort: number, targetHost = "127.0.0.1") =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((client) => {
        const upstream = Net.connect(targetPort, targetHost)
        sockets.add(client)
        sockets.add(upstream)
        client.pipe(upstream)
        upstream.pipe(client)
        const close = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on("error", close).on("close", close)
        upstream.on("error", close).on("close", close)
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const port = (server.address() as Net.AddressInfo).port
      const refuse = Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            for (const socket of sockets) socket.resetAndDestroy()
            sockets.clear()
            if (!server.listening) return resolve()
            server.close(() => resolve())
          }),
      )
      const restore = Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            if (server.listening) return resolve()
            server.listen(port, "127.0.0.1", resolve)
          }),
      )
      return { port, refuse, restore, server }
    }),
    (proxy) =>
      Effect.zipRight(
        proxy.refuse,
        Effect.sync(() => proxy.server.unref()),
      ),
  )

export const mariaDbProxy = () =>
  makeProxy(serverPort, serverHost === "localhost" ? "127.0.0.1" : serverHost)

/** A fresh directory for spill, dead-letter and waiting files. */
export const makeStateDirectory = Effect.acquireRelease(
  Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "tally-core-"))),
  (directory) => Effect.promise(() => Fs.rm(directory, { recursive: true, force: true })),
)

export interface CoreOptions {
  readonly managerUrl: string
  /** DB shard id → database URL the gateway uses (possibly through a proxy). */
  readonly shardUrls: ReadonlyMap<number, string>
  readonly directory: string
  readonly core?: Omit<CountingCore.Options, "directory">
}

/** Fast retries and no scheduled flush unless asked: tests flush when they mean to. */
export const testCoreOptions: Omit<CountingCore.Options, "directory"> = {
  flusher: {
    interval: Duration.hours(1),
    backoff: Duration.millis(50),
    maxBackoff: Duration.millis(200),
    attemptTimeout: Duration.seconds(10),
  },
  guildContext: { retryDelay: Duration.millis(50), maxRetryDelay: Duration.millis(200) },
  memberTotals: { retryDelay: Duration.millis(50), maxRetryDelay: Duration.millis(200) },
}

/** The counting core against the manager and DB shards. */
export const coreLayer = (options: CoreOptions) =>
  CountingCore.layerWith({
    ...testCoreOptions,
    ...options.core,
    directory: options.directory,
  }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Layer.orDie(ShardClients.layerFromUrls(options.shardUrls, { maxConnections: 4 })),
        ManagerClient.layer({
          url: options.managerUrl,
          token: Redacted.make(token),
          timeout: Duration.seconds(2),
        }).pipe(Layer.provide(NodeHttpClient.layerUndici)),
      ),
    ),
    Layer.orDie,
  )

/** Reads one shard database directly (a fresh client each time). */
export const query = <A extends object>(
  shardName: string,
  text: string,
  params: ReadonlyArray<string | number> = [],
) =>
  Effect.scoped(
    Effect.flatMap(
      Testing.client(Redacted.make(databaseUrl(shardName)), { maxConnections: 1 }),
      (sql) => sql.unsafe<A>(text, params),
    ),
  ).pipe(Effect.orDie)

let sequence = 0

/** Ids that sort like time: a snowflake of `at` with a fresh low part. */
export const snowflakeAt = (at: number): Snowflake =>
  Snowflakes.fromTimestamp(at, ++sequence % 4_000_000)

export const id = (value: bigint | number): Snowflake => Snowflakes.unsafeMake(String(value))

/** A default message in a text channel; override what a test is about. */
export const message = (
  input: Partial<MessageEvent> & { readonly guildId: Snowflake; readonly authorId: Snowflake },
): MessageEvent => ({
  discordShardId: 0,
  messageId: snowflakeAt(Date.UTC(2026, 11, 3, 9, 0, 0)),
  channelId: id(900_000_000_000_000_001n),
  channelType: 0,
  parentId: null,
  categoryId: null,
  authorBot: false,
  messageType: 0,
  memberRoleIds: [],
  ...input,
})

/** Waits (live time) until `check` holds, or fails after `timeout`. */
export const eventually = <A>(
  check: Effect.Effect<A>,
  holds: (value: A) => boolean,
  timeout: Duration.DurationInput = Duration.seconds(20),
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(timeout)
    while (true) {
      const value = yield* check
      if (holds(value)) return value
      if (Date.now() > deadline)
        return yield* Effect.dieMessage(`condition never held; last value ${JSON.stringify(value)}`)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 25)))
    }
  })

/** The same database URL through a proxy's port. */
export const throughProxy = (url: Redacted.Redacted | string, port: number): string => {
  const parsed = new URL(typeof url === "string" ? url : Redacted.value(url))
  parsed.hostname = "127.0.0.1"
  parsed.port = String(port)
  return parsed.toString()
}

/** Reads a database by URL (a fresh client each time). */
export const queryUrl = <A extends object>(
  url: Redacted.Redacted | string,
  text: string,
  params: ReadonlyArray<string | number> = [],
) =>
  Effect.scoped(
    Effect.flatMap(
      Testing.client(typeof url === "string" ? Redacted.make(url) : url, { maxConnections: 1 }),
      (sql) => sql.unsafe<A>(text, params),
    ),
  ).pipe(Effect.orDie)

// Flusher-level fixtures: DB shards (shard 0 behind a proxy) and a flusher over them.

export const flushGuildId = id(300_000_000_000_000_001n)
export const flushChannelId = id(300_000_000_000_000_002n)
export const flushMember = (n: number) => id(400_000_000_000_000_000n + BigInt(n))
export const keys = { day: 20261203, week: 20261129, month: 202612, year: 2026 }

export interface FlusherSetup {
  readonly flusher?: Partial<Omit<Flusher.Options, "write">>
  readonly buffer?: ActivityBuffers.Options
  /** Wraps the real write, e.g. to lose a commit's reply. */
  readonly wrap?: (write: Flusher.Write) => Flusher.Write
  readonly directory?: string
}

/** Two throwaway DB shards (shard 0 behind a proxy), a buffer, spill files and a flusher. */
export const makeProxiedShards = Effect.gen(function* () {
  const urls = yield* Testing.makeShards(2)
  const proxy = yield* mariaDbProxy()
  const gatewayUrls = new Map<number, string>([
    [0, throughProxy(urls.get(0)!, proxy.port)],
    [1, throughProxy(urls.get(1)!, Number(new URL(Testing.serverUrl).port || 3306))],
  ])
  return { urls, proxy, gatewayUrls }
})

export const startFlusher = (
  gatewayUrls: ReadonlyMap<number, string>,
  setup: FlusherSetup & { readonly directory: string },
) =>
  Effect.gen(function* () {
    const flusherLayer = Layer.scoped(
      Flusher.Flusher,
      Effect.gen(function* () {
        const write = yield* Flusher.sqlWrite
        return yield* Flusher.make({
          interval: Duration.hours(1),
          backoff: Duration.millis(50),
          maxBackoff: Duration.millis(200),
          attemptTimeout: Duration.seconds(2),
          ...setup.flusher,
          write: setup.wrap === undefined ? write : setup.wrap(write),
        })
      }),
    )
    const context = yield* Layer.build(
      flusherLayer.pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            ActivityBuffers.layer(setup.buffer),
            Spill.layer(setup.directory),
            Layer.orDie(ShardClients.layerFromUrls(gatewayUrls, { maxConnections: 2 })),
          ),
        ),
      ),
    )
    return {
      flusher: context.unsafeMap.get(Flusher.Flusher.key) as Flusher.Flusher["Type"],
      buffer: context.unsafeMap.get(ActivityBuffer.key) as ActivityBuffer["Type"],
      spill: context.unsafeMap.get(Spill.Spill.key) as Spill.Spill["Type"],
    }
  })

/** One text message worth `xp` for a member: the XP delta and the text message delta. */
export const accrueMessage = (
  buffer: ActivityBuffer["Type"],
  dbShardId: number,
  userId: Snowflake,
  xp = 6,
) =>
  Effect.gen(function* () {
    yield* buffer.installTotals(dbShardId, [[memberKey(flushGuildId, userId), 0]])
    yield* buffer.accrue(dbShardId, flushGuildId, userId, textAward(xp, flushChannelId), keys)
  })

/** A counted text message worth `xp` (no bonus) in `channelId`. */
export const textAward = (xp: number, channelId: Snowflake): Award.Counted =>
  Award.Award.Counted({
    statistic: "textMessages",
    amount: 1,
    baseXp: xp,
    bonus: 0,
    xp,
    channelId,
  }) as Award.Counted

export const xpOfUrl = (url: Parameters<typeof queryUrl>[0]) =>
  Effect.map(
    queryUrl<{ userId: string; alltime: number }>(
      url,
      "SELECT user_id, alltime FROM guild_member WHERE guild_id = ?",
      [flushGuildId],
    ),
    (rows) => new Map(rows.map((row) => [String(row.userId), Number(row.alltime)])),
  )

export const ledgerOf = (url: Parameters<typeof queryUrl>[0]) =>
  Effect.map(queryUrl<{ batchId: string }>(url, "SELECT batch_id FROM flush_ledger"), (rows) =>
    rows.map((row) => row.batchId).sort(),
  )
