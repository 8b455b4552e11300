/** Total XP needed to reach `level` with the guild's `levelFactor`; level 1 needs nothing. */
export const xpForLevel = (level: number, levelFactor: number): number =>
  100 * (level - 1) + (levelFactor * level * (level - 1)) / 2
