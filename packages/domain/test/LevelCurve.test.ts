import { describe, expect, it } from "@effect/vitest"
import { xpForLevel } from "../src/LevelCurve"

describe("level curve", () => {
  it("factor 100 needs 5,400 XP for level 10", () => {
    expect(xpForLevel(10, 100)).toBe(5400)
  })
})
