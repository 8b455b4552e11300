import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { timestampMillis, unsafeMake } from "@tally/domain/Snowflake"
import type { GatewayDispatchPayload } from "discord-api-types/v10"
import { Deferred, Effect } from "effect"
import * as DiscordSim from "../src/DiscordSim"
import { loadTrace } from "../src/Trace"
import { generateTrace } from "../src/TraceGenerator"
import { discordShardOf } from "../src/World"
import { connectClient, eventually } from "./support/client"
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

/**
 * The client resumed (a big replay backlog can delay a heartbeat ACK enough for the client to
 * resume once more) and never started a new session: one per Discord shard.
 */
/** Waits until the simulator has seen `count` sessions start (IDENTIFY → READY). */
const awaitSessionStarts = (sim: DiscordSim.DiscordSim, count: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + 20_000
    while ((yield* sim.stats).sessionStarts < count && Date.now() < deadline) {
      yield* Effect.sleep("20 millis")
    }
    return yield* sim.stats
  })

const expectResumedWithoutNewSession = (sim: DiscordSim.DiscordSim) =>
  Effect.map(sim.stats, (stats) => {
    expect(stats.shards.reduce((sum, shard) => sum + shard.resumes, 0)).toBeGreaterThan(0)
    expect(stats.sessionStarts).toBe(2)
  })

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
      // a big backlog (or a busy machine) can hold a heartbeat ACK back long enough for the
      // client to call the connection a zombie: keep the interval well above that
      heartbeatIntervalMillis: 1500,
      speed,
    })
    let dropped = false
    let dropDone = false
    let count = 0
    const client = yield* connectClient(sim, {
      onDispatch: (payload, shardId) => {
        if (drop && !dropped && payload.t === "MESSAGE_CREATE") {
          if (++count >= MESSAGES / 4) {
            dropped = true
            Effect.runFork(
              Effect.ensuring(
                drop(sim, shardId),
                Effect.sync(() => {
                  dropDone = true
                }),
              ),
            )
          }
        }
      },
    })
    if (drop) yield* eventually(() => dropDone, 20_000, "the drop")
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

  it.scopedLive("across a resumable drop (server close 4000, client resumes)", () =>
    Effect.gen(function* () {
      const { sim, client, expected } = yield* replayWith((sim, shardId) =>
        sim.faults.drop("close", shardId),
      )
      expectExactlyOnce(client.messageIds(), expected)
      yield* expectResumedWithoutNewSession(sim)
    }),
  )

  it.scopedLive("across RECONNECT (op 7)", () =>
    Effect.gen(function* () {
      const { sim, client, expected } = yield* replayWith((sim, shardId) =>
        sim.faults.drop("reconnect", shardId),
      )
      expectExactlyOnce(client.messageIds(), expected)
      yield* expectResumedWithoutNewSession(sim)
    }),
  )

  it.scopedLive("across a zombied connection (heartbeat ACKs stop; client resumes)", () =>
    Effect.gen(function* () {
      const { sim, client, expected } = yield* replayWith(
        (sim) =>
          Effect.gen(function* () {
            yield* sim.faults.heartbeatAcks(false)
            yield* Effect.sleep("3500 millis")
            yield* sim.faults.heartbeatAcks(true)
          }),
        15,
      )
      expectExactlyOnce(client.messageIds(), expected)
      yield* expectResumedWithoutNewSession(sim)
    }),
  )

  it.scopedLive("across a non-resumable drop (INVALID_SESSION d:false, new session)", () =>
    Effect.gen(function* () {
      const { sim, client, expected } = yield* replayWith(
        (sim, shardId) => sim.faults.drop("invalid-session", shardId),
        40,
      )
      expectExactlyOnce(client.messageIds(), expected)
      const stats = yield* awaitSessionStarts(sim, 3)
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
      const stats = yield* awaitSessionStarts(sim, 3)
      expect(stats.sessionStarts).toBe(3)
    }),
  )

  it.scopedLive(
    "across a client restart: delivery resumes at the first unacknowledged message",
    () =>
      Effect.gen(function* () {
        const world = fixtureWorld({ guilds: 6, messages: MESSAGES })
        const sim = yield* DiscordSim.make({
          world,
          discordShards: 2,
          heartbeatIntervalMillis: 1500,
          speed: 40,
        })
        const before: Array<string> = []
        const restart = yield* Deferred.make<void>()
        const first = yield* connectClient(sim, {
          onDispatch: (payload) => {
            if (payload.t !== "MESSAGE_CREATE") return
            before.push(payload.d.id)
            if (before.length === MESSAGES / 3) Deferred.unsafeDone(restart, Effect.void)
          },
        })
        yield* Deferred.await(restart)
        yield* Effect.promise(async () => {
          await first.manager.destroy()
        })
        const receivedBefore = [...before]
        const second = yield* connectClient(sim)
        yield* sim.replay.awaitDone("40 seconds")

        const expected = (world.messages ?? []).map((message) => message.id)
        const all = [...receivedBefore, ...second.messageIds()]
        const { missing, extra, duplicated } = receivedOnce(all, expected)
        expect({ missing, extra }).toEqual({ missing: 0, extra: 0 })
        // what the old client got after its last heartbeat is sent again, and only that
        const stats = yield* sim.stats
        const redelivered = stats.shards.reduce((sum, shard) => sum + shard.redelivered, 0)
        expect(duplicated).toBeLessThanOrEqual(redelivered)
        expect(stats.sessionStarts).toBe(4)
      }),
  )

  it.scopedLive("across a client restart after a final heartbeat: exactly once", () =>
    Effect.gen(function* () {
      const world = fixtureWorld({ guilds: 6, messages: MESSAGES })
      const sim = yield* DiscordSim.make({
        world,
        discordShards: 2,
        heartbeatIntervalMillis: 1500,
        speed: 40,
      })
      const before: Array<string> = []
      let collecting = true
      const restart = yield* Deferred.make<void>()
      const first = yield* connectClient(sim, {
        onDispatch: (payload) => {
          if (payload.t !== "MESSAGE_CREATE" || !collecting) return
          before.push(payload.d.id)
          if (before.length === MESSAGES / 3) Deferred.unsafeDone(restart, Effect.void)
        },
      })
      yield* Deferred.await(restart)
      // a bot that shuts down cleanly reports the last sequence it processed, then stops
      collecting = false
      yield* Effect.promise(async () => {
        for (const shardId of [0, 1]) {
          await first.manager.send(shardId, { op: 1, d: first.lastSeq(shardId) ?? 0 })
        }
        await first.manager.destroy()
      })
      const second = yield* connectClient(sim)
      yield* sim.replay.awaitDone("40 seconds")
      const expected = (world.messages ?? []).map((message) => message.id)
      expectExactlyOnce([...before, ...second.messageIds()], expected)
    }),
  )

  it.scopedLive("a trace's message ids anchor at now minus its span by default", () =>
    Effect.gen(function* () {
      const trace = generateTrace({ seed: 7, messages: 300 })
      const sim = yield* DiscordSim.make({ trace })
      const client = yield* connectClient(sim)
      yield* sim.replay.awaitDone("20 seconds")
      const times = client.messageIds().map((id) => timestampMillis(unsafeMake(id)))
      const firstEvent = trace.events[0]?.t ?? 0
      const expectedStart = Date.now() - trace.spanMillis
      expect(Math.abs((times[0] as number) - firstEvent - expectedStart)).toBeLessThan(30_000)
      expect(times.length).toBe(300)
    }),
  )

  it.scopedLive("a given start instant anchors the ids: same ids at any speed", () =>
    Effect.gen(function* () {
      const trace = generateTrace({ seed: 7, messages: 200 })
      const startMillis = Date.UTC(2026, 5, 1)
      const idsAt = (speed: DiscordSim.DiscordSimOptions["speed"]) =>
        Effect.scoped(
          Effect.gen(function* () {
            const sim = yield* DiscordSim.make({ trace, startMillis, speed })
            const client = yield* connectClient(sim)
            yield* sim.replay.awaitDone("20 seconds")
            return client.messageIds()
          }),
        )
      const fast = yield* idsAt("max")
      expect(timestampMillis(unsafeMake(fast[0] as string))).toBe(
        startMillis + (trace.events[0]?.t ?? 0),
      )
      expect(fast.length).toBe(200)
      const scaled = yield* idsAt(trace.spanMillis / 1000)
      expect(scaled).toEqual(fast)
    }),
  )

  it.scopedLive("a DiscordChatExporter export folder replays with its ids and threads", () =>
    Effect.gen(function* () {
      const folder = Path.resolve(
        Path.dirname(fileURLToPath(import.meta.url)),
        "fixtures",
        "dce-export",
      )
      const trace = yield* loadTrace(folder)
      const sim = yield* DiscordSim.make({ trace, heartbeatIntervalMillis: 500 })
      const client = yield* connectClient(sim)
      yield* sim.replay.awaitDone("20 seconds")
      const ids = client.messageIds()
      expect(ids.length).toBe(trace.events.length)
      expect(new Set(ids).size).toBe(ids.length)
      const channels = new Set(trace.events.map((event) => event.channel))
      const seen = new Set(
        client.dispatches.flatMap((payload) =>
          payload.t === "MESSAGE_CREATE" ? [payload.d.channel_id] : [],
        ),
      )
      expect(seen).toEqual(channels)
    }),
  )
})
