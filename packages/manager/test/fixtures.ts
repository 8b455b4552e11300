import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { HttpApiBuilder, HttpServer, HttpServerRequest } from "@effect/platform"
import { NodeContext, NodeHttpServer } from "@effect/platform-node"
import * as DatabaseUrl from "@tally/sql/DatabaseUrl"
import { serverUrl } from "@tally/sql/testing"
import { ConfigProvider, Effect, Layer, Logger, LogLevel, Schedule, type Scope } from "effect"
import * as Manager from "../src/Manager"
import * as ManagerHttp from "../src/ManagerHttp"
import * as ManagerToken from "../src/ManagerToken"

export const packageRoot = fileURLToPath(new URL("..", import.meta.url))
export const repoRoot = path.resolve(packageRoot, "../..")

const server = () => {
  const parsed = DatabaseUrl.parse(serverUrl)
  if (parsed._tag === "Left") throw new Error(`TALLY_TEST_MYSQL_URL: ${parsed.left.reason}`)
  return parsed.right
}

const dropDatabases = (names: ReadonlyArray<string>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = (yield* DatabaseUrl.serverClient(server())).withoutTransforms()
      for (const name of names) yield* sql`DROP DATABASE IF EXISTS ${sql(name)}`.raw
    }),
  ).pipe(Effect.orDie)

/** Names for a manager database and `shardCount` DB shards; NOT created (the manager does that). */
export interface Databases {
  readonly names: ReadonlyArray<string>
  readonly managerUrl: string
  readonly shardUrls: string
}

export const makeDatabases = (shardCount: number): Effect.Effect<Databases, never, Scope.Scope> => {
  const prefix = `tally_test_mgr_${randomBytes(5).toString("hex")}`
  const base = serverUrl.replace(/\/$/, "")
  const shardNames = Array.from({ length: shardCount }, (_, id) => `${prefix}_s${id}`)
  const names = [prefix, ...shardNames]
  return Effect.acquireRelease(
    Effect.succeed({
      names,
      managerUrl: `${base}/${prefix}`,
      shardUrls: shardNames.map((name, id) => `${id}=${base}/${name}`).join(","),
    }),
    () => dropDatabases(names),
  )
}

export const token = `test-${randomBytes(16).toString("hex")}`

export const environment = (databases: Databases, extra: Record<string, string> = {}) => ({
  MANAGER_DATABASE_URL: databases.managerUrl,
  SHARD_DATABASE_URLS: databases.shardUrls,
  MANAGER_TOKEN: token,
  ...extra,
})

/**
 * A manager in this process on a free port, over the given configuration; `extra` layers (e.g. a
 * request-counting middleware) go into its HTTP app.
 */
export const startManager = (
  env: Record<string, string>,
  extra: Layer.Layer<never> = Layer.empty,
) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      ManagerHttp.layerServe.pipe(
        Layer.provide(extra),
        Layer.provide(Manager.layerServices),
        Layer.provide(ManagerToken.layer),
        Layer.provide(NodeContext.layer),
        Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
        Layer.provide(Logger.minimumLogLevel(LogLevel.Error)),
        Layer.provide(
          Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
        ),
      ),
    )
    const address = context.unsafeMap.get(HttpServer.HttpServer.key) as HttpServer.HttpServer
    if (address.address._tag !== "TcpAddress") throw new Error("expected a TCP address")
    return { url: `http://127.0.0.1:${address.address.port}` }
  })

/** Counts the requests the server receives whose URL matches. */
export const countRequests = (matches: (url: string) => boolean) => {
  const counter = { count: 0 }
  const layer = HttpApiBuilder.middleware((app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      if (matches(request.url)) counter.count += 1
      return app
    }),
  )
  return { counter, layer }
}

/**
 * This process's environment without any Tally setting, so the child reads only `env`, and
 * without INIT_CWD, so its token file lands in its own `cwd`.
 */
export const inheritedEnvironment = () =>
  Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !/^(MANAGER_|SHARD_DATABASE|GATEWAY_|DISCORD_|LOG_LEVEL|INIT_CWD$)/.test(key),
    ),
  )

export const freePort = () => 20000 + Math.floor(Math.random() * 20000)

/**
 * A manager as a separate process (`tsx src/main.ts`) in `cwd`; resolves once `/health` answers.
 * Its output is collected for assertions.
 */
export const spawnManager = (env: Record<string, string>, cwd: string) =>
  Effect.gen(function* () {
    const port = freePort()
    const output: Array<string> = []
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child: ChildProcess = spawn(
          path.join(repoRoot, "node_modules/.bin/tsx"),
          [path.join(packageRoot, "src/main.ts")],
          {
            cwd,
            env: { ...inheritedEnvironment(), ...env, MANAGER_PORT: String(port) },
            stdio: ["ignore", "pipe", "pipe"],
          },
        )
        child.stdout?.on("data", (chunk) => output.push(String(chunk)))
        child.stderr?.on("data", (chunk) => output.push(String(chunk)))
        return child
      }),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.kill("SIGTERM")
        }).pipe(Effect.timeout("10 seconds"), Effect.ignore),
    )
    const url = `http://127.0.0.1:${port}`
    yield* Effect.tryPromise(() => fetch(`${url}/health`)).pipe(
      Effect.filterOrFail((response) => response.ok),
      Effect.retry({ times: 120, schedule: Schedule.spaced("250 millis") }),
      Effect.mapError(() => new Error(`the manager process never answered:\n${output.join("")}`)),
    )
    return { url, output: () => output.join(""), child }
  })

/** One JSON request to a manager, with the test token unless another is given. */
export const ask = (baseUrl: string, route: string, init: RequestInit = {}, bearer = token) =>
  Effect.promise(async () => {
    const response = await fetch(`${baseUrl}${route}`, {
      ...init,
      headers: {
        authorization: `Bearer ${bearer}`,
        "content-type": "application/json",
        ...init.headers,
      },
    })
    const text = await response.text()
    // biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies loosely and assert on them
    const body: any = text.length > 0 && text.startsWith("{") ? JSON.parse(text) : text
    return { status: response.status, body, contentType: response.headers.get("content-type") }
  })
