import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import type { ActivityDelta as Delta, DeltaKind } from "../src/ActivityDelta"
import {
  addInto,
  emptyRow,
  key,
  make,
  merge,
  mergeAll,
  mergeInto,
  mutableCopy,
} from "../src/ActivityDelta"
import { unsafeMake } from "../src/Snowflake"

const guildId = unsafeMake("100000000000000001")
const userId = unsafeMake("200000000000000002")
const channelId = unsafeMake("300000000000000003")
const keys = { day: 20261203, week: 20261129, month: 202612, year: 2026 }

const period = (keysOfPeriod: ReadonlyArray<number>) =>
  FastCheck.record({
    key: FastCheck.constantFrom(...keysOfPeriod),
    amount: FastCheck.integer({ min: -1_000, max: 1_000 }),
  })

/** Deltas of one identity, with period keys drawn from a few neighbours so that some collide. */
const sameIdentity: FastCheck.Arbitrary<Delta> = FastCheck.record({
  kind: FastCheck.constant<DeltaKind>("textMessages"),
  guildId: FastCheck.constant(guildId),
  userId: FastCheck.constant(userId),
  channelId: FastCheck.constant(channelId),
  alltime: FastCheck.integer({ min: -1_000, max: 1_000 }),
  year: period([2025, 2026]),
  month: period([202611, 202612]),
  week: period([20261122, 20261129]),
  day: period([20261202, 20261203, 20261204]),
})

const anyIdentity: FastCheck.Arbitrary<Delta> = FastCheck.record({
  kind: FastCheck.constantFrom<DeltaKind>("xp", "textMessages", "votes"),
  guildId: FastCheck.constantFrom(guildId, unsafeMake("100000000000000009")),
  userId: FastCheck.constantFrom(userId, unsafeMake("200000000000000009")),
  amount: FastCheck.integer({ min: -1_000, max: 1_000 }),
}).map((input) => make({ ...input, channelId, keys }))

describe("activity deltas: make", () => {
  it("puts one amount on all-time and on each named period", () => {
    expect(make({ kind: "xp", guildId, userId, amount: 6, keys })).toEqual({
      kind: "xp",
      guildId,
      userId,
      channelId: null,
      alltime: 6,
      year: { key: 2026, amount: 6 },
      month: { key: 202612, amount: 6 },
      week: { key: 20261129, amount: 6 },
      day: { key: 20261203, amount: 6 },
    })
  })

  it("keeps the channel only for text messages and voice minutes", () => {
    expect(
      make({ kind: "textMessages", guildId, userId, channelId, amount: 1, keys }).channelId,
    ).toBe(channelId)
    expect(
      make({ kind: "voiceMinutes", guildId, userId, channelId, amount: 1, keys }).channelId,
    ).toBe(channelId)
    for (const kind of ["xp", "invites", "votes", "bonus"] as const) {
      expect(make({ kind, guildId, userId, channelId, amount: 1, keys }).channelId).toBeNull()
    }
  })

  it("keys of different guilds, users, channels or kinds differ", () => {
    const base = make({ kind: "textMessages", guildId, userId, channelId, amount: 1, keys })
    const others = [
      { ...base, kind: "voiceMinutes" as const },
      { ...base, guildId: unsafeMake("1") },
      { ...base, userId: unsafeMake("1") },
      { ...base, channelId: unsafeMake("1") },
      { ...base, channelId: null },
    ]
    expect(new Set([base, ...others].map(key)).size).toBe(6)
  })
})

describe("activity deltas: merge", () => {
  it("with equal period keys sums every amount", () => {
    const a = make({ kind: "xp", guildId, userId, amount: 6, keys })
    const b = make({ kind: "xp", guildId, userId, amount: 12, keys })
    expect(merge(a, b)).toEqual(make({ kind: "xp", guildId, userId, amount: 18, keys }))
  })

  it("across midnight keeps only the newer day's amount but sums all-time and the week", () => {
    const before = make({ kind: "xp", guildId, userId, amount: 6, keys })
    const after = make({
      kind: "xp",
      guildId,
      userId,
      amount: 12,
      keys: { ...keys, day: 20261204 },
    })
    const merged = merge(after, before)
    expect(merged.alltime).toBe(18)
    expect(merged.week).toEqual({ key: 20261129, amount: 18 })
    expect(merged.day).toEqual({ key: 20261204, amount: 12 })
  })

  it.prop("is commutative", [sameIdentity, sameIdentity], ([a, b]) => {
    expect(merge(a, b)).toEqual(merge(b, a))
  })

  it.prop("is associative", [sameIdentity, sameIdentity, sameIdentity], ([a, b, c]) => {
    expect(merge(merge(a, b), c)).toEqual(merge(a, merge(b, c)))
  })

  it.prop("never loses an all-time amount", [sameIdentity, sameIdentity], ([a, b]) => {
    expect(merge(a, b).alltime).toBe(a.alltime + b.alltime)
  })

  it.prop("keeps the newest key of each period", [sameIdentity, sameIdentity], ([a, b]) => {
    const merged = merge(a, b)
    expect(merged.day.key).toBe(Math.max(a.day.key, b.day.key))
    expect(merged.year.key).toBe(Math.max(a.year.key, b.year.key))
  })
})

describe("activity deltas: mergeAll", () => {
  it.prop("keeps one delta per key", [FastCheck.array(anyIdentity)], ([deltas]) => {
    const merged = mergeAll(deltas)
    expect(new Set(merged.map(key)).size).toBe(merged.length)
    expect(new Set(merged.map(key))).toEqual(new Set(deltas.map(key)))
  })

  it.prop("preserves the all-time sum of every key", [FastCheck.array(anyIdentity)], ([deltas]) => {
    const sums = (list: ReadonlyArray<Delta>) => {
      const totals = new Map<string, number>()
      for (const delta of list)
        totals.set(key(delta), (totals.get(key(delta)) ?? 0) + delta.alltime)
      return totals
    }
    expect(sums(mergeAll(deltas))).toEqual(sums(deltas))
  })

  it.prop(
    "does not depend on the order of the deltas",
    [
      FastCheck.array(sameIdentity, { minLength: 1 }).chain((list) =>
        FastCheck.tuple(
          FastCheck.constant(list),
          FastCheck.shuffledSubarray(list, { minLength: list.length }),
        ),
      ),
    ],
    ([[deltas, shuffled]]) => {
      expect(mergeAll(shuffled)).toEqual(mergeAll(deltas))
    },
  )
})

describe("activity deltas: addInto", () => {
  const addition = FastCheck.record({
    amount: FastCheck.integer({ min: -1_000, max: 1_000 }),
    keys: FastCheck.record({
      year: FastCheck.constantFrom(2025, 2026),
      month: FastCheck.constantFrom(202611, 202612),
      week: FastCheck.constantFrom(20261122, 20261129),
      day: FastCheck.constantFrom(20261202, 20261203, 20261204),
    }),
  })

  it.prop(
    "adding in place to an empty row equals merging the deltas `make` would make",
    [addition, FastCheck.array(addition, { maxLength: 6 })],
    ([first, rest]) => {
      const identity = { kind: "textMessages" as const, guildId, userId, channelId }
      const row = emptyRow({ ...identity, keys: first.keys })
      for (const { amount, keys } of [first, ...rest]) addInto(row, amount, keys)
      const deltas = [first, ...rest].map((part) => make({ ...identity, ...part }))
      expect(row).toEqual(deltas.reduce(merge))
    },
  )

  it("an empty row drops the channel of a per-member kind, as make does", () => {
    expect(emptyRow({ kind: "xp", guildId, userId, channelId, keys }).channelId).toBeNull()
  })
})

describe("activity deltas: mergeInto", () => {
  it.prop(
    "merging into a copy equals merge, and leaves every delta merged as it was",
    [sameIdentity, FastCheck.array(sameIdentity, { maxLength: 6 })],
    ([first, rest]) => {
      const before = JSON.stringify([first, ...rest])
      const row = mutableCopy(first)
      for (const delta of rest) mergeInto(row, delta)
      expect(row).toEqual([first, ...rest].reduce(merge))
      expect(JSON.stringify([first, ...rest])).toBe(before)
    },
  )
})
