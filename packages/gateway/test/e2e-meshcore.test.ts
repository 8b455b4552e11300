import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import type { Speed } from "@tally/discord-sim/Replay"
import { loadTrace } from "@tally/discord-sim/Trace"
import { countTrace } from "@tally/discord-sim/TraceCount"
import { worldFromTrace } from "@tally/discord-sim/TraceWorld"
import { Effect } from "effect"
import * as LocalStack from "../src/LocalStack"
import {
  entries,
  expectedTotals,
  hasMeshcore,
  meshcoreTrace,
  readTotals,
  temporaryDirectory,
  throwawayDatabases,
} from "./support/stack"

const replayAt = (speed: Speed) =>
  Effect.gen(function* () {
    const trace = yield* loadTrace(meshcoreTrace)
    const dbs = yield* throwawayDatabases(2)
    const manager = yield* LocalStack.startManager(dbs)
    const sim = yield* DiscordSim.make({
      world: worldFromTrace(trace),
      discordShards: 1,
      heartbeatIntervalMillis: 2000,
      speed,
    })
    const gateway = yield* LocalStack.startGateway({
      sim,
      manager,
      shardUrls: dbs.shardUrls,
      discordShardCount: 1,
      stateDirectory: yield* temporaryDirectory,
    })
    yield* LocalStack.awaitCaughtUp(sim, gateway, "8 minutes")
    const stored = yield* readTotals(dbs.shardUrls)
    const expected = expectedTotals(countTrace(trace))
    expect(stored.members.size).toBe(expected.members.size)
    expect(entries(stored.members)).toEqual(entries(expected.members))
    expect(entries(stored.channels)).toEqual(entries(expected.channels))
  })

describe.skipIf(!hasMeshcore)(
  `the MeshCore trace end to end${hasMeshcore ? "" : " (skipped: ../shared/data/traces/meshcore-threads-2025.jsonl is absent)"}`,
  () => {
    it.scopedLive(
      "as fast as it goes: totals per member and channel equal the trace's independent count",
      () => replayAt("max"),
      600_000,
    )

    it.scopedLive(
      "paced by message time (423 days in about 20 s): the same totals",
      () => replayAt(2_000_000),
      600_000,
    )
  },
)
