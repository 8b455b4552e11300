import { fromTimestamp } from "@tally/domain/Snowflake"
import { makeTrace, sortByTime, type Trace, type TraceMessage } from "./Trace"

/**
 * Shape of a generated trace, fitted to `meshcore-threads-2025.meta.json`: messages per human
 * author are log-normal with median 5, p90 69, p99 ≈ 570 (μ = ln 5, σ = 2.05); ~22 % of messages
 * are replies, ~4 % mention someone, message length has median 64 and p90 212. Threads follow the
 * same trace (median 9 messages, p90 240; median life 12 days). That trace lacks its big top-level
 * channels, so the share of messages in threads is set by hand.
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
  readonly id: string
  readonly parent: string
  readonly createdAt: number
  readonly lifeMillis: number
  readonly size: number
  readonly inForum: boolean
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

  // Ids are snowflakes of instants in 2016–2021 (before any replay) with a running counter in the
  // low bits, so they are unique and never collide with message ids of a replay.
  let idCounter = 0
  const idFrom = 1_451_606_400_000
  const idSpan = 6 * 365 * DAY
  const newId = (): string => fromTimestamp(idFrom + draw.int(idSpan), ++idCounter & 0x3fffff)

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

  const generateGuild = (
    guildIndex: number,
    messages: number,
    sharedAuthors: ReadonlyArray<string>,
  ): { events: Array<TraceMessage>; authorIds: Array<string> } => {
    const guild = newId()
    guildNames[guild] = guildIndex === 0 ? "Generated Guild" : `Generated Guild ${guildIndex + 1}`
    const events: Array<TraceMessage> = []
    const withExtras = messages >= 200

    // Channels: text channels in categories with Zipf-skewed activity, forums for threads.
    const textCount = Math.min(40, Math.max(1, Math.round(2 + Math.sqrt(messages) / 15)))
    const forumCount = messages >= 500 ? Math.max(1, Math.round(textCount / 5)) : 0
    const categories = Array.from({ length: Math.ceil(textCount / 5) }, (_, index) => {
      const id = newId()
      channelNames[id] = categoryWords[index] ?? `Category ${index + 1}`
      channelTypes[id] = 4
      return id
    })
    const textChannels = Array.from({ length: textCount }, (_, index) => {
      const id = newId()
      channelNames[id] = channelWords[index] ?? `channel-${index + 1}`
      channelTypes[id] = 0
      categoryOf[id] = categories[Math.floor(index / 5)]!
      return id
    })
    const forums = Array.from({ length: forumCount }, (_, index) => {
      const id = newId()
      channelNames[id] = forumWords[index] ?? `forum-${index + 1}`
      channelTypes[id] = 15
      return id
    })
    const textCumulative = zipfCumulative(textCount, 1.1)
    const randomTextChannel = () => textChannels[draw.pick(textCumulative)]!
    const systemChannel = textChannels[0]!
    const botChannel = textChannels[textCount - 1]!
    if (textCount >= 3) channelNames[botChannel] = "bot-commands"

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
      const id = newId()
      channelNames[id] = `${channelNames[parent]}-thread-${index + 1}`
      channelTypes[id] = 11
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
    const authorIds = counts.map((_, index) =>
      index < sharedAuthors.length && draw.uniform() < 0.05 ? sharedAuthors[index]! : newId(),
    )
    let busiest = 0
    counts.forEach((count, index) => {
      if (count > counts[busiest]!) busiest = index
    })
    const owner = authorIds[busiest]!
    const joinTarget = withExtras ? Math.round(messages * shape.rates.joins) : 0
    const joiners: Array<string> = []
    for (let index = 0; index < counts.length && joiners.length < joinTarget; index++) {
      if (counts[index]! >= 2 && draw.uniform() < 0.5) {
        counts[index]!--
        joiners.push(authorIds[index]!)
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
    const nextHuman = () => authorIds[tokens[nextToken++]!]!
    const post = (
      t: number,
      channel: string,
      threadParent: string | null,
      author: string,
      msgType: number,
      len: number,
      mentions: number,
    ) => {
      events.push({
        t,
        type: "message",
        guild,
        channel,
        thread_parent: threadParent,
        author,
        bot: false,
        msg_type: msgType,
        len,
        mentions,
      })
    }
    const say = (t: number, channel: string, threadParent: string | null, author: string) =>
      post(t, channel, threadParent, author, 0, messageLength(), mentionCount())
    const notice = (
      t: number,
      channel: string,
      threadParent: string | null,
      author: string,
      msgType: number,
    ) => post(t, channel, threadParent, author, msgType, 0, 0)

    // Thread messages: the first at creation, the rest front-loaded over the thread's life.
    const starters = new Map<string, string>()
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
      notice(thread.createdAt, thread.parent, null, starters.get(thread.id) ?? owner, 18)
    }
    for (let i = 0; i < renames; i++) {
      const thread = threads[draw.int(threads.length)]!
      const t = thread.createdAt + draw.int(thread.lifeMillis)
      notice(t, thread.id, thread.parent, starters.get(thread.id) ?? owner, 4)
    }
    while (nextToken < tokens.length) say(topLevelTime(), randomTextChannel(), null, nextHuman())
    for (let i = 0; i < pins; i++) notice(topLevelTime(), randomTextChannel(), null, owner, 6)

    const firstSeen = new Map<string, number>()
    for (const event of events) {
      const seen = firstSeen.get(event.author)
      if (seen === undefined || event.t < seen) firstSeen.set(event.author, event.t)
    }
    for (const joiner of joiners) {
      const first = firstSeen.get(joiner) ?? topLevelTime()
      notice(Math.max(0, first - 1 - draw.int(2 * DAY)), systemChannel, null, joiner, 7)
    }

    // Bots: slash-command answers (20), replies and plain posts, mostly in their own channel.
    const botCount = botMessages === 0 ? 0 : messages >= 20_000 ? 3 : messages >= 2_000 ? 2 : 1
    const bots = Array.from({ length: botCount }, () => newId())
    apportion(botMessages, [0.6, 0.3, 0.1].slice(0, botCount)).forEach((count, index) => {
      for (let i = 0; i < count; i++) {
        const u = draw.uniform()
        events.push({
          t: topLevelTime(),
          type: "message",
          guild,
          channel: draw.uniform() < 0.6 ? botChannel : randomTextChannel(),
          thread_parent: null,
          author: bots[index]!,
          bot: true,
          msg_type: u < 0.5 ? 20 : u < 0.7 ? 19 : 0,
          len: messageLength(),
          mentions: draw.uniform() < 0.2 ? 1 : 0,
        })
      }
    })
    return { events, authorIds }
  }

  const guildMessages = apportion(
    totalMessages,
    Array.from({ length: guildCount }, (_, index) => 1 / (index + 1) ** 0.7),
  )
  const events: Array<TraceMessage> = []
  let sharedAuthors: ReadonlyArray<string> = []
  guildMessages.forEach((messages, index) => {
    const guild = generateGuild(index, messages, sharedAuthors)
    if (index === 0) sharedAuthors = guild.authorIds
    for (const event of guild.events) events.push(event)
  })
  const sorted = sortByTime(events)
  assignReplies(draw, sorted)

  return makeTrace(`generated-${options.seed}-${totalMessages}`, sorted, {
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
const assignReplies = (draw: Draw, events: Array<TraceMessage>) => {
  const recentAuthors = new Map<string, Array<string>>()
  for (const event of events) {
    const candidate =
      event.msg_type === 19 ||
      (event.msg_type === 0 && !event.bot && draw.uniform() < shape.replyShare)
    let recent = recentAuthors.get(event.channel)
    if (candidate) {
      if (recent === undefined || recent.length === 0) {
        event.msg_type = 0
      } else {
        event.msg_type = 19
        if (draw.uniform() >= shape.replyWithoutAuthorShare) {
          event.reply_to_author = answeredAuthor(draw, recent, event.author)
        }
      }
    }
    if (event.msg_type === 0 || event.msg_type === 19 || event.msg_type === 20) {
      if (recent === undefined) {
        recent = []
        recentAuthors.set(event.channel, recent)
      }
      recent.push(event.author)
      if (recent.length > 8) recent.shift()
    }
  }
}

/** One of the channel's recent authors, someone other than `author` unless nobody else spoke. */
const answeredAuthor = (draw: Draw, recent: ReadonlyArray<string>, author: string): string => {
  const selfReply = draw.uniform() < 0.005
  for (let attempt = 0; attempt < 8; attempt++) {
    const candidate = recent[draw.int(recent.length)]!
    if (selfReply || candidate !== author) return candidate
  }
  return recent.find((candidate) => candidate !== author) ?? author
}
