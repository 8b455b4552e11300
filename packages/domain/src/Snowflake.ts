import { Schema } from "effect"
import { DIGITS, MAX_SNOWFLAKE } from "./SnowflakeCheck"

export { isSnowflake } from "./SnowflakeCheck"

/** Discord's epoch (2015-01-01T00:00:00Z) in milliseconds. */
export const DISCORD_EPOCH = 1_420_070_400_000n

/**
 * A Discord id: a decimal string of an unsigned 64-bit integer. Kept as a string end to end, never
 * a JS number, since ids pass 2^53.
 */
export const Snowflake = Schema.String.pipe(
  Schema.pattern(DIGITS, {
    message: (issue) =>
      `a Discord id is digits without leading zeros, not ${JSON.stringify(issue.actual)}`,
  }),
  Schema.filter((text) => BigInt(text) <= MAX_SNOWFLAKE, {
    message: () => "a snowflake is at most 2^64 - 1",
  }),
  Schema.brand("Snowflake"),
)
export type Snowflake = typeof Snowflake.Type

/** Unchecked: for ids that are already known to be valid (decoded elsewhere). */
export const unsafeMake = (text: string): Snowflake => text as Snowflake

/** Snowflakes in numeric order, without BigInt: a shorter one is smaller, then by digits. */
export const compare = (a: string, b: string): number =>
  a.length !== b.length ? (a.length < b.length ? -1 : 1) : a < b ? -1 : a > b ? 1 : 0

/** The instant (epoch milliseconds) a snowflake encodes in its top 42 bits. */
export const timestampMillis = (id: Snowflake): number =>
  Number((BigInt(id) >> 22n) + DISCORD_EPOCH)

/** A snowflake of an instant (epoch milliseconds); `low22` = worker, process and sequence bits. */
export const fromTimestamp = (epochMillis: number, low22 = 0): Snowflake =>
  (
    ((BigInt(epochMillis) - DISCORD_EPOCH) << 22n) |
    BigInt(low22 & 0x3fffff)
  ).toString() as Snowflake
