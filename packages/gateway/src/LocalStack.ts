/**
 * A whole Tally on one machine for the demo and the end-to-end tests: MySQL databases under one
 * prefix (dropped and recreated), the simulator, the manager and the gateway, talking over real
 * sockets. The manager and the gateway run as layers in this process, each with its own config.
 */
import { randomBytes } from "node:crypto"
import * as Net from "node:net"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import type * as DiscordSim from "@tally/discord-sim/DiscordSim"
import * as Manager from "@tally/manager/Manager"
import * as DatabaseUrl from "@tally/sql/DatabaseUrl"
import { ConfigProvider, Context, Data, Duration, Effect, Layer, Queue } from "effect"
import { Counter } from "./Counter"
import { Discord } from "./Discord"
import * as Dispatch from "./Dispatch"
import { Flusher } from "./Flusher"
import * as Gateway from "./Gateway"
import { GuildState } from "./GuildState"
import * as Live from "./Live"

export const defaultServerUrl = "mysql://root@127.0.0.1:3306"

export class ServerUnavailable extends Data.TaggedError("ServerUnavailable")<{
  readonly reason: string
}> {}

const server = (url: string) =>
  Effect.orDie(DatabaseUrl.parse(url)).pipe(
    Effect.flatMap((config) => DatabaseUrl.serverClient(config)),
    Effect.map((sql) => sql.withoutTransforms()),
  )

/** A server URL fit to print: its password (if any) masked. */
export const displayUrl = (url: string): string => {
  if (!URL.canParse(url)) return "(not a URL)"
  const parsed = new URL(url)
  if (parsed.password !== "") parsed.password = "***"
  return parsed.toString().replace(/\/$/, "")
}

/** The login was refused: the server answered, so starting one is not the advice to give. */
const loginRefused = (error: unknown) => {
  const cause = (error as { readonly cause?: { readonly errno?: unknown } } | undefined)?.cause
  return cause?.errno === 1045 || cause?.errno === 1698
}

/**
 * Fails with a sentence when `url` (named by `setting` in messages) is no server URL, names a
 * database (the caller's databases get names of their own), refuses the login, or does not answer
 * (then with how to start a server).
 */
export const checkServer = (url: string, setting?: string) =>
  Effect.gen(function* () {
    const where = setting === undefined ? displayUrl(url) : `${displayUrl(url)} (${setting})`
    const config = yield* DatabaseUrl.parse(url).pipe(
      Effect.mapError(
        (error) =>
          new ServerUnavailable({ reason: `${setting ?? "the server URL"} is ${error.message}` }),
      ),
    )
    if (config.database !== undefined && config.database !== "") {
      return yield* new ServerUnavailable({
        reason: `${where} names a database; give the server only (mysql://user:password@host:port), its databases are named here`,
      })
    }
    yield* Effect.scoped(Effect.flatMap(server(url), (sql) => sql`SELECT 1`)).pipe(
      Effect.timeout(Duration.seconds(10)),
      Effect.mapError((error) =>
        loginRefused(error)
          ? new ServerUnavailable({
              reason: `MySQL/MariaDB at ${where} refused the login: check the user and password.`,
            })
          : new ServerUnavailable({
              reason:
                `No MySQL/MariaDB answers at ${where}. Start one, for example ` +
                "`sudo service mariadb start` (root without password on 127.0.0.1:3306), or " +
                "`docker run -d -p 3306:3306 -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 mariadb:11`.",
            }),
      ),
    )
  })

/** Drops every database whose name starts with `prefix_`. */
export const dropDatabases = (url: string, prefix: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* server(url)
      const rows = yield* sql<{ name: string }>`
        SELECT schema_name AS name FROM information_schema.schemata
        WHERE schema_name LIKE ${`${prefix.replace(/_/g, "\\_")}\\_%`}`
      for (const { name } of rows) yield* sql`DROP DATABASE IF EXISTS ${sql(name)}`
      return rows.length
    }),
  )

/**
 * Takes the server's named lock `name` on a connection of its own, held until the scope closes;
 * false when another session holds it (it is not waited for).
 */
export const holdServerLock = (url: string, name: string) =>
  Effect.gen(function* () {
    const connection = yield* (yield* server(url)).reserve
    const rows = yield* connection.execute("SELECT GET_LOCK(?, 0) AS got", [name], undefined)
    return Number(rows[0]?.got) === 1
  })

export const randomPrefix = (base: string) => `${base}_${randomBytes(4).toString("hex")}`

/** A free TCP port on 127.0.0.1 (free when asked; good enough for tests and the demo). */
export const freePort = Effect.async<number>((resume) => {
  const probe = Net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const address = probe.address() as Net.AddressInfo
    probe.close(() => resume(Effect.succeed(address.port)))
  })
})

export interface Databases {
  readonly serverUrl: string
  readonly prefix: string
  readonly managerUrl: string
  /** DB shard id → URL. */
  readonly shardUrls: ReadonlyMap<number, string>
}

export const databases = (serverUrl: string, prefix: string, dbShards: number): Databases => {
  const base = serverUrl.replace(/\/+$/, "")
  return {
    serverUrl,
    prefix,
    managerUrl: `${base}/${prefix}_manager`,
    shardUrls: new Map(
      Array.from({ length: dbShards }, (_, id) => [id, `${base}/${prefix}_shard_${id}`] as const),
    ),
  }
}

export const shardUrlsText = (urls: ReadonlyMap<number, string>) =>
  [...urls].map(([id, url]) => `${id}=${url}`).join(",")

export interface ManagerHandle {
  readonly url: string
  readonly token: string
}

/** Runs the manager (migrating every database) in the current scope; resolves once it listens. */
export const startManager = (dbs: Databases) =>
  Effect.gen(function* () {
    const port = yield* freePort
    const token = randomBytes(24).toString("hex")
    const env = new Map([
      ["MANAGER_HOST", "127.0.0.1"],
      ["MANAGER_PORT", String(port)],
      ["MANAGER_TOKEN", token],
      ["MANAGER_DATABASE_URL", dbs.managerUrl],
      ["SHARD_DATABASE_URLS", shardUrlsText(dbs.shardUrls)],
      ["LOG_LEVEL", "Warning"],
    ])
    yield* Layer.build(Manager.layer).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(env)))
    return { url: `http://127.0.0.1:${port}`, token } satisfies ManagerHandle
  })

export interface GatewayOptions {
  readonly sim: DiscordSim.DiscordSim
  readonly manager: ManagerHandle
  /** What the gateway connects to; differs from the manager's when a test puts a proxy between. */
  readonly shardUrls: ReadonlyMap<number, string>
  readonly discordShardCount: number
  readonly stateDirectory: string
  readonly flushInterval?: string
  readonly instanceId?: string
  readonly dispatch?: Partial<Dispatch.DispatchOptions>
}

/** The environment a gateway process of this stack reads. */
export const gatewayEnv = (options: GatewayOptions): Map<string, string> =>
  new Map([
    ["DISCORD_TOKEN", options.sim.token],
    ["DISCORD_API_URL", options.sim.apiUrl],
    ["DISCORD_SHARD_COUNT", String(options.discordShardCount)],
    ["MANAGER_URL", options.manager.url],
    ["MANAGER_TOKEN", options.manager.token],
    ["SHARD_DATABASE_URLS", shardUrlsText(options.shardUrls)],
    ["FLUSH_INTERVAL", options.flushInterval ?? "1 second"],
    ["GATEWAY_HTTP_PORT", "0"],
    ["GATEWAY_INSTANCE_ID", options.instanceId ?? "local-gateway"],
  ])

export interface GatewayHandle {
  readonly discord: Context.Tag.Service<Discord>
  readonly dispatch: Context.Tag.Service<Dispatch.Dispatch>
  readonly counter: Context.Tag.Service<Counter>
  readonly flusher: Context.Tag.Service<Flusher>
  readonly guildState: Context.Tag.Service<GuildState>
}

/**
 * Runs a gateway in the current scope and returns once every Discord shard is connected. Closing
 * the scope stops it the way SIGTERM does (flush, spill, save sessions).
 */
export const startGateway = (options: GatewayOptions) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      Live.layer({
        stateDirectory: options.stateDirectory,
        discord: { skipIdentifyThrottle: true },
        ...(options.dispatch ? { dispatch: options.dispatch } : {}),
      }),
    )
    yield* Gateway.start.pipe(Effect.provide(context))
    return {
      discord: Context.get(context, Discord),
      dispatch: Context.get(context, Dispatch.Dispatch),
      counter: Context.get(context, Counter),
      flusher: Context.get(context, Flusher),
      guildState: Context.get(context, GuildState),
    } satisfies GatewayHandle
  }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(gatewayEnv(options))))

/**
 * Waits until the simulator has delivered its whole replay, the gateway has handled every
 * dispatch it received and nothing waits in its queues; then flushes until no row is buffered.
 */
export const awaitCaughtUp = (
  sim: DiscordSim.DiscordSim,
  gateway: GatewayHandle,
  timeout: Duration.DurationInput = Duration.minutes(5),
) =>
  Effect.gen(function* () {
    // Every message fed to the shards' streams and acknowledged by the client's heartbeats.
    yield* sim.replay.awaitDone(timeout)
    const idle = Effect.gen(function* () {
      const status = yield* sim.replay.status
      if (status.phase !== "done") return false
      yield* gateway.discord.sync
      if ((yield* Queue.size(gateway.discord.dispatches)) > 0) return false
      if ((yield* gateway.dispatch.pending).length > 0) return false
      const waiting = yield* gateway.counter.stats
      return waiting.waitingEvents === 0
    })
    let stableChecks = 0
    while (stableChecks < 3) {
      stableChecks = (yield* idle) ? stableChecks + 1 : 0
      yield* Effect.sleep(Duration.millis(100))
    }
    for (;;) {
      yield* gateway.flusher.flushNow
      const stats = yield* gateway.flusher.stats
      if (stats.bufferedRows === 0) return stats
      yield* Effect.sleep(Duration.millis(200))
    }
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new ServerUnavailable({ reason: "the gateway did not catch up in time" }),
    }),
  )

/** Runs `use` with a `SqlClient` (Tally's client config) on one database URL. */
export const withDatabase = <A, E, R>(
  url: string,
  use: Effect.Effect<A, E, R>,
): Effect.Effect<A, E, Exclude<R, SqlClient.SqlClient>> =>
  Effect.scoped(
    Effect.gen(function* () {
      const config = yield* Effect.orDie(DatabaseUrl.parse(url))
      const sql = yield* Effect.orDie(
        MysqlClient.make(DatabaseUrl.clientConfig(config, { maxConnections: 2 })).pipe(
          Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make),
        ),
      )
      return yield* Effect.provideService(use, SqlClient.SqlClient, sql)
    }),
  ) as Effect.Effect<A, E, Exclude<R, SqlClient.SqlClient>>
