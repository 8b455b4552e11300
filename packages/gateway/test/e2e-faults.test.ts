import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { countTrace } from "@tally/discord-sim/TraceCount"
import { generateTrace } from "@tally/discord-sim/TraceGenerator"
import { worldFromTrace } from "@tally/discord-sim/TraceWorld"
import { fromTimestamp } from "@tally/domain/Snowflake"
import { Duration, Effect } from "effect"
import * as Dispatch from "../src/Dispatch"
import * as LocalStack from "../src/LocalStack"
import { eventually } from "./support/process"
import {
  entries,
  expectedTotals,
  readTotals,
  temporaryDirectory,
  throwawayDatabases,
} from "./support/stack"

/** Replays a generated trace and applies `faults` once a third of it was delivered. */
const replayWithFaults = (faults: ReadonlyArray<DiscordSim.DropKind>) =>
  Effect.gen(function* () {
    const dbs = yield* throwawayDatabases(1)
    const manager = yield* LocalStack.startManager(dbs)
    const trace = generateTrace({ seed: 3, messages: 12_000, guilds: 4 })
    const world = worldFromTrace(trace)
    const sim = yield* DiscordSim.make({ world, discordShards: 1, heartbeatIntervalMillis: 2000 })
    const gateway = yield* LocalStack.startGateway({
      sim,
      manager,
      shardUrls: dbs.shardUrls,
      discordShardCount: 1,
      stateDirectory: yield* temporaryDirectory,
    })
    const delivered = sim.stats.pipe(Effect.map((stats) => stats.delivered.MESSAGE_CREATE ?? 0))
    for (const [index, kind] of faults.entries()) {
      const threshold = (world.messages.length * (index + 1)) / (faults.length + 2)
      yield* eventually(
        Effect.map(delivered, (count) => count >= threshold),
        "2 minutes",
        1,
        "5 millis",
      )
      yield* sim.faults.drop(kind, 0)
    }
    yield* LocalStack.awaitCaughtUp(sim, gateway)
    const stored = yield* readTotals(dbs.shardUrls)
    const expected = expectedTotals(countTrace(trace))
    expect(entries(stored.members)).toEqual(entries(expected.members))
    expect(entries(stored.channels)).toEqual(entries(expected.channels))
    return yield* sim.stats
  })

describe("the simulator drops the connection mid-stream", () => {
  it.scopedLive(
    "resumable drops (close 4000, op 7 RECONNECT): the gateway resumes and totals are exact",
    () =>
      Effect.gen(function* () {
        const stats = yield* replayWithFaults(["close", "reconnect"])
        expect(stats.shards[0]!.identifies).toBe(1)
        expect(stats.shards[0]!.resumes).toBeGreaterThanOrEqual(2)
      }),
    300_000,
  )

  it.scopedLive(
    "non-resumable drops (op 9 false, close 4009): the gateway identifies anew, replayed events count once",
    () =>
      Effect.gen(function* () {
        const stats = yield* replayWithFaults(["invalid-session", "session-timeout"])
        expect(stats.shards[0]!.identifies).toBeGreaterThanOrEqual(2)
      }),
    300_000,
  )
})

describe("malformed or unexpected payloads from the gateway", () => {
  it.scopedLive(
    "are logged and skipped by reason, and the loop goes on to count the next message",
    () =>
      Effect.gen(function* () {
        const dbs = yield* throwawayDatabases(1)
        const manager = yield* LocalStack.startManager(dbs)
        const guildId = "260730761364171728"
        const channelId = "300000000000000002"
        const userId = "400000000000000001"
        const sim = yield* DiscordSim.make({
          world: {
            guilds: [
              {
                id: guildId,
                channels: [{ id: channelId, type: 0 }],
                members: [{ userId }],
              },
            ],
          },
          discordShards: 1,
          heartbeatIntervalMillis: 2000,
        })
        const gateway = yield* LocalStack.startGateway({
          sim,
          manager,
          shardUrls: dbs.shardUrls,
          discordShardCount: 1,
          stateDirectory: yield* temporaryDirectory,
          dispatch: { pendingTimeout: Duration.seconds(2) },
        })
        const reasons: ReadonlyArray<Dispatch.SkipReason> = [
          "no_member",
          "unknown_guild",
          "unknown_channel",
          "giant_content",
          "malformed",
        ]
        const before = yield* Effect.forEach(reasons, Dispatch.skippedCount)

        let sequence = 0
        const message = (extra: Record<string, unknown>) => ({
          id: fromTimestamp(Date.now(), ++sequence),
          channel_id: channelId,
          guild_id: guildId,
          author: { id: userId, username: "member" },
          member: { roles: [] },
          type: 0,
          content: "",
          ...extra,
        })
        const raw = (data: unknown, guild: string | null = guildId) =>
          sim.inject({ type: "raw", guildId: guild, event: "MESSAGE_CREATE", data })
        yield* raw(message({ member: undefined }))
        yield* raw(message({ guild_id: "260730761364171999" }), null)
        yield* raw(message({ channel_id: "300000000000000099" }))
        yield* raw(message({ content: "x".repeat(100_000) }))
        yield* raw(message({ id: 12345 }))
        yield* raw(message({ type: "reply" }))
        yield* raw(message({ member: { roles: "everyone" } }))
        yield* raw("not an object")
        yield* sim.inject({ type: "message", guildId, channelId, authorId: userId })

        const expectedSkips = [1, 1, 1, 1, 4]
        yield* eventually(
          Effect.map(Effect.forEach(reasons, Dispatch.skippedCount), (after) =>
            after.every((count, index) => count - before[index]! === expectedSkips[index]),
          ),
          "30 seconds",
          1,
        )
        yield* eventually(
          Effect.map(gateway.counter.stats, (stats) => stats.waitingEvents === 0),
          "30 seconds",
        )
        yield* gateway.flusher.flushNow
        const stored = yield* readTotals(dbs.shardUrls)
        expect(entries(stored.members)).toEqual([
          [`${guildId}/${userId}`, { xp: 6, textMessages: 1 }],
        ])
      }),
    120_000,
  )
})
