/**
 * `MESSAGE_CREATE` checked by hand, without effect's Schema: the Discord connection's worker
 * thread runs it on every message and starts light. `Payloads` pins it to the schema.
 */
import type { Snowflake } from "@tally/domain/Snowflake"
import { isSnowflake } from "@tally/domain/SnowflakeCheck"

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

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isSnowflakeArray = (value: unknown): value is ReadonlyArray<Snowflake> => {
  if (!Array.isArray(value)) return false
  for (const item of value) if (!isSnowflake(item)) return false
  return true
}

/**
 * `Payloads.MessageCreate` checked by hand, several times faster than the schema: it accepts only what the
 * schema accepts and answers the same fields; for anything else it answers undefined and the
 * schema decides, so the schema still words every error.
 */
export const checkMessage = (data: unknown): MessageFields | undefined => {
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
