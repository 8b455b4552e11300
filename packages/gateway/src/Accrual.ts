/**
 * The one accrual path, for every source (text messages, voice minutes, invites, votes, bonus):
 * an award's amounts are added to the member's buffered rows for the periods of its instant in the
 * guild's time zone (as `Award.toDeltas` would make them), together with the member's new total
 * in one atomic step; a level change is published for the level-up jobs.
 */
import type * as Award from "@tally/domain/Award"
import * as LevelCurve from "@tally/domain/LevelCurve"
import * as PeriodKey from "@tally/domain/PeriodKey"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Context, Effect, Layer, Option, PubSub } from "effect"
import { ActivityBuffer, type Totals } from "./ActivityBuffer"
import { MemberTotals } from "./MemberTotals"

/** What one event earned one member: a counted award of the domain's decision. */
export interface AccrualInput {
  readonly dbShardId: number
  readonly guildId: Snowflake
  readonly userId: Snowflake
  readonly award: Award.Counted
  /** Accounting time (epoch ms): the event's own time; it picks the periods. */
  readonly at: number
  readonly settings: {
    readonly timeZone: string
    readonly weekStartsOn: number
    readonly levelFactor: number
  }
  /** Where a level-up notice for this event may go (the actual channel, thread included). */
  readonly noticeChannelId?: Snowflake | null
}

/** A member's level changed (up or down); the level-up jobs consume these. */
export interface LevelChange {
  readonly dbShardId: number
  readonly guildId: Snowflake
  readonly userId: Snowflake
  readonly oldXp: number
  readonly newXp: number
  readonly oldLevel: number
  readonly newLevel: number
  readonly levelFactor: number
  readonly noticeChannelId: Snowflake | null
  readonly at: number
}

export class Accrual extends Context.Tag("@tally/gateway/Accrual")<
  Accrual,
  {
    /** Accrues once the member's total is loaded (loading it first if needed). */
    readonly accrue: (input: AccrualInput) => Effect.Effect<Totals>
    /**
     * Runs `f` as one atomic step on the DB shard's buffer (see `ActivityBuffer.transact`); inside
     * it, `accrue` accrues an input of that DB shard whose member's total is loaded, and answers
     * undefined (nothing changed) otherwise. Level changes are published once `f` is done.
     */
    readonly transact: <A>(
      dbShardId: number,
      f: (accrue: (input: AccrualInput) => Totals | undefined) => A,
    ) => Effect.Effect<A>
    readonly ensureAllLoaded: (
      dbShardId: number,
      guildId: Snowflake,
      userIds: Iterable<Snowflake>,
    ) => Effect.Effect<void>
    readonly levelChanges: PubSub.PubSub<LevelChange>
  }
>() {}

export const make = Effect.gen(function* () {
  const buffer = yield* ActivityBuffer
  const totals = yield* MemberTotals
  const levelChanges = yield* PubSub.unbounded<LevelChange>()

  /** The level change an accrual made, if any. */
  const levelChange = (input: AccrualInput, result: Totals): LevelChange | undefined => {
    const levelFactor = input.settings.levelFactor
    const oldLevel = LevelCurve.level(result.oldTotal, levelFactor)
    const newLevel = LevelCurve.level(result.newTotal, levelFactor)
    return oldLevel === newLevel
      ? undefined
      : {
          dbShardId: input.dbShardId,
          guildId: input.guildId,
          userId: input.userId,
          oldXp: result.oldTotal,
          newXp: result.newTotal,
          oldLevel,
          newLevel,
          levelFactor,
          noticeChannelId: input.noticeChannelId ?? null,
          at: input.at,
        }
  }

  const transact = <A>(
    dbShardId: number,
    f: (accrue: (input: AccrualInput) => Totals | undefined) => A,
  ): Effect.Effect<A> =>
    Effect.suspend(() => {
      const changes: Array<LevelChange> = []
      return buffer
        .transact(dbShardId, (step) =>
          f((input) => {
            const keys = PeriodKey.periodKeys(
              input.at,
              input.settings.timeZone,
              input.settings.weekStartsOn,
            )
            const result = step.accrue(input.guildId, input.userId, input.award, keys)
            if (result === undefined) return undefined
            const change = levelChange(input, result)
            if (change !== undefined) changes.push(change)
            return result
          }),
        )
        .pipe(
          Effect.tap(() =>
            changes.length === 0 ? Effect.void : PubSub.publishAll(levelChanges, changes),
          ),
        )
    })

  const accrueIfLoaded = (input: AccrualInput) =>
    transact(input.dbShardId, (accrue) => Option.fromNullable(accrue(input)))

  const accrue = (input: AccrualInput): Effect.Effect<Totals> =>
    Effect.flatMap(accrueIfLoaded(input), (result) =>
      Option.match(result, {
        onSome: Effect.succeed,
        onNone: () =>
          Effect.zipRight(
            totals.ensureLoaded(input.dbShardId, input.guildId, input.userId),
            accrue(input),
          ),
      }),
    )

  return {
    accrue,
    transact,
    ensureAllLoaded: totals.ensureAllLoaded,
    levelChanges,
  } satisfies Context.Tag.Service<Accrual>
})

export const layer: Layer.Layer<Accrual, never, ActivityBuffer | MemberTotals> = Layer.effect(
  Accrual,
  make,
)
