/**
 * Writes the activity buffers to their DB shards. Every `FLUSH_INTERVAL` (or early, when a buffer
 * is full) each DB shard's buffer is swapped out into a batch with a fresh UUIDv7 id and written
 * in one transaction. A batch that fails keeps its id and content and is retried with exponential
 * backoff, each attempt time-limited, while new activity accumulates in new batches; the ledger
 * makes a retried commit a no-op. A batch that can never be written goes to the dead-letter file.
 * At shutdown what cannot be written in time goes to the spill file; the next start writes it
 * first.
 */
import type { ActivityBatch } from "@tally/domain/ActivityDelta"
import * as ActivityWriter from "@tally/sql/ActivityWriter"
import * as ShardClients from "@tally/sql/ShardClients"
import {
  Cause,
  Clock,
  Config,
  type ConfigError,
  Context,
  Deferred,
  Duration,
  Effect,
  Fiber,
  FiberMap,
  HashMap,
  Layer,
  Option,
  Queue,
  Ref,
} from "effect"
import { v7 as uuidv7 } from "uuid"
import { ActivityBuffer, type Swapped } from "./ActivityBuffer"
import * as Metrics from "./Metrics"
import { type ShardBatch, Spill } from "./Spill"

/** Why one write attempt failed, and whether trying again can help. */
export interface WriteFailure {
  readonly retryable: boolean
  readonly reason: string
}

/** Writes one batch to one DB shard, in one transaction, at most once per batch id. */
export type Write = (dbShardId: number, batch: ActivityBatch) => Effect.Effect<void, WriteFailure>

export interface FlushSummary {
  /** Batches swapped out by this flush. */
  readonly batches: number
  readonly rows: number
  /** Of those, the batches whose first attempt failed (they are being retried). */
  readonly failedBatches: number
  readonly milliseconds: number
  /** The new batches' ids (a failed one keeps its id through every retry). */
  readonly batchIds: ReadonlyArray<string>
}

export interface FlusherStats {
  /** Rows in buffers plus rows in batches not yet written. */
  bufferedRows: number
  oldestBufferedAt: number | null
  lastFlushAt: number | null
  flushes: number
  rows: number
}

export class Flusher extends Context.Tag("@tally/gateway/Flusher")<
  Flusher,
  {
    /** Swaps every buffer out and makes one attempt at each batch (failures retry in the background). */
    readonly flushNow: Effect.Effect<FlushSummary>
    /** Stops flushing on schedule, writes what it can within `timeout`, spills the rest. */
    readonly shutdown: (
      timeout: Duration.DurationInput,
    ) => Effect.Effect<{ readonly flushedRows: number; readonly spilledRows: number }>
    readonly stats: Effect.Effect<FlusherStats>
    /**
     * Completes once the spill file's batches for this DB shard are written (or given up on).
     * Totals of that DB shard's members are loaded only after it, so they include the spill.
     */
    readonly spillSettled: (dbShardId: number) => Effect.Effect<void>
  }
>() {}

export interface Options {
  readonly write: Write
  /** How often buffers are written (default 5 seconds). */
  readonly interval?: Duration.DurationInput
  /** One write attempt's time limit (default 30 seconds). */
  readonly attemptTimeout?: Duration.DurationInput
  /** Attempts before a batch failing with retryable errors is given up on (default 40). */
  readonly maxAttempts?: number
  /** Attempts before a batch failing with non-retryable errors is given up on (default 3). */
  readonly maxNonRetryableAttempts?: number
  /** The first retry's delay; each next one doubles, up to `maxBackoff` (default 500 ms, 30 s). */
  readonly backoff?: Duration.DurationInput
  readonly maxBackoff?: Duration.DurationInput
  /** The time limit of the shutdown the layer's finalizer runs (default 10 seconds). */
  readonly shutdownTimeout?: Duration.DurationInput
  /** Interval of the gauges' refresh (default 1 second). */
  readonly gaugeInterval?: Duration.DurationInput
}

/** A batch not yet known to be written. */
interface Pending extends ShardBatch {
  readonly rows: number
  readonly oldestAt: number
  /** Came from the spill file at start. */
  readonly spilled: boolean
  /** The buffer's swap it came from (null: from the spill file). */
  readonly swap: number | null
  readonly attempts: number
  readonly nonRetryableAttempts: number
}

/** `kept`: failed during shutdown and left for the spill file. */
type Outcome = "written" | "retry" | "deadLetter" | "kept"

/** At shutdown a failing batch is never given up on: it goes to the spill file instead. */
type Mode = "running" | "shuttingDown"

export const make = (options: Options) =>
  Effect.gen(function* () {
    const buffer = yield* ActivityBuffer
    const spill = yield* Spill

    const interval = Duration.decode(options.interval ?? Duration.seconds(5))
    const attemptTimeout = Duration.decode(options.attemptTimeout ?? Duration.seconds(30))
    const maxAttempts = options.maxAttempts ?? 40
    const maxNonRetryableAttempts = options.maxNonRetryableAttempts ?? 3
    const backoff = Duration.toMillis(options.backoff ?? Duration.millis(500))
    const maxBackoff = Duration.toMillis(options.maxBackoff ?? Duration.seconds(30))

    const pending = yield* Ref.make(HashMap.empty<string, Pending>())
    const counters = yield* Ref.make({ lastFlushAt: null as number | null, flushes: 0, rows: 0 })
    const retries = yield* FiberMap.make<string>()
    const spillLock = yield* Effect.makeSemaphore(1)
    const spillSettledByShard = new Map<number, Deferred.Deferred<void>>()
    const closed = yield* Ref.make(false)

    const settleSpill = Effect.gen(function* () {
      // After shutdown the spill file holds every unwritten batch; it is not rewritten again.
      if (yield* Ref.get(closed)) return
      const remaining = [...HashMap.values(yield* Ref.get(pending))].filter((p) => p.spilled)
      yield* spill.writeBatches(remaining.map(({ dbShardId, batch }) => ({ dbShardId, batch })))
      for (const [dbShardId, settled] of spillSettledByShard) {
        if (!remaining.some((p) => p.dbShardId === dbShardId))
          yield* Deferred.succeed(settled, undefined)
      }
    }).pipe(
      spillLock.withPermits(1),
      Effect.catchAll((error) =>
        Effect.logError("cannot rewrite the spill file").pipe(
          Effect.annotateLogs({ cause: String(error.cause) }),
        ),
      ),
    )

    /**
     * Drops a batch that is written or given up on. Only a written one settles its swap: the
     * members of a dead-lettered one stay in memory with totals that hold its XP, so that a
     * reload without it cannot repeat their level-ups (§9.10).
     */
    const forget = (batch: Pending, outcome: "written" | "deadLetter") =>
      Effect.zipRight(
        Ref.update(pending, HashMap.remove(batch.batch.batchId)),
        batch.spilled
          ? settleSpill
          : batch.swap === null || outcome === "deadLetter"
            ? Effect.void
            : buffer.settle(batch.dbShardId, batch.swap),
      )

    /** One time-limited attempt: written, to be retried, or given up on. */
    const attempt = (batchId: string, mode: Mode = "running"): Effect.Effect<Outcome> =>
      Effect.flatMap(Ref.get(pending), (all) =>
        Option.match(HashMap.get(all, batchId), {
          onNone: () => Effect.succeed<Outcome>("written"),
          onSome: (batch) =>
            attemptBatch(batch, mode).pipe(
              Effect.annotateLogs({ dbShardId: batch.dbShardId, batchId }),
            ),
        }),
      )

    const attemptBatch = (batch: Pending, mode: Mode): Effect.Effect<Outcome> =>
      Effect.gen(function* () {
        const number = batch.attempts + 1
        const started = yield* Clock.currentTimeMillis
        // Disconnected: a write stuck where it cannot be interrupted (acquiring a connection)
        // still ends the attempt on time; the ledger covers a commit that lands afterwards.
        const result = yield* Effect.interruptible(
          options.write(batch.dbShardId, batch.batch),
        ).pipe(
          Effect.disconnect,
          Effect.timeoutFail({
            duration: attemptTimeout,
            onTimeout: (): WriteFailure => ({ retryable: true, reason: "the attempt timed out" }),
          }),
          Effect.either,
        )
        const now = yield* Clock.currentTimeMillis
        const milliseconds = now - started
        yield* Metrics.flushDuration(Effect.succeed(milliseconds))

        if (result._tag === "Right") {
          yield* Ref.update(counters, (c) => ({
            lastFlushAt: now,
            flushes: c.flushes + 1,
            rows: c.rows + batch.rows,
          }))
          yield* Metrics.flushedRows(Effect.succeed(batch.rows))
          yield* Effect.log("flushed").pipe(
            Effect.annotateLogs({ rows: batch.rows, milliseconds, attempt: number }),
          )
          yield* forget(batch, "written")
          return "written"
        }

        const failure = result.left
        const updated: Pending = {
          ...batch,
          attempts: number,
          nonRetryableAttempts: batch.nonRetryableAttempts + (failure.retryable ? 0 : 1),
        }
        yield* Ref.update(pending, HashMap.set(batch.batch.batchId, updated))
        const details = {
          rows: batch.rows,
          milliseconds,
          attempt: number,
          retryable: failure.retryable,
          reason: failure.reason,
        }
        if (mode === "shuttingDown") {
          yield* Effect.logWarning("flush failed during shutdown").pipe(
            Effect.annotateLogs(details),
          )
          return failure.retryable ? "retry" : "kept"
        }
        if (
          updated.attempts < maxAttempts &&
          updated.nonRetryableAttempts < maxNonRetryableAttempts
        ) {
          yield* Metrics.flushRetries(Effect.succeed(1))
          yield* Effect.logWarning("flush failed; retrying").pipe(Effect.annotateLogs(details))
          return "retry"
        }

        yield* spill
          .deadLetter({
            dbShardId: batch.dbShardId,
            batch: batch.batch,
            attempts: updated.attempts,
            reason: failure.reason,
            at: now,
          })
          .pipe(
            Effect.catchAll((error) =>
              Effect.logError("cannot write the dead-letter file; the batch is lost").pipe(
                Effect.annotateLogs({ cause: String(error.cause) }),
              ),
            ),
          )
        yield* Metrics.deadLetteredBatches(Effect.succeed(1))
        yield* Effect.logError("batch given up on; written to the dead-letter file").pipe(
          Effect.annotateLogs({ ...details, directory: spill.directory }),
        )
        yield* forget(batch, "deadLetter")
        return "deadLetter"
      })

    const delayOf = (attempts: number) =>
      Duration.millis(Math.min(maxBackoff, backoff * 2 ** Math.max(0, attempts - 1)))

    /** Retries a failed batch in the background until it is written or given up on. */
    const retryLater = (batchId: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        while (true) {
          const current = HashMap.get(yield* Ref.get(pending), batchId)
          if (Option.isNone(current)) return
          yield* Effect.sleep(delayOf(current.value.attempts))
          if ((yield* attempt(batchId)) !== "retry") return
        }
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logError("retry loop failed; batch kept for shutdown", cause),
        ),
      )

    const track = (entry: Omit<Pending, "attempts" | "nonRetryableAttempts">) =>
      Ref.update(
        pending,
        HashMap.set(entry.batch.batchId, { ...entry, attempts: 0, nonRetryableAttempts: 0 }),
      )

    const firstAttempt = (batchId: string) =>
      Effect.flatMap(attempt(batchId), (outcome) =>
        outcome === "retry"
          ? Effect.as(FiberMap.run(retries, batchId, retryLater(batchId)), true)
          : Effect.succeed(false),
      )

    const hasPending = (dbShardId: number) =>
      Effect.map(Ref.get(pending), (all) =>
        HashMap.some(all, (batch) => batch.dbShardId === dbShardId),
      )

    /**
     * Swaps a DB shard's buffer out into a new batch. While an earlier batch of that DB shard is
     * still unwritten, new activity keeps merging in the buffer instead (memory stays bounded by
     * the distinct rows, however long the DB shard is down); shutdown swaps regardless.
     */
    const swapShard = (dbShardId: number, evenWhilePending = false) =>
      Effect.flatMap(evenWhilePending ? Effect.succeed(false) : hasPending(dbShardId), (blocked) =>
        blocked ? Effect.succeed(Option.none<Swapped>()) : buffer.swap(dbShardId),
      ).pipe(
        Effect.flatMap((swapped) =>
          Option.match(swapped, {
            onNone: () => Effect.succeed(Option.none<string>()),
            onSome: ({ deltas, oldestAt, swap }) => {
              const batchId = uuidv7()
              return Effect.as(
                track({
                  dbShardId,
                  batch: { batchId, deltas },
                  rows: deltas.length,
                  oldestAt,
                  spilled: false,
                  swap,
                }),
                Option.some(batchId),
              )
            },
          }),
        ),
      )

    const flushNow: Effect.Effect<FlushSummary> = Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      const dbShardIds = yield* buffer.dbShardIds
      const batchIds = (yield* Effect.forEach(dbShardIds, (id) => swapShard(id))).flatMap(
        Option.toArray,
      )
      const all = yield* Ref.get(pending)
      const rows = batchIds.reduce(
        (sum, batchId) =>
          sum + Option.match(HashMap.get(all, batchId), { onNone: () => 0, onSome: (p) => p.rows }),
        0,
      )
      const failed = yield* Effect.forEach(batchIds, firstAttempt, { concurrency: "unbounded" })
      return {
        batches: batchIds.length,
        rows,
        failedBatches: failed.filter(Boolean).length,
        milliseconds: (yield* Clock.currentTimeMillis) - started,
        batchIds,
      }
    })

    const stats: Effect.Effect<FlusherStats> = Effect.gen(function* () {
      const buffered = yield* buffer.stats
      const batches = [...HashMap.values(yield* Ref.get(pending))]
      const { lastFlushAt, flushes, rows } = yield* Ref.get(counters)
      let oldestBufferedAt = buffered.oldestAt
      for (const batch of batches) {
        if (oldestBufferedAt === null || batch.oldestAt < oldestBufferedAt)
          oldestBufferedAt = batch.oldestAt
      }
      return {
        bufferedRows: buffered.rows + batches.reduce((sum, batch) => sum + batch.rows, 0),
        oldestBufferedAt,
        lastFlushAt,
        flushes,
        rows,
      }
    })

    const refreshGauges = Effect.gen(function* () {
      const current = yield* stats
      const now = yield* Clock.currentTimeMillis
      yield* Metrics.bufferedRows(Effect.succeed(current.bufferedRows))
      yield* Metrics.oldestBufferedAgeSeconds(
        Effect.succeed(
          current.oldestBufferedAt === null ? 0 : (now - current.oldestBufferedAt) / 1000,
        ),
      )
    })

    const spillSettled = (dbShardId: number) => {
      const settled = spillSettledByShard.get(dbShardId)
      return settled === undefined ? Effect.void : Deferred.await(settled)
    }

    // The spill file of the last run goes first; its batches keep their ids, so a batch that was
    // in fact written before the spill is a ledger no-op.
    const spilled = yield* spill.readBatches.pipe(
      Effect.catchAll((error) =>
        Effect.logError("cannot read the spill file; starting without it").pipe(
          Effect.annotateLogs({ cause: String(error.cause) }),
          Effect.as([] as ReadonlyArray<ShardBatch>),
        ),
      ),
    )
    const startedAt = yield* Clock.currentTimeMillis
    for (const { dbShardId, batch } of spilled) {
      if (!spillSettledByShard.has(dbShardId))
        spillSettledByShard.set(dbShardId, yield* Deferred.make<void>())
      yield* track({
        dbShardId,
        batch,
        rows: batch.deltas.length,
        oldestAt: startedAt,
        spilled: true,
        swap: null,
      })
    }
    if (spilled.length > 0) {
      yield* Effect.log("applying the spill file").pipe(
        Effect.annotateLogs({ batches: spilled.length, directory: spill.directory }),
      )
    }
    yield* Effect.forkScoped(
      Effect.forEach(spilled, ({ batch }) => firstAttempt(batch.batchId), {
        concurrency: "unbounded",
        discard: true,
      }),
    )

    const loop = Queue.take(buffer.full).pipe(
      Effect.timeout(interval),
      Effect.ignore,
      Effect.zipRight(flushNow),
      Effect.catchAllCause((cause) => Effect.logError("scheduled flush failed", cause)),
      Effect.forever,
    )
    const loopFiber = yield* Effect.forkScoped(loop)
    yield* Effect.forkScoped(
      refreshGauges.pipe(
        Effect.catchAllCause((cause) => Effect.logError("gauge refresh failed", cause)),
        Effect.zipRight(Effect.sleep(options.gaugeInterval ?? Duration.seconds(1))),
        Effect.forever,
      ),
    )

    const shutdown = (timeout: Duration.DurationInput) =>
      Effect.uninterruptible(
        Effect.gen(function* () {
          if (yield* Ref.getAndSet(closed, true)) return { flushedRows: 0, spilledRows: 0 }
          yield* Fiber.interrupt(loopFiber)
          yield* FiberMap.clear(retries)
          const before = (yield* Ref.get(counters)).rows
          yield* Effect.forEach(yield* buffer.dbShardIds, (id) => swapShard(id, true), {
            discard: true,
          })

          const writeAll = Effect.gen(function* () {
            const batchIds = [...HashMap.keys(yield* Ref.get(pending))]
            yield* Effect.forEach(
              batchIds,
              (batchId) =>
                Effect.gen(function* () {
                  while ((yield* attempt(batchId, "shuttingDown")) === "retry") {
                    yield* Effect.sleep(Duration.millis(Math.min(backoff, 1000)))
                  }
                }),
              { concurrency: "unbounded", discard: true },
            )
          })
          // Interruptible on purpose: finalizers run uninterruptibly, and the time limit must hold.
          yield* Effect.interruptible(writeAll).pipe(Effect.timeout(timeout), Effect.ignore)

          const left = [...HashMap.values(yield* Ref.get(pending))]
          const spilledRows = left.reduce((sum, batch) => sum + batch.rows, 0)
          yield* spill
            .writeBatches(left.map(({ dbShardId, batch }) => ({ dbShardId, batch })))
            .pipe(
              spillLock.withPermits(1),
              Effect.tap(() =>
                left.length === 0
                  ? Effect.void
                  : Effect.logWarning("unwritten batches spilled; the next start writes them").pipe(
                      Effect.annotateLogs({
                        batches: left.length,
                        rows: spilledRows,
                        directory: spill.directory,
                      }),
                    ),
              ),
              Effect.catchAll((error) =>
                Effect.logError("cannot write the spill file; these rows are lost").pipe(
                  Effect.annotateLogs({ rows: spilledRows, cause: String(error.cause) }),
                ),
              ),
            )
          const flushedRows = (yield* Ref.get(counters)).rows - before
          yield* Effect.log("flusher stopped").pipe(
            Effect.annotateLogs({ flushedRows, spilledRows }),
          )
          return { flushedRows, spilledRows }
        }),
      ).pipe(Effect.withLogSpan("Flusher.shutdown"))

    yield* Effect.addFinalizer(() => shutdown(options.shutdownTimeout ?? Duration.seconds(10)))

    return { flushNow, shutdown, stats, spillSettled } satisfies Context.Tag.Service<Flusher>
  })

export const layerWith = (options: Options): Layer.Layer<Flusher, never, ActivityBuffer | Spill> =>
  Layer.scoped(Flusher, make(options))

/** `FLUSH_INTERVAL` (an Effect duration, default 5 seconds). */
export const intervalConfig = Config.duration("FLUSH_INTERVAL").pipe(
  Config.withDefault(Duration.seconds(5)),
)

/** Writes through sql's `ActivityWriter.apply` on the batch's DB shard. */
export const sqlWrite: Effect.Effect<Write, never, ShardClients.ShardClients> = Effect.map(
  ShardClients.ShardClients,
  (shards) => (dbShardId, batch) =>
    ShardClients.use(dbShardId, ActivityWriter.apply(batch)).pipe(
      Effect.provideService(ShardClients.ShardClients, shards),
      Effect.asVoid,
      Effect.mapError(
        (error): WriteFailure =>
          error._tag === "ShardUnavailable"
            ? // A refused login may pass once the server's grants are fixed: retried as well.
              { retryable: error.reason !== "unknown", reason: error.message }
            : { retryable: error.retryable, reason: error.reason },
      ),
    ),
)

/** Flushes every `FLUSH_INTERVAL` (default 5 seconds) through `ActivityWriter`. */
export const layer = (
  options: Partial<Omit<Options, "write">> = {},
): Layer.Layer<
  Flusher,
  ConfigError.ConfigError,
  ActivityBuffer | Spill | ShardClients.ShardClients
> =>
  Layer.scoped(
    Flusher,
    Effect.gen(function* () {
      const interval = yield* intervalConfig
      const write = yield* sqlWrite
      return yield* make({ interval, ...options, write })
    }),
  )
