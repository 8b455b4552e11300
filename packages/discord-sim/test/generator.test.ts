import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { Trace } from "../src/Trace"
import { generateTrace } from "../src/TraceGenerator"

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

const messagesPerHuman = (trace: Trace) => {
  const counts = new Map<string, number>()
  for (const event of trace.events) {
    if (event.bot) continue
    const key = `${event.guild}/${event.author}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts.values()]
}

const share = (trace: Trace, test: (event: Trace["events"][number]) => boolean) =>
  trace.events.filter(test).length / trace.events.length

describe("generateTrace is deterministic", () => {
  it("the same seed gives the same trace", () => {
    const a = generateTrace({ seed: 42, messages: 20_000, guilds: 2 })
    const b = generateTrace({ seed: 42, messages: 20_000, guilds: 2 })
    expect(b.events).toEqual(a.events)
    expect(b.channelNames).toEqual(a.channelNames)
    expect(b.name).toBe(a.name)
  })

  it("another seed gives another trace", () => {
    const a = generateTrace({ seed: 42, messages: 2_000 })
    const b = generateTrace({ seed: 43, messages: 2_000 })
    expect(b.events).not.toEqual(a.events)
  })

  it("it makes exactly the messages asked for, sorted by time, within the span", () => {
    for (const messages of [0, 1, 7, 199, 200, 5_001]) {
      const trace = generateTrace({ seed: messages, messages, guilds: 3 })
      expect(trace.events).toHaveLength(messages)
      for (let i = 1; i < trace.events.length; i++) {
        expect(trace.events[i]!.t).toBeGreaterThanOrEqual(trace.events[i - 1]!.t)
      }
      expect(trace.events.every((event) => event.t >= 0 && event.t <= trace.spanMillis)).toBe(true)
    }
  })
})

describe("laws of any generated trace", () => {
  it.prop(
    "exactly the messages asked for, in time order, with replies and thread parents consistent",
    {
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      messages: fc.integer({ min: 0, max: 3_000 }),
      guilds: fc.integer({ min: 1, max: 4 }),
    },
    ({ seed, messages, guilds }) => {
      const trace = generateTrace({ seed, messages, guilds })
      expect(trace.events).toHaveLength(messages)
      const threadParent = new Map<string, string | null>()
      const broken = trace.events.filter((event, index) => {
        const known = threadParent.get(event.channel)
        threadParent.set(event.channel, event.thread_parent)
        return (
          (index > 0 && event.t < trace.events[index - 1]!.t) ||
          (event.reply_to_author !== undefined && event.msg_type !== 19) ||
          // A channel is a thread or not, and a thread keeps one parent.
          (known !== undefined && known !== event.thread_parent)
        )
      })
      expect(broken).toEqual([])
      expect(trace.spanMillis).toBe(trace.events.at(-1)?.t ?? 0)
    },
    { fastCheck: { numRuns: 30 } },
  )
})

describe("a generated trace is shaped like the real one", () => {
  const trace = generateTrace({ seed: 2025, messages: 74_000 })

  it("messages per author: p50 ≈ 5, p90 ≈ 69, p99 ≈ 569", () => {
    const counts = messagesPerHuman(trace)
    expect(percentile(counts, 0.5)).toBeGreaterThanOrEqual(3)
    expect(percentile(counts, 0.5)).toBeLessThanOrEqual(8)
    expect(percentile(counts, 0.9)).toBeGreaterThanOrEqual(40)
    expect(percentile(counts, 0.9)).toBeLessThanOrEqual(110)
    expect(percentile(counts, 0.99)).toBeGreaterThanOrEqual(300)
    expect(percentile(counts, 0.99)).toBeLessThanOrEqual(900)
    expect(counts.length).toBeGreaterThan(1_000)
    expect(counts.length).toBeLessThan(3_500)
  })

  it("about 22 % replies, nearly all with the replied-to author, who is usually someone else", () => {
    const replies = trace.events.filter((event) => event.msg_type === 19)
    expect(replies.length / trace.events.length).toBeGreaterThan(0.18)
    expect(replies.length / trace.events.length).toBeLessThan(0.26)
    const withAuthor = replies.filter((event) => event.reply_to_author !== undefined)
    expect(withAuthor.length / replies.length).toBeGreaterThan(0.95)
    const toSelf = withAuthor.filter((event) => event.reply_to_author === event.author)
    expect(toSelf.length / withAuthor.length).toBeLessThan(0.05)
    expect(
      share(trace, (event) => event.msg_type !== 19 && event.reply_to_author !== undefined),
    ).toBe(0)
  })

  it("threads under text channels and forums hold a share of the messages", () => {
    const inThreads = share(trace, (event) => event.thread_parent !== null)
    expect(inThreads).toBeGreaterThan(0.2)
    expect(inThreads).toBeLessThan(0.4)
    const threads = new Set(
      trace.events.filter((event) => event.thread_parent !== null).map((event) => event.channel),
    )
    expect(threads.size).toBeGreaterThan(20)
    const parents = new Set(
      trace.events.flatMap((event) => (event.thread_parent === null ? [] : [event.thread_parent])),
    )
    const parentTypes = new Set([...parents].map((parent) => trace.channelTypes?.[parent]))
    expect(parentTypes).toEqual(new Set([0, 15]))
    for (const thread of threads) expect(trace.channelTypes?.[thread]).toBe(11)
  })

  it("some bots, and system messages at low rates", () => {
    const botShare = share(trace, (event) => event.bot)
    expect(botShare).toBeGreaterThan(0.01)
    expect(botShare).toBeLessThan(0.06)
    for (const systemType of [7, 6, 18, 4]) {
      const rate = share(trace, (event) => event.msg_type === systemType)
      expect(rate, `message type ${systemType}`).toBeGreaterThan(0)
      expect(rate, `message type ${systemType}`).toBeLessThan(0.02)
    }
    const botTypes = new Set(trace.events.filter((event) => event.bot).map((e) => e.msg_type))
    expect(botTypes.has(20)).toBe(true)
  })

  it("a member's join message comes before their other messages", () => {
    const firstTime = new Map<string, { t: number; msgType: number }>()
    for (const event of trace.events) {
      if (!firstTime.has(event.author))
        firstTime.set(event.author, { t: event.t, msgType: event.msg_type })
    }
    const joins = trace.events.filter((event) => event.msg_type === 7)
    expect(joins.length).toBeGreaterThan(100)
    for (const join of joins) expect(firstTime.get(join.author)!.msgType).toBe(7)
  })

  it("activity is skewed: the busiest channel has many times the median channel's messages", () => {
    const perChannel = new Map<string, number>()
    for (const event of trace.events) {
      const channel = event.thread_parent ?? event.channel
      perChannel.set(channel, (perChannel.get(channel) ?? 0) + 1)
    }
    const counts = [...perChannel.values()]
    expect(Math.max(...counts)).toBeGreaterThan(5 * percentile(counts, 0.5))
  })

  it("several guilds share a few members", () => {
    const multi = generateTrace({ seed: 5, messages: 60_000, guilds: 3 })
    const guildsOf = new Map<string, Set<string>>()
    for (const event of multi.events) {
      const guilds = guildsOf.get(event.author) ?? new Set()
      guilds.add(event.guild)
      guildsOf.set(event.author, guilds)
    }
    expect(new Set(multi.events.map((event) => event.guild)).size).toBe(3)
    const shared = [...guildsOf.values()].filter((guilds) => guilds.size > 1).length
    expect(shared).toBeGreaterThan(0)
    expect(shared).toBeLessThan(guildsOf.size * 0.1)
  })
})

describe("generateTrace is fast", () => {
  it("500,000 messages in a few seconds", () => {
    const started = performance.now()
    const trace = generateTrace({ seed: 1, messages: 500_000, guilds: 4 })
    const millis = performance.now() - started
    expect(trace.events).toHaveLength(500_000)
    // About 1 s on an idle machine; the bound leaves room for a busy CI runner.
    expect(millis).toBeLessThan(8_000)
  })
})
