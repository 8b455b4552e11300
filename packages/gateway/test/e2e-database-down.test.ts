import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { countTrace } from "@tally/discord-sim/TraceCount"
import { generateTrace } from "@tally/discord-sim/TraceGenerator"
import { worldFromTrace } from "@tally/discord-sim/TraceWorld"
import { Duration, Effect, Metric } from "effect"
import * as LocalStack from "../src/LocalStack"
import * as Metrics from "../src/Metrics"
import { eventually } from "./support/process"
import { makeProxy, throughProxy } from "./support/proxy"
import {
  entries,
  expectedTotals,
  readTotals,
  serverUrl,
  temporaryDirectory,
  throwawayDatabases,
} from "./support/stack"

describe("the database refuses connections for 30 s mid-replay", () => {
  it.scopedLive(
    "nothing is lost or doubled, the gateway keeps running and retries its flushes",
    () =>
      Effect.gen(function* () {
        const dbs = yield* throwawayDatabases(1)
        const manager = yield* LocalStack.startManager(dbs)
        const proxy = yield* makeProxy(Number(new URL(serverUrl).port || 3306))
        const proxied = throughProxy(dbs.shardUrls, proxy)
        const trace = generateTrace({ seed: 9, messages: 12_000, guilds: 4 })
        const world = worldFromTrace(trace)
        const sim = yield* DiscordSim.make({
          world,
          discordShards: 1,
          heartbeatIntervalMillis: 2000,
          // Paced over ~20 s: at full speed the whole trace can be counted and flushed before the
          // outage starts, and then there is no "mid-replay" to test.
          speed: Math.max(1, trace.spanMillis / 20_000),
        })
        const gateway = yield* LocalStack.startGateway({
          sim,
          manager,
          shardUrls: proxied,
          discordShardCount: 1,
          stateDirectory: yield* temporaryDirectory,
        })
        const retriesBefore = (yield* Metric.value(Metrics.flushRetries)).count
        // mid-replay: some rows written already, more counted and waiting in the buffers
        yield* eventually(
          Effect.map(gateway.flusher.stats, (stats) => stats.rows > 0 && stats.bufferedRows > 0),
          "2 minutes",
          1,
          "5 millis",
        )
        yield* proxy.refuse(Duration.seconds(30))
        expect(proxy.resets()).toBeGreaterThan(0)

        yield* LocalStack.awaitCaughtUp(sim, gateway, "4 minutes")
        expect((yield* Metric.value(Metrics.flushRetries)).count).toBeGreaterThan(retriesBefore)
        const stored = yield* readTotals(dbs.shardUrls)
        const expected = expectedTotals(countTrace(trace))
        expect(entries(stored.members)).toEqual(entries(expected.members))
        expect(entries(stored.channels)).toEqual(entries(expected.channels))
      }),
    400_000,
  )
})
