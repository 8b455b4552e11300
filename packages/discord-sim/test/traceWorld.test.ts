import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { timestampMillis, unsafeMake } from "@tally/domain/Snowflake"
import { Effect } from "effect"
import { loadTrace, makeTrace, type Trace, type TraceMessage } from "../src/Trace"
import { generateTrace } from "../src/TraceGenerator"
import { type TraceWorld, worldFromTrace } from "../src/TraceWorld"
import type { WorldSpec } from "../src/World"

const fixtures = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "fixtures")
const START = Date.parse("2026-11-01T00:00:00Z")

const checkInvariants = (trace: Trace, world: TraceWorld) => {
  const guilds = new Map(world.guilds.map((guild) => [guild.id, guild]))

  // Every author is a member of the guild they wrote in, with the trace's bot flag.
  const members = new Map(
    world.guilds.flatMap((guild) =>
      guild.members.map((member) => [`${guild.id}/${member.userId}`, member] as const),
    ),
  )
  const notMembers = trace.events.filter(
    (event) =>
      !guilds.has(event.guild) || members.get(`${event.guild}/${event.author}`)?.bot !== event.bot,
  )
  expect(notMembers).toEqual([])

  for (const guild of world.guilds) {
    const channels = new Map(guild.channels.map((channel) => [channel.id, channel]))
    // Every thread has its parent as a channel of the guild, of a kind that can hold threads.
    for (const thread of guild.threads) {
      const parent = channels.get(thread.parent_id)
      expect(parent, `parent of thread ${thread.id}`).toBeDefined()
      expect([0, 5, 15]).toContain(parent!.type)
    }
    for (const channel of guild.channels) {
      if (channel.parent_id !== null) expect(channels.get(channel.parent_id)?.type).toBe(4)
    }
    expect(guild.members.some((member) => member.userId === guild.ownerId)).toBe(true)
  }

  // Message ids are unique snowflakes of start + t, increasing in trace order.
  expect(world.messages).toHaveLength(trace.events.length)
  const allIds = new Set<string>()
  const wrong = world.messages.filter((message, index) => {
    const event = trace.events[index]!
    allIds.add(message.id)
    return (
      timestampMillis(unsafeMake(message.id)) !== world.startMillis + event.t ||
      (index > 0 && BigInt(message.id) <= BigInt(world.messages[index - 1]!.id)) ||
      message.channel_id !== event.channel ||
      message.guild_id !== event.guild ||
      message.author !== event.author ||
      message.type !== event.msg_type
    )
  })
  expect(wrong).toEqual([])
  expect(allIds.size).toBe(world.messages.length)

  // The first message of each thread, and only it, announces the thread.
  const firstOfThread = new Map<string, number>()
  trace.events.forEach((event, index) => {
    if (event.thread_parent !== null && !firstOfThread.has(event.channel)) {
      firstOfThread.set(event.channel, index)
    }
  })
  const misannounced = world.messages.filter((message, index) => {
    const announces = firstOfThread.get(message.channel_id) === index
    return message.announceThreadFirst !== (announces ? message.channel_id : undefined)
  })
  expect(misannounced).toEqual([])
  const threadIds = world.guilds.flatMap((guild) => guild.threads.map((thread) => thread.id))
  expect(new Set(threadIds)).toEqual(new Set(firstOfThread.keys()))
}

const event = (fields: Partial<TraceMessage>): TraceMessage => ({
  t: 0,
  type: "message",
  guild: "10",
  channel: "20",
  thread_parent: null,
  author: "30",
  bot: false,
  msg_type: 0,
  len: 5,
  mentions: 0,
  ...fields,
})

describe("worldFromTrace keeps the trace's ids and makes every reference resolvable", () => {
  it("a generated trace with several guilds", () => {
    const trace = generateTrace({ seed: 9, messages: 20_000, guilds: 3 })
    const world = worldFromTrace(trace, { startMillis: START })
    checkInvariants(trace, world)
    expect(world.guilds).toHaveLength(3)
    const types = new Set(world.guilds.flatMap((guild) => guild.channels.map((c) => c.type)))
    expect(types).toEqual(new Set([0, 4, 15]))
  })

  it.effect("the DiscordChatExporter fixture, with its names, categories and types", () =>
    Effect.gen(function* () {
      const trace = yield* loadTrace(Path.join(fixtures, "dce-export"))
      const world = worldFromTrace(trace, { startMillis: START })
      checkInvariants(trace, world)
      const [guild] = world.guilds
      expect(guild!.name).toBe("Lantern Makers")
      expect(guild!.channels.map((channel) => [channel.name, channel.type])).toEqual([
        ["Text Channels", 4],
        ["general", 0],
        ["help", 0],
      ])
      expect(guild!.threads).toEqual([
        {
          id: "1235201556480000009",
          type: 11,
          parent_id: "551343693496320004",
          name: "firmware flashing",
        },
      ])
      expect(guild!.members.find((member) => member.bot)?.username).toBe("LampBot")
    }),
  )

  it("messages in the same millisecond get increasing ids that skip the trace's own ids", () => {
    const clash = BigInt(START - 1_420_070_400_000) << 22n
    const trace = makeTrace("same-ms", [
      event({ t: 0 }),
      event({ t: 0, author: (clash | 1n).toString() }),
      event({ t: 0 }),
      event({ t: 1 }),
    ])
    const world = worldFromTrace(trace, { startMillis: START })
    const lowBits = world.messages.map((message) => Number(BigInt(message.id) & 0x3fffffn))
    expect(lowBits).toEqual([0, 2, 3, 0])
    checkInvariants(trace, world)
  })

  it("a reply references the replied-to author's latest earlier message in its channel", () => {
    const trace = makeTrace("replies", [
      event({ t: 0, author: "31" }),
      event({ t: 1, author: "31" }),
      event({ t: 2, author: "30", msg_type: 19, reply_to_author: "31" }),
      event({ t: 3, author: "30", msg_type: 19, reply_to_author: "32" }),
    ])
    const world = worldFromTrace(trace, { startMillis: START })
    expect(world.messages[2]!.reply_to_author).toBe("31")
    expect(world.messages[2]!.referenced_message_id).toBe(world.messages[1]!.id)
    expect(world.messages[3]!.reply_to_author).toBe("32")
    expect(world.messages[3]!.referenced_message_id).toBeUndefined()
  })

  it("a thread parent with messages of its own is a text channel, one without is a forum", () => {
    const trace = makeTrace("parents", [
      event({ t: 0, channel: "21" }),
      event({ t: 1, channel: "40", thread_parent: "21" }),
      event({ t: 2, channel: "41", thread_parent: "22" }),
    ])
    const [guild] = worldFromTrace(trace, { startMillis: START }).guilds
    expect(guild!.channels.map((channel) => [channel.id, channel.type])).toEqual([
      ["21", 0],
      ["22", 15],
    ])
  })

  it("the default start is now minus the trace's span", () => {
    const trace = makeTrace("span", [event({ t: 0 }), event({ t: 60_000 })])
    const before = Date.now()
    const world = worldFromTrace(trace)
    expect(world.startMillis).toBeGreaterThanOrEqual(before - 60_000)
    expect(world.startMillis).toBeLessThanOrEqual(Date.now() - 60_000)
  })

  it("the world is a WorldSpec the simulator core accepts (checked by the compiler)", () => {
    const world = worldFromTrace(generateTrace({ seed: 1, messages: 500 }), { startMillis: START })
    const spec: WorldSpec = world
    expect(spec.messages).toHaveLength(500)
  })
})
