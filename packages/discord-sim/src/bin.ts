/**
 * `pnpm --filter @tally/discord-sim start [--trace FILE|DIR] [--generate N] [--port N]
 *  [--speed max|real|N] [--discord-shards N] [--token T] [--seed N] [--heartbeat-interval MS]`
 *
 * Starts the simulator and prints what a bot needs (a value it cannot use, or an option that would
 * be ignored, ends it with one sentence). The last line printed at start is
 * `discord-sim ready {json}` for scripts that start it as a child process.
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import * as DiscordSim from "./DiscordSim"
import { parseSpeed } from "./Replay"
import { loadTrace, type Trace } from "./Trace"
import { generateTrace } from "./TraceGenerator"

const usage =
  "usage: pnpm --filter @tally/discord-sim start [--trace FILE|DIR] [--generate N] [--seed N] [--guilds N] [--port N] [--speed max|real|N] [--discord-shards N] [--token T] [--heartbeat-interval MS]"

// Bad command-line input ends with one sentence, never a stack trace.
const fail = (reason: string): never => {
  process.stderr.write(`discord-sim: ${reason}\n${usage}\n`)
  return process.exit(1)
}

const parsed = (() => {
  try {
    return parseArgs({
      options: {
        trace: { type: "string" },
        generate: { type: "string" },
        seed: { type: "string", default: "1" },
        guilds: { type: "string" },
        port: { type: "string" },
        speed: { type: "string", default: "real" },
        "discord-shards": { type: "string", default: "1" },
        token: { type: "string" },
        "heartbeat-interval": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    })
  } catch (error) {
    return fail((error as Error).message)
  }
})()
const { values } = parsed
if (values.help === true) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}

const numberOption = (
  name: string,
  text: string | undefined,
  { min = 0, max = Number.MAX_SAFE_INTEGER } = {},
): number | undefined => {
  if (text === undefined) return undefined
  const value = Number(text)
  return Number.isInteger(value) && value >= min && value <= max
    ? value
    : fail(`--${name} expects a whole number from ${min} to ${max}`)
}

// Options that only shape a generated trace mean nothing without one: say so, not ignore them.
if (values.generate === undefined) {
  for (const name of ["guilds", "seed"] as const) {
    if (process.argv.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`))) {
      fail(`--${name} applies to --generate only`)
    }
  }
}
if (values.trace !== undefined && values.generate !== undefined) {
  fail("--trace and --generate are alternatives: give one")
}

const program = Effect.gen(function* () {
  let trace: Trace | undefined
  if (values.trace !== undefined) trace = yield* loadTrace(values.trace)
  else if (values.generate !== undefined) {
    const guilds = numberOption("guilds", values.guilds, { min: 1, max: 1000 })
    trace = generateTrace({
      seed: numberOption("seed", values.seed) ?? 1,
      messages: numberOption("generate", values.generate, { min: 1, max: 10_000_000 }) ?? 1000,
      ...(guilds !== undefined ? { guilds } : {}),
    })
  }
  const speed = yield* Effect.try(() => parseSpeed(values.speed)).pipe(
    Effect.orElse(() => Effect.sync(() => fail(`--speed expects max, real or a factor above 0`))),
  )
  const discordShards =
    numberOption("discord-shards", values["discord-shards"], { min: 1, max: 1024 }) ?? 1
  const sim = yield* DiscordSim.make({
    port: numberOption("port", values.port, { max: 65_535 }),
    token: values.token,
    trace,
    speed,
    discordShards,
    heartbeatIntervalMillis: numberOption("heartbeat-interval", values["heartbeat-interval"], {
      min: 100,
      max: 600_000,
    }),
  })
  const replay = yield* sim.replay.status
  const lines = [
    `discord-sim listening on 127.0.0.1:${sim.port}`,
    `  DISCORD_API_URL=${sim.apiUrl}`,
    `  DISCORD_TOKEN=${sim.token}${values.token === undefined ? "   (any token is accepted)" : ""}`,
    `  DISCORD_APPLICATION_ID=${sim.applicationId}`,
    `  DISCORD_SHARD_COUNT=${discordShards}`,
    `  gateway ${sim.gatewayUrl}   control ${sim.controlUrl}`,
    trace
      ? `  replay "${trace.name}": ${replay.total} messages over ${Math.round(replay.spanMillis / 60_000)} min at speed ${speed}; starts when a client is READY on every Discord shard`
      : "  no trace: inject events with POST /_sim/inject",
    `discord-sim ready ${JSON.stringify({ apiUrl: sim.apiUrl, gatewayUrl: sim.gatewayUrl, controlUrl: sim.controlUrl, token: sim.token, applicationId: sim.applicationId, discordShards, messages: replay.total })}`,
  ]
  for (const line of lines) process.stdout.write(`${line}\n`)
  return yield* Effect.never
})

program.pipe(
  Effect.scoped,
  // A port in use is not a usage mistake: its sentence alone.
  Effect.catchTag("SimListenError", (error) =>
    Effect.sync(() => {
      process.stderr.write(`discord-sim: ${error.message}\n`)
      process.exit(1)
    }),
  ),
  Effect.catchAll((error) => Effect.sync(() => fail(error.message))),
  NodeRuntime.runMain,
)
