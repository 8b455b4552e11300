/**
 * What to post when a member's level goes up, and where: the guild's level-up message and the
 * messages of the level roles that actually changed, with their templates filled, and the places
 * to try in order. Pure: the caller says which channels exist and may be posted in.
 */
import { Array as Arr, Option } from "effect"
import type { GuildSettings } from "./GuildSettings"
import type { Snowflake } from "./Snowflake"
import { type ChangedRole, levelUpNotice } from "./Template"

export type { ChangedRole } from "./Template"

export interface LevelChange {
  readonly userId: Snowflake
  /** The member's username (not the nickname), for `<name>`. */
  readonly username: string
  readonly guildName: string
  readonly oldLevel: number
  readonly newLevel: number
  /** Roles the reconciliation really added and removed, in the order to mention them. */
  readonly rolesAdded: ReadonlyArray<ChangedRole>
  readonly rolesRemoved: ReadonlyArray<ChangedRole>
  readonly settings: GuildSettings
  /** The member's own opt-in for direct messages. */
  readonly memberNotifyLevelupDm: boolean
  /** Where the member last wrote a counted message, if known. */
  readonly lastActiveChannelId: Snowflake | null
  /** Whether the channel exists, is text-based and the bot may view it and send messages there. */
  readonly canPostIn: (channelId: Snowflake) => boolean
}

export type NoticeTarget =
  | { readonly _tag: "CurrentChannel"; readonly channelId: Snowflake }
  | { readonly _tag: "LevelupChannel"; readonly channelId: Snowflake }
  | { readonly _tag: "DirectMessage"; readonly userId: Snowflake }

/** Discord's `allowed_mentions`: nothing parsed from the text, only the listed users pinged. */
export interface AllowedMentions {
  readonly parse: ReadonlyArray<never>
  readonly users: ReadonlyArray<Snowflake>
}

export interface LevelUpNotice {
  readonly userId: Snowflake
  readonly level: number
  readonly text: string
  /** Try in order; on a failure (deleted channel, missing access, closed DMs) go to the next. */
  readonly targets: Arr.NonEmptyReadonlyArray<NoticeTarget>
  readonly allowedMentions: AllowedMentions
}

/** A Components V2 text display holds at most this many characters. */
export const MAX_TEXT_LENGTH = 4000

/**
 * The notice's text (`Template.levelUpNotice`: the level-up message and the changed roles'
 * messages, filled in one pass), cut to what Discord shows. `None` when no part exists: a silent
 * level-up.
 */
export const text = (change: LevelChange): Option.Option<string> =>
  Option.fromNullable(
    levelUpNotice({
      settings: change.settings,
      member: {
        userId: change.userId,
        name: change.username,
        level: change.newLevel,
        serverName: change.guildName,
      },
      added: change.rolesAdded,
      removed: change.rolesRemoved,
    }),
  ).pipe(
    Option.map((joined) =>
      joined.length > MAX_TEXT_LENGTH ? `${joined.slice(0, MAX_TEXT_LENGTH - 1)}…` : joined,
    ),
  )

/**
 * Where to post, in order, leaving out what is switched off or cannot be posted in: the member's
 * last active channel (with `notifyLevelupCurrentChannel`), the level-up channel, then a direct
 * message when both the guild and the member allow it.
 */
export const targets = (change: LevelChange): ReadonlyArray<NoticeTarget> => {
  const { settings, lastActiveChannelId } = change
  const channels: Array<Extract<NoticeTarget, { channelId: Snowflake }>> = []
  if (settings.notifyLevelupCurrentChannel && lastActiveChannelId !== null) {
    channels.push({ _tag: "CurrentChannel", channelId: lastActiveChannelId })
  }
  if (settings.levelupChannelId !== null) {
    channels.push({ _tag: "LevelupChannel", channelId: settings.levelupChannelId })
  }
  const postable = channels.filter(
    (target, index) =>
      change.canPostIn(target.channelId) &&
      channels.findIndex((other) => other.channelId === target.channelId) === index,
  )
  return settings.notifyLevelupDm && change.memberNotifyLevelupDm
    ? [...postable, { _tag: "DirectMessage", userId: change.userId }]
    : postable
}

/**
 * The notice for a level change, or `None`: on a level-down or an unchanged level, when no
 * message is set (silent, as in ActivityRank), or when there is nowhere to post it.
 */
export const decide = (change: LevelChange): Option.Option<LevelUpNotice> => {
  if (change.newLevel <= change.oldLevel) return Option.none()
  const places = targets(change)
  if (!Arr.isNonEmptyReadonlyArray(places)) return Option.none()
  return Option.map(text(change), (filled) => ({
    userId: change.userId,
    level: change.newLevel,
    text: filled,
    targets: places,
    allowedMentions: { parse: [], users: [change.userId] },
  }))
}
