import { DISCORD_EPOCH, fromTimestamp } from "@tally/domain/Snowflake"
import type { Trace } from "./Trace"

export interface WorldChannel {
  readonly id: string
  readonly type: number
  readonly parent_id: string | null
  readonly name: string
  readonly position: number
}

export interface WorldThread {
  readonly id: string
  /** 11 public thread (also a forum post), 10 announcement thread, 12 private thread. */
  readonly type: number
  readonly parent_id: string
  readonly name: string
}

export interface WorldMember {
  readonly userId: string
  readonly bot: boolean
  readonly username: string
}

export interface WorldRole {
  readonly id: string
  readonly name: string
  readonly position: number
  /** Permission bits as a decimal string. */
  readonly permissions: string
}

export interface WorldGuild {
  readonly id: string
  readonly name: string
  readonly ownerId: string
  readonly channels: ReadonlyArray<WorldChannel>
  readonly threads: ReadonlyArray<WorldThread>
  readonly members: ReadonlyArray<WorldMember>
  /** Empty: the simulator adds `@everyone` and the bot's role. */
  readonly roles: ReadonlyArray<WorldRole>
}

export interface WorldMessage {
  /** A snowflake of the message's time (start + `t`), unique and increasing in trace order. */
  readonly id: string
  readonly guild_id: string
  readonly channel_id: string
  readonly author: string
  readonly bot: boolean
  /** Discord message type (the trace's `msg_type`). */
  readonly type: number
  /** Number of user mentions. */
  readonly mentions: number
  /** Length of the text in code points. */
  readonly len: number
  readonly reply_to_author?: string
  /** The latest earlier message of `reply_to_author` in the same channel, when there is one. */
  readonly referenced_message_id?: string
  /** Set on a thread's first message: the thread is announced (THREAD_CREATE) just before it. */
  readonly announceThreadFirst?: string
}

export interface TraceWorld {
  readonly startMillis: number
  readonly spanMillis: number
  readonly guilds: ReadonlyArray<WorldGuild>
  readonly messages: ReadonlyArray<WorldMessage>
}

export interface WorldOptions {
  /** The instant (epoch ms) of the trace's `t = 0`; default: now minus the trace's span. */
  readonly startMillis?: number
}

const CATEGORY = 4
const TEXT = 0
const FORUM = 15
const PUBLIC_THREAD = 11

interface GuildBuild {
  readonly id: string
  readonly topLevel: Set<string>
  readonly withOwnMessages: Set<string>
  readonly threadParent: Map<string, string>
  readonly members: Map<string, boolean>
  readonly humanMessages: Map<string, number>
}

const shortId = (id: string) => id.slice(-4)

/**
 * The world a trace is replayed in, keeping the trace's ids as Discord ids: every author is a
 * member, every thread has its parent (a parent never posted in directly is taken for a forum unless
 * the trace says otherwise), known categories hold their channels, and each message gets a
 * snowflake id of its time anchored at `startMillis`.
 */
export const worldFromTrace = (trace: Trace, options: WorldOptions = {}): TraceWorld => {
  const startMillis = Math.floor(options.startMillis ?? Date.now() - trace.spanMillis)
  if (startMillis < Number(DISCORD_EPOCH)) {
    throw new RangeError(`worldFromTrace: startMillis ${startMillis} is before Discord's epoch`)
  }
  const channelTypes = trace.channelTypes ?? {}
  const channelNames = trace.channelNames ?? {}
  const categoryOf = trace.categoryOf ?? {}
  const userNames = trace.userNames ?? {}

  const guilds = new Map<string, GuildBuild>()
  const knownIds = new Set<string>()
  for (const event of trace.events) {
    let guild = guilds.get(event.guild)
    if (guild === undefined) {
      guild = {
        id: event.guild,
        topLevel: new Set(),
        withOwnMessages: new Set(),
        threadParent: new Map(),
        members: new Map(),
        humanMessages: new Map(),
      }
      guilds.set(event.guild, guild)
      knownIds.add(event.guild)
    }
    if (event.thread_parent === null) {
      guild.topLevel.add(event.channel)
      guild.withOwnMessages.add(event.channel)
    } else {
      guild.topLevel.add(event.thread_parent)
      guild.threadParent.set(event.channel, event.thread_parent)
    }
    if (!guild.members.has(event.author)) guild.members.set(event.author, event.bot)
    if (!event.bot) {
      guild.humanMessages.set(event.author, (guild.humanMessages.get(event.author) ?? 0) + 1)
    }
    knownIds.add(event.channel)
    knownIds.add(event.author)
    if (event.thread_parent !== null) knownIds.add(event.thread_parent)
    if (event.reply_to_author !== undefined) knownIds.add(event.reply_to_author)
  }

  const worldGuilds = [...guilds.values()].map((guild): WorldGuild => {
    const categories = new Set<string>()
    for (const channel of guild.topLevel) {
      const category = categoryOf[channel]
      if (category !== undefined) categories.add(category)
    }
    const channelType = (id: string) =>
      channelTypes[id] ?? (guild.withOwnMessages.has(id) ? TEXT : FORUM)
    const channels: Array<WorldChannel> = [
      ...[...categories].map((id) => ({
        id,
        type: CATEGORY,
        parent_id: null,
        name: channelNames[id] ?? `category-${shortId(id)}`,
      })),
      ...[...guild.topLevel].map((id) => ({
        id,
        type: channelType(id),
        parent_id: categoryOf[id] ?? null,
        name: channelNames[id] ?? `channel-${shortId(id)}`,
      })),
    ].map((channel, position) => ({ ...channel, position }))
    for (const channel of channels) knownIds.add(channel.id)

    const threads = [...guild.threadParent].map(
      ([id, parent]): WorldThread => ({
        id,
        type: channelTypes[id] ?? PUBLIC_THREAD,
        parent_id: parent,
        name: channelNames[id] ?? `thread-${shortId(id)}`,
      }),
    )

    let ownerId = guild.members.keys().next().value!
    let most = 0
    for (const [userId, count] of guild.humanMessages) {
      if (count > most) {
        most = count
        ownerId = userId
      }
    }

    return {
      id: guild.id,
      name: trace.guildNames?.[guild.id] ?? `guild-${shortId(guild.id)}`,
      ownerId,
      channels,
      threads,
      members: [...guild.members].map(([userId, bot]) => ({
        userId,
        bot,
        username: userNames[userId] ?? `${bot ? "bot" : "user"}-${shortId(userId)}`,
      })),
      roles: [],
    }
  })

  // Ids: the time of the message with a counter in the low 22 bits, skipping any trace id.
  const messages: Array<WorldMessage> = []
  const announced = new Set<string>()
  const lastMessageOf = new Map<string, string>()
  let previousMillis = -1
  let counter = 0
  for (const event of trace.events) {
    const millis = startMillis + event.t
    counter = millis === previousMillis ? counter + 1 : 0
    previousMillis = millis
    let id = fromTimestamp(millis, counter)
    while (knownIds.has(id)) id = fromTimestamp(millis, ++counter)

    const message: {
      -readonly [K in keyof WorldMessage]: WorldMessage[K]
    } = {
      id,
      guild_id: event.guild,
      channel_id: event.channel,
      author: event.author,
      bot: event.bot,
      type: event.msg_type,
      mentions: event.mentions,
      len: event.len,
    }
    if (event.reply_to_author !== undefined) {
      message.reply_to_author = event.reply_to_author
      const referenced = lastMessageOf.get(`${event.channel}/${event.reply_to_author}`)
      if (referenced !== undefined) message.referenced_message_id = referenced
    }
    if (event.thread_parent !== null && !announced.has(event.channel)) {
      announced.add(event.channel)
      message.announceThreadFirst = event.channel
    }
    lastMessageOf.set(`${event.channel}/${event.author}`, id)
    messages.push(message)
  }

  return { startMillis, spanMillis: trace.spanMillis, guilds: worldGuilds, messages }
}
