import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { applyToCounter, isTimeZone, periodKeys, periodKeysUncached } from "../src/PeriodKey"

const HOUR = 3_600_000
const MINUTE = 60_000

/** An independent oracle for the local date: Intl's own calendar formatting. */
const intlDayKey = (millis: number, timeZone: string): number => {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "numeric",
    day: "numeric",
  }).formatToParts(millis)
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value)
  return part("year") * 10_000 + part("month") * 100 + part("day")
}

/** The instants (minute resolution) at which the day key changes within [from, to). */
const dayRollovers = (from: number, to: number, timeZone: string) => {
  const changes: Array<{ at: number; day: number }> = []
  let previous = periodKeys(from, timeZone, 0).day
  for (let at = from + MINUTE; at < to; at += MINUTE) {
    const { day } = periodKeys(at, timeZone, 0)
    if (day !== previous) changes.push({ at, day })
    previous = day
  }
  return changes
}

const zones = Intl.supportedValuesOf("timeZone")

describe("period keys are the guild's local calendar", () => {
  it("2026-12-03 12:00 UTC is day 20261203, week 20261129 (Sunday start), month 202612, year 2026", () => {
    expect(periodKeys(Date.UTC(2026, 11, 3, 12), "UTC", 0)).toEqual({
      day: 20261203,
      week: 20261129,
      month: 202612,
      year: 2026,
    })
  })

  it("a Monday week start makes the week of Thursday 2026-12-03 begin on 20261130", () => {
    expect(periodKeys(Date.UTC(2026, 11, 3, 12), "UTC", 1).week).toBe(20261130)
  })

  it("the week key of a week start day is that day itself", () => {
    expect(periodKeys(Date.UTC(2026, 10, 29, 0), "UTC", 0).week).toBe(20261129)
    expect(periodKeys(Date.UTC(2026, 10, 28, 23, 59), "UTC", 0).week).toBe(20261122)
  })

  it("a week may start in the previous month and year", () => {
    expect(periodKeys(Date.UTC(2027, 0, 1, 12), "UTC", 0)).toEqual({
      day: 20270101,
      week: 20261227,
      month: 202701,
      year: 2027,
    })
  })

  it("in UTC+13 (Pacific/Tongatapu) the day turns at 11:00 UTC", () => {
    expect(periodKeys(Date.UTC(2026, 11, 3, 10, 59), "Pacific/Tongatapu", 0).day).toBe(20261203)
    expect(periodKeys(Date.UTC(2026, 11, 3, 11, 0), "Pacific/Tongatapu", 0).day).toBe(20261204)
  })

  it("in UTC−11 (Pacific/Pago_Pago) the day turns at 11:00 UTC of the next UTC day", () => {
    expect(periodKeys(Date.UTC(2026, 11, 4, 10, 59), "Pacific/Pago_Pago", 0).day).toBe(20261203)
    expect(periodKeys(Date.UTC(2026, 11, 4, 11, 0), "Pacific/Pago_Pago", 0).day).toBe(20261204)
  })

  it("New Year in UTC+13 rolls day, week, month and year together at once", () => {
    const before = periodKeys(Date.UTC(2026, 11, 31, 10, 59), "Pacific/Tongatapu", 4)
    const after = periodKeys(Date.UTC(2026, 11, 31, 11, 0), "Pacific/Tongatapu", 4)
    expect(before).toEqual({ day: 20261231, week: 20261231, month: 202612, year: 2026 })
    expect(after).toEqual({ day: 20270101, week: 20261231, month: 202701, year: 2027 })
  })
})

describe("a DST day has exactly one rollover", () => {
  const cases = [
    // zone, local DST day (UTC midnight of it), expected length in hours, UTC instant of its start
    ["Europe/Berlin", "spring forward", Date.UTC(2026, 2, 28, 23), 23],
    ["Europe/Berlin", "fall back", Date.UTC(2026, 9, 24, 22), 25],
    ["America/New_York", "spring forward", Date.UTC(2026, 2, 8, 5), 23],
    ["America/New_York", "fall back", Date.UTC(2026, 10, 1, 4), 25],
  ] as const

  for (const [zone, name, start, hours] of cases) {
    it(`${zone} ${name}: the day starts at local midnight, lasts ${hours} h and rolls over once`, () => {
      const changes = dayRollovers(start - 6 * HOUR, start + (hours + 6) * HOUR, zone)
      expect(changes.map((change) => change.at)).toEqual([start, start + hours * HOUR])
      expect(changes[1]!.day - changes[0]!.day).toBe(1)
    })
  }

  it("Berlin's fall-back day keeps one week, month and year key all day", () => {
    const start = Date.UTC(2026, 9, 24, 22)
    const keys = new Set<string>()
    for (let at = start; at < start + 25 * HOUR; at += 15 * MINUTE) {
      const { week, month, year } = periodKeys(at, "Europe/Berlin", 0)
      keys.add(`${week}/${month}/${year}`)
    }
    expect([...keys]).toEqual(["20261025/202610/2026"])
  })
})

describe("the memo holds across every 2026 offset change of zones with odd transitions", () => {
  // Lord Howe moves 30 minutes; Santiago changes at midnight (a day starts at 01:00 or has two
  // midnights); Havana at 00:00 / 01:00; Chatham is +12:45/+13:45; Casablanca pauses for Ramadan.
  const oddZones = [
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "Pacific/Chatham",
    "Africa/Casablanca",
    "Europe/Chisinau",
    "Asia/Beirut",
  ]
  for (const timeZone of oddZones) {
    it(`${timeZone}: minute by minute from a day before to a day after each change`, () => {
      const changes: Array<number> = []
      const formatter = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" })
      const offsetName = (at: number) =>
        formatter.formatToParts(at).find((part) => part.type === "timeZoneName")?.value
      for (let at = Date.UTC(2026, 0, 1); at < Date.UTC(2027, 0, 1); at += HOUR) {
        if (offsetName(at) !== offsetName(at + HOUR)) changes.push(at)
      }
      for (const change of changes) {
        for (let at = change - 30 * HOUR; at < change + 30 * HOUR; at += MINUTE) {
          expect(periodKeys(at, timeZone, 1), new Date(at).toISOString()).toEqual(
            periodKeysUncached(at, timeZone, 1),
          )
        }
      }
      expect(changes.length).toBeGreaterThan(0)
    })
  }
})

describe("period keys: laws over random instants and zones", () => {
  const instant = FastCheck.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) })
  const zone = FastCheck.constantFrom(...zones)
  const weekStart = FastCheck.integer({ min: 0, max: 6 })

  it.prop("the day key is the local date Intl reports", [instant, zone], ([at, timeZone]) => {
    expect(periodKeys(at, timeZone, 0).day).toBe(intlDayKey(at, timeZone))
  })

  it.prop(
    "keys never decrease as time passes",
    [instant, FastCheck.integer({ min: 0, max: 40 * 86_400_000 }), zone, weekStart],
    ([at, later, timeZone, weekStartsOn]) => {
      const before = periodKeys(at, timeZone, weekStartsOn)
      const after = periodKeys(at + later, timeZone, weekStartsOn)
      expect(after.day).toBeGreaterThanOrEqual(before.day)
      expect(after.week).toBeGreaterThanOrEqual(before.week)
      expect(after.month).toBeGreaterThanOrEqual(before.month)
      expect(after.year).toBeGreaterThanOrEqual(before.year)
    },
  )

  it.prop(
    "the week key is a weekStartsOn weekday at most 6 days before the day key",
    [instant, zone, weekStart],
    ([at, timeZone, weekStartsOn]) => {
      const { day, week } = periodKeys(at, timeZone, weekStartsOn)
      const toUtc = (key: number) =>
        Date.UTC(Math.floor(key / 10_000), (Math.floor(key / 100) % 100) - 1, key % 100)
      expect(week).toBeLessThanOrEqual(day)
      expect(new Date(toUtc(week)).getUTCDay()).toBe(weekStartsOn)
      expect((toUtc(day) - toUtc(week)) / 86_400_000).toBeLessThanOrEqual(6)
    },
  )

  it.prop(
    "the per-minute memo answers exactly what a fresh computation does, in any order of calls",
    [
      FastCheck.array(
        FastCheck.tuple(instant, FastCheck.integer({ min: -2, max: 2 }), zone, weekStart),
        { maxLength: 20 },
      ),
    ],
    ([calls]) => {
      for (const [at, shift, timeZone, weekStartsOn] of calls) {
        // Neighbouring instants around minute edges, where a stale memo would show.
        const edge = Math.floor(at / MINUTE) * MINUTE + shift
        for (const instantMillis of [at, edge, edge - 1]) {
          expect(periodKeys(instantMillis, timeZone, weekStartsOn)).toEqual(
            periodKeysUncached(instantMillis, timeZone, weekStartsOn),
          )
        }
      }
    },
  )

  it.prop(
    "the per-day memo answers exactly what a fresh computation does, hour by hour through days",
    [FastCheck.array(FastCheck.tuple(instant, zone, weekStart), { maxLength: 5 })],
    ([calls]) => {
      for (const [at, timeZone, weekStartsOn] of calls) {
        for (let instantMillis = at; instantMillis < at + 50 * HOUR; instantMillis += 37 * MINUTE) {
          expect(periodKeys(instantMillis, timeZone, weekStartsOn)).toEqual(
            periodKeysUncached(instantMillis, timeZone, weekStartsOn),
          )
        }
      }
    },
  )

  it.prop("month and year are prefixes of the day key", [instant, zone], ([at, timeZone]) => {
    const { day, month, year } = periodKeys(at, timeZone, 0)
    expect(month).toBe(Math.floor(day / 100))
    expect(year).toBe(Math.floor(day / 10_000))
  })
})

describe("counters roll over lazily by key", () => {
  it("a newer key restarts the counter, an equal key adds, an older key is ignored", () => {
    const stored = { key: 20261203, amount: 5 }
    expect(applyToCounter(stored, { key: 20261204, amount: 2 })).toEqual({
      key: 20261204,
      amount: 2,
    })
    expect(applyToCounter(stored, { key: 20261203, amount: 2 })).toEqual({
      key: 20261203,
      amount: 7,
    })
    expect(applyToCounter(stored, { key: 20261202, amount: 2 })).toEqual(stored)
  })
})

describe("time zone names", () => {
  it("IANA names are accepted and nonsense is rejected", () => {
    expect(isTimeZone("UTC")).toBe(true)
    expect(isTimeZone("Europe/Berlin")).toBe(true)
    expect(isTimeZone("Mars/Olympus_Mons")).toBe(false)
    expect(isTimeZone("")).toBe(false)
  })
})
