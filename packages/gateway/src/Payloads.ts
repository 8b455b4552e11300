/**
 * Decoding gateway payloads: the schema-backed `decoder` every dispatch uses, and the hot one,
 * `MESSAGE_CREATE`, reduced where it arrives (the Discord connection's thread, `MessageCheck`) to
 * the fields Tally reads; the schema here words the error of a message that fails the check.
 *
 * Reducing a message where it arrives lets its parsed payload (tens of objects: content,
 * mentions, embeds, the author's profile) die young. Behind a backlog only the small record waits
 * in the dispatch queue, so the young generation's collections stay cheap: copying a backlog of
 * whole payloads between them cost more than counting the messages.
 */
import { Snowflake } from "@tally/domain/Snowflake"
import { Either, ParseResult, Schema } from "effect"
import { checkMessage, type MessageFields } from "./MessageCheck"

export type { MessageFields } from "./MessageCheck"

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

export const decodeMessage = (data: unknown): Either.Either<MessageFields, string> => {
  const byHand = checkMessage(data)
  return byHand === undefined ? decodeMessageBySchema(data) : Either.right(byHand)
}

/** What the Discord connection puts in a `MESSAGE_CREATE` envelope instead of the payload. */
export class ArrivedMessage {
  constructor(readonly decoded: Either.Either<MessageFields, string>) {}
}
