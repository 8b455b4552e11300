import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import {
  ChannelSettings,
  defaultChannelSettings,
  defaultMemberSettings,
  defaultRoleSettings,
  defaults,
  GuildSettings,
  isBonusTime,
  RoleSettings,
  update,
  updateRole,
} from "../src/GuildSettings"
import { unsafeMake } from "../src/Snowflake"

const decodeGuild = Schema.decodeUnknownEither(GuildSettings)
const decodeRole = Schema.decodeUnknownEither(RoleSettings)
const roleId = unsafeMake("400000000000000004")

describe("guild settings: defaults (reference §1.1)", () => {
  it("decoding {} gives ActivityRank's defaults plus UTC and a Sunday week start", () => {
    expect(Schema.decodeSync(GuildSettings)({})).toEqual({
      voteTag: "likes",
      voteEmote: "❤️",
      bonusTag: "bonus",
      bonusEmote: "🏆",
      entriesPerPage: 12,
      showNicknames: false,
      textXp: true,
      voiceXp: true,
      inviteXp: true,
      voteXp: true,
      bonusXp: true,
      notifyLevelupDm: false,
      notifyLevelupCurrentChannel: false,
      notifyLevelupWithRole: true,
      takeAwayAssignedRolesOnLevelDown: false,
      levelFactor: 100,
      voteCooldownSeconds: 1800,
      textMessageCooldownSeconds: 0,
      xpPerVoiceMinute: 3,
      xpPerTextMessage: 6,
      xpPerVote: 30,
      xpPerInvite: 300,
      xpPerBonus: 1,
      bonusPerTextMessage: 6,
      bonusPerVoiceMinute: 3,
      bonusPerVote: 30,
      bonusPerInvite: 200,
      bonusUntil: 0,
      reactionVote: false,
      allowMutedXp: true,
      allowDeafenedXp: true,
      allowSoloXp: true,
      levelupChannelId: null,
      serverJoinChannelId: null,
      levelupMessage: "",
      serverJoinMessage: "",
      roleAssignMessage: "",
      roleDeassignMessage: "",
      resetDeletedMembers: false,
      stickyLevelRoles: true,
      timeZone: "UTC",
      weekStartsOn: 0,
      isBanned: false,
      addedAt: 0,
    })
  })

  it("defaults is the decoded empty record", () => {
    expect(defaults).toEqual(Schema.decodeSync(GuildSettings)({}))
  })

  it("role, channel and member settings have defaults too", () => {
    expect(defaultRoleSettings(roleId)).toEqual({
      roleId,
      assignLevel: 0,
      deassignLevel: 0,
      assignMessage: "",
      deassignMessage: "",
      xpPerVoiceMinute: 0,
      xpPerTextMessage: 0,
      xpPerVote: 0,
      xpPerInvite: 0,
      noXp: false,
    })
    expect(defaultChannelSettings(roleId)).toEqual({ channelId: roleId, noXp: false })
    expect(defaultMemberSettings).toEqual({
      notifyLevelupDm: true,
      reactionVote: true,
      inviter: null,
    })
  })
})

describe("guild settings: limits", () => {
  const limits = [
    ["xpPerTextMessage", 0, 10],
    ["xpPerVoiceMinute", 0, 5],
    ["xpPerInvite", 0, 1000],
    ["xpPerVote", 0, 100],
    ["levelFactor", 20, 400],
    ["textMessageCooldownSeconds", 0, 120],
    ["voteCooldownSeconds", 180, 86_400],
    ["entriesPerPage", 4, 20],
    ["bonusPerTextMessage", 0, 20],
    ["bonusPerVoiceMinute", 0, 10],
    ["bonusPerVote", 0, 200],
    ["bonusPerInvite", 0, 2000],
    ["weekStartsOn", 0, 6],
  ] as const

  for (const [field, minimum, maximum] of limits) {
    it(`${field} accepts ${minimum}..${maximum} and rejects ${minimum - 1}, ${maximum + 1} and fractions`, () => {
      expect(Either.isRight(decodeGuild({ [field]: minimum }))).toBe(true)
      expect(Either.isRight(decodeGuild({ [field]: maximum }))).toBe(true)
      expect(Either.isLeft(decodeGuild({ [field]: minimum - 1 }))).toBe(true)
      expect(Either.isLeft(decodeGuild({ [field]: maximum + 1 }))).toBe(true)
      expect(Either.isLeft(decodeGuild({ [field]: minimum + 0.5 }))).toBe(true)
    })
  }

  it("the time zone must be an IANA name", () => {
    expect(Either.getOrThrow(decodeGuild({ timeZone: "Europe/Berlin" })).timeZone).toBe(
      "Europe/Berlin",
    )
    expect(Either.isLeft(decodeGuild({ timeZone: "Mars/Olympus_Mons" }))).toBe(true)
  })

  it("level-up and join channels are snowflakes or null", () => {
    expect(Either.isRight(decodeGuild({ levelupChannelId: "123456789012345678" }))).toBe(true)
    expect(Either.isRight(decodeGuild({ serverJoinChannelId: null }))).toBe(true)
    expect(Either.isLeft(decodeGuild({ levelupChannelId: "0123" }))).toBe(true)
  })

  it("messages are limited to their column lengths", () => {
    expect(Either.isRight(decodeGuild({ levelupMessage: "x".repeat(2048) }))).toBe(true)
    expect(Either.isLeft(decodeGuild({ levelupMessage: "x".repeat(2049) }))).toBe(true)
    expect(Either.isLeft(decodeGuild({ voteTag: "x".repeat(57) }))).toBe(true)
  })

  it("booleans are booleans, not 0/1", () => {
    expect(Either.isLeft(decodeGuild({ textXp: 1 }))).toBe(true)
  })
})

describe("guild settings: vote emoji stored as Unicode", () => {
  it(":heart: is stored as ❤️ and custom emojis as <:name:id>", () => {
    expect(Either.getOrThrow(decodeGuild({ voteEmote: ":heart:" })).voteEmote).toBe("❤️")
    expect(
      Either.getOrThrow(decodeGuild({ bonusEmote: "a:Peek:854403361826275349" })).bonusEmote,
    ).toBe("<a:Peek:854403361826275349>")
  })

  it("text that is no emoji is rejected", () => {
    expect(Either.isLeft(decodeGuild({ voteEmote: "heartx" }))).toBe(true)
  })
})

describe("guild settings: update", () => {
  it("applies valid changes in stored form", () => {
    const updated = Either.getOrThrow(update(defaults, { levelFactor: 150, voteEmote: ":fire:" }))
    expect(updated).toEqual({ ...defaults, levelFactor: 150, voteEmote: "🔥" })
  })

  it("names the field and the reason of the first broken limit", () => {
    const error = Either.getLeft(update(defaults, { levelFactor: 401 }))
    expect(error._tag).toBe("Some")
    if (error._tag === "Some") {
      expect(error.value._tag).toBe("InvalidSettingsValue")
      expect(error.value.field).toBe("levelFactor")
      expect(error.value.reason).toContain("400")
    }
  })

  it("bonus time is on while bonusUntil (seconds) is after the instant (milliseconds)", () => {
    const settings = { ...defaults, bonusUntil: 1_000 }
    expect(isBonusTime(settings, 999_999)).toBe(true)
    expect(isBonusTime(settings, 1_000_000)).toBe(false)
    expect(isBonusTime(defaults, 0)).toBe(false)
  })

  it.prop(
    "encoding then decoding any valid settings gives them back",
    [GuildSettings],
    ([settings]) => {
      expect(Schema.decodeSync(GuildSettings)(Schema.encodeSync(GuildSettings)(settings))).toEqual(
        settings,
      )
    },
  )
})

describe("role settings: limits", () => {
  const caps = [
    ["xpPerVoiceMinute", 15],
    ["xpPerTextMessage", 30],
    ["xpPerVote", 300],
    ["xpPerInvite", 3000],
    ["assignLevel", 1000],
    ["deassignLevel", 1000],
  ] as const

  for (const [field, cap] of caps) {
    it(`${field} accepts 0..${cap} and rejects ${cap + 1} and −1`, () => {
      expect(Either.isRight(decodeRole({ roleId, [field]: cap }))).toBe(true)
      expect(Either.isLeft(decodeRole({ roleId, [field]: cap + 1 }))).toBe(true)
      expect(Either.isLeft(decodeRole({ roleId, [field]: -1 }))).toBe(true)
    })
  }

  it("a role assigned at or after its removal level is rejected when both are set", () => {
    expect(Either.isLeft(decodeRole({ roleId, assignLevel: 10, deassignLevel: 10 }))).toBe(true)
    expect(Either.isLeft(decodeRole({ roleId, assignLevel: 11, deassignLevel: 10 }))).toBe(true)
    expect(Either.isRight(decodeRole({ roleId, assignLevel: 5, deassignLevel: 10 }))).toBe(true)
    expect(Either.isRight(decodeRole({ roleId, assignLevel: 10, deassignLevel: 0 }))).toBe(true)
    expect(Either.isRight(decodeRole({ roleId, assignLevel: 0, deassignLevel: 3 }))).toBe(true)
  })

  it("updateRole reports the assign-before-deassign rule as a reason", () => {
    const role = { ...defaultRoleSettings(roleId), deassignLevel: 10 }
    const result = updateRole(role, { assignLevel: 12 })
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) expect(result.left.reason).toContain("before it is removed")
  })

  it("channel settings need a snowflake", () => {
    expect(Either.isLeft(Schema.decodeUnknownEither(ChannelSettings)({ channelId: "x" }))).toBe(
      true,
    )
  })
})
