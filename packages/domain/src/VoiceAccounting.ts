/**
 * Voice minutes from exact sessions: every voice-state change is applied at the instant it
 * happened, each member's eligible time is summed in milliseconds, and whole minutes are credited
 * to the channel they were spent in, the sub-minute remainder carried per member (also across
 * sessions). Pure: times are epoch milliseconds passed in by the caller.
 */
import type { Data } from "effect"
import type { GuildSettings } from "./GuildSettings"
import type { Snowflake } from "./Snowflake"
import * as TaggedEnum from "./TaggedEnum"

export const MINUTE_MILLIS = 60_000

/** The guild settings voice accounting reads; a whole `GuildSettings` will do. */
export type VoiceSettings = Pick<
  GuildSettings,
  "voiceXp" | "allowMutedXp" | "allowDeafenedXp" | "allowSoloXp"
>

/** What decides eligibility besides the members themselves; passed with every call. */
export interface VoiceContext {
  readonly settings: VoiceSettings
  readonly afkChannelId: Snowflake | null
  /** Whether a channel gives no XP, itself or through its category. */
  readonly isNoXpChannel: (channelId: Snowflake) => boolean
  readonly isNoXpRole: (roleId: Snowflake) => boolean
}

/** A context from plain collections: a channel is no-XP when it or its parent category is listed. */
export const makeContext = (options: {
  readonly settings: VoiceSettings
  readonly afkChannelId?: Snowflake | null
  readonly noXpChannelIds?: Iterable<Snowflake>
  readonly noXpRoleIds?: Iterable<Snowflake>
  /** Channel → its category. */
  readonly parentIds?: ReadonlyMap<Snowflake, Snowflake>
}): VoiceContext => {
  const noXpChannelIds = new Set(options.noXpChannelIds ?? [])
  const noXpRoleIds = new Set(options.noXpRoleIds ?? [])
  const parentIds = options.parentIds ?? new Map<Snowflake, Snowflake>()
  return {
    settings: options.settings,
    afkChannelId: options.afkChannelId ?? null,
    isNoXpChannel: (channelId) => {
      const parentId = parentIds.get(channelId)
      return (
        noXpChannelIds.has(channelId) || (parentId !== undefined && noXpChannelIds.has(parentId))
      )
    },
    isNoXpRole: (roleId) => noXpRoleIds.has(roleId),
  }
}

/** One member's voice state as Discord reports it (VOICE_STATE_UPDATE), with the member's roles. */
export type VoiceStateUpdate = {
  readonly userId: Snowflake
  readonly bot: boolean
  readonly roleIds: ReadonlyArray<Snowflake>
  /** `null` when the member left voice. */
  readonly channelId: Snowflake | null
  readonly selfMute: boolean
  readonly selfDeaf: boolean
  /** Muted by a moderator. */
  readonly serverMute: boolean
  readonly serverDeaf: boolean
  /** May not speak (a stage's audience, the AFK channel); counts as muted. */
  readonly suppress: boolean
}

export type VoiceEvent = Data.TaggedEnum<{
  VoiceStateUpdated: VoiceStateUpdate
  /** A member's roles changed (GUILD_MEMBER_UPDATE); ignored when the member is not in voice. */
  MemberRolesUpdated: {
    readonly userId: Snowflake
    readonly roleIds: ReadonlyArray<Snowflake>
  }
}>

export const VoiceEvent = TaggedEnum.taggedEnum<VoiceEvent>({
  VoiceStateUpdated: null,
  MemberRolesUpdated: null,
})

/** A member present in a voice channel. */
export interface Session extends VoiceStateUpdate {
  readonly channelId: Snowflake
  /** Whether the member earns now, as decided at `since`. */
  readonly eligible: boolean
  /** Time up to which this session has been accounted. */
  readonly since: number
}

/** One guild's voice accounting. Immutable; every function returns a new one. */
export interface VoiceState {
  readonly sessions: ReadonlyMap<Snowflake, Session>
  /** Eligible milliseconds not yet making a whole minute, per member (present or gone); < 1 min. */
  readonly carriedMillis: ReadonlyMap<Snowflake, number>
  /** The context the sessions' eligibility was decided with. */
  readonly context: VoiceContext | null
}

export const empty: VoiceState = { sessions: new Map(), carriedMillis: new Map(), context: null }

/** Whole minutes a member earned in a channel. */
export interface VoiceCredit {
  readonly userId: Snowflake
  readonly channelId: Snowflake
  readonly minutes: number
}

export interface Applied {
  readonly state: VoiceState
  readonly credits: ReadonlyArray<VoiceCredit>
}

export type NotEarningReason =
  | "bot"
  | "voiceXpOff"
  | "afkChannel"
  | "noXpChannel"
  | "noXpRole"
  | "muted"
  | "deafened"
  | "alone"

/**
 * Why a member in `channelId` does not earn, or `undefined` when it does. `humansInChannel` counts
 * the channel's non-bot members, the ineligible ones included.
 */
export const whyNotEarning = (
  member: Omit<VoiceStateUpdate, "channelId" | "userId">,
  channelId: Snowflake,
  humansInChannel: number,
  context: VoiceContext,
): NotEarningReason | undefined => {
  const { settings } = context
  if (member.bot) return "bot"
  if (!settings.voiceXp) return "voiceXpOff"
  if (channelId === context.afkChannelId) return "afkChannel"
  if (context.isNoXpChannel(channelId)) return "noXpChannel"
  if (member.roleIds.some(context.isNoXpRole)) return "noXpRole"
  if (!settings.allowMutedXp && (member.selfMute || member.serverMute || member.suppress)) {
    return "muted"
  }
  if (!settings.allowDeafenedXp && (member.selfDeaf || member.serverDeaf)) return "deafened"
  if (!settings.allowSoloXp && humansInChannel < 2) return "alone"
  return undefined
}

/** Mutable copies for one call; never escape it. */
class Work {
  readonly sessions: Map<Snowflake, Session>
  readonly carriedMillis: Map<Snowflake, number>
  readonly credits: Array<VoiceCredit> = []

  constructor(state: VoiceState) {
    this.sessions = new Map(state.sessions)
    this.carriedMillis = new Map(state.carriedMillis)
  }

  /** Accounts a session up to `atMillis` with the eligibility it had; credits whole minutes. */
  settle(session: Session, atMillis: number): void {
    const since = Math.max(session.since, atMillis)
    const earned = session.eligible ? since - session.since : 0
    const total = (this.carriedMillis.get(session.userId) ?? 0) + earned
    const minutes = Math.floor(total / MINUTE_MILLIS)
    const carried = total - minutes * MINUTE_MILLIS
    if (carried > 0) this.carriedMillis.set(session.userId, carried)
    else this.carriedMillis.delete(session.userId)
    if (minutes > 0) {
      this.credits.push({ userId: session.userId, channelId: session.channelId, minutes })
    }
    this.sessions.set(session.userId, { ...session, since })
  }

  settleChannels(channelIds: ReadonlySet<Snowflake> | "all", atMillis: number): void {
    for (const session of this.sessions.values()) {
      if (channelIds === "all" || channelIds.has(session.channelId)) this.settle(session, atMillis)
    }
  }

  /** Decides eligibility anew in the channels, from now on (settle them first). */
  decide(channelIds: ReadonlySet<Snowflake> | "all", context: VoiceContext): void {
    const humans = new Map<Snowflake, number>()
    for (const session of this.sessions.values()) {
      if (!session.bot) humans.set(session.channelId, (humans.get(session.channelId) ?? 0) + 1)
    }
    for (const session of this.sessions.values()) {
      if (channelIds !== "all" && !channelIds.has(session.channelId)) continue
      const humansInChannel = humans.get(session.channelId) ?? 0
      const eligible =
        whyNotEarning(session, session.channelId, humansInChannel, context) === undefined
      if (eligible !== session.eligible) this.sessions.set(session.userId, { ...session, eligible })
    }
  }

  done(context: VoiceContext): Applied {
    return {
      state: { sessions: this.sessions, carriedMillis: this.carriedMillis, context },
      credits: this.credits,
    }
  }
}

/** Starts a call: when the context changed, everyone is accounted up to now and decided anew. */
const begin = (state: VoiceState, atMillis: number, context: VoiceContext): Work => {
  const work = new Work(state)
  if (state.context !== context) {
    work.settleChannels("all", atMillis)
    work.decide("all", context)
  }
  return work
}

/**
 * Applies one event that happened at `atMillis`. Time before it is accounted with the eligibility
 * that held then; the members of the channels it touches are decided anew from then on. Pass the
 * same `context` object while nothing in it changed: a different object re-decides everyone.
 */
export const apply = (
  state: VoiceState,
  event: VoiceEvent,
  atMillis: number,
  context: VoiceContext,
): Applied => {
  const work = begin(state, atMillis, context)
  const previous = work.sessions.get(event.userId)
  switch (event._tag) {
    case "VoiceStateUpdated": {
      const { _tag: _, ...update } = event
      const touched = new Set<Snowflake>()
      if (previous !== undefined) touched.add(previous.channelId)
      if (update.channelId !== null) touched.add(update.channelId)
      work.settleChannels(touched, atMillis)
      if (update.channelId === null) {
        work.sessions.delete(update.userId)
      } else {
        const since = Math.max(atMillis, previous?.since ?? atMillis)
        // decided just below, with the channel's new members
        const session = { ...update, channelId: update.channelId, eligible: false, since }
        work.sessions.set(update.userId, session)
      }
      work.decide(touched, context)
      break
    }
    case "MemberRolesUpdated": {
      if (previous === undefined) break
      const touched = new Set([previous.channelId])
      work.settleChannels(touched, atMillis)
      const settled = work.sessions.get(event.userId) ?? previous
      work.sessions.set(event.userId, { ...settled, roleIds: event.roleIds })
      work.decide(touched, context)
      break
    }
  }
  return work.done(context)
}

/**
 * Credits the whole minutes accrued up to `atMillis` without waiting for anyone to leave; call it
 * every minute. Also the way to apply a changed context (settings, no-XP channels or roles, the
 * AFK channel): time before `atMillis` counts under the old one.
 */
export const tick = (state: VoiceState, atMillis: number, context: VoiceContext): Applied => {
  const work = begin(state, atMillis, context)
  work.settleChannels("all", atMillis)
  return work.done(context)
}

/**
 * Replaces the guild's voice states with a full snapshot (GUILD_CREATE after a connect, or the
 * guild becoming available again): members missing from it leave, the others are updated.
 * `sync(state, [], …)` ends every session (the guild went away, or shutdown).
 */
export const sync = (
  state: VoiceState,
  voiceStates: ReadonlyArray<VoiceStateUpdate>,
  atMillis: number,
  context: VoiceContext,
): Applied => {
  const present = new Set(voiceStates.map((voiceState) => voiceState.userId))
  const leaves = [...state.sessions.values()]
    .filter((session) => !present.has(session.userId))
    .map(({ eligible: _, since: __, ...session }) => ({ ...session, channelId: null }))
  let current = tick(state, atMillis, context)
  const credits = [...current.credits]
  for (const voiceState of [...leaves, ...voiceStates]) {
    current = apply(current.state, VoiceEvent.VoiceStateUpdated(voiceState), atMillis, context)
    credits.push(...current.credits)
  }
  return { state: current.state, credits }
}

/** The members earning right now, for logs and diagnostics. */
export const earning = (state: VoiceState): ReadonlyArray<Session> =>
  [...state.sessions.values()].filter((session) => session.eligible)
