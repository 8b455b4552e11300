/**
 * The level curve (reference §2.1). Reaching level L costs `100 + (L − 1)·levelFactor` XP from
 * level L − 1, so the total is `need(L) = 100·(L − 1) + levelFactor·L·(L − 1)/2`; level 1 needs
 * nothing and negative XP stays at level 1. The one canonical level function: `/rank`, `/top`,
 * level roles, imports and exports all use it.
 */

/** The largest double below 1: progress never reads as a whole level. */
const MAX_BELOW_ONE = 1 - Number.EPSILON / 2

/** Where an XP total stands on the curve. */
export interface LevelProgress {
  /** The level reached, at least 1. */
  readonly level: number
  /**
   * How far towards the next level, in [0, 1): the fractional part of the curve's continuous
   * inverse, as ActivityRank shows it (650 XP at factor 100 is level 3 and 40 %).
   */
  readonly progress: number
  /** XP earned since reaching `level` (0 for negative totals). */
  readonly xpIntoLevel: number
  /** XP the step from `level` to `level + 1` costs in total. */
  readonly xpForNext: number
}

/** Total XP needed to reach `level` with the guild's `levelFactor`; level 1 (and below) needs 0. */
export const xpForLevel = (level: number, levelFactor: number): number =>
  level <= 1 ? 0 : 100 * (level - 1) + (levelFactor * level * (level - 1)) / 2

/** XP the step from `level` to `level + 1` costs. */
export const stepCost = (level: number, levelFactor: number): number => 100 + level * levelFactor

/**
 * The continuous inverse of the curve ("level progression", ≥ 1): the real root of
 * `(f/2)·n² + (f/2 + 100)·n − xp = 0`, plus one. Floating point; `levelOf` corrects it.
 */
export const progression = (xp: number, levelFactor: number): number => {
  if (xp <= 0) return 1
  const half = levelFactor / 2
  const linear = half + 100
  const root = (-linear + Math.sqrt(linear * linear + 4 * half * xp)) / (2 * half)
  return root + 1
}

/**
 * The level and progress of an XP total. The level is exact in integers: the floating-point
 * estimate is moved until `xpForLevel(level) ≤ xp < xpForLevel(level + 1)`.
 */
export const levelOf = (xp: number, levelFactor: number): LevelProgress => {
  const continuous = progression(xp, levelFactor)
  const level = levelFrom(continuous, xp, levelFactor)
  const fraction = continuous - level
  const progress = fraction <= 0 ? 0 : fraction >= 1 ? MAX_BELOW_ONE : fraction
  return {
    level,
    progress,
    xpIntoLevel: Math.max(0, xp - xpForLevel(level, levelFactor)),
    xpForNext: stepCost(level, levelFactor),
  }
}

/** The curve's estimate moved until `xpForLevel(level) ≤ xp < xpForLevel(level + 1)`. */
const levelFrom = (continuous: number, xp: number, levelFactor: number): number => {
  let level = Math.max(1, Math.floor(continuous))
  while (level > 1 && xpForLevel(level, levelFactor) > xp) level--
  while (xpForLevel(level + 1, levelFactor) <= xp) level++
  return level
}

/** The level only (twice per counted message: without `levelOf`'s object). */
export const level = (xp: number, levelFactor: number): number =>
  levelFrom(progression(xp, levelFactor), xp, levelFactor)

/** Whole percent towards the next level, floored (what `/rank` prints). */
export const percentToNext = (progress: LevelProgress): number =>
  Math.floor(progress.progress * 100)
