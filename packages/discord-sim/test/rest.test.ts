import { DiscordAPIError, HTTPError, REST } from "@discordjs/rest"
import { describe, expect, it } from "@effect/vitest"
import { type APIChannel, type APIGuildMember, Routes } from "discord-api-types/v10"
import { Effect } from "effect"
import * as DiscordSim from "../src/DiscordSim"
import { connectClient, eventually } from "./support/client"
import { fixtureWorld } from "./support/fixture"

const world = fixtureWorld({ guilds: 1, messages: 0 })
const guild = world.guilds[0] as NonNullable<(typeof world.guilds)[0]>
const generalId = guild.channels?.[1]?.id as string
const categoryId = guild.channels?.[0]?.id as string
const member = guild.members?.[1]?.userId as string
const botAuthor = guild.members?.[7]?.userId as string
const level5 = guild.roles?.[0]?.id as string
const moderator = guild.roles?.[1]?.id as string

const restFor = (sim: DiscordSim.DiscordSim) =>
  new REST({ api: sim.apiUrl, version: "10", retries: 3 }).setToken(sim.token)

/** The Discord error a request fails with: `{ status, code }`. */
const failure = (request: () => Promise<unknown>) =>
  Effect.promise(async () => {
    try {
      await request()
      return { status: 0, code: 0 }
    } catch (cause) {
      if (cause instanceof DiscordAPIError) return { status: cause.status, code: cause.code }
      if (cause instanceof HTTPError) return { status: cause.status, code: -1 }
      throw cause
    }
  })

const withOverwrite = fixtureWorld({ guilds: 1, messages: 0 })

describe("REST validates like Discord", () => {
  it.scopedLive("unknown ids answer 404 with Discord's codes", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const rest = restFor(sim)
      const unknown = "1234567890123456789"
      expect(yield* failure(() => rest.get(Routes.channel(unknown)))).toEqual({
        status: 404,
        code: 10003,
      })
      expect(
        yield* failure(() =>
          rest.post(Routes.channelMessages(unknown), { body: { content: "x" } }),
        ),
      ).toEqual({ status: 404, code: 10003 })
      expect(yield* failure(() => rest.get(Routes.guildMember(guild.id, unknown)))).toEqual({
        status: 404,
        code: 10007,
      })
      expect(
        yield* failure(() => rest.put(Routes.guildMemberRole(guild.id, member, unknown))),
      ).toEqual({
        status: 404,
        code: 10011,
      })
      expect(yield* failure(() => rest.get(Routes.guildMember(unknown, member)))).toEqual({
        status: 404,
        code: 10004,
      })
    }),
  )

  it.scopedLive("bad message bodies answer 400: over 2000 characters, empty", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const rest = restFor(sim)
      const post = (body: unknown) => () => rest.post(Routes.channelMessages(generalId), { body })
      expect(yield* failure(post({ content: "x".repeat(2001) }))).toEqual({
        status: 400,
        code: 50035,
      })
      expect(yield* failure(post({ content: "" }))).toEqual({ status: 400, code: 50006 })
      expect(yield* failure(post({ content: "x".repeat(2000) }))).toEqual({ status: 0, code: 0 })
      expect(
        yield* failure(() =>
          rest.post(Routes.channelMessages(categoryId), { body: { content: "x" } }),
        ),
      ).toEqual({ status: 400, code: 50008 })
    }),
  )

  it.scopedLive("a role at or above the bot's highest role answers 403; below it works", () =>
    Effect.gen(function* () {
      // the bot's role sits at position 3: above "level 5" (1), below "moderator" (5)
      const sim = yield* DiscordSim.make({ world, botRolePosition: 3 })
      const rest = restFor(sim)
      const client = yield* connectClient(sim)
      expect(
        yield* failure(() => rest.put(Routes.guildMemberRole(guild.id, member, moderator))),
      ).toEqual({
        status: 403,
        code: 50013,
      })
      yield* Effect.promise(() => rest.put(Routes.guildMemberRole(guild.id, member, level5)))
      const after = (yield* Effect.promise(() =>
        rest.get(Routes.guildMember(guild.id, member)),
      )) as APIGuildMember
      expect(after.roles).toEqual([level5])
      yield* eventually(
        () =>
          client.dispatches.some(
            (payload) =>
              payload.t === "GUILD_MEMBER_UPDATE" &&
              payload.d.user.id === member &&
              payload.d.roles.includes(level5),
          ),
        5000,
        "GUILD_MEMBER_UPDATE with the role",
      )
      yield* Effect.promise(() => rest.delete(Routes.guildMemberRole(guild.id, member, level5)))
      const removed = (yield* Effect.promise(() =>
        rest.get(Routes.guildMember(guild.id, member)),
      )) as APIGuildMember
      expect(removed.roles).toEqual([])
    }),
  )

  it.scopedLive("a channel the bot cannot view answers 403 Missing Access", () =>
    Effect.gen(function* () {
      const hidden = {
        ...withOverwrite,
        guilds: withOverwrite.guilds.map((spec) => ({
          ...spec,
          channels: [
            ...(spec.channels ?? []),
            {
              id: "1456074448196075599",
              type: 0,
              name: "staff",
              permission_overwrites: [{ id: spec.id, type: 0 as const, allow: "0", deny: "1024" }],
            },
          ],
        })),
      }
      const sim = yield* DiscordSim.make({ world: hidden })
      const rest = restFor(sim)
      expect(yield* failure(() => rest.get(Routes.channel("1456074448196075599")))).toEqual({
        status: 403,
        code: 50001,
      })
      const visible = (yield* Effect.promise(() =>
        rest.get(Routes.channel(generalId)),
      )) as APIChannel
      expect(visible.id).toBe(generalId)
    }),
  )

  it.scopedLive("a DM channel opens for a user; messages to a bot answer 403 50007", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const rest = restFor(sim)
      const dm = (yield* Effect.promise(() =>
        rest.post(Routes.userChannels(), { body: { recipient_id: member } }),
      )) as { id: string; type: number; recipients: Array<{ id: string }> }
      expect(dm.type).toBe(1)
      expect(dm.recipients.map((user) => user.id)).toEqual([member])
      yield* Effect.promise(() =>
        rest.post(Routes.channelMessages(dm.id), { body: { content: "level 5!" } }),
      )
      const botDm = (yield* Effect.promise(() =>
        rest.post(Routes.userChannels(), { body: { recipient_id: botAuthor } }),
      )) as { id: string }
      expect(
        yield* failure(() =>
          rest.post(Routes.channelMessages(botDm.id), { body: { content: "x" } }),
        ),
      ).toEqual({ status: 403, code: 50007 })
    }),
  )

  it.scopedLive("bulk overwrite of commands validates names and returns ids", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const rest = restFor(sim)
      expect(
        yield* failure(() =>
          rest.put(Routes.applicationCommands(sim.applicationId), {
            body: [{ name: "Rank", description: "x" }],
          }),
        ),
      ).toEqual({ status: 400, code: 50035 })
      const saved = (yield* Effect.promise(() =>
        rest.put(Routes.applicationCommands(sim.applicationId), {
          body: [
            { name: "rank", description: "Your rank" },
            { name: "top", description: "The leaderboard" },
          ],
        }),
      )) as Array<{ id: string; name: string; application_id: string }>
      expect(saved.map((command) => command.name)).toEqual(["rank", "top"])
      expect(saved.every((command) => command.application_id === sim.applicationId)).toBe(true)
      const guildSaved = (yield* Effect.promise(() =>
        rest.put(Routes.applicationGuildCommands(sim.applicationId, guild.id), {
          body: [{ name: "reset", description: "Reset" }],
        }),
      )) as Array<{ guild_id: string }>
      expect(guildSaved[0]?.guild_id).toBe(guild.id)
      expect(
        yield* failure(() =>
          rest.put(Routes.applicationGuildCommands(sim.applicationId, "1234567890123456789"), {
            body: [],
          }),
        ),
      ).toEqual({ status: 404, code: 10004 })
    }),
  )

  it.scopedLive("every response carries rate-limit headers; every call is recorded", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const response = yield* Effect.promise(() =>
        fetch(`${sim.apiUrl}/v10/channels/${generalId}`, {
          headers: { Authorization: `Bot ${sim.token}` },
        }),
      )
      for (const header of ["limit", "remaining", "reset", "reset-after", "bucket"]) {
        expect(response.headers.get(`x-ratelimit-${header}`)).not.toBeNull()
      }
      expect(response.headers.get("content-type")).toBe("application/json")
      const calls = yield* sim.restCalls
      expect(calls.map((call) => [call.route, call.status])).toEqual([
        ["GET /channels/:channel", 200],
      ])
      const unauthorized = yield* Effect.promise(() =>
        fetch(`${sim.apiUrl}/v10/channels/${generalId}`),
      )
      expect(unauthorized.status).toBe(401)
    }),
  )
})

describe("rate limits are honoured by @discordjs/rest", () => {
  it.scopedLive("a bucket of 2 per second: 5 messages arrive spread out, with no 429", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world, rateLimit: { limit: 2, windowMillis: 1000 } })
      const rest = restFor(sim)
      const started = Date.now()
      yield* Effect.promise(() =>
        Promise.all(
          Array.from({ length: 5 }, (_, index) =>
            rest.post(Routes.channelMessages(generalId), { body: { content: `m${index}` } }),
          ),
        ),
      )
      const calls = yield* sim.restCalls
      expect(calls.map((call) => call.status)).toEqual([200, 200, 200, 200, 200])
      const last = (calls[4]?.at ?? 0) - started
      expect(last).toBeGreaterThanOrEqual(1900)
    }),
  )

  it.scopedLive("a route 429 with Retry-After: the client waits, then retries", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const rest = restFor(sim)
      yield* sim.faults.rateLimit({
        route: "POST /channels/:channel/messages",
        retryAfterSeconds: 1,
      })
      yield* Effect.promise(() =>
        rest.post(Routes.channelMessages(generalId), { body: { content: "hi" } }),
      )
      const calls = yield* sim.restCalls
      expect(calls.map((call) => call.status)).toEqual([429, 200])
      expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(990)
    }),
  )

  it.scopedLive("a global 429 holds every route of the client until Retry-After passes", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const rest = restFor(sim)
      yield* sim.faults.rateLimit({ global: true, retryAfterSeconds: 1 })
      const first = rest.post(Routes.channelMessages(generalId), { body: { content: "a" } })
      yield* Effect.sleep("150 millis")
      const other = rest.get(Routes.guildMember(guild.id, member))
      yield* Effect.promise(() => Promise.all([first, other]))
      const calls = yield* sim.restCalls
      expect(calls[0]?.status).toBe(429)
      const later = calls.slice(1)
      expect(later.map((call) => call.status)).toEqual([200, 200])
      for (const call of later) {
        expect(call.at - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(990)
      }
    }),
  )

  it.scopedLive("5xx answers are retried by the client", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const rest = restFor(sim)
      yield* sim.faults.serverError({ status: 502, count: 2 })
      yield* Effect.promise(() => rest.get(Routes.channel(generalId)))
      const calls = yield* sim.restCalls
      expect(calls.map((call) => call.status)).toEqual([502, 502, 200])
    }),
  )
})
