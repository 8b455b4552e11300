import type { Data } from "effect"
import * as ActivityDelta from "./ActivityDelta"
import { type Emoji, matchesReaction, type ReactionEmoji } from "./Emoji"
import {
  type ChannelSettings,
  type GuildSettings,
  isBonusTime,
  type RoleSettings,
} from "./GuildSettings"
import type { PeriodKeys } from "./PeriodKey"
import type { Snowflake } from "./Snowflake"
import * as TaggedEnum from "./TaggedEnum"

/**
 * Award decisions (reference §2.3–§2.6, §3.2, §3.4–§3.6): whether an event counts and for how
 * much. Inputs are plain data and times are arguments; the result is `Counted` with the amounts
 * or `Skipped` with a reason that can be shown to users (`explain`).
 */

/** What a guild's rules are made of; build it once per settings change with `makeRules`. */
export interface GuildRules {
  readonly guildId: Snowflake
  readonly settings: GuildSettings
  readonly roles: ReadonlyMap<Snowflake, RoleSettings>
  readonly channels: ReadonlyMap<Snowflake, ChannelSettings>
}

export const makeRules = (input: {
  readonly guildId: Snowflake
  readonly settings: GuildSettings
  readonly roles?: Iterable<RoleSettings>
  readonly channels?: Iterable<ChannelSettings>
}): GuildRules => ({
  guildId: input.guildId,
  settings: input.settings,
  roles: new Map([...(input.roles ?? [])].map((role) => [role.roleId, role])),
  channels: new Map([...(input.channels ?? [])].map((channel) => [channel.channelId, channel])),
})

/** Whose role blocked an award: the author, a vote's target or voter, an invite's two sides. */
export type Holder = "author" | "target" | "voter" | "inviter" | "member"

export type SkipReason = Data.TaggedEnum<{
  BotAuthor: {}
  SystemMessage: { readonly messageType: number }
  UncountedChannel: { readonly channelType: number }
  SourceDisabled: { readonly source: "text" | "voice" | "invite" | "vote" }
  ReactionVotingDisabled: {}
  NoXpChannel: { readonly channelId: Snowflake }
  NoXpCategory: { readonly categoryId: Snowflake }
  NoXpRole: { readonly roleId: Snowflake; readonly holder: Holder }
  MessageCooldown: { readonly cooldownSeconds: number; readonly remainingMillis: number }
  VoteCooldown: { readonly availableAt: number; readonly remainingMillis: number }
  TargetIsBot: {}
  VoterIsBot: {}
  SelfVote: {}
  NotTheVoteEmoji: {}
  VoterDisallowsReactionVotes: {}
  SelfInvite: {}
  InviterAlreadySet: { readonly inviterId: Snowflake }
  InviteCycle: { readonly inviterId: Snowflake }
}>
export const SkipReason = TaggedEnum.taggedEnum<SkipReason>({
  BotAuthor: null,
  SystemMessage: null,
  UncountedChannel: null,
  SourceDisabled: null,
  ReactionVotingDisabled: null,
  NoXpChannel: null,
  NoXpCategory: null,
  NoXpRole: null,
  MessageCooldown: null,
  VoteCooldown: null,
  TargetIsBot: null,
  VoterIsBot: null,
  SelfVote: null,
  NotTheVoteEmoji: null,
  VoterDisallowsReactionVotes: null,
  SelfInvite: null,
  InviterAlreadySet: null,
  InviteCycle: null,
})

export type Award = Data.TaggedEnum<{
  Counted: {
    readonly statistic: ActivityDelta.Statistic
    /** Units of the statistic: 1 message, 1 invite, `multiplier` votes, the bonus change. */
    readonly amount: number
    /** XP for the statistic at the member's per-unit rate (role override or guild default). */
    readonly baseXp: number
    /** Bonus-time extra points (added to the bonus statistic); 0 outside bonus time. */
    readonly bonus: number
    /** All XP to add: `baseXp + bonus × xpPerBonus`. */
    readonly xp: number
    /** The effective channel for per-channel statistics (a thread's parent), else null. */
    readonly channelId: Snowflake | null
  }
  Skipped: { readonly reason: SkipReason }
}>
export const Award = TaggedEnum.taggedEnum<Award>({ Counted: null, Skipped: null })
export type Counted = Data.TaggedEnum.Value<Award, "Counted">

const skip = (reason: SkipReason): Award => Award.Skipped({ reason })

/** The four per-unit XP settings a role can override. */
export type XpKey = "xpPerTextMessage" | "xpPerVoiceMinute" | "xpPerVote" | "xpPerInvite"

const bonusKeys = {
  xpPerTextMessage: "bonusPerTextMessage",
  xpPerVoiceMinute: "bonusPerVoiceMinute",
  xpPerVote: "bonusPerVote",
  xpPerInvite: "bonusPerInvite",
} as const satisfies Record<XpKey, keyof GuildSettings>

/**
 * A member's XP per unit: the highest non-zero override among their roles, even when it is below
 * the guild default (a role can lower XP); else the guild default. `@everyone` (id = guild id)
 * never overrides.
 */
export const xpPerUnit = (
  rules: GuildRules,
  roleIds: ReadonlyArray<Snowflake>,
  key: XpKey,
): number => {
  let highest = 0
  for (const roleId of roleIds) {
    if (roleId === rules.guildId) continue
    const override = rules.roles.get(roleId)?.[key] ?? 0
    if (override > highest) highest = override
  }
  return highest > 0 ? highest : rules.settings[key]
}

/** The first of the roles that earns no XP, if any. */
export const noXpRole = (rules: GuildRules, roleIds: ReadonlyArray<Snowflake>): Snowflake | null =>
  roleIds.find((roleId) => rules.roles.get(roleId)?.noXp === true) ?? null

/**
 * The award for `amount` units at the member's rate, with the bonus-time extra (which ignores
 * role overrides) when bonus time is on at `at`.
 */
const counted = (
  rules: GuildRules,
  input: {
    readonly statistic: ActivityDelta.Statistic
    readonly key: XpKey
    readonly amount: number
    readonly roleIds: ReadonlyArray<Snowflake>
    readonly channelId: Snowflake | null
    readonly at: number
  },
): Award => {
  const { settings } = rules
  const baseXp = input.amount * xpPerUnit(rules, input.roleIds, input.key)
  const bonus = isBonusTime(settings, input.at) ? input.amount * settings[bonusKeys[input.key]] : 0
  return Award.Counted({
    statistic: input.statistic,
    amount: input.amount,
    baseXp,
    bonus,
    xp: baseXp + bonus * settings.xpPerBonus,
    channelId: input.channelId,
  })
}

// ---------------------------------------------------------------------------------------------
// Text messages (§3.2)

/** Discord message types that count: Default and Reply. */
export const countedMessageTypes: ReadonlySet<number> = new Set([0, 19])

/** Discord channel types of thread channels: AnnouncementThread, PublicThread, PrivateThread. */
export const threadChannelTypes: ReadonlySet<number> = new Set([10, 11, 12])

/** Channel types whose messages count: GuildText, GuildAnnouncement and the threads. */
export const countedChannelTypes: ReadonlySet<number> = new Set([0, 5, ...threadChannelTypes])

/** A text message and its times (see `TextMessageFields`). */
export interface TextMessage extends TextMessageFields {
  /** The message's own time (from its id), epoch milliseconds. */
  readonly sentAt: number
  /** When the member's last *counted* message was sent, if any. */
  readonly lastCountedAt: number | null
}

/** What of a text message decides its award. */
export interface TextMessageFields {
  readonly messageType: number
  /** The actual channel (the thread's id in a thread). */
  readonly channelId: Snowflake
  readonly channelType: number
  /** A thread's parent channel (forum and media posts: the forum), else null. */
  readonly parentId: Snowflake | null
  /** The category of the effective channel. */
  readonly categoryId: Snowflake | null
  /** Bots and webhooks. */
  readonly authorBot: boolean
  /** Discord's own system user. */
  readonly authorSystem?: boolean | undefined
  readonly memberRoleIds: ReadonlyArray<Snowflake>
}

/** The channel a message counts for: a thread counts for its parent. */
export const effectiveChannel = (message: {
  readonly channelId: Snowflake
  readonly channelType: number
  readonly parentId: Snowflake | null
}): Snowflake =>
  threadChannelTypes.has(message.channelType) && message.parentId !== null
    ? message.parentId
    : message.channelId

/**
 * Whether a text message counts and for how much. The cooldown is measured from the last counted
 * message by the messages' own times, in either direction (a late-arriving older message within
 * the cooldown is skipped too); the caller records the newer of the two times when it counts.
 */
export const textMessage = (rules: GuildRules, message: TextMessage): Award =>
  textMessageAt(rules, message, message.sentAt, message.lastCountedAt)

/**
 * `textMessage` with the times apart: the counter passes its message event as it is, with no
 * object made per message to carry the times.
 */
export const textMessageAt = (
  rules: GuildRules,
  message: TextMessageFields,
  sentAt: number,
  lastCountedAt: number | null,
): Award => {
  const { settings } = rules
  if (message.authorBot) return skip(SkipReason.BotAuthor())
  if (message.authorSystem === true || !countedMessageTypes.has(message.messageType)) {
    return skip(SkipReason.SystemMessage({ messageType: message.messageType }))
  }
  if (!settings.textXp) return skip(SkipReason.SourceDisabled({ source: "text" }))
  if (!countedChannelTypes.has(message.channelType)) {
    return skip(SkipReason.UncountedChannel({ channelType: message.channelType }))
  }

  const channelId = effectiveChannel(message)
  if (rules.channels.get(channelId)?.noXp === true) {
    return skip(SkipReason.NoXpChannel({ channelId }))
  }
  if (message.categoryId !== null && rules.channels.get(message.categoryId)?.noXp === true) {
    return skip(SkipReason.NoXpCategory({ categoryId: message.categoryId }))
  }
  const blockingRole = noXpRole(rules, message.memberRoleIds)
  if (blockingRole !== null)
    return skip(SkipReason.NoXpRole({ roleId: blockingRole, holder: "author" }))

  const cooldownMillis = settings.textMessageCooldownSeconds * 1000
  if (cooldownMillis > 0 && lastCountedAt !== null) {
    const since = Math.abs(sentAt - lastCountedAt)
    if (since < cooldownMillis) {
      return skip(
        SkipReason.MessageCooldown({
          cooldownSeconds: settings.textMessageCooldownSeconds,
          remainingMillis: cooldownMillis - since,
        }),
      )
    }
  }

  return counted(rules, {
    statistic: "textMessages",
    key: "xpPerTextMessage",
    amount: 1,
    roleIds: message.memberRoleIds,
    channelId,
    at: sentAt,
  })
}

// ---------------------------------------------------------------------------------------------
// Voice minutes (§2.3)

/**
 * The award for voice minutes already found eligible (muted, deafened, solo, AFK, no-XP channels
 * and roles are `VoiceAccounting`'s rules): the member's rate per minute and the bonus-time extra,
 * counted for the voice channel. Only the guild's voice switch is checked here.
 */
export const voiceMinutes = (
  rules: GuildRules,
  input: {
    readonly minutes: number
    readonly memberRoleIds: ReadonlyArray<Snowflake>
    readonly channelId: Snowflake
    readonly at: number
  },
): Award =>
  rules.settings.voiceXp
    ? counted(rules, {
        statistic: "voiceMinutes",
        key: "xpPerVoiceMinute",
        amount: input.minutes,
        roleIds: input.memberRoleIds,
        channelId: input.channelId,
        at: input.at,
      })
    : skip(SkipReason.SourceDisabled({ source: "voice" }))

// ---------------------------------------------------------------------------------------------
// Votes (§3.5, §2.5)

export interface Vote {
  /** `/upvote` and the Upvote context menu, or a reaction with the vote emoji. */
  readonly via: "command" | "reaction"
  readonly voterId: Snowflake
  readonly voterBot: boolean
  readonly voterRoleIds: ReadonlyArray<Snowflake>
  /** When the voter last voted in this guild, if ever. */
  readonly voterLastVoteAt: number | null
  /** The voter's member setting `reactionVote` (only consulted for reactions). */
  readonly voterAllowsReactionVotes: boolean
  readonly targetId: Snowflake
  readonly targetBot: boolean
  readonly targetRoleIds: ReadonlyArray<Snowflake>
  /** The reaction's emoji, for votes by reaction. */
  readonly reaction?: ReactionEmoji | undefined
  /** The guild's vote emoji, parsed (`Emoji.parse(settings.voteEmote)`), for votes by reaction. */
  readonly voteEmoji?: Emoji | undefined
  readonly at: number
}

/**
 * Whether a vote counts, for the target. The multiplier is 1 (Patreon and top.gg multipliers are
 * not carried over). Unlike ActivityRank, a voter holding a no-XP role cannot vote (§9.32).
 * When it counts, the caller records `at` as the voter's last vote.
 */
export const vote = (rules: GuildRules, input: Vote): Award => {
  const { settings } = rules
  if (!settings.voteXp) return skip(SkipReason.SourceDisabled({ source: "vote" }))
  if (input.via === "reaction") {
    if (!settings.reactionVote) return skip(SkipReason.ReactionVotingDisabled())
    if (
      input.reaction === undefined ||
      input.voteEmoji === undefined ||
      !matchesReaction(input.voteEmoji, input.reaction)
    ) {
      return skip(SkipReason.NotTheVoteEmoji())
    }
  }
  if (input.targetBot) return skip(SkipReason.TargetIsBot())
  if (input.voterBot) return skip(SkipReason.VoterIsBot())
  if (input.voterId === input.targetId) return skip(SkipReason.SelfVote())
  if (input.via === "reaction" && !input.voterAllowsReactionVotes) {
    return skip(SkipReason.VoterDisallowsReactionVotes())
  }

  const targetRole = noXpRole(rules, input.targetRoleIds)
  if (targetRole !== null)
    return skip(SkipReason.NoXpRole({ roleId: targetRole, holder: "target" }))
  const voterRole = noXpRole(rules, input.voterRoleIds)
  if (voterRole !== null) return skip(SkipReason.NoXpRole({ roleId: voterRole, holder: "voter" }))

  if (input.voterLastVoteAt !== null) {
    const availableAt = input.voterLastVoteAt + settings.voteCooldownSeconds * 1000
    if (availableAt > input.at) {
      return skip(SkipReason.VoteCooldown({ availableAt, remainingMillis: availableAt - input.at }))
    }
  }

  return counted(rules, {
    statistic: "votes",
    key: "xpPerVote",
    amount: voteMultiplier,
    roleIds: input.targetRoleIds,
    channelId: null,
    at: input.at,
  })
}

/** Votes count once each (ActivityRank's paid multipliers are not carried over). */
export const voteMultiplier = 1

// ---------------------------------------------------------------------------------------------
// Invites (§3.4)

export interface Invite {
  /** The member who names their inviter (`/inviter`). */
  readonly memberId: Snowflake
  readonly memberRoleIds: ReadonlyArray<Snowflake>
  /** Who the member already named, if anyone (it is set once). */
  readonly memberInviter: Snowflake | null
  readonly inviterId: Snowflake
  readonly inviterBot: boolean
  readonly inviterRoleIds: ReadonlyArray<Snowflake>
  /** Who the named inviter themselves named, if anyone. */
  readonly inviterInviter: Snowflake | null
  readonly at: number
}

export type InviteDecision = Data.TaggedEnum<{
  /** Both sides get one invite each, at their own rates; either side may still be skipped. */
  Counted: { readonly inviter: Award; readonly member: Award }
  Skipped: { readonly reason: SkipReason }
}>
export const InviteDecision = TaggedEnum.taggedEnum<InviteDecision>({
  Counted: null,
  Skipped: null,
})

/**
 * Whether a member may name `inviterId` as their inviter, and what both get. Unlike
 * ActivityRank, a member holding a no-XP role gets no invite XP themselves (§9.32); the inviter
 * still gets theirs.
 */
export const invite = (rules: GuildRules, input: Invite): InviteDecision => {
  const skipInvite = (reason: SkipReason) => InviteDecision.Skipped({ reason })
  if (!rules.settings.inviteXp) return skipInvite(SkipReason.SourceDisabled({ source: "invite" }))
  if (input.memberId === input.inviterId) return skipInvite(SkipReason.SelfInvite())
  if (input.memberInviter !== null) {
    return skipInvite(SkipReason.InviterAlreadySet({ inviterId: input.memberInviter }))
  }
  if (input.inviterBot) return skipInvite(SkipReason.TargetIsBot())
  if (input.inviterInviter === input.memberId) {
    return skipInvite(SkipReason.InviteCycle({ inviterId: input.inviterId }))
  }
  const inviterRole = noXpRole(rules, input.inviterRoleIds)
  if (inviterRole !== null) {
    return skipInvite(SkipReason.NoXpRole({ roleId: inviterRole, holder: "inviter" }))
  }

  const inviteOf = (roleIds: ReadonlyArray<Snowflake>) =>
    counted(rules, {
      statistic: "invites",
      key: "xpPerInvite",
      amount: 1,
      roleIds,
      channelId: null,
      at: input.at,
    })
  const memberRole = noXpRole(rules, input.memberRoleIds)
  return InviteDecision.Counted({
    inviter: inviteOf(input.inviterRoleIds),
    member:
      memberRole === null
        ? inviteOf(input.memberRoleIds)
        : skip(SkipReason.NoXpRole({ roleId: memberRole, holder: "member" })),
  })
}

// ---------------------------------------------------------------------------------------------
// Bonus (§3.6)

/**
 * An admin's bonus (`/bonus`, positive or negative): the bonus statistic and `change × xpPerBonus`
 * XP; no bonus-time extra and no role overrides. Only bots are refused.
 */
export const bonus = (
  rules: GuildRules,
  input: { readonly targetBot: boolean; readonly change: number },
): Award =>
  input.targetBot
    ? skip(SkipReason.TargetIsBot())
    : Award.Counted({
        statistic: "bonus",
        amount: input.change,
        baseXp: input.change * rules.settings.xpPerBonus,
        bonus: 0,
        xp: input.change * rules.settings.xpPerBonus,
        channelId: null,
      })

// ---------------------------------------------------------------------------------------------
// From an award to buffered deltas

/**
 * The activity deltas of a counted award for one member: the statistic, the XP and the bonus-time
 * extra (as the bonus statistic); zero amounts are left out.
 */
export const toDeltas = (
  award: Counted,
  member: { readonly guildId: Snowflake; readonly userId: Snowflake; readonly keys: PeriodKeys },
): Array<ActivityDelta.ActivityDelta> => {
  // Plain pushes: spreading `member` into each part cost microseconds per counted message.
  const deltas: Array<ActivityDelta.ActivityDelta> = []
  const add = (kind: ActivityDelta.DeltaKind, amount: number) => {
    if (amount === 0) return
    deltas.push(
      ActivityDelta.make({
        kind,
        guildId: member.guildId,
        userId: member.userId,
        channelId: award.channelId,
        amount,
        keys: member.keys,
      }),
    )
  }
  add(award.statistic, award.amount)
  add("xp", award.xp)
  add("bonus", award.bonus)
  return deltas
}

// ---------------------------------------------------------------------------------------------
// Reasons as sentences

const inWords = (millis: number): string => {
  const seconds = Math.ceil(millis / 1000)
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`
  const minutes = Math.ceil(seconds / 60)
  if (minutes < 60) return `${minutes} minute${minutes === 1 ? "" : "s"}`
  const hours = Math.floor(minutes / 60)
  const rest = minutes % 60
  const hoursText = `${hours} hour${hours === 1 ? "" : "s"}`
  return rest === 0 ? hoursText : `${hoursText} ${rest} minute${rest === 1 ? "" : "s"}`
}

const holderSentence: Record<Holder, string> = {
  author: "Members with that role earn no XP.",
  target: "That member has a role that earns no XP.",
  voter: "You have a role that earns no XP, so your votes do not count.",
  inviter: "That member has a role that earns no XP.",
  member: "You have a role that earns no XP, so you get no invite XP yourself.",
}

/** A sentence telling a user why something did not count. */
export const explain: (reason: SkipReason) => string = SkipReason.$match({
  BotAuthor: () => "Messages from bots and webhooks earn no XP.",
  SystemMessage: () => "System messages earn no XP.",
  UncountedChannel: () =>
    "Only messages in text and announcement channels and their threads earn XP.",
  SourceDisabled: ({ source }) =>
    ({
      text: "Text XP is turned off on this server.",
      voice: "Voice XP is turned off on this server.",
      vote: "Voting is turned off on this server.",
      invite: "Invites are turned off on this server.",
    })[source],
  ReactionVotingDisabled: () => "Voting by reaction is turned off on this server.",
  NoXpChannel: ({ channelId }) => `<#${channelId}> gives no XP.`,
  NoXpCategory: ({ categoryId }) => `Channels in the category <#${categoryId}> give no XP.`,
  NoXpRole: ({ roleId, holder }) => `<@&${roleId}>: ${holderSentence[holder]}`,
  MessageCooldown: ({ cooldownSeconds, remainingMillis }) =>
    `Messages earn XP at most once every ${inWords(cooldownSeconds * 1000)}; ` +
    `the next one counts in ${inWords(remainingMillis)}.`,
  VoteCooldown: ({ remainingMillis }) => `You can vote again in ${inWords(remainingMillis)}.`,
  TargetIsBot: () => "Bots take no part in XP.",
  VoterIsBot: () => "Bots cannot vote.",
  SelfVote: () => "You cannot vote for yourself.",
  NotTheVoteEmoji: () => "Only the server's vote emoji counts as a vote.",
  VoterDisallowsReactionVotes: () =>
    "Your reactions do not count as votes; you turned that off with /config-member.",
  SelfInvite: () => "You cannot name yourself as your inviter.",
  InviterAlreadySet: ({ inviterId }) =>
    `You already named <@${inviterId}> as your inviter; that cannot be changed.`,
  InviteCycle: ({ inviterId }) =>
    `<@${inviterId}> named you as their inviter, so you cannot name them as yours.`,
})
