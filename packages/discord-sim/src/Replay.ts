/**
 * Replay of a world's messages into the Discord shards' streams, paced by the messages' own
 * times (their snowflakes): real time, N× faster, or as fast as the clients read ("max").
 * It starts once every Discord shard has had a READY session.
 */
import { timestampMillis, unsafeMake } from "@tally/domain/Snowflake"
import { messageEntry, threadCreateEntry } from "./Events"
import type { Gateway } from "./Gateway"
import { type ChannelSpec, discordShardOf, type ReplayMessage, type World } from "./World"

/** "real" = 1×; a number = that many times faster; "max" = as fast as the clients read. */
export type Speed = "real" | "max" | number

export type ReplayPhase = "idle" | "waiting" | "running" | "paused" | "done"

export interface ReplayStatus {
  readonly phase: ReplayPhase
  readonly speed: Speed
  readonly total: number
  /** messages handed to the shards' streams */
  readonly fed: number
  /** trace time (ms since the first message) reached */
  readonly traceMillis: number
  readonly spanMillis: number
}

/** In "max" mode, at most this many undelivered entries wait per shard. */
const MAX_PENDING_PER_SHARD = 20_000
/**
 * In "max" mode, messages built per turn: small turns let the pump send (and the client parse)
 * while the next messages are built, instead of taking turns.
 */
const FEED_CHUNK = 1024

export const parseSpeed = (text: string): Speed => {
  if (text === "real" || text === "max") return text
  const factor = Number(text.replace(/x$/i, ""))
  if (!Number.isFinite(factor) || factor <= 0) throw new Error(`invalid speed ${text}`)
  return factor
}

export const makeReplay = (options: {
  readonly world: World
  readonly gateway: Gateway
  /** threads announced by a message: their specs, added to the world when announced */
  readonly threads: ReadonlyMap<string, { readonly guildId: string; readonly spec: ChannelSpec }>
}) => {
  const { world, gateway } = options
  let messages: ReadonlyArray<ReplayMessage> = []
  let times: Array<number> = []
  let firstMillis = 0
  let next = 0
  let phase: ReplayPhase = "idle"
  let speed: Speed = "max"
  let traceMillisAtResume = 0
  let resumedAt = 0
  let timer: ReturnType<typeof setTimeout> | null = null
  const announced = new Set<string>()

  const factor = () => (speed === "real" ? 1 : speed === "max" ? Number.POSITIVE_INFINITY : speed)

  const traceNow = () =>
    phase === "running"
      ? traceMillisAtResume + (Date.now() - resumedAt) * factor()
      : traceMillisAtResume

  const shards = new Map<string, number>()
  const shardOf = (guildId: string) => {
    let shardId = shards.get(guildId)
    if (shardId === undefined) {
      shardId = discordShardOf(guildId, gateway.shardCount)
      shards.set(guildId, shardId)
    }
    return shardId
  }

  const load = (input: ReadonlyArray<ReplayMessage>) => {
    messages = input
    firstMillis = input[0] ? timestampMillis(unsafeMake(input[0].id)) : 0
    times = input.map((message) => timestampMillis(unsafeMake(message.id)) - firstMillis)
    next = 0
    traceMillisAtResume = 0
    phase = "idle"
  }

  const appendMessage = (message: ReplayMessage, shardId: number, atMillis: number) => {
    const guild = world.guilds.get(message.guild_id) ?? null
    const threadId = message.announceThreadFirst
    if (threadId !== undefined && !announced.has(threadId) && guild) {
      announced.add(threadId)
      const thread = options.threads.get(threadId)
      if (thread) gateway.append(shardId, threadCreateEntry(world, guild, thread.spec))
    }
    const mentionIds = Array.isArray(message.mentions)
      ? (message.mentions as ReadonlyArray<string>)
      : message.reply_to_author !== undefined
        ? [message.reply_to_author]
        : []
    gateway.append(
      shardId,
      messageEntry(world, {
        atMillis,
        rememberAuthor: false,
        id: message.id,
        guild,
        channelId: message.channel_id,
        authorId: message.author,
        bot: message.bot,
        messageType: message.type,
        content: message.content ?? "",
        mentionIds,
        replyToMessageId: message.referenced_message_id,
      }),
    )
  }

  const feed = () => {
    if (phase !== "running") return
    if (timer) {
      clearTimeout(timer)
      timer = null
    }
    const reached = traceNow()
    const limit = speed === "max" ? next + FEED_CHUNK : messages.length
    while (next < messages.length) {
      const message = messages[next] as ReplayMessage
      if ((times[next] as number) > reached) break
      const shardId = shardOf(message.guild_id)
      if (speed === "max" && gateway.pending(shardId) >= MAX_PENDING_PER_SHARD) return
      if (next >= limit) {
        scheduleFeed()
        return
      }
      appendMessage(message, shardId, firstMillis + (times[next] as number))
      next++
    }
    if (next >= messages.length) {
      phase = "done"
      traceMillisAtResume = times[times.length - 1] ?? 0
      return
    }
    if (speed !== "max") {
      const wait = ((times[next] as number) - reached) / factor()
      timer = setTimeout(feed, Math.max(1, Math.min(wait, 1000)))
    }
  }

  let feedScheduled = false
  const scheduleFeed = () => {
    if (feedScheduled) return
    feedScheduled = true
    setImmediate(() => {
      feedScheduled = false
      feed()
    })
  }

  const begin = () => {
    if (phase !== "waiting") return
    phase = "running"
    resumedAt = Date.now()
    feed()
  }

  const start = () => {
    if (phase === "idle") {
      phase = "waiting"
      if (gateway.allShardsReady()) begin()
    }
  }

  const pause = () => {
    if (phase !== "running") return
    traceMillisAtResume = traceNow()
    phase = "paused"
    if (timer) clearTimeout(timer)
    timer = null
  }

  const resume = () => {
    if (phase !== "paused") return
    phase = "running"
    resumedAt = Date.now()
    feed()
  }

  const setSpeed = (value: Speed) => {
    if (phase === "running") traceMillisAtResume = traceNow()
    resumedAt = Date.now()
    speed = value
    feed()
  }

  const status = (): ReplayStatus => ({
    phase,
    speed,
    total: messages.length,
    fed: next,
    traceMillis: Math.min(traceNow(), times[times.length - 1] ?? 0),
    spanMillis: times[times.length - 1] ?? 0,
  })

  const stop = () => {
    if (timer) clearTimeout(timer)
    timer = null
    phase = "idle"
  }

  return {
    load,
    start,
    pause,
    resume,
    setSpeed,
    status,
    stop,
    /** called by the gateway: a shard became live (maybe the last one needed to start) */
    onLive: () => {
      if (phase === "waiting" && gateway.allShardsReady()) begin()
    },
    /** called by the gateway after each pump turn; in "max" mode that asks for more */
    onIdle: () => {
      if (speed === "max" && phase === "running") feed()
    },
  }
}

export type Replay = ReturnType<typeof makeReplay>
