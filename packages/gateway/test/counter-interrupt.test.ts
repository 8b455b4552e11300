import { describe, expect, it } from "@effect/vitest"
import * as Award from "@tally/domain/Award"
import * as GuildSettings from "@tally/domain/GuildSettings"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Snowflakes from "@tally/domain/Snowflake"
import { Deferred, Effect, Fiber, Layer, Option, PubSub, Ref } from "effect"
import { Accrual, type AccrualInput } from "../src/Accrual"
import type { Totals } from "../src/ActivityBuffer"
import * as CounterMod from "../src/Counter"
import { Counter } from "../src/Counter"
import { GuildContext, type GuildContextData } from "../src/GuildContext"
import * as SeenMessages from "../src/SeenMessages"
import { Spill } from "../src/Spill"
import { eventually } from "./counterFixtures"

const guild = Snowflakes.unsafeMake("100000000000000001")
const userA = Snowflakes.unsafeMake("200000000000000001")
const userB = Snowflakes.unsafeMake("200000000000000002")
const channel = Snowflakes.unsafeMake("300000000000000001")
const base = Date.UTC(2026, 11, 3, 9, 0, 0)
const msg = (n: number, authorId: Snowflake): CounterMod.MessageEvent => ({
  discordShardId: 0,
  messageId: Snowflakes.fromTimestamp(base + n * 60_000, n),
  guildId: guild,
  channelId: channel,
  channelType: 0,
  parentId: null,
  categoryId: null,
  authorId,
  authorBot: false,
  messageType: 0,
  memberRoleIds: [],
})

const context: GuildContextData = {
  ...Award.makeRules({ guildId: guild, settings: GuildSettings.defaults }),
  dbShardId: 0,
}

/** Fakes: totals load only when `loadGate` opens; `passGate` (if set) holds the first pass. */
const harness = (capacity: number, holdFirstPass: boolean) =>
  Effect.gen(function* () {
    const totals = new Map<string, number>()
    const counted: Array<string> = []
    const saved = yield* Ref.make<ReadonlyArray<unknown>>([])
    const loadGate = yield* Deferred.make<void>()
    const passEntered = yield* Deferred.make<void>()
    const passGate = yield* Deferred.make<void>()
    let passes = 0
    const levelChanges = yield* PubSub.unbounded<never>()
    const accrual = {
      accrue: () => Effect.die("unused"),
      ensureAllLoaded: (_db: number, _g: Snowflake, users: Iterable<Snowflake>) =>
        Effect.zipRight(
          Deferred.await(loadGate),
          Effect.sync(() => {
            for (const u of users) if (!totals.has(u)) totals.set(u, 0)
          }),
        ),
      transact: <A>(_db: number, f: (accrue: (i: AccrualInput) => Totals | undefined) => A) =>
        Effect.suspend(() => {
          const result = f((input) => {
            const old = totals.get(input.userId)
            if (old === undefined) return undefined
            totals.set(input.userId, old + input.award.xp)
            counted.push(`${input.userId}@${input.at}`)
            return { oldTotal: old, newTotal: old + input.award.xp }
          })
          passes++
          return holdFirstPass && passes === 1
            ? Effect.zipRight(
                Deferred.succeed(passEntered, undefined),
                Effect.as(Deferred.await(passGate), result),
              )
            : Effect.succeed(result)
        }),
      levelChanges,
    } as unknown as Accrual["Type"]
    const contexts = {
      cached: () => Option.some(context),
      load: () => Effect.succeed(context),
      forget: () => Effect.void,
      roleDeleted: () => Effect.void,
    } as unknown as GuildContext["Type"]
    const spill = {
      directory: "(in memory)",
      readWaiting: Effect.succeed([]),
      writeWaiting: (events: ReadonlyArray<unknown>) => Ref.set(saved, events),
    } as unknown as Spill["Type"]
    const layer = CounterMod.layer({ queueCapacity: capacity, maxWaitForRoom: "30 seconds" }).pipe(
      Layer.provide(
        Layer.mergeAll(
          Layer.succeed(Accrual, accrual),
          Layer.succeed(GuildContext, contexts),
          Layer.succeed(SeenMessages.SeenMessages, SeenMessages.make()),
          Layer.succeed(Spill, spill),
        ),
      ),
    )
    const ctx = yield* Layer.build(layer)
    const counter = ctx.unsafeMap.get(Counter.key) as Counter["Type"]
    return { counter, counted, saved, loadGate, passEntered, passGate }
  })

/**
 * What an interruption (Gateway.stop interrupts the dispatch loop) does to a batch in the
 * counter. The accrual is a fake here on purpose: these tests hold a pass or a load at a chosen
 * point, which a real database cannot be asked to do; the counting itself is tested against
 * MariaDB in counter.test.ts.
 */
describe("an interrupted caller never strands or loses events it handed over", () => {
  it.scopedLive(
    "an event waiting for room when its caller is interrupted is saved at shutdown, not lost",
    () =>
      Effect.gen(function* () {
        const h = yield* harness(1, false)
        // a1 parks (the queue is full); b1 (a new author) overflows and its caller waits for room.
        const caller = yield* Effect.fork(h.counter.countMessages([msg(1, userA), msg(2, userB)]))
        yield* Effect.sleep("50 millis")
        yield* Fiber.interrupt(caller)
        const { savedEvents } = yield* h.counter.shutdown
        expect(h.counted.length).toBe(0)
        expect(savedEvents).toBe(2)
        expect((yield* Ref.get(h.saved)).length).toBe(2)
      }),
  )

  it.scopedLive(
    "a caller interrupted at the end of a pass still leaves a loader for the author it parked",
    () =>
      Effect.gen(function* () {
        const h = yield* harness(100, true)
        const caller = yield* Effect.fork(h.counter.countMessages([msg(1, userA)]))
        yield* Deferred.await(h.passEntered)
        const interrupting = yield* Effect.fork(Fiber.interrupt(caller))
        yield* Deferred.succeed(h.passGate, undefined)
        yield* Fiber.join(interrupting)
        yield* Deferred.succeed(h.loadGate, undefined)
        yield* h.counter.countMessages([msg(2, userA), msg(3, userB)])
        yield* eventually(h.counter.stats, (stats) => stats.waitingEvents === 0)
        expect(h.counted.filter((entry) => entry.startsWith(userA))).toEqual([
          `${userA}@${base + 60_000}`,
          `${userA}@${base + 120_000}`,
        ])
        expect(h.counted).toContain(`${userB}@${base + 180_000}`)
        expect(h.counted).toHaveLength(3)
      }),
  )
})
