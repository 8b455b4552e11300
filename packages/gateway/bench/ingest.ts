/**
 * `pnpm bench:ingest [--messages N]` (default 500,000)
 *
 * The simulator, in its own process, replays a generated trace of N MESSAGE_CREATE as fast as the
 * client reads: first to a gateway process with the real handlers, buffers and flusher (manager
 * and throwaway `tally_bench_*` databases on the local MySQL/MariaDB), from the replay's start
 * until every message is handled and flushed; then to a bare `@discordjs/ws` client that only
 * receives. Last line:
 * `ingest: <n> events/s, <m> us/event, bare client <r> events/s, ratio <x>`.
 */
import { parseArgs } from "node:util"
import { REST } from "@discordjs/rest"
import { WebSocketManager, WebSocketShardEvents } from "@discordjs/ws"
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { INTENTS } from "../src/Discord"
import { eventLoopNote, loadNote, runGateway, type SimReady, startSim } from "./harness"

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: { messages: { type: "string", default: "500000" } },
  strict: true,
})
const messages = Number(values.messages)
if (!Number.isInteger(messages) || messages < 1) {
  throw new Error("usage: pnpm bench:ingest [--messages N] (a whole number ≥ 1)")
}

const line = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))

/** The bare client: connects, starts the replay, counts MESSAGE_CREATE until it has them all. */
const bareClient = (sim: SimReady) =>
  Effect.promise(async () => {
    const rest = new REST({ api: sim.apiUrl, version: "10" }).setToken(sim.token)
    const manager = new WebSocketManager({
      token: sim.token,
      intents: INTENTS,
      rest,
      buildIdentifyThrottler: async () => ({ waitForIdentify: async () => {} }),
    })
    let count = 0
    let resolveDone: (at: number) => void = () => {}
    const done = new Promise<number>((resolve) => {
      resolveDone = resolve
    })
    manager.on(WebSocketShardEvents.Dispatch, (payload) => {
      if (payload.t === "MESSAGE_CREATE" && ++count === sim.messages) resolveDone(performance.now())
    })
    await manager.connect()
    const cpuBefore = process.cpuUsage()
    const startedAt = performance.now()
    await fetch(`${sim.controlUrl}/replay/start`, { method: "POST" })
    const endedAt = await done
    const cpu = process.cpuUsage(cpuBefore)
    await manager.destroy()
    return { seconds: (endedAt - startedAt) / 1000, cpuMicros: cpu.user + cpu.system }
  })

const program = Effect.gen(function* () {
  yield* line(
    `ingest: ${messages} generated messages, simulator and gateway in their own processes`,
  )

  const gateway = yield* Effect.scoped(
    Effect.gen(function* () {
      const sim = yield* startSim(["--generate", String(messages)])
      const { result } = yield* runGateway(sim, Effect.void)
      return { sim, result }
    }),
  )
  const events = gateway.sim.messages
  const rate = events / gateway.result.seconds
  const usPerEvent = gateway.result.cpuMicros / events
  yield* line(
    `gateway: ${events} MESSAGE_CREATE handled and flushed in ${gateway.result.seconds.toFixed(1)} s = ${Math.round(rate)}/s; gateway CPU ${(gateway.result.cpuMicros / 1e6).toFixed(1)} s = ${usPerEvent.toFixed(1)} µs/event; counted ${gateway.result.counted}, dropped ${gateway.result.dropped}; peak RSS ${Math.round(gateway.result.peakRssBytes / 2 ** 20)} MB; ${eventLoopNote(gateway.result)}; ${loadNote()}`,
  )

  const bare = yield* Effect.scoped(
    Effect.flatMap(startSim(["--generate", String(messages)]), bareClient),
  )
  const bareRate = events / bare.seconds
  yield* line(
    `bare @discordjs/ws client (receive only): ${events} in ${bare.seconds.toFixed(1)} s = ${Math.round(bareRate)}/s; client CPU ${(bare.cpuMicros / events).toFixed(1)} µs/event; ${loadNote()}`,
  )
  yield* line(
    `ingest: ${Math.round(rate)} events/s, ${usPerEvent.toFixed(1)} us/event, bare client ${Math.round(bareRate)} events/s, ratio ${(rate / bareRate).toFixed(2)}`,
  )
})

NodeRuntime.runMain(program)
