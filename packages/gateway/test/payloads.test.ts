import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import { decodeMessage, decodeMessageBySchema } from "../src/Payloads"

const snowflake = FastCheck.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String)
/** Values a field may wrongly hold: near misses of ids, numbers, nulls, objects. */
const junk = FastCheck.oneof(
  FastCheck.constant(null),
  FastCheck.integer(),
  FastCheck.boolean(),
  FastCheck.string({ maxLength: 8 }),
  FastCheck.constant("0123"),
  FastCheck.constant("18446744073709551616"),
  FastCheck.constant([]),
  FastCheck.constant({}),
)
const maybe = <A>(value: FastCheck.Arbitrary<A>) =>
  FastCheck.oneof(
    { weight: 6, arbitrary: value },
    { weight: 1, arbitrary: FastCheck.constant(undefined) },
    { weight: 1, arbitrary: junk },
  )

/** Payloads near the shape of a MESSAGE_CREATE: mostly valid, each field sometimes wrong. */
const payload = FastCheck.record(
  {
    id: maybe(snowflake),
    channel_id: maybe(snowflake),
    guild_id: maybe(snowflake),
    author: maybe(FastCheck.record({ id: maybe(snowflake), bot: maybe(FastCheck.boolean()) })),
    webhook_id: maybe(FastCheck.oneof(snowflake, FastCheck.constant(null))),
    member: maybe(FastCheck.record({ roles: maybe(FastCheck.array(maybe(snowflake))) })),
    type: maybe(FastCheck.integer({ min: 0, max: 50 })),
    content: maybe(FastCheck.string({ maxLength: 20 })),
    embeds: FastCheck.constant([]),
  },
  { requiredKeys: [] },
)

describe("MESSAGE_CREATE is decoded by hand exactly as the schema decodes it", () => {
  it.prop(
    "same fields for what the schema accepts, same error for what it rejects",
    [payload],
    ([data]) => {
      expect(decodeMessage(data)).toEqual(decodeMessageBySchema(data))
    },
  )

  it("a valid payload reduces to the fields Tally reads", () => {
    const decoded = decodeMessage({
      id: "1100000000000000001",
      channel_id: "1200000000000000001",
      guild_id: "1300000000000000001",
      author: { id: "1400000000000000001", username: "someone" },
      member: { roles: ["1500000000000000001"], nick: null },
      type: 19,
      content: "hello",
      mentions: [],
    })
    expect(decoded).toEqual(
      Either.right({
        messageId: "1100000000000000001",
        channelId: "1200000000000000001",
        guildId: "1300000000000000001",
        authorId: "1400000000000000001",
        authorBot: false,
        memberRoleIds: ["1500000000000000001"],
        messageType: 19,
        contentLength: 5,
      }),
    )
  })

  it("a webhook counts as a bot; no guild and no member are told apart from empty ones", () => {
    const decoded = decodeMessage({
      id: "1",
      channel_id: "2",
      author: { id: "3" },
      webhook_id: "4",
      type: 0,
    })
    expect(Either.getOrThrow(decoded)).toMatchObject({
      guildId: null,
      authorBot: true,
      memberRoleIds: null,
    })
  })

  it("a message that fails the hand check gets the schema's words for its error", () => {
    const bad = decodeMessage({ id: "01", channel_id: "2", author: { id: "3" }, type: 0 })
    expect(Either.isLeft(bad) && bad.left).toMatch(/^id: /)
  })
})
