/**
 * The simulator for the gateway benchmarks, in its own process: `--generate N` replays a
 * generated trace of N messages, `--flood N` the flood scene (one guild, 2,000 members, 8 roles
 * with 0–3 per member, 10 text channels, N messages without content). The replay runs at speed
 * "max" and starts only on `POST /_sim/replay/start`. Prints `bench-sim ready {json}`.
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { generateTrace } from "@tally/discord-sim/TraceGenerator"
import { Effect } from "effect"
import { floodWorld } from "./floodWorld"

const { values } = parseArgs({
  options: { generate: { type: "string" }, flood: { type: "string" } },
  strict: true,
})

const program = Effect.gen(function* () {
  const flood = values.flood === undefined ? undefined : Number(values.flood)
  const generate = Number(values.generate ?? 1000)
  const sim = yield* DiscordSim.make({
    ...(flood !== undefined
      ? { world: floodWorld(flood) }
      : { trace: generateTrace({ seed: 1, messages: generate, guilds: 3 }) }),
    speed: "max",
    discordShards: 1,
    heartbeatIntervalMillis: 1000,
    autoStartReplay: false,
  })
  const status = yield* sim.replay.status
  const ready = {
    apiUrl: sim.apiUrl,
    controlUrl: sim.controlUrl,
    token: sim.token,
    messages: status.total,
  }
  process.stdout.write(`bench-sim ready ${JSON.stringify(ready)}\n`)
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(program))
