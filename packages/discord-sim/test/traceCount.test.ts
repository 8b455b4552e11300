import { describe, expect, it } from "@effect/vitest"
import { makeTrace, type TraceMessage } from "../src/Trace"
import { channelKey, countTrace, memberKey } from "../src/TraceCount"
import { generateTrace } from "../src/TraceGenerator"

const GUILD_A = "1001"
const GUILD_B = "1002"
const GENERAL = "2001"
const HELP = "2002"
const THREAD = "2101"
const OTHER_GUILD_CHANNEL = "2201"
const ADA = "3001"
const BEN = "3002"
const BOT = "3900"

const message = (fields: Partial<TraceMessage>): TraceMessage => ({
  t: 0,
  type: "message",
  guild: GUILD_A,
  channel: GENERAL,
  thread_parent: null,
  author: ADA,
  bot: false,
  msg_type: 0,
  len: 10,
  mentions: 0,
  ...fields,
})

// A hand-made trace with known answers.
const trace = makeTrace("hand-made", [
  message({ t: 0 }), // ada, general: counted
  message({ t: 1, msg_type: 19, reply_to_author: BEN }), // ada reply: counted
  message({ t: 2, author: BEN, msg_type: 7 }), // ben joins: skipped
  message({ t: 3, author: BEN, channel: THREAD, thread_parent: HELP }), // counts for help
  message({ t: 4, author: BEN, channel: THREAD, thread_parent: HELP, msg_type: 19 }), // help
  message({ t: 5, author: BOT, bot: true }), // bot: skipped
  message({ t: 6, author: BOT, bot: true, msg_type: 19 }), // bot reply: skipped
  message({ t: 7, author: ADA, msg_type: 6 }), // pin notice: skipped
  message({ t: 8, author: ADA, channel: THREAD, thread_parent: HELP, msg_type: 4 }), // rename
  message({ t: 9, author: ADA, msg_type: 20 }), // slash-command message: skipped
  message({ t: 10, guild: GUILD_B, channel: OTHER_GUILD_CHANNEL }), // ada in guild B: counted
  message({ t: 11, author: ADA }), // ada again, no cooldown: counted
])

describe("countTrace counts like a bot with default settings", () => {
  const count = countTrace(trace)

  it("6 XP per counted message; bots and system messages are skipped", () => {
    expect(count.members.get(memberKey(GUILD_A, ADA))).toEqual({
      guildId: GUILD_A,
      userId: ADA,
      textMessages: 3,
      xp: 18,
    })
    expect(count.members.get(memberKey(GUILD_A, BEN))).toEqual({
      guildId: GUILD_A,
      userId: BEN,
      textMessages: 2,
      xp: 12,
    })
    expect(count.members.has(memberKey(GUILD_A, BOT))).toBe(false)
    expect(count.totals).toEqual({ textMessages: 6, xp: 36, skipped: 6 })
  })

  it("a member is counted per guild", () => {
    expect(count.members.get(memberKey(GUILD_B, ADA))?.textMessages).toBe(1)
    expect(count.members.size).toBe(3)
  })

  it("a message in a thread counts for the thread's parent channel", () => {
    expect(count.channels.get(channelKey(GUILD_A, HELP))?.textMessages).toBe(2)
    expect(count.channels.has(channelKey(GUILD_A, THREAD))).toBe(false)
    expect(count.channels.get(channelKey(GUILD_A, GENERAL))?.textMessages).toBe(3)
    expect(count.channels.get(channelKey(GUILD_B, OTHER_GUILD_CHANNEL))?.textMessages).toBe(1)
  })

  it("messages in a voice channel's text chat are skipped; text and announcement channels count", () => {
    const VOICE = "2301"
    const NEWS = "2302"
    const typed = makeTrace(
      "typed",
      [
        message({ t: 0, channel: VOICE }),
        message({ t: 1, channel: NEWS }),
        message({ t: 2, channel: THREAD, thread_parent: HELP }),
        message({ t: 3 }),
      ],
      { channelTypes: { [VOICE]: 2, [NEWS]: 5, [THREAD]: 11, [GENERAL]: 0 } },
    )
    const typedCount = countTrace(typed)
    expect(typedCount.totals).toEqual({ textMessages: 3, xp: 18, skipped: 1 })
    expect(typedCount.channels.has(channelKey(GUILD_A, VOICE))).toBe(false)
  })

  it("XP per message can be changed", () => {
    expect(countTrace(trace, { xpPerTextMessage: 15 }).totals.xp).toBe(90)
  })

  it("member totals and channel totals add up to the same number of messages", () => {
    const generated = countTrace(generateTrace({ seed: 3, messages: 10_000, guilds: 2 }))
    const byMember = [...generated.members.values()].reduce((sum, m) => sum + m.textMessages, 0)
    const byChannel = [...generated.channels.values()].reduce((s, c) => s + c.textMessages, 0)
    expect(byMember).toBe(generated.totals.textMessages)
    expect(byChannel).toBe(generated.totals.textMessages)
    expect(generated.totals.skipped).toBeGreaterThan(0)
    expect(generated.totals.textMessages + generated.totals.skipped).toBe(10_000)
  })
})
