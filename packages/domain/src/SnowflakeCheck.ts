/**
 * The snowflake check without the schema: what a thread that must start light (the gateway's
 * Discord connection) imports instead of `Snowflake`, which loads effect's Schema.
 */
import type { Snowflake } from "./Snowflake"

export const MAX_SNOWFLAKE = 2n ** 64n - 1n
export const DIGITS = /^(0|[1-9][0-9]{0,19})$/

/**
 * `Schema.is(Snowflake)` as a plain check, several times faster: the gateway runs it on every id
 * of every message. Only a 20-digit id can pass 2^64 - 1, so only those pay for a BigInt.
 */
export const isSnowflake = (value: unknown): value is Snowflake =>
  typeof value === "string" &&
  DIGITS.test(value) &&
  (value.length < 20 || BigInt(value) <= MAX_SNOWFLAKE)

/**
 * An id a person typed for a real guild: Discord's ids of today have 17 to 20 digits, so "123"
 * is a typo, not a guild (a lookup of it would create a route for nothing).
 */
export const isGuildId = (value: string): value is Snowflake =>
  /^\d{17,20}$/.test(value) && isSnowflake(value)
