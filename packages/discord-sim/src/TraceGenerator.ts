import { fromTimestamp } from "@tally/domain/Snowflake"
import { makeTrace, type Trace, type TraceMessage, timeOrder } from "./Trace"

/**
 * Shape of a generated trace, fitted to `meshcore-threads-2025.meta.json`: messages per human
 * author are log-normal with median 5, p90 69, p99 ≈ 570 (μ = ln 5, σ = 2.05); ~22 % of messages
 * are replies, ~4 % mention someone, message length has median 64 and p90 212. Threads follow the
 * same trace (median 9 messages, p90 240; median life 12 days), as do thread renames (117 in 576
 * threads). Set by hand, as that trace cannot tell: the share of messages in threads (it lacks its
 * big top-level channels), bots (it has none), member-join and pin notices (it has none or few).
 */
export const shape = {
  messagesPerAuthor: { mu: Math.log(5), sigma: 2.05, maxShare: 0.032 },
  messagesPerThread: { mu: Math.log(9), sigma: 2.56, maxShare: 0.05 },
  threadLifeDays: { mu: Math.log(12), sigma: 2.29 },
  length: { mu: Math.log(64), sigma: 0.93, max: 4000, emptyShare: 0.035 },
  threadShare: 0.3,
  forumShareOfThreads: 0.5,
  replyShare: 0.225,
  replyWithoutAuthorShare: 0.012,
  mentionShares: [0.9605, 0.9972, 0.9995] as const,
  botShare: 0.03,
  messagesPerDay: 175,
  maxSpanDays: 423,
  rates: {
    /** member-join messages (7) per message */
    joins: 0.006,
    /** pin notices (6) per message */
    pins: 0.0005,
    /** thread renames (4) per thread */
    renames: 0.2,
    /** "started a thread" notices (18) per thread of a text channel */
    threadCreated: 0.3,
  },
  /** Relative activity per hour of the day (UTC), after the real trace. */
  hours: [
    30, 27, 20, 21, 20, 16, 17, 18, 21, 22, 25, 23, 28, 28, 35, 43, 44, 48, 47, 46, 47, 43, 38, 35,
  ],
} as const

export interface GenerateOptions {
  readonly seed: number
  readonly messages: number
  readonly guilds?: number
  /** Length of the trace; default: 175 messages a day per guild, at least 1 and at most 423 days. */
  readonly spanDays?: number
}

const DAY = 86_400_000
const HOUR = 3_600_000

const channelWords = [
  "general",
  "off-topic",
  "help",
  "showcase",
  "random",
  "development",
  "support",
  "media",
  "introductions",
  "feedback",
  "events",
  "questions",
  "links",
  "hardware",
  "software",
  "memes",
]
const forumWords = ["forum-help", "ideas", "bug-reports", "projects", "regional"]
const categoryWords = ["Text Channels", "Community", "Projects", "Support", "Misc"]

/**
 * Seeded random draws. The generator is sfc32 (public domain, passes PractRand), seeded through
 * splitmix32: Effect's `PCGRandom` is ten times slower and dominated generating large traces.
 */
class Draw {
  private a: number
  private b: number
  private c: number
  private d: number
  private spareNormal: number | undefined = undefined

  constructor(seed: number) {
    let state = seed >>> 0
    const splitmix = () => {
      state = (state + 0x9e3779b9) | 0
      let z = state
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
      return (z ^ (z >>> 15)) >>> 0
    }
    this.a = splitmix()
    this.b = splitmix()
    this.c = splitmix()
    this.d = splitmix()
    for (let i = 0; i < 12; i++) this.uniform()
  }

  /** Uniform in [0, 1), 32 bits. */
  uniform(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return (t >>> 0) / 4_294_967_296
  }

  /** Uniform integer in [0, max). */
  int(max: number): number {
    return Math.floor(this.uniform() * max)
  }

  normal(): number {
    if (this.spareNormal !== undefined) {
      const value = this.spareNormal
      this.spareNormal = undefined
      return value
    }
    const u = 1 - this.uniform()
    const v = this.uniform()
    const radius = Math.sqrt(-2 * Math.log(u))
    this.spareNormal = radius * Math.sin(2 * Math.PI * v)
    return radius * Math.cos(2 * Math.PI * v)
  }

  logNormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal())
  }

  /** An index drawn with the given cumulative weights. */
  pick(cumulative: Float64Array): number {
    const target = this.uniform() * cumulative[cumulative.length - 1]!
    let low = 0
    let high = cumulative.length - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if (cumulative[middle]! > target) high = middle
      else low = middle + 1
    }
    return low
  }

  shuffle(values: Uint32Array): void {
    for (let i = values.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const value = values[i]!
      values[i] = values[j]!
      values[j] = value
    }
  }
}

const zipfCumulative = (count: number, exponent: number): Float64Array => {
  const cumulative = new Float64Array(count)
  let sum = 0
  for (let i = 0; i < count; i++) {
    sum += 1 / (i + 1) ** exponent
    cumulative[i] = sum
  }
  return cumulative
}

/** Log-normal sizes, each at least 1 and at most `cap`, that add up to exactly `total`. */
const drawSizes = (
  draw: Draw,
  total: number,
  mu: number,
  sigma: number,
  cap: number,
): Array<number> => {
  const sizes: Array<number> = []
  let remaining = total
  while (remaining > 0) {
    const size = Math.min(remaining, cap, Math.max(1, Math.round(draw.logNormal(mu, sigma))))
    sizes.push(size)
    remaining -= size
  }
  return sizes
}

/** Splits `total` in proportion to `weights`, largest remainders first; exact. */
const apportion = (total: number, weights: ReadonlyArray<number>): Array<number> => {
  const sum = weights.reduce((a, b) => a + b, 0)
  const exact = weights.map((weight) => (weight / sum) * total)
  const parts = exact.map(Math.floor)
  let left = total - parts.reduce((a, b) => a + b, 0)
  const byRemainder = exact
    .map((value, index) => ({ index, remainder: value - Math.floor(value) }))
    .sort((a, b) => b.remainder - a.remainder || a.index - b.index)
  for (const { index } of byRemainder) {
    if (left === 0) break
    parts[index]!++
    left--
  }
  return parts
}

interface Thread {
  readonly id: number
  readonly parent: number
  readonly createdAt: number
  readonly lifeMillis: number
  readonly size: number
  readonly inForum: boolean
}

/**
 * Generated messages as columns (ids as indexes into a table of id strings): sorting and the
 * reply pass then read typed arrays in time order, and the message objects are made once, in
 * order, instead of being chased around the heap.
 */
class Columns {
  size = 0
  readonly t: Float64Array
  readonly guild: Uint32Array
  readonly channel: Uint32Array
  /** -1 for no thread parent. */
  readonly parent: Int32Array
  readonly author: Uint32Array
  readonly bot: Uint8Array
  readonly msgType: Uint8Array
  readonly len: Uint16Array
  readonly mentions: Uint8Array
  /** -1 for none. */
  readonly replyTo: Int32Array

  constructor(readonly capacity: number) {
    this.t = new Float64Array(capacity)
    this.guild = new Uint32Array(capacity)
    this.channel = new Uint32Array(capacity)
    this.parent = new Int32Array(capacity)
    this.author = new Uint32Array(capacity)
    this.bot = new Uint8Array(capacity)
    this.msgType = new Uint8Array(capacity)
    this.len = new Uint16Array(capacity)
    this.mentions = new Uint8Array(capacity)
    this.replyTo = new Int32Array(capacity).fill(-1)
  }

  push(
    t: number,
    guild: number,
    channel: number,
    parent: number,
    author: number,
    bot: boolean,
    msgType: number,
    len: number,
    mentions: number,
  ): void {
    const row = this.size++
    if (row >= this.capacity) throw new Error("generateTrace: more messages than asked for")
    this.t[row] = t
    this.guild[row] = guild
    this.channel[row] = channel
    this.parent[row] = parent
    this.author[row] = author
    this.bot[row] = bot ? 1 : 0
    this.msgType[row] = msgType
    this.len[row] = len
    this.mentions[row] = mentions
  }
}

/**
 * A seeded, deterministic trace: the same options give the same trace. Guilds, channels (in
 * categories), forums, threads and members with skewed activity, replies, bots and system
 * messages (member join 7, pin 6, thread created 18, thread rename 4), shaped by `shape`.
 */
export const generateTrace = (options: GenerateOptions): Trace => {
  const totalMessages = Math.max(0, Math.floor(options.messages))
  const guildCount = Math.max(1, Math.floor(options.guilds ?? 1))
  const spanDays =
    options.spanDays ??
    Math.min(
      shape.maxSpanDays,
      Math.max(1, Math.ceil(totalMessages / (shape.messagesPerDay * guildCount))),
    )
  const spanMillis = Math.max(1, Math.round(spanDays * DAY))
  const draw = new Draw(options.seed)
  const rows = new Columns(totalMessages)

  // Ids are snowflakes of instants in 2016–2021 (before any replay) with a running counter in the
  // low bits, so they are unique and never collide with message ids of a replay.
  const ids: Array<string> = []
  const idFrom = 1_451_606_400_000
  const idSpan = 6 * 365 * DAY
  const newId = (): number => {
    ids.push(fromTimestamp(idFrom + draw.int(idSpan), (ids.length + 1) & 0x3fffff))
    return ids.length - 1
  }

  const hours = new Float64Array(24)
  let hourSum = 0
  shape.hours.forEach((weight, hour) => {
    hourSum += weight
    hours[hour] = hourSum
  })
  const topLevelTime = () => {
    const t = draw.int(Math.ceil(spanMillis / DAY)) * DAY + draw.pick(hours) * HOUR + draw.int(HOUR)
    return t < spanMillis ? t : draw.int(spanMillis)
  }
  const messageLength = () =>
    draw.uniform() < shape.length.emptyShare
      ? 0
      : Math.min(shape.length.max, Math.round(draw.logNormal(shape.length.mu, shape.length.sigma)))
  const mentionCount = () => {
    const u = draw.uniform()
    const [none, one, two] = shape.mentionShares
    return u < none ? 0 : u < one ? 1 : u < two ? 2 : 3
  }

  const guildNames: Record<string, string> = {}
  const channelNames: Record<string, string> = {}
  const channelTypes: Record<string, number> = {}
  const categoryOf: Record<string, string> = {}
  const newChannel = (name: string, type: number): number => {
    const channel = newId()
    channelNames[ids[channel]!] = name
    channelTypes[ids[channel]!] = type
    return channel
  }

  const generateGuild = (
    guildIndex: number,
    messages: number,
    sharedAuthors: ReadonlyArray<number>,
  ): Array<number> => {
    const guild = newId()
    guildNames[ids[guild]!] =
      guildIndex === 0 ? "Generated Guild" : `Generated Guild ${guildIndex + 1}`
    const withExtras = messages >= 200

    // Channels: text channels in categories with Zipf-skewed activity, forums for threads.
    const textCount = Math.min(40, Math.max(1, Math.round(2 + Math.sqrt(messages) / 15)))
    const forumCount = messages >= 500 ? Math.max(1, Math.round(textCount / 5)) : 0
    const categories = Array.from({ length: Math.ceil(textCount / 5) }, (_, index) =>
      newChannel(categoryWords[index] ?? `Category ${index + 1}`, 4),
    )
    const textChannels = Array.from({ length: textCount }, (_, index) => {
      const channel = newChannel(channelWords[index] ?? `channel-${index + 1}`, 0)
      categoryOf[ids[channel]!] = ids[categories[Math.floor(index / 5)]!]!
      return channel
    })
    const forums = Array.from({ length: forumCount }, (_, index) =>
      newChannel(forumWords[index] ?? `forum-${index + 1}`, 15),
    )
    const textCumulative = zipfCumulative(textCount, 1.1)
    const randomTextChannel = () => textChannels[draw.pick(textCumulative)]!
    const systemChannel = textChannels[0]!
    const botChannel = textChannels[textCount - 1]!
    if (textCount >= 3) channelNames[ids[botChannel]!] = "bot-commands"

    // Threads: log-normal sizes, in forums or under text channels.
    const threadMessages = withExtras ? Math.round(messages * shape.threadShare) : 0
    const threads: Array<Thread> = drawSizes(
      draw,
      threadMessages,
      shape.messagesPerThread.mu,
      shape.messagesPerThread.sigma,
      Math.max(1, Math.ceil(messages * shape.messagesPerThread.maxShare)),
    ).map((size, index) => {
      const inForum = forumCount > 0 && draw.uniform() < shape.forumShareOfThreads
      const parent = inForum ? forums[draw.int(forumCount)]! : randomTextChannel()
      const createdAt = draw.int(Math.max(1, Math.floor(spanMillis * 0.97)))
      const life = draw.logNormal(shape.threadLifeDays.mu, shape.threadLifeDays.sigma) * DAY
      const id = newChannel(`${channelNames[ids[parent]!]}-thread-${index + 1}`, 11)
      const lifeMillis = Math.max(1, Math.min(Math.round(life), spanMillis - 1 - createdAt))
      return { id, parent, createdAt, lifeMillis, size, inForum }
    })

    // The budget: every message is a bot's, a system message or a human's.
    const botMessages = withExtras ? Math.round(messages * shape.botShare) : 0
    const renames = withExtras ? Math.round(threads.length * shape.rates.renames) : 0
    const textThreads = threads.filter((thread) => !thread.inForum)
    const threadNotices = withExtras
      ? Math.round(textThreads.length * shape.rates.threadCreated)
      : 0
    const pins = withExtras ? Math.round(messages * shape.rates.pins) : 0
    const humanMessages = messages - botMessages - renames - threadNotices - pins

    // Humans: log-normal message counts; some post a member-join message before their first.
    const counts = drawSizes(
      draw,
      humanMessages,
      shape.messagesPerAuthor.mu,
      shape.messagesPerAuthor.sigma,
      Math.max(1, Math.ceil(messages * shape.messagesPerAuthor.maxShare)),
    )
    const authors = counts.map((_, index) =>
      index < sharedAuthors.length && draw.uniform() < 0.05 ? sharedAuthors[index]! : newId(),
    )
    let busiest = 0
    counts.forEach((count, index) => {
      if (count > counts[busiest]!) busiest = index
    })
    const owner = authors[busiest]!
    const joinTarget = withExtras ? Math.round(messages * shape.rates.joins) : 0
    const joiners: Array<number> = []
    for (let index = 0; index < counts.length && joiners.length < joinTarget; index++) {
      if (counts[index]! >= 2 && draw.uniform() < 0.5) {
        counts[index]!--
        joiners.push(authors[index]!)
      }
    }
    const tokens = new Uint32Array(humanMessages - joiners.length)
    let filled = 0
    counts.forEach((count, author) => {
      tokens.fill(author, filled, filled + count)
      filled += count
    })
    draw.shuffle(tokens)
    let nextToken = 0
    const nextHuman = () => authors[tokens[nextToken++]!]!
    const firstRow = rows.size
    const say = (t: number, channel: number, parent: number, author: number) =>
      rows.push(t, guild, channel, parent, author, false, 0, messageLength(), mentionCount())
    const notice = (t: number, channel: number, parent: number, author: number, type: number) =>
      rows.push(t, guild, channel, parent, author, false, type, 0, 0)

    // Thread messages: the first at creation, the rest front-loaded over the thread's life.
    const starters = new Map<number, number>()
    for (const thread of threads) {
      if (nextToken >= tokens.length) break
      const starter = nextHuman()
      starters.set(thread.id, starter)
      say(thread.createdAt, thread.id, thread.parent, starter)
      for (let i = 1; i < thread.size && nextToken < tokens.length; i++) {
        const u = draw.uniform()
        const t = thread.createdAt + Math.floor(thread.lifeMillis * u * u)
        say(t, thread.id, thread.parent, nextHuman())
      }
    }
    for (const thread of textThreads.slice(0, threadNotices)) {
      notice(thread.createdAt, thread.parent, -1, starters.get(thread.id) ?? owner, 18)
    }
    for (let i = 0; i < renames; i++) {
      const thread = threads[draw.int(threads.length)]!
      const t = thread.createdAt + draw.int(thread.lifeMillis)
      notice(t, thread.id, thread.parent, starters.get(thread.id) ?? owner, 4)
    }
    while (nextToken < tokens.length) say(topLevelTime(), randomTextChannel(), -1, nextHuman())
    for (let i = 0; i < pins; i++) notice(topLevelTime(), randomTextChannel(), -1, owner, 6)

    const firstSeen = new Map<number, number>()
    for (let row = firstRow; row < rows.size; row++) {
      const author = rows.author[row]!
      const seen = firstSeen.get(author)
      if (seen === undefined || rows.t[row]! < seen) firstSeen.set(author, rows.t[row]!)
    }
    for (const joiner of joiners) {
      const first = firstSeen.get(joiner) ?? topLevelTime()
      notice(Math.max(0, first - 1 - draw.int(2 * DAY)), systemChannel, -1, joiner, 7)
    }

    // Bots: slash-command answers (20), replies and plain posts, mostly in their own channel.
    const botCount = botMessages === 0 ? 0 : messages >= 20_000 ? 3 : messages >= 2_000 ? 2 : 1
    const bots = Array.from({ length: botCount }, () => newId())
    apportion(botMessages, [0.6, 0.3, 0.1].slice(0, botCount)).forEach((count, index) => {
      for (let i = 0; i < count; i++) {
        const u = draw.uniform()
        const channel = draw.uniform() < 0.6 ? botChannel : randomTextChannel()
        const type = u < 0.5 ? 20 : u < 0.7 ? 19 : 0
        const mentions = draw.uniform() < 0.2 ? 1 : 0
        rows.push(
          topLevelTime(),
          guild,
          channel,
          -1,
          bots[index]!,
          true,
          type,
          messageLength(),
          mentions,
        )
      }
    })
    return authors
  }

  const guildMessages = apportion(
    totalMessages,
    Array.from({ length: guildCount }, (_, index) => 1 / (index + 1) ** 0.7),
  )
  let sharedAuthors: ReadonlyArray<number> = []
  guildMessages.forEach((messages, index) => {
    const authors = generateGuild(index, messages, sharedAuthors)
    if (index === 0) sharedAuthors = authors
  })
  const order = timeOrder(rows.t.subarray(0, rows.size))
  assignReplies(draw, rows, order, ids.length)

  const events: Array<TraceMessage> = new Array(order.length)
  for (let i = 0; i < order.length; i++) {
    const row = order[i]!
    const parent = rows.parent[row]!
    const event: TraceMessage = {
      t: rows.t[row]!,
      type: "message",
      guild: ids[rows.guild[row]!]!,
      channel: ids[rows.channel[row]!]!,
      thread_parent: parent < 0 ? null : ids[parent]!,
      author: ids[rows.author[row]!]!,
      bot: rows.bot[row] === 1,
      msg_type: rows.msgType[row]!,
      len: rows.len[row]!,
      mentions: rows.mentions[row]!,
    }
    const replyTo = rows.replyTo[row]!
    if (replyTo >= 0) event.reply_to_author = ids[replyTo]!
    events[i] = event
  }

  return makeTrace(`generated-${options.seed}-${totalMessages}`, events, {
    guildNames,
    channelNames,
    channelTypes,
    categoryOf,
  })
}

/**
 * Turns messages into replies in time order: a reply answers one of the last few authors of its
 * channel (rarely itself), and a few replies have no known author, as in the real trace. A bot's
 * reply with nobody to answer becomes a plain message.
 */
const assignReplies = (draw: Draw, rows: Columns, order: Uint32Array, idCount: number) => {
  const recentAuthors: Array<Array<number> | undefined> = new Array(idCount)
  for (const row of order) {
    const type = rows.msgType[row]!
    const author = rows.author[row]!
    const channel = rows.channel[row]!
    const candidate =
      type === 19 || (type === 0 && rows.bot[row] === 0 && draw.uniform() < shape.replyShare)
    let recent = recentAuthors[channel]
    if (candidate) {
      if (recent === undefined || recent.length === 0) {
        rows.msgType[row] = 0
      } else {
        rows.msgType[row] = 19
        if (draw.uniform() >= shape.replyWithoutAuthorShare) {
          rows.replyTo[row] = answeredAuthor(draw, recent, author)
        }
      }
    }
    const sent = rows.msgType[row]!
    if (sent === 0 || sent === 19 || sent === 20) {
      if (recent === undefined) {
        recent = []
        recentAuthors[channel] = recent
      }
      recent.push(author)
      if (recent.length > 8) recent.shift()
    }
  }
}

/** One of the channel's recent authors, someone other than `author` unless nobody else spoke. */
const answeredAuthor = (draw: Draw, recent: ReadonlyArray<number>, author: number): number => {
  const selfReply = draw.uniform() < 0.005
  for (let attempt = 0; attempt < 8; attempt++) {
    const candidate = recent[draw.int(recent.length)]!
    if (selfReply || candidate !== author) return candidate
  }
  return recent.find((candidate) => candidate !== author) ?? author
}
