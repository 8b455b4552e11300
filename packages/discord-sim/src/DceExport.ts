import * as Fs from "node:fs"
import * as Path from "node:path"
import { timestampMillis, unsafeMake } from "@tally/domain/Snowflake"
import { ChannelType, MessageType } from "discord-api-types/v10"
import { Effect, Either, ParseResult, Schema } from "effect"
import { fileError, makeTrace, type Trace, TraceError, type TraceMessage } from "./Trace"

// DiscordChatExporter writes C# enum names (`GuildPublicThread`, `GuildMemberJoin`); a value its
// enum does not name is written as the number. Discord's own names are accepted as well.
const enumWords = (values: object): Record<string, number> =>
  Object.fromEntries(Object.entries(values).filter(([, value]) => typeof value === "number"))

const channelTypeByWord: Record<string, number> = {
  ...enumWords(ChannelType),
  GuildTextChat: 0,
  DirectTextChat: 1,
  GuildVoiceChat: 2,
  DirectGroupTextChat: 3,
  GuildCategory: 4,
  GuildNews: 5,
  GuildNewsThread: 10,
  GuildPublicThread: 11,
  GuildPrivateThread: 12,
  GuildStageVoice: 13,
  GuildDirectory: 14,
  GuildForum: 15,
}

const messageTypeByWord: Record<string, number> = {
  ...enumWords(MessageType),
  GuildMemberJoin: 7,
}

const threadTypes = new Set([10, 11, 12])

const typeNumber = (word: string, byWord: Record<string, number>): number | undefined =>
  /^[0-9]{1,3}$/.test(word) ? Number(word) : byWord[word]

const Id = Schema.String.pipe(
  Schema.pattern(/^[0-9]{1,20}$/, { message: () => "expected a snowflake id (digits)" }),
)
const OptionalId = Schema.optional(Schema.NullOr(Id))

const DceMessage = Schema.Struct({
  id: Id,
  type: Schema.String,
  content: Schema.optionalWith(Schema.String, { default: () => "", nullable: true }),
  author: Schema.Struct({
    id: Id,
    name: Schema.optional(Schema.String),
    isBot: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  }),
  mentions: Schema.optionalWith(Schema.Array(Schema.Struct({ id: Id })), {
    default: () => [],
  }),
  reference: Schema.optional(
    Schema.NullOr(
      Schema.Struct({ messageId: OptionalId, channelId: OptionalId, guildId: OptionalId }),
    ),
  ),
})

/** The part of one DiscordChatExporter JSON export (one channel or thread) a trace needs. */
export const DceChannelExport = Schema.Struct({
  guild: Schema.Struct({ id: Id, name: Schema.String }),
  channel: Schema.Struct({
    id: Id,
    type: Schema.String,
    categoryId: OptionalId,
    category: Schema.optional(Schema.NullOr(Schema.String)),
    name: Schema.String,
  }),
  messages: Schema.Array(DceMessage),
})
export type DceChannelExport = typeof DceChannelExport.Type

const decodeExport = Schema.decodeUnknownEither(DceChannelExport)

const describeParseError = (json: unknown, error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => {
      const [field, index] = issue.path
      const messageId =
        field === "messages" && typeof index === "number"
          ? (json as { messages?: Array<{ id?: unknown }> }).messages?.[index]?.id
          : undefined
      const where = issue.path.join(".")
      const id = typeof messageId === "string" ? ` (message ${messageId})` : ""
      return `${where}${id}: ${issue.message}`
    })
    .join("; ")

const codePoints = (text: string): number => {
  let count = 0
  for (const _ of text) count++
  return count
}

interface Collected {
  readonly message: TraceMessage
  readonly timeMillis: number
  readonly id: string
  readonly referencedMessageId: string | undefined
  readonly mentionIds: ReadonlyArray<string>
}

const compareIds = (a: string, b: string) =>
  a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0

/**
 * Accumulates DiscordChatExporter JSON exports (one per channel or thread), one at a time so a
 * folder of exports is never held in memory whole, and makes the merged trace.
 */
export const makeDceCollector = () => {
  const guildNames: Record<string, string> = {}
  const channelNames: Record<string, string> = {}
  const channelTypes: Record<string, number> = {}
  const categoryOf: Record<string, string> = {}
  const userNames: Record<string, string> = {}
  const collected: Array<Collected> = []
  const seen = new Set<string>()
  const authorOfMessage = new Map<string, string>()

  const invalid = (path: string, detail: string) =>
    Either.left(new TraceError({ reason: "InvalidExport", path, detail }))

  const add = (path: string, json: unknown): Either.Either<void, TraceError> => {
    const decoded = decodeExport(json)
    if (Either.isLeft(decoded)) {
      return invalid(
        path,
        `not a DiscordChatExporter JSON export: ${describeParseError(json, decoded.left)}`,
      )
    }
    const { guild, channel, messages } = decoded.right
    const channelType = typeNumber(channel.type, channelTypeByWord)
    if (channelType === undefined) {
      return invalid(path, `channel ${channel.id}: unknown channel type "${channel.type}"`)
    }
    // A direct-message export has no guild, and no guild to count it for.
    if (channelType === 1 || channelType === 3) return Either.void
    const isThread = threadTypes.has(channelType)
    const parentId = channel.categoryId ?? null
    guildNames[guild.id] = guild.name
    channelNames[channel.id] = channel.name
    channelTypes[channel.id] = channelType
    if (parentId !== null) {
      if (channel.category != null) channelNames[parentId] = channel.category
      if (!isThread) {
        categoryOf[channel.id] = parentId
        channelTypes[parentId] = 4
      }
    }

    for (const message of messages) {
      if (seen.has(message.id)) continue
      const msgType = typeNumber(message.type, messageTypeByWord)
      if (msgType === undefined) {
        return invalid(path, `message ${message.id}: unknown message type "${message.type}"`)
      }
      seen.add(message.id)
      authorOfMessage.set(message.id, message.author.id)
      if (message.author.name !== undefined) userNames[message.author.id] = message.author.name
      collected.push({
        id: message.id,
        timeMillis: timestampMillis(unsafeMake(message.id)),
        referencedMessageId: message.reference?.messageId ?? undefined,
        mentionIds: message.mentions.map((user) => user.id),
        message: {
          t: 0,
          type: "message",
          guild: guild.id,
          channel: channel.id,
          thread_parent: isThread ? parentId : null,
          author: message.author.id,
          bot: message.author.isBot,
          msg_type: msgType,
          len: codePoints(message.content),
          mentions: 0,
        },
      })
    }
    return Either.void
  }

  const finish = (name: string): Trace => {
    collected.sort((a, b) => a.timeMillis - b.timeMillis || compareIds(a.id, b.id))
    const startMillis = collected[0]?.timeMillis ?? 0
    const events = collected.map(({ message, timeMillis, referencedMessageId, mentionIds }) => {
      const repliedTo =
        message.msg_type === MessageType.Reply && referencedMessageId !== undefined
          ? authorOfMessage.get(referencedMessageId)
          : undefined
      // A reply pings its target through `mentions`; the trace format counts mentions in the text.
      const mentions = new Set(mentionIds.filter((id) => id !== repliedTo)).size
      const event: TraceMessage = { ...message, t: timeMillis - startMillis, mentions }
      if (repliedTo !== undefined) event.reply_to_author = repliedTo
      return event
    })
    return makeTrace(name, events, {
      guildNames,
      channelNames,
      channelTypes,
      categoryOf,
      userNames,
    })
  }

  return { add, finish }
}

/**
 * Merges DiscordChatExporter JSON exports into a trace: messages sorted by the time in their
 * snowflake id, a message id seen twice kept once, a reply's `reply_to_author` resolved when the
 * replied-to message is in the exports. Only the length of `content` is kept.
 */
export const traceFromDceExports = (
  name: string,
  files: ReadonlyArray<{ readonly path: string; readonly json: unknown }>,
): Either.Either<Trace, TraceError> => {
  const collector = makeDceCollector()
  for (const file of files) {
    const added = collector.add(file.path, file.json)
    if (Either.isLeft(added)) return Either.left(added.left)
  }
  return Either.right(collector.finish(name))
}

const readJson = (path: string) =>
  Effect.tryPromise({
    try: () => Fs.promises.readFile(path, "utf8"),
    catch: fileError(path),
  }).pipe(
    Effect.flatMap((text) =>
      Effect.try({
        try: (): unknown => JSON.parse(text.replace(/^\uFEFF/, "")),
        catch: (error) =>
          new TraceError({
            reason: "InvalidExport",
            path,
            detail: `not JSON (${(error as Error).message})`,
          }),
      }),
    ),
  )

const exportFiles = (path: string) =>
  Effect.tryPromise({
    try: async () => {
      const stat = await Fs.promises.stat(path)
      if (!stat.isDirectory()) return [path]
      const entries = await Fs.promises.readdir(path, { recursive: true })
      return entries
        .filter((entry) => /\.json$/i.test(entry))
        .sort()
        .map((entry) => Path.join(path, entry))
    },
    catch: fileError(path),
  })

/**
 * Loads one DiscordChatExporter JSON export, or every `.json` export under a folder (recursively),
 * as one trace named after the file or folder.
 */
export const loadDceExport = (path: string): Effect.Effect<Trace, TraceError> =>
  Effect.gen(function* () {
    const paths = yield* exportFiles(path)
    if (paths.length === 0) {
      return yield* new TraceError({
        reason: "InvalidExport",
        path,
        detail: "no DiscordChatExporter .json exports in this folder",
      })
    }
    // TODO: each export is parsed whole (JSON.parse); a channel export near V8's string limit
    // (~512 MB) fails — remove when exports are read with a streaming JSON parser.
    const collector = makeDceCollector()
    for (const file of paths) {
      const json = yield* readJson(file)
      yield* collector.add(file, json)
    }
    return collector.finish(Path.basename(path).replace(/\.json$/i, ""))
  }).pipe(Effect.withSpan("DceExport.loadDceExport", { attributes: { path } }))
