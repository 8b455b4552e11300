import { DateTime } from "effect"

/**
 * Period keys name one concrete day, week, month and year in a guild's time zone, as numbers that
 * sort like time: day `20261203`, week = its first day `20261129`, month `202612`, year `2026`.
 * Counter rows store the keys they count; a newer key restarts a counter (no reset job).
 */
export interface PeriodKeys {
  readonly day: number
  readonly week: number
  readonly month: number
  readonly year: number
}

export type Period = keyof PeriodKeys

export const periods: ReadonlyArray<Period> = ["year", "month", "week", "day"]

/** 0 = Sunday … 6 = Saturday, as in `Date.getDay`. */
export type Weekday = 0 | 1 | 2 | 3 | 4 | 5 | 6

const DAY_MILLIS = 86_400_000

const dayKey = (year: number, month: number, day: number): number =>
  year * 10_000 + month * 100 + day

/**
 * The keys of the periods containing `instantMillis` in `timeZone` (IANA name; throws on an
 * unknown one, so validate settings first) with weeks starting on `weekStartsOn`.
 *
 * Remembers answers per zone and week start, each for the whole local day it lies in (up to
 * 4,096 days, then it starts afresh): asking `Intl` costs microseconds, which every counted
 * message would pay, and a replay of old activity jumps between days far more often than live
 * traffic (guilds replayed side by side, members' events that waited for their totals). The day's span in UTC is trusted only when
 * the zone's offset at both its ends is the offset inside it (so no transition falls within the
 * day, given that no zone has had two opposite transitions within one day since 1980); otherwise
 * the answer is kept for one UTC minute (every zone's offset has been a whole number of minutes
 * since 1980), and before 1980 not at all.
 */
export const periodKeys = (
  instantMillis: number,
  timeZone: string,
  weekStartsOn: Weekday | number,
): PeriodKeys => {
  if (instantMillis < WHOLE_MINUTE_OFFSETS_SINCE) {
    return periodKeysUncached(instantMillis, timeZone, weekStartsOn)
  }
  const cacheKey = `${weekStartsOn}/${timeZone}`
  let spans = knownSpans.get(cacheKey)
  if (spans === undefined) {
    if (knownSpans.size >= MAX_CACHED_ZONES) knownSpans.clear()
    spans = new Map()
    knownSpans.set(cacheKey, spans)
  }
  const near = spans.get(Math.floor(instantMillis / DAY_MILLIS))
  if (near !== undefined) {
    for (const span of near) {
      if (span.from <= instantMillis && instantMillis < span.until) return span.keys
    }
  }

  const zoned = DateTime.unsafeMakeZoned(instantMillis, { timeZone })
  const keys = keysOf(DateTime.toParts(zoned), weekStartsOn)
  const offset = DateTime.zonedOffset(zoned)
  const dayStart = Date.UTC(Math.floor(keys.day / 10_000), (keys.month % 100) - 1, keys.day % 100)
  const from = dayStart - offset
  const until = from + DAY_MILLIS
  const wholeDay = offsetAt(from, timeZone) === offset && offsetAt(until - 1, timeZone) === offset
  const minute = Math.floor(instantMillis / MINUTE_MILLIS) * MINUTE_MILLIS
  const span = wholeDay
    ? { from, until, keys }
    : { from: minute, until: minute + MINUTE_MILLIS, keys }
  if (spans.size >= MAX_DAYS_PER_ZONE) spans.clear()
  // Filed under every UTC day it touches, so a lookup reads one short list.
  for (let day = Math.floor(span.from / DAY_MILLIS); day * DAY_MILLIS < span.until; day++) {
    const list = spans.get(day)
    if (list === undefined) spans.set(day, [span])
    else list.push(span)
  }
  return keys
}

const offsetAt = (instantMillis: number, timeZone: string): number =>
  DateTime.zonedOffset(DateTime.unsafeMakeZoned(instantMillis, { timeZone }))

const MINUTE_MILLIS = 60_000
const MAX_CACHED_ZONES = 4_096
// Before the 1980s some zones still kept local mean time with offsets in seconds.
const WHOLE_MINUTE_OFFSETS_SINCE = Date.UTC(1980, 0, 1)
const MAX_DAYS_PER_ZONE = 4_096
interface Span {
  readonly from: number
  readonly until: number
  readonly keys: PeriodKeys
}
/** Per zone and week start, per UTC day number: spans of UTC instants and the keys they hold for. */
const knownSpans = new Map<string, Map<number, Array<Span>>>()

/** `periodKeys` computed afresh through Effect's zoned `DateTime`. */
export const periodKeysUncached = (
  instantMillis: number,
  timeZone: string,
  weekStartsOn: Weekday | number,
): PeriodKeys =>
  keysOf(DateTime.toParts(DateTime.unsafeMakeZoned(instantMillis, { timeZone })), weekStartsOn)

const keysOf = (
  local: {
    readonly year: number
    readonly month: number
    readonly day: number
    readonly weekDay: number
  },
  weekStartsOn: Weekday | number,
): PeriodKeys => {
  // The week's first day is calendar arithmetic on the local date; a UTC date has no DST.
  const daysIntoWeek = (local.weekDay - weekStartsOn + 7) % 7
  const weekStart = DateTime.toPartsUtc(
    DateTime.unsafeMake(
      Date.UTC(local.year, local.month - 1, local.day) - daysIntoWeek * DAY_MILLIS,
    ),
  )
  return {
    day: dayKey(local.year, local.month, local.day),
    week: dayKey(weekStart.year, weekStart.month, weekStart.day),
    month: local.year * 100 + local.month,
    year: local.year,
  }
}

/** Whether a stored counter's key names the current period (only then does its amount count). */
export const isCurrent = (storedKey: number, currentKey: number): boolean =>
  storedKey === currentKey

/**
 * What a write of `amount` for period `incomingKey` does to a counter holding `stored` for
 * `storedKey`: a newer key restarts the counter, an equal key adds, an older key leaves it alone.
 */
export const applyToCounter = (
  stored: { readonly key: number; readonly amount: number },
  incoming: { readonly key: number; readonly amount: number },
): { readonly key: number; readonly amount: number } =>
  incoming.key > stored.key
    ? incoming
    : incoming.key === stored.key
      ? { key: stored.key, amount: stored.amount + incoming.amount }
      : stored

/** Whether `timeZone` is an IANA time zone name this runtime knows (checked through `Intl`). */
export const isTimeZone = (timeZone: string): boolean => {
  try {
    DateTime.zoneUnsafeMakeNamed(timeZone)
    return true
  } catch {
    return false
  }
}
