/**
 * Delivery rate: MESSAGE_CREATE per second from the simulator (in its own process, replaying a
 * generated trace at speed "max") to (1) a raw `ws` client that JSON-parses every frame, and
 * (2) an unmodified @discordjs/ws WebSocketManager. Rates run from the first MESSAGE_CREATE to
 * the last. Last line: `sim: raw client <n>/s, @discordjs/ws <m>/s`.
 *
 * SIM_BENCH_MESSAGES sets the number of messages (default 200000); SIM_BENCH_NODE_ARGS adds node
 * options to the simulator's process (e.g. `--cpu-prof`).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { once } from "node:events"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { REST } from "@discordjs/rest"
import { WebSocketManager, WebSocketShardEvents } from "@discordjs/ws"
import WebSocket from "ws"

const MESSAGES = Number(process.env.SIM_BENCH_MESSAGES ?? 200_000)
const INTENTS: number = 1667
const packageDir = fileURLToPath(new URL("..", import.meta.url))

interface Ready {
  readonly controlUrl: string
  readonly apiUrl: string
  readonly gatewayUrl: string
  readonly token: string
  readonly messages: number
}

const startSimulator = async (): Promise<{ child: ChildProcess; ready: Ready }> => {
  const child = spawn(
    process.execPath,
    [
      ...(process.env.SIM_BENCH_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== ""),
      "--import",
      "tsx",
      "src/bin.ts",
      "--generate",
      String(MESSAGES),
      "--speed",
      "max",
      "--heartbeat-interval",
      "1000",
    ],
    { cwd: packageDir, stdio: ["ignore", "pipe", "inherit"] },
  )
  let output = ""
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      const match = /discord-sim ready (\{.*\})/.exec(output)
      if (match?.[1]) resolve(JSON.parse(match[1]) as Ready)
    })
    child.once("exit", (code) => reject(new Error(`simulator exited with ${code}: ${output}`)))
  })
  return { child, ready }
}

const stopSimulator = async (child: ChildProcess) => {
  child.kill("SIGTERM")
  if (child.exitCode === null) await once(child, "exit")
}

const rate = (count: number, firstAt: number, lastAt: number) =>
  Math.round(count / Math.max((lastAt - firstAt) / 1000, 1e-3))

const rawClient = (ready: Ready) =>
  new Promise<number>((resolve, reject) => {
    const socket = new WebSocket(`${ready.gatewayUrl}?v=10&encoding=json`, {
      perMessageDeflate: false,
    })
    let seq: number | null = null
    let count = 0
    let firstAt = 0
    let heartbeat: ReturnType<typeof setInterval> | undefined
    socket.on("message", (data) => {
      const payload = JSON.parse(data.toString()) as {
        op: number
        t: string | null
        s: number | null
        d: { heartbeat_interval?: number }
      }
      if (payload.s !== null) seq = payload.s
      if (payload.op === 10) {
        const interval = payload.d.heartbeat_interval ?? 41_250
        heartbeat = setInterval(() => socket.send(JSON.stringify({ op: 1, d: seq })), interval)
        socket.send(
          JSON.stringify({
            op: 2,
            d: {
              token: ready.token,
              intents: INTENTS,
              properties: { os: process.platform, browser: "bench", device: "bench" },
              shard: [0, 1],
            },
          }),
        )
      } else if (payload.t === "MESSAGE_CREATE") {
        if (count === 0) firstAt = performance.now()
        if (++count === ready.messages) {
          const result = rate(count, firstAt, performance.now())
          clearInterval(heartbeat)
          socket.close(1000)
          resolve(result)
        }
      }
    })
    socket.on("error", reject)
  })

const discordJsClient = async (ready: Ready) => {
  const rest = new REST({ api: ready.apiUrl, version: "10" }).setToken(ready.token)
  const manager = new WebSocketManager({
    token: ready.token,
    intents: INTENTS,
    rest,
    buildIdentifyThrottler: async () => ({ waitForIdentify: async () => {} }),
  })
  let count = 0
  let firstAt = 0
  const done = new Promise<number>((resolve) => {
    manager.on(WebSocketShardEvents.Dispatch, (payload) => {
      if (payload.t !== "MESSAGE_CREATE") return
      if (count === 0) firstAt = performance.now()
      if (++count === ready.messages) resolve(rate(count, firstAt, performance.now()))
    })
  })
  await manager.connect()
  const result = await done
  await manager.destroy()
  return result
}

const simulatorCpuMicros = async (ready: Ready) => {
  const response = await fetch(`${ready.controlUrl}/stats`)
  const stats = (await response.json()) as { process: { cpuMicros: number } }
  return stats.process.cpuMicros
}

/** The rate, with the CPU time per message of the simulator and of this (client) process. */
const measure = async (name: string, client: (ready: Ready) => Promise<number>) => {
  const { child, ready } = await startSimulator()
  try {
    const simulatorBefore = await simulatorCpuMicros(ready)
    const clientBefore = process.cpuUsage()
    const result = await client(ready)
    const clientCpu = process.cpuUsage(clientBefore)
    const simulatorCpu = (await simulatorCpuMicros(ready)) - simulatorBefore
    const perMessage = (micros: number) => (micros / MESSAGES).toFixed(1)
    process.stdout.write(
      `${name}: ${MESSAGES} MESSAGE_CREATE at ${result}/s; CPU per message: simulator ${perMessage(simulatorCpu)} µs, client ${perMessage(clientCpu.user + clientCpu.system)} µs; load average ${os.loadavg()[0]?.toFixed(1)} on ${os.availableParallelism()} cores\n`,
    )
    return result
  } finally {
    await stopSimulator(child)
  }
}

const raw = await measure("raw ws client", rawClient)
const discordJs = await measure("@discordjs/ws", discordJsClient)
process.stdout.write(`sim: raw client ${raw}/s, @discordjs/ws ${discordJs}/s\n`)
