import { describe, expect, layer } from "@effect/vitest"
import * as ActivityDelta from "@tally/domain/ActivityDelta"
import { unsafeMake as id, type Snowflake } from "@tally/domain/Snowflake"
import { Effect, Layer } from "effect"
import * as ActivityWriter from "../src/ActivityWriter"
import * as Leaderboard from "../src/Leaderboard"
import * as Testing from "../src/testing"

const today = { day: 20261203, week: 20261129, month: 202612, year: 2026 }
const yesterday = { ...today, day: 20261202 }
const tomorrow = { day: 20261204, week: 20261129, month: 202612, year: 2026 }

let batches = 0
const write = (
  guildId: Snowflake,
  entries: ReadonlyArray<{
    kind: ActivityDelta.DeltaKind
    user: string
    amount: number
    channel?: string
    keys?: typeof today
  }>,
) =>
  ActivityWriter.apply({
    batchId: `leaderboard-${++batches}`,
    deltas: entries.map((entry) =>
      ActivityDelta.make({
        kind: entry.kind,
        guildId,
        userId: id(entry.user),
        channelId: id(entry.channel ?? "1"),
        amount: entry.amount,
        keys: entry.keys ?? today,
      }),
    ),
  })

const xpGuild = id("18446744073709551615")
const statGuild = id("777")
const bigUser = "18446744073709551614"

const seed = Layer.effectDiscard(
  Effect.gen(function* () {
    yield* write(xpGuild, [
      { kind: "xp", user: "10", amount: 50 },
      { kind: "xp", user: "11", amount: 30 },
      { kind: "xp", user: "12", amount: 30 },
      { kind: "xp", user: bigUser, amount: 30 },
      { kind: "xp", user: "13", amount: 10 },
      { kind: "xp", user: "14", amount: 99, keys: yesterday },
      { kind: "xp", user: "15", amount: 0 },
    ])
    yield* write(statGuild, [
      { kind: "textMessages", user: "1", channel: "100", amount: 5 },
      { kind: "textMessages", user: "1", channel: "101", amount: 4 },
      { kind: "textMessages", user: "2", channel: "100", amount: 8 },
      { kind: "textMessages", user: "3", channel: "102", amount: 3, keys: yesterday },
      { kind: "voiceMinutes", user: "3", channel: "200", amount: 60 },
      { kind: "votes", user: "2", amount: 2 },
    ])
  }),
)

layer(seed.pipe(Layer.provideMerge(Testing.layerShard())))("Leaderboard", (it) => {
  describe("top members", () => {
    it.effect("highest first, ties in user-id order, tied members share a position", () =>
      Effect.gen(function* () {
        const page = yield* Leaderboard.topMembers({
          guildId: xpGuild,
          by: "xp",
          period: "day",
          keys: today,
          page: 1,
          pageSize: 10,
        })
        expect(page).toEqual([
          { userId: "10", value: 50, position: 1 },
          { userId: "11", value: 30, position: 2 },
          { userId: "12", value: 30, position: 2 },
          { userId: bigUser, value: 30, position: 2 },
          { userId: "13", value: 10, position: 5 },
        ])
      }),
    )

    it.effect("pages continue where the last ended, positions included mid-tie", () =>
      Effect.gen(function* () {
        const query = {
          guildId: xpGuild,
          by: "xp",
          period: "day",
          keys: today,
          pageSize: 2,
        } as const
        const pages = yield* Effect.forEach([1, 2, 3, 4], (page) =>
          Leaderboard.topMembers({ ...query, page }),
        )
        expect(pages.map((page) => page.map((entry) => [entry.userId, entry.position]))).toEqual([
          [
            ["10", 1],
            ["11", 2],
          ],
          [
            ["12", 2],
            [bigUser, 2],
          ],
          [["13", 5]],
          [],
        ])
      }),
    )

    it.effect("a counter whose key is not the current period's reads as zero", () =>
      Effect.gen(function* () {
        const query = { guildId: xpGuild, by: "xp", keys: today, page: 1, pageSize: 10 } as const
        const day = yield* Leaderboard.topMembers({ ...query, period: "day" })
        expect(day.map((entry) => entry.userId)).not.toContain("14")
        const month = yield* Leaderboard.topMembers({ ...query, period: "month" })
        expect(month[0]).toEqual({ userId: "14", value: 99, position: 1 })
        const nextDay = yield* Leaderboard.topMembers({ ...query, period: "day", keys: tomorrow })
        expect(nextDay).toEqual([])
      }),
    )

    it.effect("statistics rank by their sum over channels", () =>
      Effect.gen(function* () {
        const page = yield* Leaderboard.topMembers({
          guildId: statGuild,
          by: "textMessages",
          period: "day",
          keys: today,
          page: 1,
          pageSize: 10,
        })
        expect(page).toEqual([
          { userId: "1", value: 9, position: 1 },
          { userId: "2", value: 8, position: 2 },
        ])
        const votes = yield* Leaderboard.topMembers({
          guildId: statGuild,
          by: "votes",
          period: "alltime",
          keys: today,
          page: 1,
          pageSize: 10,
        })
        expect(votes).toEqual([{ userId: "2", value: 2, position: 1 }])
      }),
    )
  })

  describe("a member's position", () => {
    const query = { guildId: xpGuild, by: "xp", period: "day", keys: today } as const
    it.effect("is 1 + members strictly ahead; ties share it", () =>
      Effect.gen(function* () {
        const positions = yield* Effect.forEach(["10", "12", bigUser, "13"], (user) =>
          Leaderboard.position({ ...query, userId: id(user) }),
        )
        expect(positions).toEqual([1, 2, 2, 5])
      }),
    )

    it.effect("makePositions gives the same positions past its exact limit, from a snapshot", () =>
      Effect.gen(function* () {
        const positions = yield* Leaderboard.makePositions({ exactLimit: 2 })
        const users = ["10", "12", bigUser, "13", "14", "999"]
        const found = yield* Effect.forEach(users, (user) =>
          positions.position({ ...query, userId: id(user) }),
        )
        expect(found).toEqual([1, 2, 2, 5, null, null])
      }),
    )

    it.effect("is null with zero in the period, never #1", () =>
      Effect.gen(function* () {
        const positions = yield* Effect.forEach(["14", "15", "999"], (user) =>
          Leaderboard.position({ ...query, userId: id(user) }),
        )
        expect(positions).toEqual([null, null, null])
        expect(yield* Leaderboard.position({ ...query, period: "alltime", userId: id("14") })).toBe(
          1,
        )
      }),
    )

    it.effect("for a statistic, counts the sums over channels", () =>
      Effect.gen(function* () {
        const at = {
          guildId: statGuild,
          by: "textMessages",
          period: "alltime",
          keys: today,
        } as const
        expect(yield* Leaderboard.position({ ...at, userId: id("2") })).toBe(2)
        expect(yield* Leaderboard.position({ ...at, userId: id("3") })).toBe(3)
        expect(yield* Leaderboard.position({ ...at, period: "day", userId: id("3") })).toBe(null)
      }),
    )

    it.effect("memberValues gives every ranking in every period, stale keys as zero", () =>
      Effect.gen(function* () {
        const values = yield* Leaderboard.memberValues(statGuild, id("3"), today)
        expect(values.textMessages).toEqual({ alltime: 3, year: 3, month: 3, week: 3, day: 0 })
        expect(values.voiceMinutes.day).toBe(60)
        expect(values.xp.alltime).toBe(0)
      }),
    )
  })

  describe("channels", () => {
    it.effect("top channels by text messages sum every member's messages", () =>
      Effect.gen(function* () {
        const page = yield* Leaderboard.topChannels({
          guildId: statGuild,
          by: "textMessages",
          period: "alltime",
          keys: today,
          page: 1,
          pageSize: 10,
        })
        expect(page).toEqual([
          { channelId: "100", value: 13 },
          { channelId: "101", value: 4 },
          { channelId: "102", value: 3 },
        ])
        const voice = yield* Leaderboard.topChannels({
          guildId: statGuild,
          by: "voiceMinutes",
          period: "day",
          keys: today,
          page: 1,
          pageSize: 10,
        })
        expect(voice).toEqual([{ channelId: "200", value: 60 }])
      }),
    )

    it.effect("a member's channels and a channel's members", () =>
      Effect.gen(function* () {
        const mine = yield* Leaderboard.memberChannels({
          guildId: statGuild,
          userId: id("1"),
          by: "textMessages",
          period: "day",
          keys: today,
          page: 1,
          pageSize: 10,
        })
        expect(mine).toEqual([
          { channelId: "100", value: 5 },
          { channelId: "101", value: 4 },
        ])
        const members = yield* Leaderboard.topMembersInChannel({
          guildId: statGuild,
          channelId: id("100"),
          by: "textMessages",
          period: "day",
          keys: today,
          page: 1,
          pageSize: 10,
        })
        expect(members).toEqual([
          { userId: "2", value: 8 },
          { userId: "1", value: 5 },
        ])
      }),
    )
  })
})
