/**
 * The activity buffer of each DB shard: merged activity deltas waiting for the flusher, and beside
 * them the in-memory all-time XP of every member seen on that shard. Both sit in ONE `Ref` per DB
 * shard, so an accrual changes the buffer and the member's total in one atomic step and returns
 * the old and new totals.
 *
 * The rule that keeps totals exact: a member's total is installed (from the DB shard, see
 * `MemberTotals`) before the first delta of that member is accrued in this process, and never
 * reloaded. So no delta of the member is buffered or in flight when its total is read, and every
 * later delta is added to the total exactly once, in the same step that buffers it.
 *
 * A member may be evicted (`evictIdle`) once idle and once every delta of theirs is written:
 * nothing in the buffer, and their last swap and every one before it settled (`settle`). A later
 * load then reads a total that holds every delta, so the rule above holds again (ActivityRank
 * rebuilt evicted members' totals without their unflushed XP: repeated level-ups, §9.10).
 */
import * as ActivityDelta from "@tally/domain/ActivityDelta"
import type { Counted } from "@tally/domain/Award"
import type { PeriodKeys } from "@tally/domain/PeriodKey"
import { compare as compareSnowflakes, type Snowflake } from "@tally/domain/Snowflake"
import { Clock, Context, Effect, Layer, Option, Queue, Ref } from "effect"

/**
 * One member on one DB shard: its all-time XP (the DB's value at load plus everything since) and
 * its rows in the current buffer. Keyed this way, an accrual builds one key string (the
 * member's), not one per row.
 */
export interface MemberEntry {
  readonly guildId: Snowflake
  readonly userId: Snowflake
  total: number
  /** Owned by the buffer and merged into in place until swapped out; null when none. */
  rows: MemberRows | null
  /** The number of the last swap that took rows of the member (0: none yet). */
  swap: number
  /** When the member last accrued or was loaded (epoch ms). */
  touchedAt: number
}

/**
 * A member's rows by kind: a field per kind (a counted message touches two rows, and map lookups
 * by kind were the larger part of an accrual), per-channel kinds by channel id.
 */
interface MemberRows {
  xp: ActivityDelta.MutableDelta | null
  invites: ActivityDelta.MutableDelta | null
  votes: ActivityDelta.MutableDelta | null
  bonus: ActivityDelta.MutableDelta | null
  textMessages: Map<string, ActivityDelta.MutableDelta> | null
  voiceMinutes: Map<string, ActivityDelta.MutableDelta> | null
}

const emptyRows = (): MemberRows => ({
  xp: null,
  invites: null,
  votes: null,
  bonus: null,
  textMessages: null,
  voiceMinutes: null,
})

const byChannelId = (a: ActivityDelta.ActivityDelta, b: ActivityDelta.ActivityDelta) =>
  compareSnowflakes(a.channelId ?? "0", b.channelId ?? "0")

/** Every row of a member, per-member kinds first, a per-channel kind's rows in channel order. */
const pushRows = (rows: MemberRows, into: Array<ActivityDelta.ActivityDelta>) => {
  for (const row of [rows.xp, rows.invites, rows.votes, rows.bonus]) {
    if (row !== null) into.push(row)
  }
  for (const byChannel of [rows.textMessages, rows.voiceMinutes]) {
    if (byChannel === null) continue
    const channelRows = [...byChannel.values()]
    if (channelRows.length > 1) channelRows.sort(byChannelId)
    for (const row of channelRows) into.push(row)
  }
}

const byMember = (a: MemberEntry, b: MemberEntry) =>
  compareSnowflakes(a.guildId, b.guildId) || compareSnowflakes(a.userId, b.userId)

/**
 * One DB shard's state. The maps are mutable for speed, but only ever touched inside a `Ref`
 * step (which runs synchronously, start to end, so nothing interleaves), and swapped-out rows are
 * never touched again (their members get fresh row maps).
 */
export interface ShardBuffer {
  /** Per member (`guildId/userId`). */
  readonly members: Map<string, MemberEntry>
  /** Swaps made so far. */
  swaps: number
  /** Numbers of the swaps whose batch is not written yet. */
  readonly unsettled: Set<number>
  /** Members with rows in the current buffer. */
  readonly dirty: Array<MemberEntry>
  /** Rows in the current buffer. */
  rows: number
  /** When the oldest row still in the buffer was accrued (epoch ms), or null when empty. */
  oldestAt: number | null
}

/** An empty buffer; the members, their totals and the swaps' count carry over. */
const emptyBuffer = (
  from: Pick<ShardBuffer, "members" | "swaps" | "unsettled"> = {
    members: new Map(),
    swaps: 0,
    unsettled: new Set(),
  },
): ShardBuffer => ({
  members: from.members,
  swaps: from.swaps,
  unsettled: from.unsettled,
  dirty: [],
  rows: 0,
  oldestAt: null,
})

export interface Totals {
  readonly oldTotal: number
  readonly newTotal: number
}

/** What a `transact` step may do to one DB shard's buffer, synchronously, any number of times. */
export interface ShardStep {
  /**
   * Adds the award's amounts to the member's rows for the periods `keys`, as the deltas
   * `Award.toDeltas` would make them (without making them), and its XP to the member's total;
   * undefined (and nothing changed) when the member's total is not loaded yet.
   */
  readonly accrue: (
    guildId: Snowflake,
    userId: Snowflake,
    award: Counted,
    keys: PeriodKeys,
  ) => Totals | undefined
}

/** What one swap takes out of a buffer. */
export interface Swapped {
  readonly deltas: ReadonlyArray<ActivityDelta.ActivityDelta>
  readonly oldestAt: number
  /** The swap's number, for `settle` once its batch is written. */
  readonly swap: number
}

/** Members checked for eviction per step. */
const EVICT_STEP = 20_000

export const memberKey = (guildId: Snowflake, userId: Snowflake): string => `${guildId}/${userId}`

/** The ids a `memberKey` was made of. */
const idsOfMemberKey = (key: string) => {
  const slash = key.indexOf("/")
  return {
    guildId: key.slice(0, slash) as Snowflake,
    userId: key.slice(slash + 1) as Snowflake,
  }
}

export class ActivityBuffer extends Context.Tag("@tally/gateway/ActivityBuffer")<
  ActivityBuffer,
  {
    /** `ShardStep.accrue` as a step of its own; None when the member's total is not loaded yet. */
    readonly accrue: (
      dbShardId: number,
      guildId: Snowflake,
      userId: Snowflake,
      award: Counted,
      keys: PeriodKeys,
    ) => Effect.Effect<Option.Option<Totals>>
    /**
     * Runs `f` as ONE atomic step on the DB shard's buffer: a batch of events accrues at the cost
     * of one `Ref` update. `f` must be synchronous and must not keep `step` beyond its call.
     */
    readonly transact: <A>(dbShardId: number, f: (step: ShardStep) => A) => Effect.Effect<A>
    readonly totalOf: (
      dbShardId: number,
      guildId: Snowflake,
      userId: Snowflake,
    ) => Effect.Effect<Option.Option<number>>
    /** Of `userIds`, those whose total is not loaded yet (each once), in one read. */
    readonly missingTotals: (
      dbShardId: number,
      guildId: Snowflake,
      userIds: Iterable<Snowflake>,
    ) => Effect.Effect<ReadonlyArray<Snowflake>>
    /** Installs loaded totals; a total already present is kept (it is newer than any load). */
    readonly installTotals: (
      dbShardId: number,
      totals: Iterable<readonly [key: string, alltime: number]>,
    ) => Effect.Effect<void>
    /** Takes the DB shard's deltas out, leaving an empty buffer; None when it was empty. */
    readonly swap: (dbShardId: number) => Effect.Effect<Option.Option<Swapped>>
    /** The swap's batch is written: its members may be evicted. */
    readonly settle: (dbShardId: number, swap: number) => Effect.Effect<void>
    /**
     * Forgets the members untouched since `before` (epoch ms) who have no delta in the buffer and
     * none in an unsettled batch; the next accrual of one loads its total again. Returns how many.
     */
    readonly evictIdle: (dbShardId: number, before: number) => Effect.Effect<number>
    /** Members whose total is in memory, all DB shards together. */
    readonly memberCount: Effect.Effect<number>
    readonly dbShardIds: Effect.Effect<ReadonlyArray<number>>
    readonly stats: Effect.Effect<{ readonly rows: number; readonly oldestAt: number | null }>
    /** DB shard ids whose buffer passed the size threshold (the flusher takes them early). */
    readonly full: Queue.Dequeue<number>
  }
>() {}

export interface Options {
  /** A buffer with this many rows asks for an early flush. */
  readonly fullAt?: number
}

export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const fullAt = options.fullAt ?? 20_000
    const full = yield* Queue.sliding<number>(256)
    const buffers = new Map<number, Ref.Ref<ShardBuffer>>()

    const bufferOf = (dbShardId: number): Ref.Ref<ShardBuffer> => {
      let buffer = buffers.get(dbShardId)
      if (buffer === undefined) {
        buffer = Ref.unsafeMake<ShardBuffer>(emptyBuffer())
        buffers.set(dbShardId, buffer)
      }
      return buffer
    }

    const transact = <A>(dbShardId: number, f: (step: ShardStep) => A): Effect.Effect<A> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.modify(bufferOf(dbShardId), (state): [readonly [A, number], ShardBuffer] => {
          let accrued = false
          /** Adds `amount` (when not zero) to the member's row of `kind` and channel. */
          const add = (
            member: MemberEntry,
            kind: ActivityDelta.DeltaKind,
            guildId: Snowflake,
            userId: Snowflake,
            channelId: Snowflake | null,
            amount: number,
            keys: PeriodKeys,
          ) => {
            if (amount === 0) return
            accrued = true
            let rows = member.rows
            if (rows === null) {
              rows = emptyRows()
              member.rows = rows
              state.dirty.push(member)
            }
            let row: ActivityDelta.MutableDelta | null | undefined
            if (kind === "textMessages" || kind === "voiceMinutes") {
              let byChannel = rows[kind]
              if (byChannel === null) {
                byChannel = new Map()
                rows[kind] = byChannel
              }
              const channel = channelId ?? ""
              row = byChannel.get(channel)
              if (row === undefined) {
                row = ActivityDelta.emptyRow({ kind, guildId, userId, channelId, keys })
                byChannel.set(channel, row)
                state.rows += 1
              }
            } else {
              row = rows[kind]
              if (row === null) {
                row = ActivityDelta.emptyRow({ kind, guildId, userId, channelId, keys })
                rows[kind] = row
                state.rows += 1
              }
            }
            ActivityDelta.addInto(row, amount, keys)
          }
          const step: ShardStep = {
            accrue: (guildId, userId, award, keys) => {
              const member = state.members.get(memberKey(guildId, userId))
              if (member === undefined) return undefined
              // As `Award.toDeltas`: the statistic (per channel or not), XP and bonus.
              const channelId = ActivityDelta.isPerChannel(award.statistic) ? award.channelId : null
              add(member, award.statistic, guildId, userId, channelId, award.amount, keys)
              add(member, "xp", guildId, userId, null, award.xp, keys)
              add(member, "bonus", guildId, userId, null, award.bonus, keys)
              member.touchedAt = now
              const oldTotal = member.total
              member.total = oldTotal + award.xp
              return { oldTotal, newTotal: member.total }
            },
          }
          const result = f(step)
          if (accrued && state.oldestAt === null) state.oldestAt = now
          return [[result, state.rows], state]
        }),
      ).pipe(
        Effect.flatMap(([result, rows]) =>
          rows >= fullAt ? Effect.as(Queue.offer(full, dbShardId), result) : Effect.succeed(result),
        ),
      )

    const accrue = (
      dbShardId: number,
      guildId: Snowflake,
      userId: Snowflake,
      award: Counted,
      keys: PeriodKeys,
    ) =>
      transact(dbShardId, (step) => Option.fromNullable(step.accrue(guildId, userId, award, keys)))

    const totalOf = (dbShardId: number, guildId: Snowflake, userId: Snowflake) =>
      Effect.map(Ref.get(bufferOf(dbShardId)), (state) =>
        Option.fromNullable(state.members.get(memberKey(guildId, userId))?.total),
      )

    const missingTotals = (dbShardId: number, guildId: Snowflake, userIds: Iterable<Snowflake>) =>
      Effect.map(Ref.get(bufferOf(dbShardId)), (state) => {
        const missing = new Set<Snowflake>()
        for (const userId of userIds) {
          if (!state.members.has(memberKey(guildId, userId))) missing.add(userId)
        }
        return [...missing]
      })

    const installTotals = (dbShardId: number, totals: Iterable<readonly [string, number]>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.update(bufferOf(dbShardId), (state) => {
          for (const [key, alltime] of totals) {
            if (state.members.has(key)) continue
            state.members.set(key, {
              ...idsOfMemberKey(key),
              total: alltime,
              rows: null,
              swap: 0,
              touchedAt: now,
            })
          }
          return state
        }),
      )

    const swap = (dbShardId: number) =>
      Ref.modify(bufferOf(dbShardId), (state): [Option.Option<Swapped>, ShardBuffer] => {
        if (state.oldestAt === null || state.rows === 0) return [Option.none(), state]
        const deltas: Array<ActivityDelta.ActivityDelta> = []
        const swap = state.swaps + 1
        // In primary-key order, members sorted once here: the writer then needs no sort per
        // table (see `ActivityWriter.rowsOf`).
        for (const member of state.dirty.sort(byMember)) {
          if (member.rows !== null) pushRows(member.rows, deltas)
          member.rows = null
          member.swap = swap
        }
        state.unsettled.add(swap)
        return [
          Option.some({ deltas, oldestAt: state.oldestAt, swap }),
          emptyBuffer({ members: state.members, swaps: swap, unsettled: state.unsettled }),
        ]
      })

    const settle = (dbShardId: number, swap: number) =>
      Ref.update(bufferOf(dbShardId), (state) => {
        state.unsettled.delete(swap)
        return state
      })

    /** Evicts among `keys`, in one step. */
    const evictAmong = (dbShardId: number, keys: ReadonlyArray<string>, before: number) =>
      Ref.modify(bufferOf(dbShardId), (state): [number, ShardBuffer] => {
        // Swaps settle in any order: a member is clear once its last swap is older than every
        // unsettled one (an older unsettled batch may hold its earlier rows).
        let firstUnsettled = Number.POSITIVE_INFINITY
        for (const swap of state.unsettled) firstUnsettled = Math.min(firstUnsettled, swap)
        let evicted = 0
        for (const key of keys) {
          const member = state.members.get(key)
          if (member === undefined) continue
          if (member.rows === null && member.swap < firstUnsettled && member.touchedAt < before) {
            state.members.delete(key)
            evicted += 1
          }
        }
        return [evicted, state]
      })

    // In steps of EVICT_STEP members, with a yield between: a million members checked in one
    // step held the event loop for a fraction of a second.
    const evictIdle = (dbShardId: number, before: number) =>
      Effect.gen(function* () {
        const keys = [...(yield* Ref.get(bufferOf(dbShardId))).members.keys()]
        let evicted = 0
        for (let offset = 0; offset < keys.length; offset += EVICT_STEP) {
          evicted += yield* evictAmong(dbShardId, keys.slice(offset, offset + EVICT_STEP), before)
          yield* Effect.yieldNow()
        }
        return evicted
      })

    const memberCount = Effect.suspend(() => Effect.forEach([...buffers.values()], Ref.get)).pipe(
      Effect.map((states) => states.reduce((sum, state) => sum + state.members.size, 0)),
    )

    const dbShardIds = Effect.sync(() => [...buffers.keys()].sort((a, b) => a - b))

    const stats = Effect.suspend(() => Effect.forEach([...buffers.values()], Ref.get)).pipe(
      Effect.map((states) => {
        let rows = 0
        let oldestAt: number | null = null
        for (const state of states) {
          rows += state.rows
          if (state.oldestAt !== null && (oldestAt === null || state.oldestAt < oldestAt)) {
            oldestAt = state.oldestAt
          }
        }
        return { rows, oldestAt }
      }),
    )

    return {
      accrue,
      transact,
      missingTotals,
      totalOf,
      installTotals,
      swap,
      settle,
      evictIdle,
      memberCount,
      dbShardIds,
      stats,
      full,
    } satisfies Context.Tag.Service<ActivityBuffer>
  })

export const layer = (options: Options = {}): Layer.Layer<ActivityBuffer> =>
  Layer.effect(ActivityBuffer, make(options))
