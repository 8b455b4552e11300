/** The gateway as a child process (`src/main.ts` under tsx), for tests that send it signals. */
import { type ChildProcess, spawn } from "node:child_process"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { Deferred, Duration, Effect } from "effect"
import { repoRoot } from "./stack"

export interface GatewayProcess {
  readonly child: ChildProcess
  /** Everything it printed so far (stdout and stderr). */
  readonly output: () => string
  /** Its HTTP port, once it listens. */
  readonly port: Effect.Effect<number>
  /** Its exit code (null when killed by a signal). */
  readonly exited: Effect.Effect<number | null>
}

// Node itself runs main.ts with tsx's loader, so signals reach the gateway and not a wrapper.
const tsxLoader = pathToFileURL(Path.join(repoRoot, "node_modules/tsx/dist/loader.mjs")).href
const main = Path.join(repoRoot, "packages/gateway/src/main.ts")

/** Starts `main.ts` in `cwd` (where its `.tally` lives); killed with SIGKILL if still running at scope end. */
export const spawnGateway = (env: ReadonlyMap<string, string>, cwd: string) =>
  Effect.gen(function* () {
    const port = yield* Deferred.make<number>()
    const exited = yield* Deferred.make<number | null>()
    let output = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", tsxLoader, main], {
          cwd,
          env: { ...process.env, LOG_LEVEL: "Info", ...Object.fromEntries(env) },
          stdio: ["ignore", "pipe", "pipe"],
        }),
      ),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        }),
    )
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const listening = /Listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
      if (listening) Deferred.unsafeDone(port, Effect.succeed(Number(listening[1])))
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.on("exit", (code) => Deferred.unsafeDone(exited, Effect.succeed(code)))
    return {
      child,
      output: () => output,
      port: Deferred.await(port),
      exited: Deferred.await(exited),
    } satisfies GatewayProcess
  })

/** Reads one metric's value (summed over its tags) from the process's `/metrics`. */
export const metric = (port: number, name: string) =>
  Effect.tryPromise(async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    let sum = 0
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
        sum += Number(line.slice(line.lastIndexOf(" ") + 1))
      }
    }
    return sum
  }).pipe(Effect.orElseSucceed(() => Number.NaN))

/** Waits until `check` holds `times` times in a row, polling every `every`. */
export const eventually = (
  check: Effect.Effect<boolean>,
  timeout: Duration.DurationInput,
  times = 3,
  every: Duration.DurationInput = Duration.millis(200),
) =>
  Effect.gen(function* () {
    let streak = 0
    while (streak < times) {
      streak = (yield* check) ? streak + 1 : 0
      yield* Effect.sleep(every)
    }
  }).pipe(Effect.timeout(timeout))
