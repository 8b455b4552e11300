/**
 * A gateway process for the benchmarks: `Live.layer` (the real handlers, buffers and flusher),
 * configured by the environment like `src/main.ts`. Once every Discord shard is connected it
 * prints `bench-gateway connected`; on a line `go` on stdin it starts the simulator's replay
 * (`BENCH_CONTROL_URL`), waits until every message is handled and the buffers are flushed, and
 * prints `bench-gateway result {json}` with its wall time, CPU time and peak RSS over that span.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as Readline from "node:readline"
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect, Logger, LogLevel, Metric, Queue } from "effect"
import { Counter } from "../src/Counter"
import { Discord } from "../src/Discord"
import { Dispatch } from "../src/Dispatch"
import { Flusher } from "../src/Flusher"
import * as Gateway from "../src/Gateway"
import * as Live from "../src/Live"

const controlUrl = process.env.BENCH_CONTROL_URL ?? ""
const stateDirectory = process.env.BENCH_STATE_DIRECTORY ?? ".tally-bench"

const control = (path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${controlUrl}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return (await response.json()) as { phase: string; total: number }
  })

const goLine = Effect.async<void>((resume) => {
  const lines = Readline.createInterface({ input: process.stdin })
  lines.on("line", (line) => {
    if (line.trim() !== "go") return
    lines.close()
    // An open stdin would keep the process alive after its program ends.
    process.stdin.destroy()
    resume(Effect.void)
  })
})

const counterValue = (name: string) => {
  let total = 0
  for (const { metricKey, metricState } of Metric.unsafeSnapshot()) {
    if (metricKey.name === name && "count" in metricState) total += Number(metricState.count)
  }
  return total
}

const program = Effect.scoped(
  Effect.gen(function* () {
    yield* Gateway.start
    const discord = yield* Discord
    const dispatch = yield* Dispatch
    const counter = yield* Counter
    const flusher = yield* Flusher
    process.stdout.write("bench-gateway connected\n")
    yield* goLine

    // How long the event loop waited (flushes, REST, commands wait with it), in 10 ms steps.
    const eventLoopDelay = monitorEventLoopDelay({ resolution: 10 })
    eventLoopDelay.enable()
    const cpuBefore = process.cpuUsage()
    const startedAt = performance.now()
    yield* control("/replay/start", {})
    // Every message fed and acknowledged by the gateway's heartbeats…
    for (;;) {
      const status = yield* control("/replay/await", { timeoutMillis: 60_000 })
      if (status.phase === "done") break
    }
    // …then handled, with nothing waiting in a queue…
    const idle = Effect.gen(function* () {
      yield* discord.sync
      if ((yield* Queue.size(discord.dispatches)) > 0) return false
      if ((yield* dispatch.pending).length > 0) return false
      return (yield* counter.stats).waitingEvents === 0
    })
    let stableChecks = 0
    while (stableChecks < 3) {
      stableChecks = (yield* idle) ? stableChecks + 1 : 0
      yield* Effect.sleep(Duration.millis(20))
    }
    // …and written to the database.
    for (;;) {
      yield* flusher.flushNow
      if ((yield* flusher.stats).bufferedRows === 0) break
      yield* Effect.sleep(Duration.millis(50))
    }
    const seconds = (performance.now() - startedAt) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    const result = {
      seconds,
      cpuMicros: cpu.user + cpu.system,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      eventLoopDelayP99Millis: eventLoopDelay.percentile(99) / 1e6,
      eventLoopDelayMaxMillis: eventLoopDelay.max / 1e6,
      messages: counterValue("tally_gateway_messages_total"),
      counted: counterValue("tally_gateway_messages_counted_total"),
      dropped: counterValue("tally_gateway_messages_dropped_total"),
    }
    process.stdout.write(`bench-gateway result ${JSON.stringify(result)}\n`)
  }),
)

program.pipe(
  Effect.provide(Live.layer({ stateDirectory, discord: { skipIdentifyThrottle: true } })),
  Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)),
  // Stopped (layers released): exit, rather than wait for every open handle to close.
  Effect.tap(() => Effect.sync(() => process.exit(0))),
  NodeRuntime.runMain,
)
