import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import {
  fastDecodeMessage,
  loadTrace,
  type TraceMessage,
  TraceMessageSchema,
  toJsonl,
} from "../src/Trace"
import { countTrace } from "../src/TraceCount"
import { generateTrace } from "../src/TraceGenerator"
import { worldFromTrace } from "../src/TraceWorld"

const repoRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const sharedTraces = Path.resolve(repoRoot, "../shared/data/traces")
const meshcore = Path.join(sharedTraces, "meshcore-threads-2025.jsonl")

const scratch = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tally-trace-test-"))
afterAll(() => Fs.rmSync(scratch, { recursive: true, force: true }))

let fileNumber = 0
const writeTrace = (text: string, extension = ".jsonl") => {
  const path = Path.join(scratch, `trace-${++fileNumber}${extension}`)
  Fs.writeFileSync(path, text)
  return path
}

const message = (fields: Partial<TraceMessage> = {}): TraceMessage => ({
  t: 0,
  type: "message",
  guild: "100000000000000001",
  channel: "200000000000000001",
  thread_parent: null,
  author: "300000000000000001",
  bot: false,
  msg_type: 0,
  len: 12,
  mentions: 0,
  ...fields,
})
const line = (fields: Partial<TraceMessage> | Record<string, unknown>) =>
  JSON.stringify(message(fields as Partial<TraceMessage>))

const loadError = (path: string) =>
  Effect.map(Effect.either(loadTrace(path)), (result) => {
    if (Either.isRight(result)) throw new Error("expected the load to fail")
    return result.left
  })

describe("loadTrace reads JSONL traces", () => {
  it.effect("keeps every message and its fields, and the span is the last t", () =>
    Effect.gen(function* () {
      const path = writeTrace(
        [
          line({ t: 0 }),
          line({ t: 5, msg_type: 19, reply_to_author: "300000000000000002" }),
          line({ t: 9, channel: "200000000000000009", thread_parent: "200000000000000001" }),
        ].join("\n"),
      )
      const trace = yield* loadTrace(path)
      expect(trace.events).toHaveLength(3)
      expect(trace.spanMillis).toBe(9)
      expect(trace.name).toBe(Path.basename(path, ".jsonl"))
      expect(trace.events[1]).toEqual(
        message({ t: 5, msg_type: 19, reply_to_author: "300000000000000002" }),
      )
      expect(trace.events[2]!.thread_parent).toBe("200000000000000001")
    }),
  )

  it.effect("a generated trace written as JSONL loads back equal", () =>
    Effect.gen(function* () {
      const generated = generateTrace({ seed: 11, messages: 3_000 })
      const trace = yield* loadTrace(writeTrace(toJsonl(generated)))
      expect(trace.events).toEqual(generated.events)
      expect(trace.spanMillis).toBe(generated.spanMillis)
    }),
  )

  it.effect("lines out of time order are sorted, stably", () =>
    Effect.gen(function* () {
      const path = writeTrace(
        [line({ t: 30, len: 1 }), line({ t: 10, len: 2 }), line({ t: 30, len: 3 })].join("\n"),
      )
      const trace = yield* loadTrace(path)
      expect(trace.events.map((event) => event.len)).toEqual([2, 1, 3])
    }),
  )

  it.effect("Windows line ends and a byte-order mark are accepted", () =>
    Effect.gen(function* () {
      const path = writeTrace(`\uFEFF${line({ t: 1 })}\r\n${line({ t: 2 })}\r\n`)
      const trace = yield* loadTrace(path)
      expect(trace.events.map((event) => event.t)).toEqual([1, 2])
    }),
  )

  it.effect("blank lines and events of other types are passed over", () =>
    Effect.gen(function* () {
      const path = writeTrace(
        `${line({ t: 1 })}\n\n${JSON.stringify({ t: 2, type: "voice", guild: "1" })}\n${line({ t: 3 })}\n`,
      )
      const trace = yield* loadTrace(path)
      expect(trace.events.map((event) => event.t)).toEqual([1, 3])
    }),
  )
})

describe("a bad trace line fails with the file and the line number", () => {
  it.effect("a line that is not JSON", () =>
    Effect.gen(function* () {
      const path = writeTrace(`${line({ t: 1 })}\n${line({ t: 2 })}\n{"t":3,"type":"mess\n`)
      const error = yield* loadError(path)
      expect(error.reason).toBe("InvalidLine")
      expect(error.line).toBe(3)
      expect(error.message).toMatch(new RegExp(`^${path} line 3: not JSON`))
    }),
  )

  it.effect("a field of the wrong kind is named", () =>
    Effect.gen(function* () {
      const path = writeTrace(`${line({ t: 1 })}\n${line({ t: 2, len: -4 })}\n`)
      const error = yield* loadError(path)
      expect(error.line).toBe(2)
      expect(error.message).toContain("len")
    }),
  )

  it.effect("an id that is not a snowflake is named", () =>
    Effect.gen(function* () {
      const path = writeTrace(`${line({ author: "alice" })}\n`)
      const error = yield* loadError(path)
      expect(error.line).toBe(1)
      expect(error.message).toMatch(/author: expected a snowflake id/)
    }),
  )

  it.effect("a missing field is named", () =>
    Effect.gen(function* () {
      const { bot: _bot, ...withoutBot } = message()
      const path = writeTrace(`${line({})}\n${JSON.stringify(withoutBot)}\n`)
      const error = yield* loadError(path)
      expect(error.line).toBe(2)
      expect(error.message).toContain("bot")
    }),
  )

  it.effect("a missing file says so", () =>
    Effect.gen(function* () {
      const error = yield* loadError(Path.join(scratch, "nowhere.jsonl"))
      expect(error.reason).toBe("FileNotFound")
      expect(error.message).toContain("nowhere.jsonl: no such file")
    }),
  )

  it.effect("a file that is neither .jsonl nor .json is refused", () =>
    Effect.gen(function* () {
      const error = yield* loadError(writeTrace(line({}), ".txt"))
      expect(error.reason).toBe("UnknownFormat")
    }),
  )
})

describe("the fast line check agrees with TraceMessageSchema", () => {
  const badValues: ReadonlyArray<unknown> = [
    undefined,
    null,
    "",
    "12",
    "0",
    "01",
    "abc",
    "123456789012345678901",
    -1,
    1.5,
    Number.NaN,
    true,
    {},
    [],
  ]
  const fields = Object.keys(message({ reply_to_author: "300000000000000002" }))

  it("on every field set to a wrong or edge value, it accepts exactly what the schema accepts", () => {
    const decode = Schema.decodeUnknownEither(TraceMessageSchema)
    let compared = 0
    for (const field of fields) {
      for (const value of [...badValues, 0, 7, "300000000000000009"]) {
        const json: Record<string, unknown> = {
          ...message({ reply_to_author: "3000000000000002" }),
        }
        if (value === undefined) delete json[field]
        else json[field] = value
        const bySchema = decode(json)
        const byHand = fastDecodeMessage(json)
        expect(byHand === undefined, `${field} = ${JSON.stringify(value)}`).toBe(
          Either.isLeft(bySchema),
        )
        if (byHand !== undefined && Either.isRight(bySchema)) {
          expect(byHand).toEqual(bySchema.right)
        }
        compared++
      }
    }
    expect(compared).toBe(fields.length * (badValues.length + 3))
  })
})

const hasMeshcore = Fs.existsSync(meshcore)
describe("the shared MeshCore trace", () => {
  it.effect.skipIf(!hasMeshcore)(
    hasMeshcore
      ? "loads ../shared/data/traces/meshcore-threads-2025.jsonl (needs the shared trace) with the counts of its meta.json"
      : "SKIPPED: needs ../shared/data/traces/meshcore-threads-2025.jsonl, which is absent on this machine",
    () =>
      Effect.gen(function* () {
        const meta = JSON.parse(
          Fs.readFileSync(Path.join(sharedTraces, "meshcore-threads-2025.meta.json"), "utf8"),
        ) as {
          counts: { messages: number; authors: number; channels: number; threads: number }
          msg_type_histogram: Record<string, number>
        }
        const started = performance.now()
        const trace = yield* loadTrace(meshcore)
        const millis = performance.now() - started

        const authors = new Set(trace.events.map((event) => event.author))
        const channels = new Set(trace.events.map((event) => event.channel))
        const threads = new Set(
          trace.events.filter((event) => event.thread_parent !== null).map((e) => e.channel),
        )
        expect(trace.events.length).toBe(meta.counts.messages)
        expect(trace.events.length).toBe(73_987)
        expect(authors.size).toBe(meta.counts.authors)
        expect(authors.size).toBe(2_081)
        expect(channels.size).toBe(meta.counts.channels)
        expect(threads.size).toBe(meta.counts.threads)
        expect(threads.size).toBe(576)
        const histogram: Record<string, number> = {}
        for (const event of trace.events) {
          histogram[event.msg_type] = (histogram[event.msg_type] ?? 0) + 1
        }
        expect(histogram).toEqual(meta.msg_type_histogram)
        // Generous for a shared CI machine; a few hundred milliseconds when idle.
        expect(millis).toBeLessThan(10_000)

        const world = worldFromTrace(trace, { startMillis: Date.parse("2026-01-01T00:00:00Z") })
        const [guild] = world.guilds
        expect(world.guilds).toHaveLength(1)
        expect(guild!.members).toHaveLength(meta.counts.authors)
        expect(guild!.threads).toHaveLength(meta.counts.threads)
        const channelIds = new Set(guild!.channels.map((channel) => channel.id))
        expect(guild!.threads.every((thread) => channelIds.has(thread.parent_id))).toBe(true)
        const announced = world.messages.filter((m) => m.announceThreadFirst !== undefined)
        expect(announced).toHaveLength(meta.counts.threads)
        expect(new Set(world.messages.map((m) => m.id)).size).toBe(meta.counts.messages)

        // No bots in this trace: every default message and reply counts.
        const histogramOf = (type: number) => meta.msg_type_histogram[String(type)] ?? 0
        expect(countTrace(trace).totals.textMessages).toBe(histogramOf(0) + histogramOf(19))
      }),
  )
})
