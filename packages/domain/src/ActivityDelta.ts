import type { PeriodKeys } from "./PeriodKey"
import type { Snowflake } from "./Snowflake"

/** A raw count of one kind. */
export type Statistic = "textMessages" | "voiceMinutes" | "invites" | "votes" | "bonus"

export const statistics: ReadonlyArray<Statistic> = [
  "textMessages",
  "voiceMinutes",
  "invites",
  "votes",
  "bonus",
]

/** Statistics counted per channel; the others are per member. */
export const channelStatistics: ReadonlyArray<Statistic> = ["textMessages", "voiceMinutes"]

/** What a delta changes: a member's XP or one of its statistics. */
export type DeltaKind = "xp" | Statistic

/** The amount for one concrete period, named by its period key (see `PeriodKey`). */
export interface PeriodAmount {
  readonly key: number
  readonly amount: number
}

/**
 * A buffered change to XP or one statistic of one member (and channel, for `textMessages` and
 * `voiceMinutes`), per period. The unit the gateway buffers and the SQL layer writes.
 */
export interface ActivityDelta {
  readonly kind: DeltaKind
  readonly guildId: Snowflake
  readonly userId: Snowflake
  /** Set for `textMessages` and `voiceMinutes`; `null` for the others. */
  readonly channelId: Snowflake | null
  readonly alltime: number
  readonly year: PeriodAmount
  readonly month: PeriodAmount
  readonly week: PeriodAmount
  readonly day: PeriodAmount
}

/** A swapped-out buffer: written to one DB shard in one transaction, remembered by `batchId`. */
export interface ActivityBatch {
  readonly batchId: string
  readonly deltas: ReadonlyArray<ActivityDelta>
}

/** Deltas with equal keys merge into one row. */
export const key = (delta: ActivityDelta): string =>
  `${delta.kind}/${delta.guildId}/${delta.userId}/${delta.channelId ?? ""}`

const mergePeriod = (a: PeriodAmount, b: PeriodAmount): PeriodAmount =>
  a.key === b.key ? { key: a.key, amount: a.amount + b.amount } : a.key > b.key ? a : b

/**
 * Merges two deltas of the same key: all-time amounts add; per period, equal keys add and
 * otherwise only the newer period's amount is kept (the older period has ended).
 */
export const merge = (a: ActivityDelta, b: ActivityDelta): ActivityDelta => ({
  kind: a.kind,
  guildId: a.guildId,
  userId: a.userId,
  channelId: a.channelId,
  alltime: a.alltime + b.alltime,
  year: mergePeriod(a.year, b.year),
  month: mergePeriod(a.month, b.month),
  week: mergePeriod(a.week, b.week),
  day: mergePeriod(a.day, b.day),
})

/** A delta its owner adds to in place (see `addInto`). */
export interface MutableDelta {
  readonly kind: DeltaKind
  readonly guildId: Snowflake
  readonly userId: Snowflake
  readonly channelId: Snowflake | null
  alltime: number
  readonly year: { key: number; amount: number }
  readonly month: { key: number; amount: number }
  readonly week: { key: number; amount: number }
  readonly day: { key: number; amount: number }
}

/** `make` with an amount of zero, to add to: a fresh object, owned by the caller. */
export const emptyRow = (input: {
  readonly kind: DeltaKind
  readonly guildId: Snowflake
  readonly userId: Snowflake
  readonly channelId: Snowflake | null
  readonly keys: PeriodKeys
}): MutableDelta => make({ ...input, amount: 0 })

/**
 * `merge(target, make({ amount, keys, … }))` written into `target`: the activity buffer adds every
 * counted message's amounts this way, where a merged copy per message would allocate objects.
 */
export const addInto = (target: MutableDelta, amount: number, keys: PeriodKeys): void => {
  target.alltime += amount
  addPeriodInto(target.year, keys.year, amount)
  addPeriodInto(target.month, keys.month, amount)
  addPeriodInto(target.week, keys.week, amount)
  addPeriodInto(target.day, keys.day, amount)
}

/** `merge(target, delta)` written into `target`. */
export const mergeInto = (target: MutableDelta, delta: ActivityDelta): void => {
  target.alltime += delta.alltime
  addPeriodInto(target.year, delta.year.key, delta.year.amount)
  addPeriodInto(target.month, delta.month.key, delta.month.amount)
  addPeriodInto(target.week, delta.week.key, delta.week.amount)
  addPeriodInto(target.day, delta.day.key, delta.day.amount)
}

/** A copy to merge into (see `mergeInto`), owned by the caller. */
export const mutableCopy = (delta: ActivityDelta): MutableDelta => ({
  kind: delta.kind,
  guildId: delta.guildId,
  userId: delta.userId,
  channelId: delta.channelId,
  alltime: delta.alltime,
  year: { key: delta.year.key, amount: delta.year.amount },
  month: { key: delta.month.key, amount: delta.month.amount },
  week: { key: delta.week.key, amount: delta.week.amount },
  day: { key: delta.day.key, amount: delta.day.amount },
})

const addPeriodInto = (target: { key: number; amount: number }, key: number, amount: number) => {
  if (key === target.key) {
    target.amount += amount
  } else if (key > target.key) {
    target.key = key
    target.amount = amount
  }
}

/** Whether deltas of this kind are kept per channel. */
export const isPerChannel = (kind: DeltaKind): boolean =>
  kind === "textMessages" || kind === "voiceMinutes"

/**
 * One change of `amount` to every period at once: all-time and the periods named by `keys`
 * (`PeriodKey.periodKeys` of the event's instant). `channelId` is kept only for the per-channel
 * statistics (`textMessages`, `voiceMinutes`) and dropped otherwise.
 */
export const make = (input: {
  readonly kind: DeltaKind
  readonly guildId: Snowflake
  readonly userId: Snowflake
  readonly channelId?: Snowflake | null | undefined
  readonly amount: number
  readonly keys: PeriodKeys
}): ActivityDelta => ({
  kind: input.kind,
  guildId: input.guildId,
  userId: input.userId,
  channelId: isPerChannel(input.kind) ? (input.channelId ?? null) : null,
  alltime: input.amount,
  year: { key: input.keys.year, amount: input.amount },
  month: { key: input.keys.month, amount: input.amount },
  week: { key: input.keys.week, amount: input.amount },
  day: { key: input.keys.day, amount: input.amount },
})

/** Merges deltas by `key`: one delta per key, in the order each key first appears. */
export const mergeAll = (deltas: Iterable<ActivityDelta>): Array<ActivityDelta> => {
  const merged = new Map<string, ActivityDelta>()
  for (const delta of deltas) {
    const deltaKey = key(delta)
    const existing = merged.get(deltaKey)
    merged.set(deltaKey, existing === undefined ? delta : merge(existing, delta))
  }
  return [...merged.values()]
}
