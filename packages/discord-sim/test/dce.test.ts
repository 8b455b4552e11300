import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { timestampMillis, unsafeMake } from "@tally/domain/Snowflake"
import { Effect, Either } from "effect"
import { loadDceExport, traceFromDceExports } from "../src/DceExport"
import { loadTrace } from "../src/Trace"

const fixtures = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "fixtures")
const exportFolder = Path.join(fixtures, "dce-export")
const helpThreadFile = Path.join(
  exportFolder,
  "help",
  "Lantern Makers - help - firmware flashing [1235201556480000009].json",
)

// The fixture's ids (made up; see test/fixtures/dce-export).
const guild = "551342938521600001"
const textChannelsCategory = "551343190179840002"
const general = "551343441838080003"
const help = "551343693496320004"
const thread = "1235201556480000009"
const ada = "319746893414400005"
const ben = "402371326771200006"
const cleo = "779254706995200007"
const lampbot = "540803491430400008"
const firstMessageId = "1235199040946176010"

const scratch = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tally-dce-test-"))
afterAll(() => Fs.rmSync(scratch, { recursive: true, force: true }))

describe("a folder of DiscordChatExporter exports becomes one trace", () => {
  it.effect("every message once, in time order, with Discord's message types", () =>
    Effect.gen(function* () {
      const trace = yield* loadTrace(exportFolder)
      expect(trace.name).toBe("dce-export")
      // 5 + 3 in general (one message in both parts), 2 in help, 3 in the thread.
      expect(trace.events).toHaveLength(12)
      expect(trace.events.map((event) => [event.author, event.msg_type])).toEqual([
        [ada, 0],
        [cleo, 7],
        [ben, 19],
        [lampbot, 0],
        [ada, 6],
        [ada, 19],
        [cleo, 0],
        [cleo, 18],
        [cleo, 0],
        [ada, 19],
        [cleo, 19],
        [lampbot, 20],
      ])
    }),
  )

  it.effect("time comes from the snowflake id: t is milliseconds after the first message", () =>
    Effect.gen(function* () {
      const trace = yield* loadTrace(exportFolder)
      const start = timestampMillis(unsafeMake(firstMessageId))
      expect(new Date(start).toISOString()).toBe("2024-05-01T12:00:00.250Z")
      expect(trace.events[0]!.t).toBe(0)
      expect(trace.events[1]!.t).toBe(Date.parse("2024-05-01T12:01:30Z") - start)
      expect(trace.spanMillis).toBe(Date.parse("2024-05-02T08:00:00Z") - start)
    }),
  )

  it.effect("a thread's messages name its parent channel; others have none", () =>
    Effect.gen(function* () {
      const trace = yield* loadTrace(exportFolder)
      const inThread = trace.events.filter((event) => event.channel === thread)
      expect(inThread).toHaveLength(3)
      expect(inThread.every((event) => event.thread_parent === help)).toBe(true)
      const outside = trace.events.filter((event) => event.channel !== thread)
      expect(outside.every((event) => event.thread_parent === null)).toBe(true)
      expect(new Set(trace.events.map((event) => event.guild))).toEqual(new Set([guild]))
      expect(trace.channelTypes?.[thread]).toBe(11)
      expect(trace.channelTypes?.[general]).toBe(0)
      expect(trace.categoryOf?.[general]).toBe(textChannelsCategory)
      expect(trace.channelNames?.[help]).toBe("help")
      expect(trace.channelNames?.[textChannelsCategory]).toBe("Text Channels")
      expect(trace.guildNames?.[guild]).toBe("Lantern Makers")
    }),
  )

  it.effect("bots, replies and mentions are kept; content only as its length", () =>
    Effect.gen(function* () {
      const trace = yield* loadTrace(exportFolder)
      const [first, , benReply, botWelcome, , adaReply] = trace.events
      expect(first!.len).toBe("Morning all! Kit v2 boards arrived.".length)
      expect(botWelcome!.bot).toBe(true)
      expect(botWelcome!.mentions).toBe(1)
      expect(benReply!.reply_to_author).toBe(ada)
      // ada answers ben and also names cleo: the reply ping to ben is not a text mention.
      expect(adaReply!.reply_to_author).toBe(ben)
      expect(adaReply!.mentions).toBe(1)
      expect(adaReply!.len).toBe([..."@ben the 868 one 🙂 @cleo"].length)
      const threadReplies = trace.events.filter(
        (event) => event.channel === thread && event.msg_type === 19,
      )
      expect(threadReplies[0]!.reply_to_author).toBe(cleo)
      // The last reply points at a message outside the export: its author stays unknown.
      expect(threadReplies[1]!.reply_to_author).toBeUndefined()
      expect(trace.userNames?.[lampbot]).toBe("LampBot")
    }),
  )

  it.effect("a single export file loads on its own", () =>
    Effect.gen(function* () {
      const trace = yield* loadDceExport(helpThreadFile)
      expect(trace.events).toHaveLength(3)
      expect(trace.events[0]!.t).toBe(0)
      expect(trace.name).toBe("Lantern Makers - help - firmware flashing [1235201556480000009]")
    }),
  )
})

describe("a bad export fails naming the file and what is wrong", () => {
  const exportWith = (change: (json: { messages: Array<Record<string, unknown>> }) => void) => {
    const json = JSON.parse(Fs.readFileSync(helpThreadFile, "utf8"))
    change(json)
    return json as unknown
  }

  it("an unknown message type names the message", () => {
    const json = exportWith((exported) => {
      exported.messages[1]!.type = "Singing"
    })
    const result = traceFromDceExports("x", [{ path: "bad.json", json }])
    if (Either.isRight(result)) throw new Error("expected a failure")
    expect(result.left.reason).toBe("InvalidExport")
    expect(result.left.message).toBe(
      'bad.json: message 1235201808138240019: unknown message type "Singing"',
    )
  })

  it("a message type DiscordChatExporter writes as a number is that number", () => {
    const json = exportWith((exported) => {
      exported.messages[0]!.type = "21"
    })
    const result = traceFromDceExports("x", [{ path: "numbered.json", json }])
    if (Either.isLeft(result)) throw result.left
    expect(result.right.events[0]!.msg_type).toBe(21)
  })

  it("a missing author id names the field and the message", () => {
    const json = exportWith((exported) => {
      exported.messages[2]!.author = { name: "ghost" }
    })
    const result = traceFromDceExports("x", [{ path: "ghost.json", json }])
    if (Either.isRight(result)) throw new Error("expected a failure")
    expect(result.left.message).toMatch(
      /^ghost\.json: not a DiscordChatExporter JSON export: messages\.2\.author\.id \(message 1235202059796480020\)/,
    )
  })

  it("a direct-message export is passed over: it belongs to no guild", () => {
    const thread = exportWith(() => {})
    const direct = exportWith((exported) => {
      const json = exported as unknown as { channel: { type: string } }
      json.channel.type = "DirectTextChat"
      exported.messages.forEach((message, index) => {
        message.id = `12352020597964800${30 + index}`
      })
    })
    const result = traceFromDceExports("x", [
      { path: "thread.json", json: thread },
      { path: "dm.json", json: direct },
    ])
    if (Either.isLeft(result)) throw result.left
    expect(result.right.events).toHaveLength(3)
  })

  it.effect("a file that is not JSON, in a folder, is named", () =>
    Effect.gen(function* () {
      const folder = Path.join(scratch, "broken")
      Fs.mkdirSync(folder, { recursive: true })
      Fs.copyFileSync(helpThreadFile, Path.join(folder, "good.json"))
      Fs.writeFileSync(Path.join(folder, "truncated.json"), '{"guild": {"id": "1"')
      const result = yield* Effect.either(loadTrace(folder))
      if (Either.isRight(result)) throw new Error("expected a failure")
      expect(result.left.reason).toBe("InvalidExport")
      expect(result.left.message).toMatch(/truncated\.json: not JSON/)
    }),
  )

  it.effect("an empty folder says there are no exports", () =>
    Effect.gen(function* () {
      const folder = Path.join(scratch, "empty")
      Fs.mkdirSync(folder, { recursive: true })
      const result = yield* Effect.either(loadTrace(folder))
      if (Either.isRight(result)) throw new Error("expected a failure")
      expect(result.left.message).toContain("no DiscordChatExporter .json exports")
    }),
  )
})
