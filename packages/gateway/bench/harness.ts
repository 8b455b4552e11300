/**
 * What the gateway benchmarks share: the simulator and a gateway, each in its own child process
 * (`simProcess.ts`, `gatewayProcess.ts`), the manager in this process, and throwaway
 * `tally_bench_*` databases on the local MySQL/MariaDB, dropped when the scope closes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import * as LocalStack from "../src/LocalStack"

const benchDirectory = fileURLToPath(new URL(".", import.meta.url))

/** `event loop delay p99 X ms, max Y ms` of a gateway run. */
export const eventLoopNote = (result: GatewayResult) =>
  `event loop delay p99 ${Math.round(result.eventLoopDelayP99Millis)} ms, max ${Math.round(result.eventLoopDelayMaxMillis)} ms`

export const serverUrl = process.env.TALLY_BENCH_MYSQL_URL ?? LocalStack.defaultServerUrl

export interface SimReady {
  readonly apiUrl: string
  readonly controlUrl: string
  readonly token: string
  readonly messages: number
}

export interface GatewayResult {
  readonly seconds: number
  readonly cpuMicros: number
  readonly peakRssBytes: number
  /** The event loop's delay over the run (`perf_hooks.monitorEventLoopDelay`). */
  readonly eventLoopDelayP99Millis: number
  readonly eventLoopDelayMaxMillis: number
  readonly messages: number
  readonly counted: number
  readonly dropped: number
}

interface Child {
  readonly process: ChildProcess
  /** Resolves with the first match of `pattern` in the child's output (from its start). */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<RegExpExecArray>
}

/** How long a child may take to stop on SIGTERM before it is killed. */
const STOP_LIMIT_MILLIS = 30_000

/** A `tsx` child process, stopped with SIGTERM (and awaited) when the scope closes. */
const child = (script: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.sync((): Child => {
      const process_ = spawn(
        process.execPath,
        [
          // TALLY_BENCH_CPU_PROF=<dir>: the gateway process writes a V8 CPU profile there.
          ...(script === "gatewayProcess.ts" && process.env.TALLY_BENCH_CPU_PROF
            ? ["--cpu-prof", "--cpu-prof-dir", process.env.TALLY_BENCH_CPU_PROF]
            : []),
          "--import",
          "tsx",
          Path.join(benchDirectory, script),
          ...args,
        ],
        {
          cwd: Path.join(benchDirectory, ".."),
          env: { ...process.env, ...env },
          stdio: ["pipe", "pipe", "inherit"],
        },
      )
      let output = ""
      const waiters = new Set<() => void>()
      process_.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        for (const wake of waiters) wake()
      })
      process_.once("exit", () => {
        for (const wake of waiters) wake()
      })
      const waitFor = (pattern: RegExp) =>
        Effect.async<RegExpExecArray>((resume) => {
          const check = () => {
            const match = pattern.exec(output)
            if (match) {
              waiters.delete(check)
              resume(Effect.succeed(match))
            } else if (process_.exitCode !== null || process_.signalCode !== null) {
              waiters.delete(check)
              resume(Effect.die(new Error(`${script} exited early: ${output.slice(-2000)}`)))
            }
          }
          waiters.add(check)
          check()
        })
      return { process: process_, waitFor }
    }),
    ({ process: process_ }) =>
      Effect.async<void>((resume) => {
        if (process_.exitCode !== null || process_.signalCode !== null) return resume(Effect.void)
        // A finalizer cannot be interrupted, so the fallback is a plain timer, not Effect.timeout.
        const kill = setTimeout(() => process_.kill("SIGKILL"), STOP_LIMIT_MILLIS)
        process_.once("exit", () => {
          clearTimeout(kill)
          resume(Effect.void)
        })
        process_.kill("SIGTERM")
      }),
  )

/** Starts the simulator process with `args` (`--generate N` or `--flood N`). */
export const startSim = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const sim = yield* child("simProcess.ts", args)
    const match = yield* sim.waitFor(/bench-sim ready (\{.*\})/)
    return JSON.parse(match[1]!) as SimReady
  })

/** MariaDB's count of statements the server has run (every client). */
export const questions = LocalStack.withDatabase(
  `${serverUrl.replace(/\/+$/, "")}/information_schema`,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ Value: string }>`SHOW GLOBAL STATUS LIKE 'Questions'`.pipe(
      Effect.orDie,
    )
    return Number(rows[0]?.Value ?? 0)
  }),
)

/** Fresh `tally_bench_<random>_*` databases and a manager; the databases go when the scope closes. */
export const startBackend = Effect.gen(function* () {
  yield* LocalStack.checkServer(serverUrl)
  // Its own prefix only, so that runs side by side do not drop each other's databases.
  const prefix = LocalStack.randomPrefix("tally_bench")
  yield* Effect.addFinalizer(() => LocalStack.dropDatabases(serverUrl, prefix).pipe(Effect.ignore))
  const dbs = LocalStack.databases(serverUrl, prefix, 1)
  const manager = yield* LocalStack.startManager(dbs)
  return { dbs, manager }
})

/**
 * Runs a gateway process against the simulator with default settings; `beforeGo` runs once it is
 * connected, just before the replay starts, and its value comes back with the result.
 */
export const runGateway = <A>(sim: SimReady, beforeGo: Effect.Effect<A>) =>
  Effect.gen(function* () {
    const { dbs, manager } = yield* startBackend
    const stateDirectory = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tally-bench-"))),
      (directory) => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true })),
    )
    const gateway = yield* child("gatewayProcess.ts", [], {
      DISCORD_TOKEN: sim.token,
      DISCORD_API_URL: sim.apiUrl,
      DISCORD_SHARD_COUNT: "1",
      MANAGER_URL: manager.url,
      MANAGER_TOKEN: manager.token,
      SHARD_DATABASE_URLS: LocalStack.shardUrlsText(dbs.shardUrls),
      GATEWAY_HTTP_PORT: "0",
      GATEWAY_INSTANCE_ID: "bench-gateway",
      LOG_LEVEL: "Warning",
      BENCH_CONTROL_URL: sim.controlUrl,
      BENCH_STATE_DIRECTORY: stateDirectory,
    })
    yield* gateway.waitFor(/bench-gateway connected/)
    const before = yield* beforeGo
    gateway.process.stdin?.write("go\n")
    const match = yield* gateway.waitFor(/bench-gateway result (\{.*\})/)
    return { result: JSON.parse(match[1]!) as GatewayResult, before, dbs }
  })

export const loadNote = () =>
  `load average ${Os.loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")} on ${Os.availableParallelism()} cores`
