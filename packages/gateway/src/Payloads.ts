/**
 * Decoding gateway payloads: the schema-backed `decoder` every dispatch uses, and the hot one,
 * `MESSAGE_CREATE`, reduced where it arrives to the fields Tally reads.
 *
 * Decoding a message in the socket's listener lets its parsed payload (tens of objects: content,
 * mentions, embeds, the author's profile) die young. Behind a backlog only the small record waits
 * in the dispatch queue, so the young generation's collections stay cheap: copying a backlog of
 * whole payloads between them cost more than counting the messages.
 */
import { isSnowflake, Snowflake } from "@tally/domain/Snowflake"
import { Either, ParseResult, Schema } from "effect"

/** A decoder answering the first issue as `path: message`. */
export const decoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (data: unknown): Either.Either<A, string> =>
    Either.mapLeft(decode(data), (error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      return issue ? `${issue.path.join(".") || "payload"}: ${issue.message}` : "malformed"
    })
}

/** Only the fields Tally reads; unknown fields are ignored. */
export const MessageCreate = Schema.Struct({
  id: Snowflake,
  channel_id: Snowflake,
  guild_id: Schema.optional(Snowflake),
  author: Schema.Struct({ id: Snowflake, bot: Schema.optional(Schema.Boolean) }),
  webhook_id: Schema.optional(Schema.NullOr(Snowflake)),
  member: Schema.optional(Schema.Struct({ roles: Schema.Array(Snowflake) })),
  type: Schema.Int,
  content: Schema.optional(Schema.String),
})

/** What Tally keeps of a `MESSAGE_CREATE`. */
export interface MessageFields {
  readonly messageId: Snowflake
  readonly channelId: Snowflake
  /** null outside a guild. */
  readonly guildId: Snowflake | null
  readonly authorId: Snowflake
  /** Bots and webhooks. */
  readonly authorBot: boolean
  /** The member's roles; null when the payload has no member object. */
  readonly memberRoleIds: ReadonlyArray<Snowflake> | null
  readonly messageType: number
  readonly contentLength: number
}

const fields = (
  payload: typeof MessageCreate.Type,
  roles: ReadonlyArray<Snowflake> | null,
): MessageFields => ({
  messageId: payload.id,
  channelId: payload.channel_id,
  guildId: payload.guild_id ?? null,
  authorId: payload.author.id,
  authorBot: payload.author.bot === true || Boolean(payload.webhook_id),
  memberRoleIds: roles,
  messageType: payload.type,
  contentLength: payload.content?.length ?? 0,
})

const decodeBySchema = decoder(MessageCreate)

/** The schema's answer alone, reduced to the fields (what the hand check must agree with). */
export const decodeMessageBySchema = (data: unknown): Either.Either<MessageFields, string> =>
  Either.map(decodeBySchema(data), (payload) => fields(payload, payload.member?.roles ?? null))

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isSnowflakeArray = (value: unknown): value is ReadonlyArray<Snowflake> => {
  if (!Array.isArray(value)) return false
  for (const item of value) if (!isSnowflake(item)) return false
  return true
}

/**
 * `MessageCreate` checked by hand, several times faster than the schema: it accepts only what the
 * schema accepts and answers the same fields; for anything else it answers undefined and the
 * schema decides, so the schema still words every error.
 */
const decodeByHand = (data: unknown): MessageFields | undefined => {
  if (!isObject(data)) return undefined
  const { id, channel_id, guild_id, author, webhook_id, member, type, content } = data
  if (!isSnowflake(id) || !isSnowflake(channel_id)) return undefined
  if (guild_id !== undefined && !isSnowflake(guild_id)) return undefined
  if (!isObject(author) || !isSnowflake(author.id)) return undefined
  if (author.bot !== undefined && typeof author.bot !== "boolean") return undefined
  if (webhook_id !== undefined && webhook_id !== null && !isSnowflake(webhook_id)) return undefined
  if (member !== undefined && !(isObject(member) && isSnowflakeArray(member.roles))) {
    return undefined
  }
  if (typeof type !== "number" || !Number.isSafeInteger(type)) return undefined
  if (content !== undefined && typeof content !== "string") return undefined
  return {
    messageId: id,
    channelId: channel_id,
    guildId: guild_id ?? null,
    authorId: author.id,
    authorBot: author.bot === true || Boolean(webhook_id),
    memberRoleIds: member === undefined ? null : (member.roles as ReadonlyArray<Snowflake>),
    messageType: type,
    contentLength: content?.length ?? 0,
  }
}

export const decodeMessage = (data: unknown): Either.Either<MessageFields, string> => {
  const byHand = decodeByHand(data)
  return byHand === undefined ? decodeMessageBySchema(data) : Either.right(byHand)
}

/** What the socket listener puts in a `MESSAGE_CREATE` envelope instead of the payload. */
export class ArrivedMessage {
  constructor(readonly decoded: Either.Either<MessageFields, string>) {}
}

export const arrived = (data: unknown): ArrivedMessage => new ArrivedMessage(decodeMessage(data))
