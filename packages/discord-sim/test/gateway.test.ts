import * as Net from "node:net"
import { REST } from "@discordjs/rest"
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from "@discordjs/ws"
import { describe, expect, it } from "@effect/vitest"
import type {
  GatewayGuildCreateDispatchData,
  GatewayReadyDispatchData,
} from "discord-api-types/v10"
import { Effect } from "effect"
import WebSocket from "ws"
import * as DiscordSim from "../src/DiscordSim"
import type * as Events from "../src/Events"
import { discordShardOf } from "../src/World"
import { connectClient, eventually, TALLY_INTENTS } from "./support/client"
import { fixtureWorld } from "./support/fixture"

describe("handshake with an unmodified @discordjs/ws 2.0.4 client", () => {
  it.scopedLive("READY then one GUILD_CREATE per guild of each Discord shard", () =>
    Effect.gen(function* () {
      const world = fixtureWorld({ guilds: 5, messages: 0 })
      const sim = yield* DiscordSim.make({ world, discordShards: 2, heartbeatIntervalMillis: 500 })
      const client = yield* connectClient(sim)

      yield* eventually(
        () => client.dispatches.filter((payload) => payload.t === "GUILD_CREATE").length === 5,
        5000,
        "5 GUILD_CREATE",
      )
      for (const shardId of [0, 1]) {
        const ready = client.dispatches.find(
          (payload) => payload.t === "READY" && payload.shardId === shardId,
        )?.d as GatewayReadyDispatchData
        expect(ready.shard).toEqual([shardId, 2])
        expect(ready.resume_gateway_url).toBe(sim.resumeGatewayUrl)
        expect(ready.application.id).toBe(sim.applicationId)
        const expected = world.guilds
          .filter((guild) => discordShardOf(guild.id, 2) === shardId)
          .map((guild) => guild.id)
        expect(ready.guilds.map((guild) => guild.id).sort()).toEqual(expected.sort())
        expect(ready.guilds.every((guild) => guild.unavailable)).toBe(true)
      }
      const guildCreate = client.dispatches.find(
        (payload) => payload.t === "GUILD_CREATE" && payload.d.id === world.guilds[0]?.id,
      )?.d as GatewayGuildCreateDispatchData
      // without GUILD_PRESENCES Discord lists only the bot (and voice members)
      expect(guildCreate.members.map((member) => member.user.id)).toEqual([sim.applicationId])
      expect(guildCreate.member_count).toBe(9)
      expect(guildCreate.channels.map((channel) => channel.type).sort()).toEqual([0, 0, 15, 2, 4])
      // threads no message announces later are active from the start, with their parents
      expect(guildCreate.threads?.map((thread) => thread.parent_id)).toEqual(
        world.guilds[0]?.threads?.map((thread) => thread.parent_id),
      )
      expect(guildCreate.roles.length).toBe(4)
      expect(guildCreate.presences).toEqual([])
    }),
  )

  it.scopedLive("heartbeats are acknowledged and carry the last sequence", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({
        world: fixtureWorld({ guilds: 1, messages: 0 }),
        heartbeatIntervalMillis: 200,
      })
      const client = yield* connectClient(sim)
      let acks = 0
      client.manager.on("heartbeat", () => {
        acks++
      })
      yield* eventually(() => acks >= 2, 3000, "two heartbeat ACKs")
      const stats = yield* sim.stats
      expect(stats.shards[0]?.lastHeartbeatSeq).toBe(2)
    }),
  )

  it.scopedLive("zlib-stream transport compression delivers the same dispatches", () =>
    Effect.gen(function* () {
      const world = fixtureWorld({ guilds: 2, messages: 500 })
      const sim = yield* DiscordSim.make({ world, heartbeatIntervalMillis: 500 })
      const client = yield* connectClient(sim, { compression: CompressionMethod.ZlibNative })
      yield* sim.replay.awaitDone("20 seconds")
      expect(client.messageIds()).toEqual((world.messages ?? []).map((message) => message.id))
    }),
  )

  it.scopedLive("message content is blanked without the MESSAGE_CONTENT intent", () =>
    Effect.gen(function* () {
      const world = fixtureWorld({ guilds: 1, messages: 0 })
      const guild = world.guilds[0] as NonNullable<(typeof world.guilds)[0]>
      const channelId = guild.channels?.[1]?.id as string
      const authorId = guild.members?.[1]?.userId as string
      const contentOf = (intents: number) =>
        Effect.scoped(
          Effect.gen(function* () {
            const sim = yield* DiscordSim.make({ world })
            const client = yield* connectClient(sim, { intents })
            yield* sim.inject({
              type: "message",
              guildId: guild.id,
              channelId,
              authorId,
              content: "hello",
            })
            yield* eventually(() => client.messageIds().length === 1, 5000, "the message")
            const message = client.dispatches.find((payload) => payload.t === "MESSAGE_CREATE")
            return (message?.d as { content: string } | undefined)?.content
          }),
        )
      expect(yield* contentOf(1667)).toBe("")
      expect(yield* contentOf(1667 | 32768)).toBe("hello")
      // without GUILD_MESSAGES there is no MESSAGE_CREATE at all
      const withoutMessages = yield* Effect.scoped(
        Effect.gen(function* () {
          const sim = yield* DiscordSim.make({ world, heartbeatIntervalMillis: 300 })
          const client = yield* connectClient(sim, { intents: 1 })
          yield* sim.inject({ type: "message", guildId: guild.id, channelId, authorId })
          yield* sim.inject({
            type: "roleCreate",
            guildId: guild.id,
            role: { id: "1456074448196075777", name: "new" },
          })
          yield* eventually(
            () => client.dispatches.some((payload) => payload.t === "GUILD_ROLE_CREATE"),
            5000,
            "GUILD_ROLE_CREATE",
          )
          return client.messageIds().length
        }),
      )
      expect(withoutMessages).toBe(0)
    }),
  )
})

describe("close codes and session faults", () => {
  it.scopedLive("a wrong token closes 4004 and the client's connect() rejects", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({
        world: fixtureWorld({ guilds: 1, messages: 0 }),
        token: "right",
      })
      const manager = new WebSocketManager({
        token: "wrong",
        intents: TALLY_INTENTS,
        rest: new REST({ api: sim.apiUrl }).setToken("right"),
      })
      manager.on(WebSocketShardEvents.Error, () => {})
      const result = yield* Effect.promise(() =>
        manager.connect().then(
          () => "connected",
          (cause: Error) => cause.message,
        ),
      )
      yield* Effect.promise(async () => {
        await manager.destroy()
      })
      expect(result).toMatch(/Authentication failed/)
    }),
  )

  it.scopedLive("privileged intents the portal does not allow close 4014", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({
        world: fixtureWorld({ guilds: 1, messages: 0 }),
        privilegedIntents: 0,
      })
      const manager = new WebSocketManager({
        token: sim.token,
        intents: TALLY_INTENTS,
        rest: new REST({ api: sim.apiUrl }).setToken(sim.token),
      })
      manager.on(WebSocketShardEvents.Error, () => {})
      const result = yield* Effect.promise(() =>
        manager.connect().then(
          () => "connected",
          (cause: Error) => cause.message,
        ),
      )
      yield* Effect.promise(async () => {
        await manager.destroy()
      })
      expect(result).toMatch(/disallowed intents/i)
    }),
  )

  it.scopedLive("INVALID_SESSION d:true: the client resumes on the same socket", () =>
    Effect.gen(function* () {
      const world = fixtureWorld({ guilds: 1, messages: 0 })
      const guild = world.guilds[0] as NonNullable<(typeof world.guilds)[0]>
      const sim = yield* DiscordSim.make({ world })
      const client = yield* connectClient(sim)
      yield* sim.faults.invalidSessionResumable(0)
      yield* eventually(
        () => client.dispatches.some((payload) => payload.t === "RESUMED"),
        5000,
        "RESUMED",
      )
      yield* sim.inject({
        type: "memberAdd",
        guildId: guild.id,
        userId: "1456074448196075888",
      })
      yield* eventually(
        () => client.dispatches.some((payload) => payload.t === "GUILD_MEMBER_ADD"),
        5000,
        "GUILD_MEMBER_ADD after the resume",
      )
      const stats = yield* sim.stats
      expect(stats.sessionStarts).toBe(1)
      expect(client.closes).toEqual([])
    }),
  )

  it.scopedLive("the server's own close codes: 4001, 4002, 4003, 4005, 4012, 4013", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world: fixtureWorld({ guilds: 1, messages: 0 }) })
      const closeCode = (query: string, payloads: Array<string>) =>
        Effect.promise(
          () =>
            new Promise<number>((resolve) => {
              const socket = new WebSocket(`${sim.gatewayUrl}${query}`)
              socket.on("message", () => {
                for (const payload of payloads.splice(0)) socket.send(payload)
              })
              socket.on("close", (code) => resolve(code))
            }),
        )
      const identify = JSON.stringify({
        op: 2,
        d: { token: sim.token, intents: 1667, properties: {}, shard: [0, 1] },
      })
      const json = "?v=10&encoding=json"
      expect(yield* closeCode(json, [JSON.stringify({ op: 99, d: null })])).toBe(4001)
      expect(yield* closeCode(json, ["{not json"])).toBe(4002)
      expect(yield* closeCode(json, [JSON.stringify({ op: 8, d: {} })])).toBe(4003)
      expect(yield* closeCode(json, [identify, identify])).toBe(4005)
      expect(yield* closeCode("?v=9&encoding=json", [])).toBe(4012)
      const badIntents = JSON.stringify({
        op: 2,
        d: { token: sim.token, intents: 1 << 30, properties: {}, shard: [0, 1] },
      })
      expect(yield* closeCode(json, [badIntents])).toBe(4013)
    }),
  )
})

/** A bare socket to the simulator: frames as they arrive, and a wait for the next one that fits. */
const rawSocket = (url: string) =>
  Effect.promise(
    () =>
      new Promise<{
        readonly send: (payload: unknown) => void
        readonly next: (fits: (frame: RawFrame) => boolean) => Promise<RawFrame>
        readonly close: (code: number) => void
      }>((resolve) => {
        const socket = new WebSocket(url)
        const frames: Array<RawFrame> = []
        let wake = () => {}
        socket.on("message", (data) => {
          frames.push(JSON.parse(String(data)) as RawFrame)
          wake()
        })
        socket.on("open", () =>
          resolve({
            send: (payload) => socket.send(JSON.stringify(payload)),
            next: async (fits) => {
              for (;;) {
                const index = frames.findIndex(fits)
                if (index >= 0) return frames.splice(0, index + 1)[index] as RawFrame
                await new Promise<void>((woken) => {
                  wake = woken
                })
              }
            },
            close: (code) => socket.close(code),
          }),
        )
      }),
  )

interface RawFrame {
  readonly op: number
  readonly t: string | null
  readonly s: number | null
  readonly d: { readonly id?: string; readonly session_id?: string } | null
}

describe("a RESUME may start before the last heartbeat", () => {
  it.scopedLive(
    "a client that handled less than it received resumes from what it handled and gets the rest",
    () =>
      Effect.gen(function* () {
        const messages = 50
        const sim = yield* DiscordSim.make({
          world: fixtureWorld({ guilds: 1, messages }),
          discordShards: 1,
          heartbeatIntervalMillis: 60_000,
          speed: "max",
        })
        const url = `${sim.gatewayUrl}?v=10&encoding=json`
        const first = yield* rawSocket(url)
        yield* Effect.promise(() => first.next((frame) => frame.op === 10))
        first.send({
          op: 2,
          d: { token: sim.token, intents: TALLY_INTENTS, properties: {}, shard: [0, 1] },
        })
        const ready = yield* Effect.promise(() => first.next((frame) => frame.t === "READY"))
        const received: Array<RawFrame> = []
        while (received.length < messages) {
          received.push(
            yield* Effect.promise(() => first.next((frame) => frame.t === "MESSAGE_CREATE")),
          )
        }
        // The heartbeat says everything arrived; only the first ten were handled.
        first.send({ op: 1, d: received[messages - 1]!.s })
        yield* Effect.promise(() => first.next((frame) => frame.op === 11))
        first.close(4000)

        const second = yield* rawSocket(url)
        yield* Effect.promise(() => second.next((frame) => frame.op === 10))
        second.send({
          op: 6,
          d: { token: sim.token, session_id: ready.d?.session_id, seq: received[9]!.s },
        })
        const replayed: Array<string | undefined> = []
        for (;;) {
          const frame = yield* Effect.promise(() =>
            second.next((frame) => frame.op === 9 || frame.t !== null),
          )
          expect(frame.op).not.toBe(9)
          if (frame.t === "RESUMED") break
          if (frame.t === "MESSAGE_CREATE") replayed.push(frame.d?.id)
        }
        expect(replayed).toEqual(received.slice(10).map((frame) => frame.d?.id))
      }),
  )
})

describe("events reach the client as Discord sends them", () => {
  it.scopedLive("each injectable event arrives by name; voice members join GUILD_CREATE", () =>
    Effect.gen(function* () {
      const world = fixtureWorld({ guilds: 1, messages: 0 })
      const spec = world.guilds[0] as NonNullable<(typeof world.guilds)[0]>
      const voiceId = spec.channels?.[3]?.id as string
      const inVoice = spec.members?.[3]?.userId as string
      const withVoice = {
        guilds: [{ ...spec, voiceStates: [{ userId: inVoice, channelId: voiceId }] }],
      }
      const sim = yield* DiscordSim.make({ world: withVoice })
      const client = yield* connectClient(sim)
      const guildCreate = client.dispatches.find((payload) => payload.t === "GUILD_CREATE")
        ?.d as GatewayGuildCreateDispatchData
      expect(guildCreate.members.map((member) => member.user.id).sort()).toEqual(
        [sim.applicationId, inVoice].sort(),
      )
      expect(guildCreate.voice_states.map((state) => state.user_id)).toEqual([inVoice])

      const guildId = spec.id
      const channelId = spec.channels?.[1]?.id as string
      const userId = spec.members?.[2]?.userId as string
      const events: ReadonlyArray<Events.SimEvent> = [
        { type: "message", guildId, channelId, authorId: userId, messageType: 7 },
        {
          type: "threadCreate",
          guildId,
          thread: { id: "1456074448196076001", type: 11, parent_id: channelId },
        },
        { type: "voiceState", guildId, userId, channelId: voiceId, selfMute: true },
        { type: "memberAdd", guildId, userId: "1456074448196076002" },
        { type: "memberUpdate", guildId, userId, nick: "renamed" },
        {
          type: "reactionAdd",
          guildId,
          channelId,
          messageId: "1456074448196076003",
          userId,
          emoji: { id: null, name: "👍" },
        },
        {
          type: "channelCreate",
          guildId,
          channel: { id: "1456074448196076004", type: 0, name: "new" },
        },
        {
          type: "channelUpdate",
          guildId,
          channel: { id: "1456074448196076004", type: 0, name: "renamed" },
        },
        { type: "channelDelete", guildId, channelId: "1456074448196076004" },
        {
          type: "roleCreate",
          guildId,
          role: { id: "1456074448196076005", name: "r", position: 2 },
        },
        { type: "roleUpdate", guildId, role: { id: "1456074448196076005", name: "r2" } },
        { type: "roleDelete", guildId, roleId: "1456074448196076005" },
        { type: "memberRemove", guildId, userId: "1456074448196076002" },
        { type: "guildDelete", guildId },
      ]
      for (const event of events) yield* sim.inject(event)
      const expected = [
        "MESSAGE_CREATE",
        "THREAD_CREATE",
        "VOICE_STATE_UPDATE",
        "GUILD_MEMBER_ADD",
        "GUILD_MEMBER_UPDATE",
        "MESSAGE_REACTION_ADD",
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "GUILD_ROLE_CREATE",
        "GUILD_ROLE_UPDATE",
        "GUILD_ROLE_DELETE",
        "GUILD_MEMBER_REMOVE",
        "GUILD_DELETE",
      ]
      const after = () =>
        client.dispatches
          .map((payload) => payload.t as string)
          .filter((name) => !["READY", "GUILD_CREATE"].includes(name))
      yield* eventually(() => after().length === expected.length, 5000, "every event")
      expect(after()).toEqual(expected)
      const update = client.dispatches.find((payload) => payload.t === "GUILD_MEMBER_UPDATE")
      expect((update?.d as { nick: string | null } | undefined)?.nick).toBe("renamed")
      expect(
        yield* Effect.either(sim.inject({ type: "memberRemove", guildId, userId })),
      ).toMatchObject({
        _tag: "Left",
      })
    }),
  )

  it.scopedLive("paused delivery holds events; resuming sends them in order", () =>
    Effect.gen(function* () {
      const world = fixtureWorld({ guilds: 1, messages: 0 })
      const spec = world.guilds[0] as NonNullable<(typeof world.guilds)[0]>
      const sim = yield* DiscordSim.make({ world })
      const client = yield* connectClient(sim)
      yield* sim.faults.pauseDelivery
      const ids = ["1456074448196077001", "1456074448196077002", "1456074448196077003"]
      for (const id of ids) {
        yield* sim.inject({
          type: "message",
          guildId: spec.id,
          channelId: spec.channels?.[1]?.id as string,
          authorId: spec.members?.[1]?.userId as string,
          id,
        })
      }
      yield* Effect.sleep("300 millis")
      expect(client.messageIds()).toEqual([])
      yield* sim.faults.resumeDelivery
      yield* eventually(() => client.messageIds().length === 3, 5000, "three messages")
      expect(client.messageIds()).toEqual(ids)
    }),
  )
})

describe("starting", () => {
  it.scopedLive("a port in use fails with a sentence that says so", () =>
    Effect.gen(function* () {
      const taken = yield* Effect.acquireRelease(
        Effect.async<Net.Server>((resume) => {
          const server = Net.createServer().listen(0, "127.0.0.1", () =>
            resume(Effect.succeed(server)),
          )
        }),
        (server) => Effect.sync(() => server.close()),
      )
      const port = (taken.address() as Net.AddressInfo).port
      const error = yield* Effect.flip(DiscordSim.make({ port }))
      expect(error.message).toBe(
        `cannot listen on 127.0.0.1:${port}: the port is in use (choose another, or none for a free one)`,
      )
    }),
  )
})
