/**
 * Loads members' all-time XP from their DB shard into the activity buffer, in batches: first
 * sights within a few milliseconds share one query per guild. A member's total is loaded once, before
 * its first accrual in this process (see `ActivityBuffer`), and only after the spill file of the
 * last run has been written to that DB shard, so the loaded value holds every earlier delta.
 * Members idle for `idleTimeout` are evicted once their deltas are written
 * (`ActivityBuffer.evictIdle`): memory follows the members active lately, not all ever seen.
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Members from "@tally/sql/Members"
import * as ShardClients from "@tally/sql/ShardClients"
import {
  Cause,
  Chunk,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  FiberId,
  Layer,
  Queue,
  Schedule,
} from "effect"
import { ActivityBuffer, memberKey } from "./ActivityBuffer"
import { Flusher } from "./Flusher"
import * as Metrics from "./Metrics"

export class MemberTotals extends Context.Tag("@tally/gateway/MemberTotals")<
  MemberTotals,
  {
    /** Returns once the member's total is in the buffer; waits through outages, never fails. */
    readonly ensureLoaded: (
      dbShardId: number,
      guildId: Snowflake,
      userId: Snowflake,
    ) => Effect.Effect<void>
    /** `ensureLoaded` for many members of one guild: one read of the buffer, no fiber each. */
    readonly ensureAllLoaded: (
      dbShardId: number,
      guildId: Snowflake,
      userIds: Iterable<Snowflake>,
    ) => Effect.Effect<void>
  }
>() {}

export interface Options {
  /** The most members one load asks for (default 1000). */
  readonly maxBatch?: number
  /** How long a load waits after its first request for others to join it (default 5 ms). */
  readonly gatherWindow?: Duration.DurationInput
  readonly retryDelay?: Duration.DurationInput
  readonly maxRetryDelay?: Duration.DurationInput
  /** How long a member's total stays in memory after its last accrual or load (default 1 h). */
  readonly idleTimeout?: Duration.DurationInput
  /** How often idle members are looked for (default 1 minute). */
  readonly sweepInterval?: Duration.DurationInput
}

/**
 * The members one call waits for are in once `remaining` reaches 0: one deferred per call, not one
 * per member (a deferred per member cost more than its load, counted per message).
 */
interface Signal {
  readonly done: Deferred.Deferred<void>
  remaining: number
}

/** One member's load, and the signals of every call that waits for it. */
interface LoadRequest {
  readonly guildId: Snowflake
  readonly userId: Snowflake
  readonly signals: Array<Signal>
}

export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const buffer = yield* ActivityBuffer
    const flusher = yield* Flusher
    const shards = yield* ShardClients.ShardClients
    const maxBatch = options.maxBatch ?? 1000
    const gatherWindow = options.gatherWindow ?? Duration.millis(5)
    const retry = Schedule.exponential(options.retryDelay ?? Duration.millis(200)).pipe(
      Schedule.union(Schedule.spaced(options.maxRetryDelay ?? Duration.seconds(30))),
    )

    const queues = new Map<number, Queue.Queue<LoadRequest>>()
    const inFlight = new Map<string, LoadRequest>()

    const onShard = <A, E>(dbShardId: number, effect: Effect.Effect<A, E, SqlClient>) =>
      ShardClients.use(dbShardId, effect).pipe(
        Effect.provideService(ShardClients.ShardClients, shards),
      )

    const loadGuild = (
      dbShardId: number,
      guildId: Snowflake,
      requests: ReadonlyArray<LoadRequest>,
    ) => {
      let attempt = 0
      return onShard(
        dbShardId,
        Members.loadTotals(
          guildId,
          requests.map((request) => request.userId),
        ),
      ).pipe(
        Effect.flatMap((totals) =>
          buffer.installTotals(
            dbShardId,
            [...totals].map(
              ([userId, stored]) => [memberKey(guildId, userId), stored.alltime] as const,
            ),
          ),
        ),
        // A defect is retried too: given up on, it would leave these members in flight, and
        // every call waiting for them (and their messages) waiting for ever. Installing is
        // idempotent, so a retry after a partial install is safe.
        Effect.sandbox,
        Effect.tapError((cause) => {
          attempt += 1
          const details = { members: requests.length, attempt }
          return Cause.isFailType(cause)
            ? Effect.logWarning("cannot load member totals; retrying").pipe(
                Effect.annotateLogs({
                  ...details,
                  reason:
                    cause.error instanceof ShardClients.ShardUnavailable
                      ? cause.error.message
                      : String(cause.error._tag),
                }),
              )
            : Effect.logError("loading member totals failed unexpectedly; retrying", cause).pipe(
                Effect.annotateLogs(details),
              )
        }),
        Effect.retry(retry),
        // The schedule never ends: nothing is left to fail with.
        Effect.orDie,
        Effect.zipRight(
          Effect.sync(() => {
            for (const { guildId, userId, signals } of requests) {
              inFlight.delete(`${dbShardId}/${memberKey(guildId, userId)}`)
              for (const signal of signals) {
                signal.remaining -= 1
                if (signal.remaining === 0) Deferred.unsafeDone(signal.done, Exit.void)
              }
            }
          }),
        ),
        Effect.annotateLogs({ dbShardId, guildId }),
      )
    }

    const worker = (dbShardId: number, queue: Queue.Queue<LoadRequest>) =>
      Effect.gen(function* () {
        const first = yield* Queue.takeBetween(queue, 1, maxBatch)
        // Under a burst of first sights, a short wait lets one query answer many passes.
        if (first.length < maxBatch && Duration.toMillis(gatherWindow) > 0) {
          yield* Effect.sleep(gatherWindow)
        }
        const batch = Chunk.appendAll(first, yield* Queue.takeUpTo(queue, maxBatch - first.length))
        yield* flusher.spillSettled(dbShardId)
        const byGuild = new Map<Snowflake, Array<LoadRequest>>()
        for (const request of batch) {
          const list = byGuild.get(request.guildId)
          if (list === undefined) byGuild.set(request.guildId, [request])
          else list.push(request)
        }
        yield* Effect.forEach(
          byGuild,
          ([guildId, requests]) => loadGuild(dbShardId, guildId, requests),
          {
            concurrency: 4,
            discard: true,
          },
        )
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logError("member totals worker failed", cause)),
        Effect.forever,
      )

    for (const dbShardId of shards.ids) {
      const queue = yield* Queue.unbounded<LoadRequest>()
      queues.set(dbShardId, queue)
      yield* Effect.forkScoped(worker(dbShardId, queue))
    }

    const idleMillis = Duration.toMillis(options.idleTimeout ?? Duration.hours(1))
    const sweep = Effect.gen(function* () {
      const before = (yield* Clock.currentTimeMillis) - idleMillis
      for (const dbShardId of yield* buffer.dbShardIds) {
        const evicted = yield* buffer.evictIdle(dbShardId, before)
        if (evicted > 0) {
          yield* Effect.logDebug("idle members' totals evicted").pipe(
            Effect.annotateLogs({ dbShardId, evicted }),
          )
        }
      }
      yield* Metrics.memberTotals(buffer.memberCount)
    })
    yield* Effect.forkScoped(
      sweep.pipe(
        Effect.catchAllCause((cause) => Effect.logError("evicting idle members failed", cause)),
        Effect.repeat(Schedule.spaced(options.sweepInterval ?? Duration.minutes(1))),
      ),
    )

    const ensureAllLoaded = (dbShardId: number, guildId: Snowflake, userIds: Iterable<Snowflake>) =>
      Effect.flatMap(buffer.missingTotals(dbShardId, guildId, userIds), (missing) => {
        if (missing.length === 0) return Effect.void
        const queue = queues.get(dbShardId)
        if (queue === undefined) {
          return Effect.logError("route to a DB shard that is not configured").pipe(
            Effect.annotateLogs({ dbShardId, guildId }),
            Effect.zipRight(Effect.never),
          )
        }
        // One signal for this call, counted down by each member's load (its own request, or
        // the one another call made already). Requested in the same synchronous step that marks
        // them in flight: an interruption between the two would leave them in flight for ever.
        const signal: Signal = { done: Deferred.unsafeMake<void>(FiberId.none), remaining: 0 }
        for (const userId of missing) {
          const key = `${dbShardId}/${memberKey(guildId, userId)}`
          const inLoad = inFlight.get(key)
          signal.remaining += 1
          if (inLoad !== undefined) {
            inLoad.signals.push(signal)
            continue
          }
          const request: LoadRequest = { guildId, userId, signals: [signal] }
          inFlight.set(key, request)
          Queue.unsafeOffer(queue, request)
        }
        return Deferred.await(signal.done)
      })

    const ensureLoaded = (dbShardId: number, guildId: Snowflake, userId: Snowflake) =>
      ensureAllLoaded(dbShardId, guildId, [userId])

    return { ensureLoaded, ensureAllLoaded } satisfies Context.Tag.Service<MemberTotals>
  })

export const layer = (
  options: Options = {},
): Layer.Layer<MemberTotals, never, ActivityBuffer | Flusher | ShardClients.ShardClients> =>
  Layer.scoped(MemberTotals, make(options))
