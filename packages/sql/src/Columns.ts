import { Snowflake } from "@tally/domain/Snowflake"
import { Schema } from "effect"

/** A `BOOLEAN` (`TINYINT`) column: 0/1 in SQL, a boolean in code. */
export const Bool = Schema.transform(Schema.Union(Schema.Number, Schema.Boolean), Schema.Boolean, {
  strict: true,
  decode: (value) => value === true || value === 1,
  encode: (value) => (value ? 1 : 0),
})

/**
 * A `BIGINT` counter. mysql2 reads every `BIGINT` as a string (so that ids keep their digits);
 * counters stay far below 2^53 and are numbers in code.
 */
export const Counter = Schema.transform(Schema.Union(Schema.String, Schema.Number), Schema.Number, {
  strict: true,
  decode: (value) => Number(value),
  encode: (value) => value,
})

/** A snowflake column; mysql2 reads `BIGINT UNSIGNED` as a decimal string. */
export const Id = Snowflake

/** A nullable snowflake column. */
export const OptionalId = Schema.NullOr(Snowflake)

/** A counter for one period beside the key of the period it counts. */
export interface PeriodCounter {
  readonly key: number
  readonly amount: number
}

/** The per-period counter columns of a row: `alltime`, and each period beside its `*Key`. */
export const PeriodColumns = {
  alltime: Counter,
  year: Counter,
  yearKey: Schema.Number,
  month: Counter,
  monthKey: Schema.Number,
  week: Counter,
  weekKey: Schema.Number,
  day: Counter,
  dayKey: Schema.Number,
}

export interface PeriodTotals {
  readonly alltime: number
  readonly year: PeriodCounter
  readonly month: PeriodCounter
  readonly week: PeriodCounter
  readonly day: PeriodCounter
}

export const toPeriodTotals = (row: Schema.Struct.Type<typeof PeriodColumns>): PeriodTotals => ({
  alltime: row.alltime,
  year: { key: row.yearKey, amount: row.year },
  month: { key: row.monthKey, amount: row.month },
  week: { key: row.weekKey, amount: row.week },
  day: { key: row.dayKey, amount: row.day },
})

export const zeroTotals: PeriodTotals = {
  alltime: 0,
  year: { key: 0, amount: 0 },
  month: { key: 0, amount: 0 },
  week: { key: 0, amount: 0 },
  day: { key: 0, amount: 0 },
}
