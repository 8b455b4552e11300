import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { countTrace } from "@tally/discord-sim/TraceCount"
import { generateTrace } from "@tally/discord-sim/TraceGenerator"
import { worldFromTrace } from "@tally/discord-sim/TraceWorld"
import { Effect } from "effect"
import * as LocalStack from "../src/LocalStack"
import { eventually, metric, spawnGateway } from "./support/process"
import {
  entries,
  expectedTotals,
  readTotals,
  temporaryDirectory,
  throwawayDatabases,
} from "./support/stack"

describe("SIGTERM and restart", () => {
  it.scopedLive(
    "SIGTERM halfway exits 0 and saves the sessions; the restart resumes them and the totals are exact",
    () =>
      Effect.gen(function* () {
        const dbs = yield* throwawayDatabases(2)
        const manager = yield* LocalStack.startManager(dbs)
        const trace = generateTrace({ seed: 5, messages: 12_000, guilds: 6 })
        const world = worldFromTrace(trace)
        const sim = yield* DiscordSim.make({
          world,
          discordShards: 2,
          heartbeatIntervalMillis: 2000,
          speed: "max",
        })
        const cwd = yield* temporaryDirectory
        const env = LocalStack.gatewayEnv({
          sim,
          manager,
          shardUrls: dbs.shardUrls,
          discordShardCount: 2,
          stateDirectory: ".tally",
        })

        const first = yield* spawnGateway(env, cwd)
        const delivered = sim.stats.pipe(Effect.map((stats) => stats.delivered.MESSAGE_CREATE ?? 0))
        yield* eventually(
          Effect.map(delivered, (count) => count >= world.messages.length / 2),
          "2 minutes",
          1,
          "10 millis",
        )
        expect(yield* delivered).toBeLessThan(world.messages.length)
        first.child.kill("SIGTERM")
        expect(yield* first.exited).toBe(0)
        expect(first.output()).toContain("session saved")
        expect(Fs.existsSync(Path.join(cwd, ".tally", "session-0.json"))).toBe(true)
        expect(Fs.existsSync(Path.join(cwd, ".tally", "session-1.json"))).toBe(true)

        const second = yield* spawnGateway(env, cwd)
        yield* sim.replay.awaitDone("3 minutes")
        const port = yield* second.port
        yield* eventually(
          Effect.map(
            Effect.all([
              metric(port, "tally_gateway_messages_waiting"),
              metric(port, "tally_gateway_pending_messages"),
            ]),
            ([waiting, pending]) => waiting === 0 && pending === 0,
          ),
          "1 minute",
        )
        second.child.kill("SIGTERM")
        expect(yield* second.exited).toBe(0)
        expect(second.output()).toContain("session restored")

        const stats = yield* sim.stats
        for (const shard of stats.shards) {
          expect(shard.identifies).toBe(1)
          expect(shard.resumes).toBeGreaterThanOrEqual(1)
        }
        const stored = yield* readTotals(dbs.shardUrls)
        const expected = expectedTotals(countTrace(trace))
        expect(entries(stored.members)).toEqual(entries(expected.members))
        expect(entries(stored.channels)).toEqual(entries(expected.channels))
      }),
    300_000,
  )
})
