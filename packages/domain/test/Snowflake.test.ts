import { describe, expect, it } from "@effect/vitest"
import { FastCheck, Schema } from "effect"
import { compare, fromTimestamp, isSnowflake, Snowflake, timestampMillis } from "../src/Snowflake"

const decode = Schema.decodeUnknownEither(Snowflake)

describe("snowflakes are unsigned 64-bit decimal strings", () => {
  it("2^64 − 1 is accepted", () => {
    expect(isSnowflake("18446744073709551615")).toBe(true)
  })

  it("2^64 is rejected", () => {
    expect(isSnowflake("18446744073709551616")).toBe(false)
    expect(decode("18446744073709551616")._tag).toBe("Left")
  })

  it("0 and a real id are accepted", () => {
    expect(isSnowflake("0")).toBe(true)
    expect(isSnowflake("175928847299117063")).toBe(true)
  })

  it("leading zeros, signs, spaces, non-digits, numbers and empty text are rejected", () => {
    for (const text of ["0175928847299117063", "-1", "+1", " 1", "1 ", "12a", "1e5", "", "1.0"]) {
      expect(isSnowflake(text), text).toBe(false)
    }
    expect(isSnowflake(1759288472)).toBe(false)
  })

  it("more than 20 digits are rejected", () => {
    expect(isSnowflake("100000000000000000000")).toBe(false)
  })

  it("the plain check answers as the schema does", () => {
    const schemaIs = Schema.is(Snowflake)
    const digitStrings = FastCheck.stringMatching(/^[0-9]{1,21}$/)
    const near2to64 = FastCheck.bigInt({ min: 2n ** 64n - 1000n, max: 2n ** 64n + 1000n })
    FastCheck.assert(
      FastCheck.property(
        FastCheck.oneof(
          digitStrings,
          near2to64.map(String),
          FastCheck.string(),
          FastCheck.integer(),
          FastCheck.constant(null),
        ),
        (value) => isSnowflake(value) === schemaIs(value),
      ),
      { numRuns: 2_000 },
    )
  })
})

describe("a snowflake encodes its creation instant", () => {
  it("Discord's documented example 175928847299117063 was made at 2016-04-30T11:18:25.796Z", () => {
    const id = Schema.decodeSync(Snowflake)("175928847299117063")
    expect(timestampMillis(id)).toBe(Date.UTC(2016, 3, 30, 11, 18, 25, 796))
  })

  it("id 0 is Discord's epoch, 2015-01-01", () => {
    expect(timestampMillis(Schema.decodeSync(Snowflake)("0"))).toBe(Date.UTC(2015, 0, 1))
  })

  it.prop(
    "fromTimestamp and timestampMillis round-trip any instant from 2015 to 2100, whatever the low bits",
    [
      FastCheck.integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2100, 0, 1) }),
      FastCheck.integer({ min: 0, max: 0x3fffff }),
    ],
    ([millis, low]) => {
      const id = fromTimestamp(millis, low)
      expect(isSnowflake(id)).toBe(true)
      expect(timestampMillis(id)).toBe(millis)
    },
  )

  it.prop(
    "later instants give larger ids",
    [
      FastCheck.integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2100, 0, 1) }),
      FastCheck.integer({ min: 1, max: 1_000_000 }),
    ],
    ([millis, later]) => {
      expect(BigInt(fromTimestamp(millis + later))).toBeGreaterThan(
        BigInt(fromTimestamp(millis, 0x3fffff)),
      )
    },
  )
})

describe("snowflakes compare as the numbers they are", () => {
  it.prop(
    "compare agrees with BigInt's order",
    [
      FastCheck.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      FastCheck.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    ],
    ([a, b]) => {
      expect(compare(String(a), String(b))).toBe(a < b ? -1 : a > b ? 1 : 0)
      expect(compare(String(a), String(a))).toBe(0)
    },
  )
  it("a shorter id is smaller, though its text sorts after", () => {
    expect(compare("9", "10")).toBe(-1)
    expect(compare("100", "99")).toBe(1)
  })
})
