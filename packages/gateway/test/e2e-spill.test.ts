import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { countTrace } from "@tally/discord-sim/TraceCount"
import { generateTrace } from "@tally/discord-sim/TraceGenerator"
import { worldFromTrace } from "@tally/discord-sim/TraceWorld"
import { Effect, Fiber } from "effect"
import * as LocalStack from "../src/LocalStack"
import { eventually, metric, spawnGateway } from "./support/process"
import { makeProxy, throughProxy } from "./support/proxy"
import {
  entries,
  expectedTotals,
  readTotals,
  serverUrl,
  temporaryDirectory,
  throwawayDatabases,
} from "./support/stack"

describe("SIGTERM while the database is down", () => {
  it.scopedLive(
    "exits 0 with the unflushed rows in the spill file; the next start applies it exactly once",
    () =>
      Effect.gen(function* () {
        const dbs = yield* throwawayDatabases(1)
        const manager = yield* LocalStack.startManager(dbs)
        const proxy = yield* makeProxy(Number(new URL(serverUrl).port || 3306))
        const proxied = throughProxy(dbs.shardUrls, proxy)
        const trace = generateTrace({ seed: 13, messages: 4000, guilds: 3 })
        const sim = yield* DiscordSim.make({
          world: worldFromTrace(trace),
          discordShards: 1,
          heartbeatIntervalMillis: 1000,
        })
        const cwd = yield* temporaryDirectory
        const env = LocalStack.gatewayEnv({
          sim,
          manager,
          shardUrls: proxied,
          discordShardCount: 1,
          stateDirectory: ".tally",
        })

        // counted, but never flushed on schedule
        const first = yield* spawnGateway(new Map([...env, ["FLUSH_INTERVAL", "1 hour"]]), cwd)
        yield* sim.replay.awaitDone("3 minutes")
        const port = yield* first.port
        yield* eventually(
          Effect.map(
            Effect.all([
              metric(port, "tally_gateway_messages_waiting"),
              metric(port, "tally_gateway_pending_messages"),
              metric(port, "tally_gateway_buffered_rows"),
            ]),
            ([waiting, pending, buffered]) => waiting === 0 && pending === 0 && buffered > 0,
          ),
          "2 minutes",
        )
        const outage = yield* Effect.fork(proxy.refuse("10 minutes"))
        yield* Effect.sleep("500 millis")
        first.child.kill("SIGTERM")
        expect(yield* first.exited).toBe(0)
        const spill = Path.join(cwd, ".tally", "spill.jsonl")
        expect(Fs.existsSync(spill)).toBe(true)
        expect(Fs.readFileSync(spill, "utf8").trim().length).toBeGreaterThan(0)
        expect((yield* readTotals(dbs.shardUrls)).members.size).toBe(0)

        yield* Fiber.interrupt(outage)
        const second = yield* spawnGateway(env, cwd)
        const secondPort = yield* second.port
        const health = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${secondPort}/health`).then((response) => response.json()),
        )
        expect(health).toMatchObject({ status: "alive" })
        yield* eventually(
          Effect.map(metric(secondPort, "tally_gateway_flushed_rows_total"), (rows) => rows > 0),
          "2 minutes",
        )
        second.child.kill("SIGTERM")
        expect(yield* second.exited).toBe(0)

        const stored = yield* readTotals(dbs.shardUrls)
        const expected = expectedTotals(countTrace(trace))
        expect(entries(stored.members)).toEqual(entries(expected.members))
        expect(entries(stored.channels)).toEqual(entries(expected.channels))
      }),
    300_000,
  )
})
