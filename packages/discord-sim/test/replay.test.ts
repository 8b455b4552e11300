import { describe, expect, it } from "@effect/vitest"
import type { GatewayDispatchPayload } from "discord-api-types/v10"
import { Effect } from "effect"
import * as DiscordSim from "../src/DiscordSim"
import { discordShardOf } from "../src/World"
import { connectClient } from "./support/client"
import { fixtureWorld } from "./support/fixture"

const MESSAGES = 6000

const receivedOnce = (ids: ReadonlyArray<string>, expected: ReadonlyArray<string>) => {
  const counts = new Map<string, number>()
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1)
  const duplicated = [...counts].filter(([, count]) => count > 1).length
  const missing = expected.filter((id) => !counts.has(id)).length
  return { duplicated, missing, extra: counts.size - (expected.length - missing) }
}

const expectExactlyOnce = (ids: ReadonlyArray<string>, expected: ReadonlyArray<string>) =>
  expect(receivedOnce(ids, expected)).toEqual({ duplicated: 0, missing: 0, extra: 0 })

/** Replays the fixture at full speed; `drop` runs once the client got `dropAfter` messages. */
const replayWith = (
  drop?: (sim: DiscordSim.DiscordSim, shardId: number) => Effect.Effect<void>,
  speed: DiscordSim.DiscordSimOptions["speed"] = "max",
) =>
  Effect.gen(function* () {
    const world = fixtureWorld({ guilds: 6, messages: MESSAGES })
    const sim = yield* DiscordSim.make({
      world,
      discordShards: 2,
      heartbeatIntervalMillis: 300,
      speed,
    })
    let dropped = false
    let count = 0
    const client = yield* connectClient(sim, {
      onDispatch: (payload, shardId) => {
        if (drop && !dropped && payload.t === "MESSAGE_CREATE") {
          if (++count >= MESSAGES / 4) {
            dropped = true
            Effect.runFork(drop(sim, shardId))
          }
        }
      },
    })
    yield* sim.replay.awaitDone("40 seconds")
    const expected = (world.messages ?? []).map((message) => message.id)
    return { sim, client, world, expected }
  })

describe("replay delivers every trace message exactly once", () => {
  it.scopedLive("without faults, in trace order per Discord shard, threads announced first", () =>
    Effect.gen(function* () {
      const { client, world, expected } = yield* replayWith()
      expectExactlyOnce(client.messageIds(), expected)
      for (const shardId of [0, 1]) {
        const arrived = client.dispatches
          .filter((payload) => payload.t === "MESSAGE_CREATE" && payload.shardId === shardId)
          .map((payload) => (payload as GatewayDispatchPayload & { d: { id: string } }).d.id)
        const inTrace = (world.messages ?? [])
          .filter((message) => discordShardOf(message.guild_id, 2) === shardId)
          .map((message) => message.id)
        expect(arrived).toEqual(inTrace)
      }
      const seen = new Set<string>()
      for (const payload of client.dispatches) {
        if (payload.t === "THREAD_CREATE") seen.add(payload.d.id)
        if (payload.t === "MESSAGE_CREATE") {
          const channel = payload.d.channel_id
          const isThread = world.guilds.some((guild) =>
            guild.threads?.some((thread) => thread.id === channel),
          )
          if (isThread) expect(seen.has(channel)).toBe(true)
        }
      }
      const announced = (world.messages ?? []).filter((message) => message.announceThreadFirst)
      expect(seen.size).toBe(announced.length)
      expect(seen.size).toBeGreaterThan(0)
    }),
  )

  it.scopedLive("message ids anchor at the start instant: now minus the span by default", () =>
    Effect.gen(function* () {
      const { client } = yield* replayWith()
      const first = client.dispatches.find((payload) => payload.t === "MESSAGE_CREATE")
      expect(first?.t).toBe("MESSAGE_CREATE")
      const at = Date.parse((first as { d: { timestamp: string } }).d.timestamp)
      expect(Math.abs(at - (Date.now() - 3_600_000))).toBeLessThan(60_000)
    }),
  )

  it.scopedLive("across a resumable drop (server close 4000, client resumes)", () =>
    Effect.gen(function* () {
      const { sim, client, expected } = yield* replayWith((sim, shardId) =>
        sim.faults.drop("close", shardId),
      )
      expectExactlyOnce(client.messageIds(), expected)
      expect(client.closes).toContain(4000)
      const stats = yield* sim.stats
      expect(stats.shards.reduce((sum, shard) => sum + shard.resumes, 0)).toBe(1)
    }),
  )

  it.scopedLive("across RECONNECT (op 7)", () =>
    Effect.gen(function* () {
      const { sim, client, expected } = yield* replayWith((sim, shardId) =>
        sim.faults.drop("reconnect", shardId),
      )
      expectExactlyOnce(client.messageIds(), expected)
      const stats = yield* sim.stats
      expect(stats.shards.reduce((sum, shard) => sum + shard.resumes, 0)).toBe(1)
    }),
  )

  it.scopedLive("across a zombied connection (heartbeat ACKs stop; client resumes)", () =>
    Effect.gen(function* () {
      const { sim, client, expected } = yield* replayWith(
        (sim) =>
          Effect.gen(function* () {
            yield* sim.faults.heartbeatAcks(false)
            yield* Effect.sleep("1 second")
            yield* sim.faults.heartbeatAcks(true)
          }),
        40,
      )
      expectExactlyOnce(client.messageIds(), expected)
      const stats = yield* sim.stats
      expect(stats.shards.reduce((sum, shard) => sum + shard.resumes, 0)).toBeGreaterThan(0)
    }),
  )

  it.scopedLive("across a non-resumable drop (INVALID_SESSION d:false, new session)", () =>
    Effect.gen(function* () {
      const { sim, client, expected } = yield* replayWith(
        (sim, shardId) => sim.faults.drop("invalid-session", shardId),
        40,
      )
      expectExactlyOnce(client.messageIds(), expected)
      const stats = yield* sim.stats
      expect(stats.sessionStarts).toBe(3)
      expect(client.dispatches.filter((payload) => payload.t === "READY").length).toBe(3)
    }),
  )

  it.scopedLive("across a dead session (close 4009; the RESUME gets op 9 d:false)", () =>
    Effect.gen(function* () {
      const { sim, client, expected } = yield* replayWith(
        (sim, shardId) => sim.faults.drop("session-timeout", shardId),
        40,
      )
      expectExactlyOnce(client.messageIds(), expected)
      expect(client.closes).toContain(4009)
      const stats = yield* sim.stats
      expect(stats.sessionStarts).toBe(3)
    }),
  )
})
