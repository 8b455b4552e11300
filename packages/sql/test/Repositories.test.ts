import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { unsafeMake as id } from "@tally/domain/Snowflake"
import { Effect, Option } from "effect"
import * as Members from "../src/Members"
import * as Settings from "../src/Settings"
import * as Testing from "../src/testing"
import * as Users from "../src/Users"

const guildId = id("18446744073709551000")
const otherGuildId = id("900000000000000001")

layer(Testing.layerShard())("repositories", (it) => {
  describe("guild settings", () => {
    it.effect("the first read creates the row with the defaults", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const settings = yield* Settings.guild(guildId)
        expect(settings).toMatchObject({
          voteTag: "likes",
          voteEmote: "❤️",
          entriesPerPage: 12,
          textXp: true,
          showNicknames: false,
          levelFactor: 100,
          xpPerTextMessage: 6,
          levelupChannelId: null,
          timeZone: "UTC",
          weekStartsOn: 0,
          bonusUntil: 0,
        })
        const rows = yield* sql`SELECT guild_id FROM guild WHERE guild_id = ${guildId}`
        expect(rows).toEqual([{ guildId }])
      }),
    )

    it.effect("a change is read back, booleans and channel ids included", () =>
      Effect.gen(function* () {
        const levelupChannelId = id("18446744073709551615")
        const updated = yield* Settings.updateGuild(otherGuildId, {
          showNicknames: true,
          levelupChannelId,
          timeZone: "Europe/Berlin",
          bonusUntil: 1_900_000_000,
        })
        expect(updated).toMatchObject({
          showNicknames: true,
          levelupChannelId,
          timeZone: "Europe/Berlin",
          bonusUntil: 1_900_000_000,
          textXp: true,
        })
        expect(yield* Settings.guild(otherGuildId)).toEqual(updated)
      }),
    )
    it.effect("a value outside the domain's limits is refused and nothing is written", () =>
      Effect.gen(function* () {
        const before = yield* Settings.guild(otherGuildId)
        const refused = yield* Effect.flip(Settings.updateGuild(otherGuildId, { levelFactor: 5 }))
        expect(refused._tag).toBe("ParseError")
        expect(yield* Settings.guild(otherGuildId)).toEqual(before)
      }),
    )

    it.effect("emoji stored as a shortcode read back as the emoji", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const guild = id("31337")
        yield* sql`INSERT INTO guild (guild_id, vote_emote) VALUES (${guild}, ':fire:')`
        expect((yield* Settings.guild(guild)).voteEmote).toBe("🔥")
      }),
    )
  })

  describe("roles and channels", () => {
    it.effect("a role's settings are stored whole and replaced", () =>
      Effect.gen(function* () {
        const role: Settings.RoleSettings = {
          roleId: id("42"),
          assignLevel: 5,
          deassignLevel: 0,
          assignMessage: "welcome",
          deassignMessage: "",
          xpPerVoiceMinute: 0,
          xpPerTextMessage: 12,
          xpPerVote: 0,
          xpPerInvite: 0,
          noXp: false,
        }
        yield* Settings.putRole(guildId, role)
        yield* Settings.putRole(guildId, { ...role, assignLevel: 7, noXp: true })
        expect(yield* Settings.roles(guildId)).toEqual([{ ...role, assignLevel: 7, noXp: true }])
        yield* Settings.deleteRole(guildId, role.roleId)
        expect(yield* Settings.roles(guildId)).toEqual([])
      }),
    )

    it.effect("a channel's no-XP flag is stored and cleared", () =>
      Effect.gen(function* () {
        const channelId = id("9007199254740993")
        yield* Settings.putChannel(guildId, { channelId, noXp: true })
        expect(yield* Settings.channels(guildId)).toEqual([{ channelId, noXp: true }])
        yield* Settings.putChannel(guildId, { channelId, noXp: false })
        expect(yield* Settings.channels(guildId)).toEqual([{ channelId, noXp: false }])
      }),
    )
  })

  describe("members", () => {
    it.effect("member settings default until changed, and changing them keeps the XP", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const userId = id("1001")
        expect(yield* Settings.member(guildId, userId)).toEqual(Settings.defaultMemberSettings)
        yield* sql`INSERT INTO guild_member (guild_id, user_id, alltime) VALUES (${guildId}, ${userId}, 77)`
        yield* Settings.updateMember(guildId, userId, { notifyLevelupDm: false, inviter: id("5") })
        expect(yield* Settings.member(guildId, userId)).toEqual({
          notifyLevelupDm: false,
          reactionVote: true,
          inviter: "5",
        })
        const totals = yield* Members.loadTotals(guildId, [userId])
        expect(totals.get(userId)?.alltime).toBe(77)
      }),
    )

    it.effect("loadTotals reads many members at once and gives zero to members without a row", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const userIds = Array.from({ length: 2500 }, (_, i) => id(String(10_000 + i)))
        yield* sql`INSERT INTO guild_member ${sql.insert(
          userIds.slice(0, 2000).map((userId, i) => ({
            guildId: otherGuildId,
            userId,
            alltime: i,
            day: i,
            dayKey: 20261203,
          })),
        )}`
        const totals = yield* Members.loadTotals(otherGuildId, userIds)
        expect(totals.size).toBe(2500)
        expect(totals.get(id("11999"))).toMatchObject({
          alltime: 1999,
          day: { key: 20261203, amount: 1999 },
        })
        expect(totals.get(id("12499"))?.alltime).toBe(0)
      }),
    )

    it.effect("the totals resolver answers concurrent loads, none for a member without a row", () =>
      Effect.gen(function* () {
        const resolver = yield* Members.makeTotalsResolver
        const keys = [id("10005"), id("10006"), id("99999")].map((userId) =>
          Members.memberKey(otherGuildId, userId),
        )
        const found = yield* Effect.forEach(keys, resolver.execute, { batching: true })
        expect(found.map(Option.map((row) => row.alltime))).toEqual([
          Option.some(5),
          Option.some(6),
          Option.none(),
        ])
      }),
    )
  })

  describe("users", () => {
    it.effect("a user without a row has the defaults; changes are kept", () =>
      Effect.gen(function* () {
        const userId = id("18446744073709551614")
        expect(yield* Users.user(userId)).toEqual(Users.defaultUserSettings)
        yield* Users.updateUser(userId, { isBanned: true, patreonTier: 2 })
        yield* Users.updateUser(userId, { lastAskForPremiumAt: 1_800_000_000 })
        expect(yield* Users.user(userId)).toEqual({
          ...Users.defaultUserSettings,
          isBanned: true,
          patreonTier: 2,
          lastAskForPremiumAt: 1_800_000_000,
        })
      }),
    )
  })
})
