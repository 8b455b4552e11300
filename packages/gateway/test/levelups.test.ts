import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import type { RestCall } from "@tally/discord-sim/Rest"
import type { ChannelSpec } from "@tally/discord-sim/World"
import * as Award from "@tally/domain/Award"
import * as GuildSettings from "@tally/domain/GuildSettings"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Settings from "@tally/sql/Settings"
import { Effect } from "effect"
import { memberColumn, startStack } from "./levelupsStack"

// Guild "Levels": level roles, a level-up channel, bonus time (2,006 XP per message).
const levels = "320000000000000001" as Snowflake
const text = "320000000000000010"
const levelupChannel = "320000000000000011" as Snowflake
const moderator = "320000000000000020"
const verified = "320000000000000021"
const roleA = "320000000000000022" as Snowflake
const roleB = "320000000000000023" as Snowflake
const dangerous = "320000000000000024" as Snowflake
const tooHigh = "320000000000000025" as Snowflake
const ursula = "320000000000000101" as Snowflake
const walter = "320000000000000102" as Snowflake
const lena = "320000000000000103" as Snowflake

// Guild "Deleted": its level-up channel is deleted with Discord telling the gateway.
const deleted = "330000000000000001" as Snowflake
const deletedText = "330000000000000010"
const deletedChannel = "330000000000000011" as Snowflake
const zoe = "330000000000000101" as Snowflake

// Guild "Silent": its level-up channel vanishes without the gateway hearing of it.
const silent = "340000000000000001" as Snowflake
const silentText = "340000000000000010"
const silentChannel = "340000000000000011" as Snowflake
const yann = "340000000000000101" as Snowflake

// Guild "Forbidden": the bot may not send messages in its level-up channel.
const forbidden = "370000000000000001" as Snowflake
const forbiddenText = "370000000000000010"
const forbiddenChannel = "370000000000000011" as Snowflake
const fred = "370000000000000101" as Snowflake
const sendMessages = String(1n << 11n)

// Guilds "Updated" and "Behind": the bot loses its right to post in the level-up channel after
// the start, with CHANNEL_UPDATE (the gateway knows) or behind the gateway's back (Discord's 403).
const updated = "390000000000000001" as Snowflake
const updatedText = "390000000000000010"
const updatedChannel = "390000000000000011" as Snowflake
const rita = "390000000000000101" as Snowflake
const behind = "400000000000000001" as Snowflake
const behindText = "400000000000000010"
const behindChannel = "400000000000000011" as Snowflake
const rolf = "400000000000000101" as Snowflake

// Guild "Current": notices go to the member's current (last message) channel.
const current = "380000000000000001" as Snowflake
const chatChannel = "380000000000000010"
const memesChannel = "380000000000000011"
const kim = "380000000000000101" as Snowflake
const vic = "380000000000000102" as Snowflake

/** A guild with a text channel, a level-up channel (with `levelup`'s fields) and one member. */
const twoChannels = (
  id: string,
  name: string,
  textId: string,
  levelupId: string,
  [userId, username]: readonly [string, string],
  levelup: Partial<ChannelSpec> = {},
) => ({
  id,
  name,
  channels: [
    { id: textId, type: 0 },
    { id: levelupId, type: 0, ...levelup },
  ],
  members: [{ userId, username }],
})

const world = {
  guilds: [
    {
      id: levels,
      name: "Levels",
      channels: [
        { id: text, type: 0 },
        { id: levelupChannel, type: 0 },
      ],
      roles: [
        { id: moderator, name: "Moderator", position: 1 },
        { id: verified, name: "Verified", position: 2 },
        { id: roleA, name: "A", position: 3 },
        { id: roleB, name: "B", position: 4 },
        { id: dangerous, name: "Admins", position: 5, permissions: "8" },
        { id: tooHigh, name: "High", position: 20 },
      ],
      members: [
        { userId: ursula, username: "ursula", roles: [moderator, verified, roleA] },
        { userId: walter, username: "walter", roles: [moderator, roleA] },
        { userId: lena, username: "lena", roles: [roleB] },
      ],
    },
    twoChannels(deleted, "Deleted", deletedText, deletedChannel, [zoe, "zoe"]),
    twoChannels(silent, "Silent", silentText, silentChannel, [yann, "yann"]),
    twoChannels(forbidden, "Forbidden", forbiddenText, forbiddenChannel, [fred, "fred"], {
      permission_overwrites: [{ id: forbidden, type: 0 as const, allow: "0", deny: sendMessages }],
    }),
    twoChannels(updated, "Updated", updatedText, updatedChannel, [rita, "rita"]),
    twoChannels(behind, "Behind", behindText, behindChannel, [rolf, "rolf"]),
    {
      id: current,
      name: "Current",
      channels: [
        { id: chatChannel, type: 0 },
        { id: memesChannel, type: 0 },
      ],
      members: [
        { userId: kim, username: "kim" },
        { userId: vic, username: "vic" },
      ],
    },
  ],
}

const levelRole = (roleId: Snowflake, assignLevel: number, deassignLevel = 0) => ({
  ...GuildSettings.defaultRoleSettings(roleId),
  assignLevel,
  deassignLevel,
})

const storeXp = (guildId: Snowflake, userId: Snowflake, alltime: number) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`INSERT INTO guild_member ${sql.insert({ guildId, userId, alltime })}`,
  )

const notice = "<mention> reached level <level>"

const setup = Effect.gen(function* () {
  yield* Settings.updateGuild(levels, {
    levelupMessage: notice,
    levelupChannelId: levelupChannel,
    bonusUntil: Math.floor(Date.now() / 1000) + 3600,
    xpPerBonus: 100,
    bonusPerTextMessage: 20,
    takeAwayAssignedRolesOnLevelDown: true,
  })
  yield* Settings.putRole(levels, levelRole(roleA, 5, 10))
  yield* Settings.putRole(levels, levelRole(roleB, 10))
  yield* Settings.putRole(levels, levelRole(dangerous, 10))
  yield* Settings.putRole(levels, levelRole(tooHigh, 10))
  // Level 7; one message (2,006 XP) reaches level 10 exactly.
  yield* storeXp(levels, ursula, 3394)
  yield* storeXp(levels, walter, 3394)
  // Level 12.
  yield* storeXp(levels, lena, 7800)

  for (const [guildId, channelId, userId] of [
    [deleted, deletedChannel, zoe],
    [silent, silentChannel, yann],
    [forbidden, forbiddenChannel, fred],
    [updated, updatedChannel, rita],
    [behind, behindChannel, rolf],
  ] as const) {
    yield* Settings.updateGuild(guildId, {
      levelupMessage: notice,
      levelupChannelId: channelId,
      notifyLevelupDm: true,
    })
    // One message (6 XP) reaches level 10.
    yield* storeXp(guildId, userId, 5394)
  }

  yield* Settings.updateGuild(current, {
    levelupMessage: notice,
    notifyLevelupCurrentChannel: true,
    reactionVote: true,
  })
  // One message (6 XP) leaves Kim at level 9; a vote (30 XP) then reaches level 10.
  yield* storeXp(current, kim, 5390)
}) as Effect.Effect<void, unknown, SqlClient.SqlClient>

const message = (guildId: string, channelId: string, authorId: string, atMillis?: number) =>
  ({ type: "message", guildId, channelId, authorId, ...(atMillis ? { atMillis } : {}) }) as const

const calls = (all: ReadonlyArray<RestCall>, method: string, path: string) =>
  all.filter((call) => call.method === method && call.path === path)

const rolePath = (guildId: string, userId: string, roleId: string) =>
  `/guilds/${guildId}/members/${userId}/roles/${roleId}`

const noticeText = (call: RestCall) =>
  JSON.stringify((call.body as { components?: unknown }).components ?? [])

describe("level-ups through simulator, gateway and MariaDB", () => {
  it.scopedLive(
    "a member reaching level 10 gets B and loses only A, one role at a time; roles the bot cannot give are skipped with one warning each; three messages crossing thresholds at once make one notice and one role change",
    () =>
      Effect.gen(function* () {
        const stack = yield* startStack({ world, setup, botRolePosition: 10 })
        const at = Date.now()
        yield* stack.injectAll([
          message(levels, text, ursula),
          // Three messages in the same instant: levels 10, 11 and 13 in a row.
          message(levels, text, walter, at),
          message(levels, text, walter, at),
          message(levels, text, walter, at),
        ])
        yield* stack.settle
        const rest = yield* stack.sim.restCalls
        const guild = stack.sim.world.guilds.get(levels)!

        // Ursula (Moderator, Verified, A) at level 10: gets B, loses only A.
        expect(guild.members.get(ursula)!.roles.toSorted()).toEqual(
          [moderator, verified, roleB].toSorted(),
        )
        expect(calls(rest, "PUT", rolePath(levels, ursula, roleB))).toHaveLength(1)
        expect(calls(rest, "DELETE", rolePath(levels, ursula, roleA))).toHaveLength(1)
        const touched = rest.filter((call) =>
          call.path.startsWith(`/guilds/${levels}/members/${ursula}/roles/`),
        )
        expect(touched).toHaveLength(2)

        // Walter: one job from level 7 to 13, so one role change and one notice.
        expect(calls(rest, "PUT", rolePath(levels, walter, roleB))).toHaveLength(1)
        expect(calls(rest, "DELETE", rolePath(levels, walter, roleA))).toHaveLength(1)
        const notices = calls(rest, "POST", `/channels/${levelupChannel}/messages`).filter((call) =>
          noticeText(call).includes("reached level"),
        )
        expect(notices.map(noticeText).join()).toContain(`<@${ursula}> reached level 10`)
        expect(notices.map(noticeText).join()).toContain(`<@${walter}> reached level 13`)
        expect(notices).toHaveLength(2)
        for (const call of notices) {
          const mentions = (call.body as { allowed_mentions: { users: Array<string> } })
            .allowed_mentions
          expect(mentions.users).toHaveLength(1)
          expect([ursula, walter]).toContain(mentions.users[0])
        }

        // The dangerous and the too-high role: skipped, warned once each for both members.
        const warnings = rest.filter(
          (call) =>
            call.method === "POST" &&
            typeof (call.body as { content?: unknown }).content === "string" &&
            String((call.body as { content: string }).content).startsWith("⚠️"),
        )
        expect(warnings).toHaveLength(2)
        const warned = warnings.map((call) => (call.body as { content: string }).content)
        expect(warned.filter((content) => content.includes(`<@&${dangerous}>`))).toHaveLength(1)
        expect(warned.filter((content) => content.includes(`<@&${tooHigh}>`))).toHaveLength(1)
        expect(rest.some((call) => call.path.endsWith(`/roles/${dangerous}`))).toBe(false)
        expect(rest.some((call) => call.path.endsWith(`/roles/${tooHigh}`))).toBe(false)

        const xp = yield* stack.query(memberColumn("guild_member", levels))
        expect(xp.get(walter)).toBe(3394 + 3 * 2006)
      }),
  )

  it.scopedLive(
    "a deleted or forbidden level-up channel crashes nothing: the notice falls back to a direct message",
    () =>
      Effect.gen(function* () {
        const stack = yield* startStack({ world, setup })
        // Deleted with CHANNEL_DELETE (the gateway knows) …
        yield* stack.injectAll([
          { type: "channelDelete", guildId: deleted, channelId: deletedChannel },
        ])
        // … and deleted behind the gateway's back (Discord answers 404).
        const silentGuild = stack.sim.world.guilds.get(silent)!
        silentGuild.channels.delete(silentChannel)
        stack.sim.world.channels.delete(silentChannel)
        // Sending withdrawn from @everyone with CHANNEL_UPDATE (the gateway knows) …
        const denySending = { id: updated, type: 0 as const, allow: "0", deny: sendMessages }
        yield* stack.injectAll([
          {
            type: "channelUpdate",
            guildId: updated,
            channel: { id: updatedChannel, type: 0, permission_overwrites: [denySending] },
          },
        ])
        // … and behind the gateway's back (Discord answers 403).
        stack.sim.world.guilds
          .get(behind)!
          .channels.get(behindChannel)!
          .overwrites.push({ ...denySending, id: behind })

        yield* stack.injectAll([
          message(deleted, deletedText, zoe),
          message(silent, silentText, yann),
          message(forbidden, forbiddenText, fred),
          message(updated, updatedText, rita),
          message(behind, behindText, rolf),
        ])
        yield* stack.settle
        const rest = yield* stack.sim.restCalls

        // What the gateway knows it does not try: a deleted channel, and one the bot may not
        // post in (from GUILD_CREATE's overwrites, or a CHANNEL_UPDATE's).
        for (const known of [deletedChannel, forbiddenChannel, updatedChannel]) {
          expect(calls(rest, "POST", `/channels/${known}/messages`)).toHaveLength(0)
        }
        const refused = calls(rest, "POST", `/channels/${silentChannel}/messages`)
        expect(refused.map((call) => call.status)).toEqual([404])
        const denied = calls(rest, "POST", `/channels/${behindChannel}/messages`)
        expect(denied.map((call) => call.status)).toEqual([403])
        const opened = calls(rest, "POST", "/users/@me/channels")
        expect(
          opened.map((call) => (call.body as { recipient_id: string }).recipient_id).toSorted(),
        ).toEqual([zoe, yann, fred, rita, rolf].toSorted())
        const dms = opened.map((call) => (call.response as { id: string }).id)
        for (const [dm, userId] of dms.map((dm, index) => [dm, opened[index]!] as const)) {
          const posted = calls(rest, "POST", `/channels/${dm}/messages`)
          expect(posted.map((call) => call.status)).toEqual([200])
          const recipient = (userId.body as { recipient_id: string }).recipient_id
          expect(noticeText(posted[0]!)).toContain(`<@${recipient}> reached level 10`)
        }

        // Counting goes on.
        yield* stack.injectAll([message(deleted, deletedText, zoe)])
        yield* stack.settle
        const messages = yield* stack.query(memberColumn("text_message_member", deleted))
        expect(messages.get(zoe)).toBe(2)
      }),
  )

  it.scopedLive(
    "a level-down (negative bonus) takes away the level role above the new level, gives back the one for it (retried after a 429), and posts no notice",
    () =>
      Effect.gen(function* () {
        const stack = yield* startStack({ world, setup, botRolePosition: 10 })
        // Discord limits the first role change: @discordjs/rest waits and sends it again.
        yield* stack.sim.faults.rateLimit({
          route: "PUT /guilds/:guild/members/:user/roles/:role",
          retryAfterSeconds: 1,
          count: 1,
        })
        const context = yield* stack.contexts.load(levels)
        // −55 bonus at 100 XP each: from level 12 (7,800 XP) to level 6 (2,300 XP).
        const award = Award.bonus(context, { targetBot: false, change: -55 })
        if (award._tag !== "Counted") throw new Error("a bonus for a member counts")
        yield* stack.accrual.accrue({
          dbShardId: context.dbShardId,
          guildId: levels,
          userId: lena,
          award,
          at: Date.now(),
          settings: context.settings,
        })
        yield* stack.settle
        const rest = yield* stack.sim.restCalls

        expect(stack.sim.world.guilds.get(levels)!.members.get(lena)!.roles).toEqual([roleA])
        expect(
          calls(rest, "PUT", rolePath(levels, lena, roleA)).map((call) => call.status),
        ).toEqual([429, 204])
        expect(calls(rest, "DELETE", rolePath(levels, lena, roleB))).toHaveLength(1)
        expect(rest.filter((call) => call.method === "POST")).toEqual([])
        expect((yield* stack.query(memberColumn("guild_member", levels))).get(lena)).toBe(2300)
      }),
  )

  it.scopedLive("a level-up by a vote is announced in the channel the member last wrote in", () =>
    Effect.gen(function* () {
      const stack = yield* startStack({ world, setup })
      yield* stack.injectAll([message(current, chatChannel, kim)])
      yield* stack.settle
      yield* stack.injectAll([
        {
          type: "reactionAdd",
          guildId: current,
          channelId: memesChannel,
          messageId: "380000000000001001",
          userId: vic,
          emoji: { id: null, name: "❤️" },
          messageAuthorId: kim,
        },
      ])
      yield* stack.settle
      const rest = yield* stack.sim.restCalls

      const posted = calls(rest, "POST", `/channels/${chatChannel}/messages`)
      expect(posted.map(noticeText).join()).toContain(`<@${kim}> reached level 10`)
      expect(calls(rest, "POST", `/channels/${memesChannel}/messages`)).toEqual([])
      expect((yield* stack.query(memberColumn("guild_member", current))).get(kim)).toBe(5426)
    }),
  )
})
