import { DiscordAPIError } from "@discordjs/rest"
import { describe, expect, it } from "@effect/vitest"
import {
  type APIChatInputApplicationCommandInteraction,
  InteractionResponseType,
  Routes,
} from "discord-api-types/v10"
import { Effect, Either } from "effect"
import * as DiscordSim from "../src/DiscordSim"
import type { InteractionReply } from "../src/Interactions"
import type { RestCall } from "../src/Rest"
import { connectClient, type TestClient } from "./support/client"
import { fixtureWorld } from "./support/fixture"

const world = fixtureWorld({ guilds: 2, messages: 0 })
const guild = world.guilds[1] as NonNullable<(typeof world.guilds)[1]>
const channelId = guild.channels?.[1]?.id as string
const moderatorMember = guild.members?.[0]?.userId as string
const plainMember = guild.members?.[2]?.userId as string

type Bot = (interaction: APIChatInputApplicationCommandInteraction, client: TestClient) => void

/** A minimal bot: answers every INTERACTION_CREATE with `answer` over @discordjs/rest. */
const botWith = (sim: DiscordSim.DiscordSim, answer: Bot) =>
  Effect.gen(function* () {
    let client: TestClient | undefined
    client = yield* connectClient(sim, {
      onDispatch: (payload) => {
        if (payload.t === "INTERACTION_CREATE" && client) {
          answer(payload.d as APIChatInputApplicationCommandInteraction, client)
        }
      },
    })
    return client
  })

const callback = (client: TestClient, interaction: { id: string; token: string }, body: unknown) =>
  client.rest.post(Routes.interactionCallback(interaction.id, interaction.token), {
    body,
    auth: false,
  })

describe("interactions: the simulator returns the bot's final reply", () => {
  it.scopedLive("an immediate reply (type 4), with the member's permission bits and options", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const seen: Array<APIChatInputApplicationCommandInteraction> = []
      yield* botWith(sim, (interaction, client) => {
        seen.push(interaction)
        void callback(client, interaction, {
          type: InteractionResponseType.ChannelMessageWithSource,
          data: { content: `rank of <@${interaction.member?.user.id}>` },
        })
      })
      const reply = yield* sim.runInteraction({
        guildId: guild.id,
        channelId,
        userId: moderatorMember,
        commandName: "rank",
        options: [{ name: "member", type: 6, value: plainMember }],
      })
      expect(reply.mode).toBe("immediate")
      expect(reply.message.content).toBe(`rank of <@${moderatorMember}>`)
      const interaction = seen[0] as APIChatInputApplicationCommandInteraction
      expect(interaction.data.name).toBe("rank")
      expect(interaction.data.options).toEqual([{ name: "member", type: 6, value: plainMember }])
      expect(interaction.data.resolved?.users?.[plainMember]?.id).toBe(plainMember)
      // the moderator role carries MANAGE_ROLES (1 << 28) on top of @everyone's bits
      const bits = BigInt(interaction.member?.permissions ?? "0")
      expect(bits & (1n << 28n)).toBe(1n << 28n)
      expect(typeof interaction.member?.permissions).toBe("string")
      expect(interaction.guild_id).toBe(guild.id)
      expect(interaction.app_permissions).toMatch(/^\d+$/)
    }),
  )

  it.scopedLive("a deferred reply (type 5) then an edit of the original", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      yield* botWith(sim, (interaction, client) => {
        void (async () => {
          await callback(client, interaction, {
            type: InteractionResponseType.DeferredChannelMessageWithSource,
          })
          await new Promise((resolve) => setTimeout(resolve, 200))
          await client.rest.patch(
            Routes.webhookMessage(interaction.application_id, interaction.token, "@original"),
            { body: { content: "top 10", embeds: [{ title: "Leaderboard" }] }, auth: false },
          )
        })()
      })
      const reply = yield* sim.runInteraction({
        guildId: guild.id,
        channelId,
        userId: plainMember,
        commandName: "top",
      })
      expect(reply.mode).toBe("deferred")
      expect(reply.message.content).toBe("top 10")
      expect(reply.message.embeds).toEqual([{ title: "Leaderboard" }])
      const routes = (yield* sim.restCalls).map((call) => `${call.route} ${call.status}`)
      expect(routes).toEqual([
        "GET /gateway/bot 200",
        "POST /interactions/:interaction/:token/callback 204",
        "PATCH /webhooks/:application/:token/messages/:message 200",
      ])
    }),
  )

  it.scopedLive("a second callback answers 400 40060; follow-ups are recorded", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const errors: Array<number> = []
      yield* botWith(sim, (interaction, client) => {
        void (async () => {
          await callback(client, interaction, { type: 4, data: { content: "one" } })
          try {
            await callback(client, interaction, { type: 4, data: { content: "two" } })
          } catch (cause) {
            if (cause instanceof DiscordAPIError) errors.push(Number(cause.code))
          }
          await client.rest.post(Routes.webhook(interaction.application_id, interaction.token), {
            body: { content: "follow-up" },
            auth: false,
          })
        })()
      })
      const reply = yield* sim.runInteraction({
        guildId: guild.id,
        channelId,
        userId: plainMember,
        commandName: "rank",
      })
      expect(reply.message.content).toBe("one")
      yield* Effect.sleep("300 millis")
      expect(errors).toEqual([40060])
      const followup = (yield* sim.restCalls).find(
        (call) => call.route === "POST /webhooks/:application/:token",
      )
      expect(followup?.status).toBe(200)
    }),
  )

  it.scopedLive("a callback after the response window answers 404 10062; no reply times out", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world, interactionCallbackMillis: 100 })
      const errors: Array<number> = []
      yield* botWith(sim, (interaction, client) => {
        setTimeout(() => {
          callback(client, interaction, { type: 4, data: { content: "late" } }).catch((cause) => {
            if (cause instanceof DiscordAPIError) errors.push(Number(cause.code))
          })
        }, 300)
      })
      const result = yield* Effect.either(
        sim.runInteraction({
          guildId: guild.id,
          channelId,
          userId: plainMember,
          commandName: "rank",
          timeoutMillis: 800,
        }),
      )
      expect(Either.isLeft(result) && result.left._tag).toBe("InteractionTimeout")
      expect(errors).toEqual([10062])
    }),
  )
})

describe("the control API drives the simulator over HTTP", () => {
  it.scopedLive("status, inject, interactions and recorded REST calls under /_sim", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const client = yield* botWith(sim, (interaction, bot) => {
        void callback(bot, interaction, { type: 4, data: { content: "pong" } })
      })
      const call = <A = unknown>(method: string, path: string, body?: unknown) =>
        Effect.promise(async () => {
          const response = await fetch(`${sim.controlUrl}${path}`, {
            method,
            headers: { "Content-Type": "application/json" },
            ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          })
          return { status: response.status, body: (await response.json()) as A }
        })
      const status = yield* call<{ apiUrl: string; stats: DiscordSim.SimStats }>("GET", "/status")
      expect(status.body.apiUrl).toBe(sim.apiUrl)
      expect(status.body.stats.shards[0]?.ready).toBe(true)

      const injected = yield* call("POST", "/inject", [
        {
          type: "message",
          guildId: guild.id,
          channelId,
          authorId: plainMember,
          id: "1456074448196099999",
        },
        {
          type: "voiceState",
          guildId: guild.id,
          userId: plainMember,
          channelId: guild.channels?.[3]?.id,
        },
      ])
      expect(injected.body).toEqual({ injected: 2 })
      const rejected = yield* call("POST", "/inject", {
        type: "message",
        guildId: "1",
        channelId,
        authorId: plainMember,
      })
      expect(rejected.status).toBe(400)
      const badSpeed = yield* call<{ error: string }>("POST", "/replay/speed", { speed: -3 })
      expect(badSpeed.status).toBe(400)
      expect(badSpeed.body.error).toContain("invalid speed")
      expect((yield* call("GET", "/status")).status).toBe(200)

      const reply = yield* call<InteractionReply>("POST", "/interactions", {
        guildId: guild.id,
        channelId,
        userId: plainMember,
        commandName: "ping",
      })
      expect(reply.body.message.content).toBe("pong")
      const unknownGuild = yield* call("POST", "/interactions", {
        guildId: "1",
        channelId,
        userId: plainMember,
        commandName: "ping",
      })
      expect(unknownGuild.status).toBe(400)
      const recorded = yield* call<{ calls: Array<RestCall> }>("GET", "/rest?since=0")
      expect(recorded.body.calls.map((entry) => entry.route)).toContain(
        "POST /interactions/:interaction/:token/callback",
      )
      const events = client.dispatches.map((payload) => payload.t)
      expect(events).toContain("MESSAGE_CREATE")
      expect(events).toContain("VOICE_STATE_UPDATE")
      const message = client.dispatches.find((payload) => payload.t === "MESSAGE_CREATE")
      expect((message?.d as { id: string } | undefined)?.id).toBe("1456074448196099999")
    }),
  )
})
