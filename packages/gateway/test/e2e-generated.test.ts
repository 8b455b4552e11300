import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { countTrace } from "@tally/discord-sim/TraceCount"
import { generateTrace } from "@tally/discord-sim/TraceGenerator"
import { worldFromTrace } from "@tally/discord-sim/TraceWorld"
import { Effect } from "effect"
import * as LocalStack from "../src/LocalStack"
import {
  entries,
  expectedTotals,
  readTotals,
  temporaryDirectory,
  throwawayDatabases,
} from "./support/stack"

describe("a generated trace through simulator, manager, gateway and MariaDB", () => {
  it.scopedLive(
    "stored totals per member and channel equal the independent count (2 Discord shards, 2 DB shards)",
    () =>
      Effect.gen(function* () {
        const dbs = yield* throwawayDatabases(2)
        const manager = yield* LocalStack.startManager(dbs)
        const trace = generateTrace({ seed: 11, messages: 3000, guilds: 3 })
        const sim = yield* DiscordSim.make({
          world: worldFromTrace(trace),
          discordShards: 2,
          heartbeatIntervalMillis: 1000,
        })
        const gateway = yield* LocalStack.startGateway({
          sim,
          manager,
          shardUrls: dbs.shardUrls,
          discordShardCount: 2,
          stateDirectory: yield* temporaryDirectory,
        })
        yield* LocalStack.awaitCaughtUp(sim, gateway)
        const stored = yield* readTotals(dbs.shardUrls)
        const expected = expectedTotals(countTrace(trace))
        expect(entries(stored.members)).toEqual(entries(expected.members))
        expect(entries(stored.channels)).toEqual(entries(expected.channels))

        // the heartbeat reached the manager
        const listed = yield* Effect.promise(() =>
          fetch(`${manager.url}/v1/gateways`, {
            headers: { authorization: `Bearer ${manager.token}` },
          }).then((response) => response.json() as Promise<{ gateways: ReadonlyArray<unknown> }>),
        )
        expect(listed.gateways).toEqual([
          expect.objectContaining({ instanceId: "local-gateway", discordShardIds: [0, 1] }),
        ])
      }),
  )
})
