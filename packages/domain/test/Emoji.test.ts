import { describe, expect, it } from "@effect/vitest"
import { Either, Option, Schema } from "effect"
import { decode, matchesReaction, parse, StoredEmoji, serialize } from "../src/Emoji"

const unicode = (value: string) => Option.some({ _tag: "Unicode", value })
const stored = (input: string) => Option.getOrThrow(parse(input))

describe("emoji settings accept Unicode, shortcodes and custom emojis (reference §10 item 3)", () => {
  it("Unicode ❤ (U+2764), ❤️ (with U+FE0F) and ❤️‍🔥 parse as themselves", () => {
    for (const text of ["\u2764", "\u2764\uFE0F", "❤️‍🔥", "🔴", "👍🏽", "🇩🇪", "1️⃣"]) {
      expect(parse(text), text).toEqual(unicode(text))
    }
  })

  it("heart and :heart: are ❤️ with U+FE0F; red_circle is 🔴", () => {
    expect(parse("heart")).toEqual(unicode("\u2764\uFE0F"))
    expect(parse(":heart:")).toEqual(unicode("\u2764\uFE0F"))
    expect(parse("red_circle")).toEqual(unicode("🔴"))
  })

  it("<:ThanksTeam:775119755618025512> is a custom emoji, not animated", () => {
    expect(parse("<:ThanksTeam:775119755618025512>")).toEqual(
      Option.some({
        _tag: "Custom",
        name: "ThanksTeam",
        id: "775119755618025512",
        animated: false,
      }),
    )
  })

  it("<a:…> is animated, and the forms without brackets are accepted", () => {
    expect(parse("<a:KazuhaPeek:854403361826275349>")).toMatchObject(
      Option.some({ animated: true, name: "KazuhaPeek" }),
    )
    expect(parse("a:KazuhaPeek:854403361826275349")).toMatchObject(Option.some({ animated: true }))
    expect(parse(":ThanksTeam:775119755618025512")).toMatchObject(Option.some({ animated: false }))
    expect(parse("KazuhaPeek:854403361826275349")).toMatchObject(
      Option.some({ _tag: "Custom", animated: false }),
    )
  })

  it("a too short id, unknown shortcodes, plain text, digits and two emojis are rejected", () => {
    for (const text of [
      ":ThanksTeam:123456789",
      "heartx",
      ":heartx:",
      "hello",
      "1",
      "#",
      "",
      "❤️❤️",
    ]) {
      expect(parse(text), text).toEqual(Option.none())
    }
  })

  it("an id above 2^64 − 1 is rejected", () => {
    expect(parse("<:Big:18446744073709551616>")).toEqual(Option.none())
  })

  it("serialises Unicode as is and custom emojis as <:name:id> / <a:name:id>", () => {
    expect(serialize({ _tag: "Unicode", value: "❤" })).toBe("❤")
    expect(serialize(stored(":emoji:1234567890123456789"))).toBe("<:emoji:1234567890123456789>")
    expect(serialize(stored("a:emoji:1234567890123456789"))).toBe("<a:emoji:1234567890123456789>")
  })

  it("parse then serialise round-trips the stored forms", () => {
    for (const text of [
      "❤",
      "❤️",
      "<:ThanksTeam:775119755618025512>",
      "<a:KazuhaPeek:854403361826275349>",
    ]) {
      expect(serialize(stored(text))).toBe(text)
    }
  })
})

describe("a reaction matches the vote emoji", () => {
  it("Unicode compares without variation selectors: ❤ matches ❤️ and the other way round", () => {
    expect(matchesReaction(stored("❤️"), { id: null, name: "\u2764" })).toBe(true)
    expect(matchesReaction(stored("\u2764"), { id: null, name: "\u2764\uFE0F" })).toBe(true)
    expect(matchesReaction(stored("\u2764\uFE0E"), { id: null, name: "\u2764\uFE0F" })).toBe(true)
  })

  it("a different Unicode emoji does not match", () => {
    expect(matchesReaction(stored("❤️"), { id: null, name: "💙" })).toBe(false)
    expect(matchesReaction(stored("❤️"), { id: null, name: "❤️‍🔥" })).toBe(false)
  })

  it("custom emojis match by id whatever their name, and never a Unicode reaction", () => {
    const custom = stored("<:ThanksTeam:775119755618025512>")
    expect(matchesReaction(custom, { id: "775119755618025512", name: "Renamed" })).toBe(true)
    expect(matchesReaction(custom, { id: "775119755618025513", name: "ThanksTeam" })).toBe(false)
    expect(matchesReaction(custom, { id: null, name: "ThanksTeam" })).toBe(false)
  })

  it("a custom reaction never matches a Unicode vote emoji", () => {
    expect(matchesReaction(stored("❤️"), { id: "775119755618025512", name: "❤️" })).toBe(false)
  })
})

describe("the stored emoji schema", () => {
  it("decodes any accepted form to its stored text", () => {
    const decode = Schema.decodeUnknownSync(StoredEmoji)
    expect(decode(":heart:")).toBe("❤️")
    expect(decode("a:Peek:854403361826275349")).toBe("<a:Peek:854403361826275349>")
  })

  it("rejects text that is no emoji", () => {
    expect(Schema.decodeUnknownEither(StoredEmoji)("heartx")._tag).toBe("Left")
  })
})

describe("decoding an emoji with a reason", () => {
  it("fails with InvalidEmoji naming the input and how to write an emoji", () => {
    const result = decode("heartx")
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left._tag).toBe("InvalidEmoji")
      expect(result.left.message).toBe(
        '"heartx": is no emoji: use a Unicode emoji, a :shortcode: or a custom <:name:id>',
      )
    }
  })

  it("succeeds with the parsed emoji", () => {
    expect(decode(":trophy:")).toEqual(Either.right({ _tag: "Unicode", value: "🏆" }))
  })
})
