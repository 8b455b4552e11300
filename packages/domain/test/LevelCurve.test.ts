import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { levelOf, percentToNext, stepCost, xpForLevel } from "../src/LevelCurve"

// Reference §2.1: level → [f=100 total, f=100 step, f=200 total, f=200 step, f=20 total, f=400 total]
const table: ReadonlyArray<
  readonly [number, number, number | null, number, number | null, number, number]
> = [
  [1, 0, null, 0, null, 0, 0],
  [2, 200, 200, 300, 300, 120, 500],
  [3, 500, 300, 800, 500, 260, 1_400],
  [4, 900, 400, 1_500, 700, 420, 2_700],
  [5, 1_400, 500, 2_400, 900, 600, 4_400],
  [6, 2_000, 600, 3_500, 1_100, 800, 6_500],
  [7, 2_700, 700, 4_800, 1_300, 1_020, 9_000],
  [8, 3_500, 800, 6_300, 1_500, 1_260, 11_900],
  [9, 4_400, 900, 8_000, 1_700, 1_520, 15_200],
  [10, 5_400, 1_000, 9_900, 1_900, 1_800, 18_900],
  [20, 20_900, 2_000, 39_900, 3_900, 5_700, 77_900],
  [50, 127_400, 5_000, 249_900, 9_900, 29_400, 494_900],
  [100, 504_900, 10_000, 999_900, 19_900, 108_900, 1_989_900],
]

const factor = FastCheck.integer({ min: 20, max: 400 })
const xp = FastCheck.integer({ min: -1_000_000, max: 1_000_000_000_000 })

describe("level curve: the reference's table (§2.1)", () => {
  for (const [level, total100, step100, total200, step200, total20, total400] of table) {
    it(`level ${level} needs ${total100} (f=100), ${total200} (f=200), ${total20} (f=20), ${total400} (f=400)`, () => {
      expect(xpForLevel(level, 100)).toBe(total100)
      expect(xpForLevel(level, 200)).toBe(total200)
      expect(xpForLevel(level, 20)).toBe(total20)
      expect(xpForLevel(level, 400)).toBe(total400)
      if (step100 !== null) expect(stepCost(level - 1, 100)).toBe(step100)
      if (step200 !== null) expect(stepCost(level - 1, 200)).toBe(step200)
    })

    it(`exactly ${total100} XP is level ${level} at f=100 and one less is level ${level - 1}`, () => {
      for (const [f, total] of [
        [100, total100],
        [200, total200],
        [20, total20],
        [400, total400],
      ] as const) {
        expect(levelOf(total, f).level).toBe(level)
        expect(levelOf(total, f).progress).toBe(0)
        if (level > 1) expect(levelOf(total - 1, f).level).toBe(level - 1)
      }
    })
  }
})

describe("level curve: spot values at factor 100 (§2.1)", () => {
  it("199 XP is level 1 at 99 %", () => {
    const result = levelOf(199, 100)
    expect(result).toMatchObject({ level: 1, xpIntoLevel: 199, xpForNext: 200 })
    expect(percentToNext(result)).toBe(99)
    expect(result.progress).toBeCloseTo(0.996, 3)
  })

  it("200 XP is exactly level 2", () => {
    expect(levelOf(200, 100)).toEqual({ level: 2, progress: 0, xpIntoLevel: 0, xpForNext: 300 })
  })

  it("650 XP is level 3 at 40 % (the continuous inverse, not a linear share of the step)", () => {
    const result = levelOf(650, 100)
    expect(result).toMatchObject({ level: 3, xpIntoLevel: 150, xpForNext: 400 })
    expect(result.progress).toBeCloseTo(0.405, 3)
    expect(percentToNext(result)).toBe(40)
  })

  it("5,399 XP is level 9 at 99 % and 5,400 XP is level 10", () => {
    expect(levelOf(5399, 100).level).toBe(9)
    expect(percentToNext(levelOf(5399, 100))).toBe(99)
    expect(levelOf(5400, 100)).toMatchObject({ level: 10, progress: 0 })
  })

  it("100,000,000 XP is level 1413 at 71 %", () => {
    const result = levelOf(100_000_000, 100)
    expect(result.level).toBe(1413)
    expect(percentToNext(result)).toBe(71)
  })

  it("negative XP is level 1 with no progress", () => {
    expect(levelOf(-500, 100)).toEqual({ level: 1, progress: 0, xpIntoLevel: 0, xpForNext: 200 })
  })
})

describe("level curve: laws", () => {
  it.prop(
    "the level brackets the XP: need(level) ≤ xp < need(level + 1)",
    [xp, factor],
    ([total, f]) => {
      const { level } = levelOf(total, f)
      expect(level).toBeGreaterThanOrEqual(1)
      if (total >= 0) expect(xpForLevel(level, f)).toBeLessThanOrEqual(total)
      expect(total).toBeLessThan(xpForLevel(level + 1, f))
    },
  )

  it.prop("the level is monotone in XP", [xp, xp, factor], ([a, b, f]) => {
    const [low, high] = a <= b ? [a, b] : [b, a]
    expect(levelOf(low, f).level).toBeLessThanOrEqual(levelOf(high, f).level)
  })

  it.prop(
    "the XP needed is strictly increasing in the level",
    [FastCheck.integer({ min: 1, max: 100_000 }), factor],
    ([level, f]) => {
      expect(xpForLevel(level + 1, f) - xpForLevel(level, f)).toBe(stepCost(level, f))
      expect(xpForLevel(level + 1, f)).toBeGreaterThan(xpForLevel(level, f))
    },
  )

  it.prop(
    "need(level) lands exactly on that level and need(level) − 1 on the one below",
    [FastCheck.integer({ min: 2, max: 100_000 }), factor],
    ([level, f]) => {
      expect(levelOf(xpForLevel(level, f), f).level).toBe(level)
      expect(levelOf(xpForLevel(level, f) - 1, f).level).toBe(level - 1)
    },
  )

  it.prop(
    "progress stays in [0, 1) and xpIntoLevel within the step",
    [xp, factor],
    ([total, f]) => {
      const result = levelOf(total, f)
      expect(result.progress).toBeGreaterThanOrEqual(0)
      expect(result.progress).toBeLessThan(1)
      expect(result.xpIntoLevel).toBeGreaterThanOrEqual(0)
      expect(result.xpIntoLevel).toBeLessThan(result.xpForNext)
    },
  )
})
