import { describe, expect, it } from "@effect/vitest"
import { FastCheck, Option } from "effect"
import {
  type Award,
  bonus,
  explain,
  type GuildRules,
  type Invite,
  invite,
  makeRules,
  SkipReason,
  type TextMessage,
  textMessage,
  toDeltas,
  type Vote,
  voiceMinutes,
  vote,
  xpPerUnit,
} from "../src/Award"
import { parse } from "../src/Emoji"
import {
  defaultChannelSettings,
  defaultRoleSettings,
  defaults,
  type GuildSettings,
  type RoleSettings,
} from "../src/GuildSettings"
import { type Snowflake, unsafeMake } from "../src/Snowflake"

const guildId = unsafeMake("100000000000000000")
const channelId = unsafeMake("200000000000000000")
const threadId = unsafeMake("200000000000000001")
const categoryId = unsafeMake("200000000000000002")
const alice = unsafeMake("300000000000000001")
const bob = unsafeMake("300000000000000002")
const roleA = unsafeMake("400000000000000001")
const roleB = unsafeMake("400000000000000002")
const voiceRole = unsafeMake("400000000000000003")
const mutedRole = unsafeMake("400000000000000004")
const plainRole = unsafeMake("400000000000000005")

const T = Date.UTC(2026, 11, 3, 12)
const SECOND = 1000

const role = (roleId: Snowflake, fields: Partial<RoleSettings> = {}): RoleSettings => ({
  ...defaultRoleSettings(roleId),
  ...fields,
})

const rules = (settings: Partial<GuildSettings> = {}): GuildRules =>
  makeRules({
    guildId,
    settings: { ...defaults, ...settings },
    roles: [
      role(roleA, { xpPerTextMessage: 10, xpPerVote: 50, xpPerInvite: 500 }),
      role(roleB, { xpPerTextMessage: 4 }),
      role(voiceRole, { xpPerVoiceMinute: 5 }),
      role(mutedRole, { noXp: true }),
      role(guildId, { xpPerTextMessage: 20 }),
    ],
    channels: [{ ...defaultChannelSettings(channelId) }],
  })

const message = (fields: Partial<TextMessage> = {}): TextMessage => ({
  messageType: 0,
  channelId,
  channelType: 0,
  parentId: null,
  categoryId: null,
  authorBot: false,
  memberRoleIds: [],
  sentAt: T,
  lastCountedAt: null,
  ...fields,
})

const counted = (award: Award) => {
  if (award._tag !== "Counted") throw new Error(`expected Counted, got ${explain(award.reason)}`)
  return award
}
const reasonOf = (award: Award) => (award._tag === "Skipped" ? award.reason._tag : "Counted")

describe("text messages: what counts (§3.2)", () => {
  it("a default message in a text channel earns the guild's 6 XP and one text message", () => {
    expect(textMessage(rules(), message())).toEqual(
      expect.objectContaining({
        _tag: "Counted",
        statistic: "textMessages",
        amount: 1,
        baseXp: 6,
        bonus: 0,
        xp: 6,
        channelId,
      }),
    )
  })

  it("replies (type 19) count; other types (joins, pins, boosts) are system messages", () => {
    expect(reasonOf(textMessage(rules(), message({ messageType: 19 })))).toBe("Counted")
    for (const messageType of [6, 7, 8, 18, 20, 46]) {
      expect(reasonOf(textMessage(rules(), message({ messageType })))).toBe("SystemMessage")
    }
    expect(reasonOf(textMessage(rules(), message({ authorSystem: true })))).toBe("SystemMessage")
  })

  it("bots and webhooks never count", () => {
    expect(reasonOf(textMessage(rules(), message({ authorBot: true })))).toBe("BotAuthor")
  })

  it("text (0), announcement (5) and thread (10, 11, 12) channels count; voice, stage and forum chats do not", () => {
    for (const channelType of [0, 5]) {
      expect(reasonOf(textMessage(rules(), message({ channelType })))).toBe("Counted")
    }
    for (const channelType of [10, 11, 12]) {
      expect(
        reasonOf(
          textMessage(rules(), message({ channelType, channelId: threadId, parentId: channelId })),
        ),
      ).toBe("Counted")
    }
    for (const channelType of [1, 2, 3, 4, 13, 15, 16]) {
      expect(reasonOf(textMessage(rules(), message({ channelType })))).toBe("UncountedChannel")
    }
  })

  it("a thread counts for its parent channel", () => {
    const award = textMessage(
      rules(),
      message({ channelType: 11, channelId: threadId, parentId: channelId }),
    )
    expect(counted(award).channelId).toBe(channelId)
  })

  it("text XP turned off skips every message", () => {
    expect(reasonOf(textMessage(rules({ textXp: false }), message()))).toBe("SourceDisabled")
  })
})

describe("text messages: no-XP channels, categories and roles", () => {
  const noXp = (ids: ReadonlyArray<Snowflake>) =>
    makeRules({
      guildId,
      settings: defaults,
      roles: [role(mutedRole, { noXp: true })],
      channels: ids.map((id) => ({ channelId: id, noXp: true })),
    })

  it("a no-XP channel gives nothing", () => {
    expect(textMessage(noXp([channelId]), message())).toEqual(
      expect.objectContaining({ reason: SkipReason.NoXpChannel({ channelId }) }),
    )
  })

  it("a thread of a no-XP channel gives nothing", () => {
    const award = textMessage(
      noXp([channelId]),
      message({ channelType: 11, channelId: threadId, parentId: channelId }),
    )
    expect(reasonOf(award)).toBe("NoXpChannel")
  })

  it("a channel in a no-XP category gives nothing (the category of the thread's parent)", () => {
    expect(reasonOf(textMessage(noXp([categoryId]), message({ categoryId })))).toBe("NoXpCategory")
    expect(
      reasonOf(
        textMessage(
          noXp([categoryId]),
          message({ channelType: 11, channelId: threadId, parentId: channelId, categoryId }),
        ),
      ),
    ).toBe("NoXpCategory")
  })

  it("a member holding a no-XP role earns nothing, whatever their other roles", () => {
    const award = textMessage(rules(), message({ memberRoleIds: [roleA, mutedRole] }))
    expect(award).toEqual(
      expect.objectContaining({
        reason: SkipReason.NoXpRole({ roleId: mutedRole, holder: "author" }),
      }),
    )
  })
})

describe("text messages: cooldown from the last counted message, by the messages' own times", () => {
  const withCooldown = rules({ textMessageCooldownSeconds: 60 })

  it("a message 59 s after the last counted one is skipped with 1 s remaining; at 60 s it counts", () => {
    const early = textMessage(withCooldown, message({ lastCountedAt: T, sentAt: T + 59 * SECOND }))
    expect(early).toEqual(
      expect.objectContaining({
        reason: SkipReason.MessageCooldown({ cooldownSeconds: 60, remainingMillis: SECOND }),
      }),
    )
    expect(
      reasonOf(textMessage(withCooldown, message({ lastCountedAt: T, sentAt: T + 60 * SECOND }))),
    ).toBe("Counted")
  })

  it("skipped messages do not restart the cooldown: 0, 30, 61, 90, 125 s count at 0, 61 and 125", () => {
    let lastCountedAt: number | null = null
    const countedAt: Array<number> = []
    for (const seconds of [0, 30, 61, 90, 125]) {
      const sentAt = T + seconds * SECOND
      if (textMessage(withCooldown, message({ sentAt, lastCountedAt }))._tag === "Counted") {
        countedAt.push(seconds)
        lastCountedAt = sentAt
      }
    }
    expect(countedAt).toEqual([0, 61, 125])
  })

  it("a late-arriving older message within the cooldown is skipped too", () => {
    const late = textMessage(withCooldown, message({ lastCountedAt: T, sentAt: T - 10 * SECOND }))
    expect(reasonOf(late)).toBe("MessageCooldown")
  })

  it("with cooldown 0 every message counts, even at the same instant", () => {
    expect(reasonOf(textMessage(rules(), message({ lastCountedAt: T, sentAt: T })))).toBe("Counted")
  })

  it.prop(
    "counted messages are at least the cooldown apart and each skipped one is within it of the last counted",
    [
      FastCheck.integer({ min: 0, max: 120 }),
      FastCheck.array(FastCheck.integer({ min: 0, max: 600_000 }), { maxLength: 40 }),
    ],
    ([cooldownSeconds, offsets]) => {
      const settings = rules({ textMessageCooldownSeconds: cooldownSeconds })
      let lastCountedAt: number | null = null
      for (const offset of [...offsets].sort((a, b) => a - b)) {
        const sentAt = T + offset
        const award = textMessage(settings, message({ sentAt, lastCountedAt }))
        if (award._tag === "Counted") {
          if (lastCountedAt !== null)
            expect(sentAt - lastCountedAt).toBeGreaterThanOrEqual(cooldownSeconds * SECOND)
          lastCountedAt = sentAt
        } else {
          expect(lastCountedAt).not.toBeNull()
          expect(sentAt - lastCountedAt!).toBeLessThan(cooldownSeconds * SECOND)
        }
      }
    },
  )
})

describe("role overrides (§2.4)", () => {
  it("guild 6/msg; roles A=10 and B=4: A+B gets 10, only B gets 4, a voice-only override gets 6", () => {
    const settings = rules()
    expect(counted(textMessage(settings, message({ memberRoleIds: [roleA, roleB] }))).xp).toBe(10)
    expect(counted(textMessage(settings, message({ memberRoleIds: [roleB] }))).xp).toBe(4)
    expect(counted(textMessage(settings, message({ memberRoleIds: [voiceRole] }))).xp).toBe(6)
    expect(xpPerUnit(settings, [voiceRole], "xpPerVoiceMinute")).toBe(5)
  })

  it("@everyone (role id = guild id) never overrides", () => {
    expect(xpPerUnit(rules(), [guildId], "xpPerTextMessage")).toBe(6)
    expect(xpPerUnit(rules(), [guildId, roleB], "xpPerTextMessage")).toBe(4)
  })

  it.prop(
    "the order of a member's roles does not matter",
    [FastCheck.shuffledSubarray([roleA, roleB, voiceRole, plainRole, guildId])],
    ([roleIds]) => {
      const settings = rules()
      expect(xpPerUnit(settings, roleIds, "xpPerTextMessage")).toBe(
        xpPerUnit(settings, [...roleIds].reverse(), "xpPerTextMessage"),
      )
    },
  )

  it.prop(
    "roles without an override for the key change nothing",
    [FastCheck.shuffledSubarray([roleA, roleB, voiceRole])],
    ([roleIds]) => {
      const settings = rules()
      expect(xpPerUnit(settings, [...roleIds, plainRole, voiceRole], "xpPerTextMessage")).toBe(
        xpPerUnit(settings, roleIds, "xpPerTextMessage"),
      )
    },
  )
})

describe("bonus time (§2.3)", () => {
  const during = { bonusUntil: Math.floor(T / 1000) + 3600 }

  it("one message during bonus time: text message +1, XP +6, bonus +6, XP +6 = 12 XP", () => {
    expect(counted(textMessage(rules(during), message()))).toMatchObject({
      amount: 1,
      baseXp: 6,
      bonus: 6,
      xp: 12,
    })
  })

  it("the bonus-time extra ignores role overrides", () => {
    expect(counted(textMessage(rules(during), message({ memberRoleIds: [roleA] })))).toMatchObject({
      baseXp: 10,
      bonus: 6,
      xp: 16,
    })
  })

  it("bonus time ends at bonusUntil: a message at that second gets no extra", () => {
    const award = textMessage(rules({ bonusUntil: T / 1000 }), message())
    expect(counted(award).bonus).toBe(0)
  })

  it("the extra is worth xpPerBonus XP per point", () => {
    expect(counted(textMessage(rules({ ...during, xpPerBonus: 2 }), message())).xp).toBe(6 + 12)
  })

  it("a vote during bonus time adds bonusPerVote (30) points and as much XP", () => {
    expect(counted(vote(rules(during), commandVote()))).toMatchObject({
      baseXp: 30,
      bonus: 30,
      xp: 60,
    })
  })
})

describe("voice minutes (§2.3)", () => {
  const minutes = (settings: GuildRules, memberRoleIds: ReadonlyArray<Snowflake> = []) =>
    voiceMinutes(settings, { minutes: 4, memberRoleIds, channelId, at: T })

  it("4 minutes earn 4 × 3 XP in the voice channel, at a role's override when it has one", () => {
    expect(counted(minutes(rules()))).toMatchObject({
      statistic: "voiceMinutes",
      amount: 4,
      xp: 12,
      channelId,
    })
    expect(counted(minutes(rules(), [voiceRole])).xp).toBe(20)
  })

  it("during bonus time each minute adds bonusPerVoiceMinute (3) points", () => {
    const during = rules({ bonusUntil: Math.floor(T / 1000) + 60 })
    expect(counted(minutes(during))).toMatchObject({ baseXp: 12, bonus: 12, xp: 24 })
  })

  it("voice XP turned off gives nothing", () => {
    expect(minutes(rules({ voiceXp: false }))).toEqual(
      expect.objectContaining({ reason: SkipReason.SourceDisabled({ source: "voice" }) }),
    )
  })
})

const commandVote = (fields: Partial<Vote> = {}): Vote => ({
  via: "command",
  voterId: alice,
  voterBot: false,
  voterRoleIds: [],
  voterLastVoteAt: null,
  voterAllowsReactionVotes: true,
  targetId: bob,
  targetBot: false,
  targetRoleIds: [],
  at: T,
  ...fields,
})

const heart = Option.getOrThrow(parse("❤️"))
const reactionVote = (fields: Partial<Vote> = {}): Vote =>
  commandVote({ via: "reaction", reaction: { id: null, name: "❤" }, voteEmoji: heart, ...fields })

describe("votes (§3.5)", () => {
  it("a vote counts once (multiplier 1) at the target's rate: vote +1, XP +30", () => {
    expect(counted(vote(rules(), commandVote()))).toMatchObject({
      statistic: "votes",
      amount: 1,
      xp: 30,
      channelId: null,
    })
    expect(counted(vote(rules(), commandVote({ targetRoleIds: [roleA] }))).xp).toBe(50)
  })

  it("voting off, a bot target and voting for oneself are refused", () => {
    expect(reasonOf(vote(rules({ voteXp: false }), commandVote()))).toBe("SourceDisabled")
    expect(reasonOf(vote(rules(), commandVote({ targetBot: true })))).toBe("TargetIsBot")
    expect(reasonOf(vote(rules(), commandVote({ targetId: alice })))).toBe("SelfVote")
  })

  it("a target holding a no-XP role cannot receive votes", () => {
    expect(vote(rules(), commandVote({ targetRoleIds: [mutedRole] }))).toEqual(
      expect.objectContaining({
        reason: SkipReason.NoXpRole({ roleId: mutedRole, holder: "target" }),
      }),
    )
  })

  it("fixes ActivityRank §9.32: a voter holding a no-XP role cannot vote", () => {
    expect(vote(rules(), commandVote({ voterRoleIds: [mutedRole] }))).toEqual(
      expect.objectContaining({
        reason: SkipReason.NoXpRole({ roleId: mutedRole, holder: "voter" }),
      }),
    )
  })

  it("the voter's cooldown (1800 s) runs from their last vote", () => {
    const last = T - 1799 * SECOND
    expect(vote(rules(), commandVote({ voterLastVoteAt: last }))).toEqual(
      expect.objectContaining({
        reason: SkipReason.VoteCooldown({ availableAt: T + SECOND, remainingMillis: SECOND }),
      }),
    )
    expect(reasonOf(vote(rules(), commandVote({ voterLastVoteAt: T - 1800 * SECOND })))).toBe(
      "Counted",
    )
  })
})

describe("votes by reaction (§3.5)", () => {
  it("a ❤ reaction counts as a vote for ❤️ when the guild allows reaction votes", () => {
    expect(reasonOf(vote(rules({ reactionVote: true }), reactionVote()))).toBe("Counted")
  })

  it("reaction votes are off by default", () => {
    expect(reasonOf(vote(rules(), reactionVote()))).toBe("ReactionVotingDisabled")
  })

  it("another emoji is no vote", () => {
    const award = vote(
      rules({ reactionVote: true }),
      reactionVote({ reaction: { id: null, name: "💙" } }),
    )
    expect(reasonOf(award)).toBe("NotTheVoteEmoji")
  })

  it("a voter who turned reaction votes off, a bot voter and a bot author are refused", () => {
    const on = rules({ reactionVote: true })
    expect(reasonOf(vote(on, reactionVote({ voterAllowsReactionVotes: false })))).toBe(
      "VoterDisallowsReactionVotes",
    )
    expect(reasonOf(vote(on, reactionVote({ voterBot: true })))).toBe("VoterIsBot")
    expect(reasonOf(vote(on, reactionVote({ targetBot: true })))).toBe("TargetIsBot")
  })

  it("reacting to one's own message is no vote", () => {
    expect(reasonOf(vote(rules({ reactionVote: true }), reactionVote({ targetId: alice })))).toBe(
      "SelfVote",
    )
  })
})

const declaredInvite = (fields: Partial<Invite> = {}): Invite => ({
  memberId: alice,
  memberRoleIds: [],
  memberInviter: null,
  inviterId: bob,
  inviterBot: false,
  inviterRoleIds: [],
  inviterInviter: null,
  at: T,
  ...fields,
})

describe("invites (§3.4)", () => {
  it("both the member and the named inviter get one invite, each at their own rate", () => {
    const decision = invite(rules(), declaredInvite({ inviterRoleIds: [roleA] }))
    expect(decision._tag).toBe("Counted")
    if (decision._tag === "Counted") {
      expect(counted(decision.inviter)).toMatchObject({ statistic: "invites", amount: 1, xp: 500 })
      expect(counted(decision.member)).toMatchObject({ statistic: "invites", amount: 1, xp: 300 })
    }
  })

  it("invites off, naming oneself, a second inviter, a bot and a two-member cycle are refused", () => {
    const reason = (settings: GuildRules, input: Invite) => {
      const decision = invite(settings, input)
      return decision._tag === "Skipped" ? decision.reason._tag : "Counted"
    }
    expect(reason(rules({ inviteXp: false }), declaredInvite())).toBe("SourceDisabled")
    expect(reason(rules(), declaredInvite({ inviterId: alice }))).toBe("SelfInvite")
    expect(reason(rules(), declaredInvite({ memberInviter: bob }))).toBe("InviterAlreadySet")
    expect(reason(rules(), declaredInvite({ inviterBot: true }))).toBe("TargetIsBot")
    expect(reason(rules(), declaredInvite({ inviterInviter: alice }))).toBe("InviteCycle")
    expect(reason(rules(), declaredInvite({ inviterRoleIds: [mutedRole] }))).toBe("NoXpRole")
  })

  it("fixes ActivityRank §9.32: a member holding a no-XP role gets no invite XP, the inviter still does", () => {
    const decision = invite(rules(), declaredInvite({ memberRoleIds: [mutedRole] }))
    expect(decision._tag).toBe("Counted")
    if (decision._tag === "Counted") {
      expect(counted(decision.inviter).xp).toBe(300)
      expect(reasonOf(decision.member)).toBe("NoXpRole")
    }
  })
})

describe("bonus (§3.6)", () => {
  it("a bonus of −50 takes 50 bonus points and 50 XP", () => {
    expect(counted(bonus(rules(), { targetBot: false, change: -50 }))).toMatchObject({
      statistic: "bonus",
      amount: -50,
      xp: -50,
      bonus: 0,
    })
  })

  it("a bonus gets no bonus-time extra and bots get no bonus", () => {
    const during = rules({ bonusUntil: Math.floor(T / 1000) + 3600 })
    expect(counted(bonus(during, { targetBot: false, change: 100 })).xp).toBe(100)
    expect(reasonOf(bonus(rules(), { targetBot: true, change: 100 }))).toBe("TargetIsBot")
  })
})

describe("awards become activity deltas", () => {
  const keys = { day: 20261203, week: 20261129, month: 202612, year: 2026 }

  it("a message during bonus time is a text message in its channel, 12 XP and 6 bonus", () => {
    const award = counted(textMessage(rules({ bonusUntil: T / 1000 + 60 }), message()))
    const deltas = toDeltas(award, { guildId, userId: alice, keys })
    expect(deltas.map((delta) => [delta.kind, delta.alltime, delta.channelId])).toEqual([
      ["textMessages", 1, channelId],
      ["xp", 12, null],
      ["bonus", 6, null],
    ])
    expect(deltas[0]!.day).toEqual({ key: 20261203, amount: 1 })
  })

  it("zero amounts are left out", () => {
    const award = counted(textMessage(rules({ xpPerTextMessage: 0 }), message()))
    expect(toDeltas(award, { guildId, userId: alice, keys }).map((delta) => delta.kind)).toEqual([
      "textMessages",
    ])
  })
})

describe("skip reasons read as sentences", () => {
  it("the cooldown says how long to wait", () => {
    expect(
      explain(SkipReason.MessageCooldown({ cooldownSeconds: 60, remainingMillis: 1500 })),
    ).toBe("Messages earn XP at most once every 1 minute; the next one counts in 2 seconds.")
    expect(
      explain(SkipReason.VoteCooldown({ availableAt: 0, remainingMillis: 90 * 60 * SECOND })),
    ).toBe("You can vote again in 1 hour 30 minutes.")
  })

  it("every reason has a sentence naming no internals", () => {
    const reasons: ReadonlyArray<SkipReason> = [
      SkipReason.BotAuthor(),
      SkipReason.SystemMessage({ messageType: 7 }),
      SkipReason.UncountedChannel({ channelType: 2 }),
      SkipReason.SourceDisabled({ source: "text" }),
      SkipReason.SourceDisabled({ source: "vote" }),
      SkipReason.SourceDisabled({ source: "invite" }),
      SkipReason.SourceDisabled({ source: "voice" }),
      SkipReason.ReactionVotingDisabled(),
      SkipReason.NoXpChannel({ channelId }),
      SkipReason.NoXpCategory({ categoryId }),
      SkipReason.NoXpRole({ roleId: mutedRole, holder: "voter" }),
      SkipReason.TargetIsBot(),
      SkipReason.VoterIsBot(),
      SkipReason.SelfVote(),
      SkipReason.NotTheVoteEmoji(),
      SkipReason.VoterDisallowsReactionVotes(),
      SkipReason.SelfInvite(),
      SkipReason.InviterAlreadySet({ inviterId: bob }),
      SkipReason.InviteCycle({ inviterId: bob }),
    ]
    for (const reason of reasons) {
      const sentence = explain(reason)
      expect(sentence, reason._tag).toMatch(/^[A-Z<].*\.$/)
      expect(sentence).not.toContain(reason._tag)
    }
    expect(explain(SkipReason.NoXpChannel({ channelId }))).toBe(`<#${channelId}> gives no XP.`)
  })
})
