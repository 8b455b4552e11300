import { describe, expect, it } from "@effect/vitest"
import { MessageEventParts, messageEventBytes, messageJson } from "../src/Payloads"
import { makeWorld, upsertMember, upsertUser } from "../src/World"
import { fixtureWorld } from "./support/fixture"

/** A world with one guild, and a text channel of it. */
const fixture = () => {
  const spec = fixtureWorld({ guilds: 1, messages: 0 })
  const world = makeWorld({ id: "1100000000000000001", username: "Tally" }, spec, 0)
  const guild = [...world.guilds.values()][0]
  const channel = [...(guild?.channels.values() ?? [])][1]
  if (!guild || !channel) throw new Error("fixture without a guild or channel")
  return { world, guild, channel }
}

describe("MESSAGE_CREATE bytes", () => {
  it("equal the JSON of the message object, for every optional part", () => {
    const { world, guild, channel } = fixture()
    const author = upsertUser(world, "1456074448196075901", false, "ünïcode 名前")
    const member = upsertMember(world, guild, { userId: author.id, roles: ["1"] }, 0)
    const mentioned = upsertUser(world, "1456074448196075902", false)
    const inputs = [
      { content: "", mentions: [], member },
      { content: 'quote " and \\ and ✓', mentions: [mentioned], member },
      { content: "reply", mentions: [], member: undefined, referencedMessageId: "42" },
      { content: "", mentions: [], member, embeds: [{ title: "t" }], webhookId: "77" },
    ]
    for (const fields of inputs) {
      const input = {
        id: "1456074448196099000",
        channel,
        author,
        type: 19,
        timestamp: "2026-01-01T00:00:00.000Z",
        ...fields,
      }
      const bytes = messageEventBytes(world, input)
      expect(bytes.toString("utf8")).toBe(JSON.stringify(messageJson(world, input, true)))
    }
  })

  it("a time given in milliseconds is written as its toISOString text, for any instant", () => {
    const { world, channel } = fixture()
    const author = upsertUser(world, "1456074448196075901", false)
    const input = {
      id: "1456074448196099000",
      channel,
      author,
      member: undefined,
      type: 0,
      mentions: [],
    }
    const instants = [
      0, 999, 86_399_999, 86_400_000, 1_767_225_599_999, 253_402_300_799_999, -1,
      253_402_300_800_000,
    ]
    for (let index = 0; index < 2000; index++) instants.push(Math.floor(Math.random() * 4e12))
    for (const millis of instants) {
      const text = new MessageEventParts(world, input, millis, "hi").build(false).toString("utf8")
      const expected = new MessageEventParts(world, input, new Date(millis).toISOString(), "hi")
      expect(text).toBe(expected.build(false).toString("utf8"))
      expect(JSON.parse(text).timestamp).toBe(new Date(millis).toISOString())
    }
  })
})
