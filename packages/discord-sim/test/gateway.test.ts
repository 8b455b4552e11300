import { describe, expect, it } from "@effect/vitest"
import type {
  GatewayGuildCreateDispatchData,
  GatewayReadyDispatchData,
} from "discord-api-types/v10"
import { Effect } from "effect"
import * as DiscordSim from "../src/DiscordSim"
import { discordShardOf } from "../src/World"
import { connectClient, eventually } from "./support/client"
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
})
