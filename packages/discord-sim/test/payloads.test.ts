import { describe, expect, it } from "@effect/vitest"
import { messageEventBytes, messageJson } from "../src/Payloads"
import { makeWorld, upsertMember, upsertUser } from "../src/World"
import { fixtureWorld } from "./support/fixture"

describe("MESSAGE_CREATE bytes", () => {
  it("equal the JSON of the message object, for every optional part", () => {
    const spec = fixtureWorld({ guilds: 1, messages: 0 })
    const world = makeWorld({ id: "1100000000000000001", username: "Tally" }, spec, 0)
    const guild = [...world.guilds.values()][0]
    const channel = [...(guild?.channels.values() ?? [])][1]
    if (!guild || !channel) throw new Error("fixture without a guild or channel")
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
})
