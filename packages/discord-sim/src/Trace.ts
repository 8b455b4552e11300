import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { Data, Effect, Either, ParseResult, Schema } from "effect"
import { loadDceExport } from "./DceExport"

/**
 * One message of an activity trace (the `../shared/data/traces` format). `channel` is the thread
 * for a message in a thread, and `thread_parent` its parent channel.
 */
export interface TraceMessage {
  t: number
  type: "message"
  guild: string
  channel: string
  thread_parent: string | null
  author: string
  bot: boolean
  msg_type: number
  len: number
  mentions: number
  reply_to_author?: string
}

/**
 * A trace: messages sorted by `t` (milliseconds since the trace's start). The optional maps carry
 * what an input knows beyond the JSONL format (names, Discord channel types, categories); the world
 * builder falls back to made-up names and plain text channels without them.
 */
export interface Trace {
  readonly name: string
  readonly events: ReadonlyArray<TraceMessage>
  readonly spanMillis: number
  readonly guildNames?: Record<string, string>
  readonly channelNames?: Record<string, string>
  /** Discord channel type by channel id (0 text, 4 category, 5 announcement, 15 forum, 10–12 threads). */
  readonly channelTypes?: Record<string, number>
  /** The category of a top-level channel, by channel id. */
  readonly categoryOf?: Record<string, string>
  /** User names by user id (DiscordChatExporter exports carry them; anonymised traces do not). */
  readonly userNames?: Record<string, string>
}

export type TraceErrorReason =
  | "FileNotFound"
  | "ReadFailed"
  | "InvalidLine"
  | "InvalidExport"
  | "UnknownFormat"

export class TraceError extends Data.TaggedError("TraceError")<{
  readonly reason: TraceErrorReason
  readonly path: string
  readonly line?: number
  readonly detail: string
}> {
  override get message(): string {
    const where = this.line === undefined ? this.path : `${this.path} line ${this.line}`
    return `${where}: ${this.detail}`
  }
}

const idPattern = /^[1-9][0-9]{0,19}$/
const Id = Schema.String.pipe(
  Schema.pattern(idPattern, { message: () => "expected a snowflake id (digits)" }),
)
const Count = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

export const TraceMessageSchema = Schema.Struct({
  t: Count,
  type: Schema.Literal("message"),
  guild: Id,
  channel: Id,
  thread_parent: Schema.NullOr(Id),
  author: Id,
  bot: Schema.Boolean,
  msg_type: Count,
  len: Count,
  mentions: Count,
  reply_to_author: Schema.optionalWith(Id, { exact: true }),
})

const decodeMessage = Schema.decodeUnknownEither(TraceMessageSchema, { errors: "all" })

const describeParseError = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) =>
      issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`,
    )
    .join("; ")

const isId = (value: unknown): value is string => typeof value === "string" && idPattern.test(value)
const isCount = (value: unknown): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= 0

/**
 * The same rules as `TraceMessageSchema`, checked by hand: decoding every line with the schema is
 * several times slower than parsing it. A line this refuses goes through the schema, which gives
 * the error (tests check that both agree).
 */
export const fastDecodeMessage = (json: Record<string, unknown>): TraceMessage | undefined => {
  const { t, guild, channel, thread_parent, author, bot, msg_type, len, mentions } = json
  const replyTo = json.reply_to_author
  if (
    !isCount(t) ||
    json.type !== "message" ||
    !isId(guild) ||
    !isId(channel) ||
    !(thread_parent === null || isId(thread_parent)) ||
    !isId(author) ||
    typeof bot !== "boolean" ||
    !isCount(msg_type) ||
    !isCount(len) ||
    !isCount(mentions) ||
    !(replyTo === undefined || isId(replyTo))
  ) {
    return undefined
  }
  const message: TraceMessage = {
    t,
    type: "message",
    guild,
    channel,
    thread_parent,
    author,
    bot,
    msg_type,
    len,
    mentions,
  }
  if (replyTo !== undefined) message.reply_to_author = replyTo
  return message
}

/** Decodes one JSONL line. `undefined` for events of types this version does not replay. */
export const decodeTraceLine = (text: string): Either.Either<TraceMessage | undefined, string> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return Either.left(`not JSON (${(error as Error).message})`)
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left("expected a JSON object")
  }
  const type = (json as { type?: unknown }).type
  if (typeof type !== "string") return Either.left('type: expected a string such as "message"')
  if (type !== "message") return Either.right(undefined)
  const fast = fastDecodeMessage(json as Record<string, unknown>)
  if (fast !== undefined) return Either.right(fast)
  return Either.mapLeft(decodeMessage(json), describeParseError)
}

/** One JSONL line of a message, the inverse of `decodeTraceLine`. */
export const encodeTraceLine = (message: TraceMessage): string => JSON.stringify(message)

export const toJsonl = (trace: Trace): string =>
  trace.events.map((message) => `${encodeTraceLine(message)}\n`).join("")

/**
 * The indexes of `times` in increasing order, stable (equal times keep their order): a radix sort,
 * as comparison sorts of large arrays are slow.
 */
export const timeOrder = (times: Float64Array): Uint32Array => {
  const count = times.length
  let latest = 0
  for (let i = 0; i < count; i++) if (times[i]! > latest) latest = times[i]!
  let order = new Uint32Array(count)
  for (let i = 0; i < count; i++) order[i] = i
  let next = new Uint32Array(count)
  const bits = Math.max(1, Math.ceil(Math.log2(latest + 1)))
  const passes = Math.ceil(bits / 18)
  const radix = 2 ** Math.ceil(bits / passes)
  const starts = new Uint32Array(radix + 1)
  const digits = new Uint32Array(count)
  for (let pass = 0, divisor = 1; pass < passes; pass++, divisor *= radix) {
    starts.fill(0)
    for (let i = 0; i < count; i++) {
      const digit = Math.floor(times[i]! / divisor) % radix
      digits[i] = digit
      starts[digit + 1]!++
    }
    for (let digit = 1; digit <= radix; digit++) starts[digit]! += starts[digit - 1]!
    for (let i = 0; i < count; i++) {
      const index = order[i]!
      next[starts[digits[index]!]!++] = index
    }
    ;[order, next] = [next, order]
  }
  return order
}

/** Messages in time order, stable. */
export const sortByTime = (events: ReadonlyArray<TraceMessage>): Array<TraceMessage> =>
  Array.from(timeOrder(Float64Array.from(events, (event) => event.t)), (index) => events[index]!)

/** Builds a trace from messages in any order (sorted stably by `t`). */
export const makeTrace = (
  name: string,
  events: ReadonlyArray<TraceMessage>,
  extra: Omit<Trace, "name" | "events" | "spanMillis"> = {},
): Trace => {
  let sorted = true
  for (let i = 1; i < events.length; i++) {
    if (events[i]!.t < events[i - 1]!.t) {
      sorted = false
      break
    }
  }
  const inOrder = sorted ? events : sortByTime(events)
  const spanMillis = inOrder.length === 0 ? 0 : inOrder[inOrder.length - 1]!.t
  return { name, events: inOrder, spanMillis, ...extra }
}

const traceName = (path: string) => Path.basename(path).replace(/\.(jsonl|json)$/i, "")

/** Streams a JSONL trace, validating every line; the first bad line fails with its number. */
export const loadJsonl = (path: string): Effect.Effect<Trace, TraceError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const events: Array<TraceMessage> = []
      const lines = Readline.createInterface({
        input: Fs.createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20, signal }),
        crlfDelay: Number.POSITIVE_INFINITY,
      })
      let lineNumber = 0
      try {
        for await (const text of lines) {
          lineNumber++
          if (text.trim() === "") continue
          // A byte-order mark some editors put at the start of the file is not part of the JSON.
          const decoded = decodeTraceLine(lineNumber === 1 ? text.replace(/^\uFEFF/, "") : text)
          if (Either.isLeft(decoded)) {
            throw new TraceError({
              reason: "InvalidLine",
              path,
              line: lineNumber,
              detail: decoded.left,
            })
          }
          if (decoded.right !== undefined) events.push(decoded.right)
        }
      } finally {
        lines.close()
      }
      return makeTrace(traceName(path), events)
    },
    catch: (error) => (error instanceof TraceError ? error : fileError(path)(error)),
  }).pipe(Effect.withSpan("Trace.loadJsonl", { attributes: { path } }))

/** A file system error as a `TraceError`: a missing path is `FileNotFound`. */
export const fileError =
  (path: string) =>
  (error: unknown): TraceError =>
    (error as NodeJS.ErrnoException).code === "ENOENT"
      ? new TraceError({ reason: "FileNotFound", path, detail: "no such file or folder" })
      : new TraceError({ reason: "ReadFailed", path, detail: String(error) })

const statOf = (path: string) =>
  Effect.tryPromise({ try: () => Fs.promises.stat(path), catch: fileError(path) })

/**
 * Loads a trace from a `.jsonl` file, a DiscordChatExporter JSON export, or a folder of DCE
 * exports (searched recursively).
 */
export const loadTrace = (path: string): Effect.Effect<Trace, TraceError> =>
  Effect.gen(function* () {
    const stat = yield* statOf(path)
    if (stat.isDirectory()) return yield* loadDceExport(path)
    if (/\.jsonl$/i.test(path)) return yield* loadJsonl(path)
    if (/\.json$/i.test(path)) return yield* loadDceExport(path)
    return yield* new TraceError({
      reason: "UnknownFormat",
      path,
      detail: "expected a .jsonl trace, a DiscordChatExporter .json export or a folder of them",
    })
  })
