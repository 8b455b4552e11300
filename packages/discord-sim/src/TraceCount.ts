import type { Trace } from "./Trace"

/**
 * An independent count of what a bot with default settings should record for a trace: the oracle
 * of end-to-end tests. Written on its own, sharing nothing with the domain's award rules, so a bug
 * there cannot hide in both.
 *
 * Default settings: a message counts when its author is not a bot, its type is 0 (default) or
 * 19 (reply), and it was sent in a text or announcement channel or a thread (a channel of unknown
 * type is taken for a text channel, as the world builder makes it one); each counted message is
 * one text message and `xpPerTextMessage` XP; a message in a thread counts for the thread's parent
 * channel; no cooldown.
 */
export interface CountOptions {
  readonly xpPerTextMessage?: number
}

export interface MemberCount {
  readonly guildId: string
  readonly userId: string
  textMessages: number
  xp: number
}

export interface ChannelCount {
  readonly guildId: string
  /** The channel a message counts for: the thread's parent for a message in a thread. */
  readonly channelId: string
  textMessages: number
}

export interface TraceCount {
  /** By `memberKey(guildId, userId)`. */
  readonly members: ReadonlyMap<string, MemberCount>
  /** By `channelKey(guildId, channelId)`. */
  readonly channels: ReadonlyMap<string, ChannelCount>
  readonly totals: { readonly textMessages: number; readonly xp: number; readonly skipped: number }
}

export const memberKey = (guildId: string, userId: string): string => `${guildId}/${userId}`

export const channelKey = (guildId: string, channelId: string): string => `${guildId}/${channelId}`

const DEFAULT_MESSAGE = 0
const REPLY = 19
/** Text (0), announcement (5), and the threads (10, 11, 12). */
const TEXT_CHANNEL_TYPES = [0, 5, 10, 11, 12]

export const countTrace = (trace: Trace, options: CountOptions = {}): TraceCount => {
  const xpPerMessage = options.xpPerTextMessage ?? 6
  const members = new Map<string, MemberCount>()
  const channels = new Map<string, ChannelCount>()
  let textMessages = 0
  let skipped = 0

  for (const message of trace.events) {
    const channelType = trace.channelTypes?.[message.channel]
    const inTextChannel = channelType === undefined || TEXT_CHANNEL_TYPES.includes(channelType)
    const counted =
      !message.bot &&
      (message.msg_type === DEFAULT_MESSAGE || message.msg_type === REPLY) &&
      inTextChannel
    if (!counted) {
      skipped += 1
      continue
    }
    textMessages += 1

    const whoKey = memberKey(message.guild, message.author)
    let member = members.get(whoKey)
    if (member === undefined) {
      member = { guildId: message.guild, userId: message.author, textMessages: 0, xp: 0 }
      members.set(whoKey, member)
    }
    member.textMessages += 1
    member.xp += xpPerMessage

    const channelId = message.thread_parent ?? message.channel
    const whereKey = channelKey(message.guild, channelId)
    let channel = channels.get(whereKey)
    if (channel === undefined) {
      channel = { guildId: message.guild, channelId, textMessages: 0 }
      channels.set(whereKey, channel)
    }
    channel.textMessages += 1
  }

  return {
    members,
    channels,
    totals: { textMessages, xp: textMessages * xpPerMessage, skipped },
  }
}
