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
