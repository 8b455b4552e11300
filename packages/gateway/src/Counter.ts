/**
 * Counts text messages: the guild's context, the domain's award decision, the accrual. Events of
 * a guild whose route or settings are not known yet wait in its bounded queue, in order; events of
 * a member whose all-time total is not loaded yet wait under that member, in order, while the
 * rest of the guild goes on.
 */
import * as Award from "@tally/domain/Award"
import {
  type Snowflake,
  Snowflake as SnowflakeSchema,
  timestampMillis,
} from "@tally/domain/Snowflake"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  FiberMap,
  FiberSet,
  Layer,
  Option,
  Schedule,
  Schema,
} from "effect"
import { Accrual, type AccrualInput } from "./Accrual"
import type { Totals } from "./ActivityBuffer"
import { GuildContext, type GuildContextData } from "./GuildContext"
import * as Metrics from "./Metrics"
import { SeenMessages } from "./SeenMessages"
import { Spill } from "./Spill"

/** What the counter needs of one `MESSAGE_CREATE`. */
export interface MessageEvent {
  readonly discordShardId: number
  /** Accounting time is `timestampMillis(messageId)`. */
  readonly messageId: Snowflake
  readonly guildId: Snowflake
  /** The actual channel (the thread's id in a thread). */
  readonly channelId: Snowflake
  /** Discord channel type of `channelId`. */
  readonly channelType: number
  /** A thread's parent channel (the effective channel), else null. */
  readonly parentId: Snowflake | null
  /** The category of the effective channel. */
  readonly categoryId: Snowflake | null
  readonly authorId: Snowflake
  /** Bots and webhooks. */
  readonly authorBot: boolean
  readonly messageType: number
  readonly memberRoleIds: ReadonlyArray<Snowflake>
}

/** What the counter remembers of a member who wrote. */
interface Writer {
  /** When the member's last counted message was sent; null before the first. */
  lastCountedAt: number | null
  /** The channel of the member's last message (counted or not, but not a bot's or system's). */
  lastChannel: Snowflake | null
  /** When the member's last message was sent. */
  seenAt: number
}

/** A guild's writers, and when its latest message was sent (the clock they go idle by). */
interface GuildWriters {
  latest: number
  readonly members: Map<Snowflake, Writer>
}

export class Counter extends Context.Tag("@tally/gateway/Counter")<
  Counter,
  {
    /**
     * Never fails. Returns once the event is accrued, skipped, or queued behind its guild's
     * route/settings or its author's total; replayed message ids count once.
     */
    readonly countMessage: (event: MessageEvent) => Effect.Effect<void>
    /**
     * `countMessage` for many events at once, in their order: the events of guilds whose context
     * is known are decided and accrued in one buffer step per DB shard, and the metrics are
     * updated once. The dispatch loop hands its messages over this way.
     */
    readonly countMessages: (events: ReadonlyArray<MessageEvent>) => Effect.Effect<void>
    readonly forgetGuild: (guildId: Snowflake) => Effect.Effect<void>
    /** Also deletes the role's settings row on the guild's DB shard. */
    readonly roleDeleted: (guildId: Snowflake, roleId: Snowflake) => Effect.Effect<void>
    /** Stops the queues and saves the events still waiting (the next start re-queues them). */
    readonly shutdown: Effect.Effect<{ readonly savedEvents: number }>
    readonly stats: Effect.Effect<{
      readonly waitingEvents: number
      readonly waitingGuilds: number
    }>
  }
>() {}

/**
 * The channel (thread included) of each member's last message by a person, counted or not:
 * where level-up notices of voice and votes may go (ActivityRank's "last message channel").
 */
export class LastMessageChannels extends Context.Tag("@tally/gateway/LastMessageChannels")<
  LastMessageChannels,
  {
    /** None before the member's first message seen by this process. */
    readonly of: (guildId: Snowflake, userId: Snowflake) => Effect.Effect<Option.Option<Snowflake>>
  }
>() {}

/** A `MessageEvent` as saved in the waiting file and read back at the next start. */
export const MessageEventSchema = Schema.Struct({
  discordShardId: Schema.Int,
  messageId: SnowflakeSchema,
  guildId: SnowflakeSchema,
  channelId: SnowflakeSchema,
  channelType: Schema.Int,
  parentId: Schema.NullOr(SnowflakeSchema),
  categoryId: Schema.NullOr(SnowflakeSchema),
  authorId: SnowflakeSchema,
  authorBot: Schema.Boolean,
  messageType: Schema.Int,
  memberRoleIds: Schema.Array(SnowflakeSchema),
})

export interface Options {
  /** Events one guild may have waiting; more are dropped, logged and counted (default 10,000). */
  readonly queueCapacity?: number
  /**
   * How long `countMessage` waits for room in the full queue of a guild whose context is known
   * (the queue is only behind) before it drops the event (default 30 seconds).
   */
  readonly maxWaitForRoom?: Duration.DurationInput
  /**
   * A member is forgotten (cooldown, last channel) once the guild's messages are this much newer
   * than theirs, by the messages' own times (default 1 hour; longer than any text cooldown).
   */
  readonly idleTimeout?: Duration.DurationInput
  /** How often idle members are looked for (default 1 minute). */
  readonly sweepInterval?: Duration.DurationInput
}

/**
 * What one guild has waiting. While its context (route, settings) is unknown every new event joins
 * `lane`, in order. An event whose author's total is not loaded yet waits under its author, and
 * so do the author's later events: one new member never holds back the rest of the guild, and
 * each member's events still count in their order (all that cooldowns, last channels and level-ups
 * depend on).
 */
interface GuildQueue {
  readonly lane: Array<MessageEvent>
  readonly parked: Map<Snowflake, Array<MessageEvent>>
  parkedCount: number
  draining: boolean
  dropped: number
}

type Step = "done" | "needsTotal"

/** What a batch did, applied to the metrics once at its end. */
interface Tally {
  counted: number
  readonly skipped: Map<string, number>
}

/** The effects one synchronous pass over events leaves to run after it. */
interface Batch {
  readonly tally: Tally
  readonly lanesToDrain: Set<Snowflake>
  /** Authors to load, per guild, with the guild's DB shard. */
  readonly toLoad: Map<Snowflake, { readonly dbShardId: number; readonly authors: Set<Snowflake> }>
  /** Events that met a full queue: they go through `enqueue` (wait or drop), in order. */
  readonly overflow: Array<MessageEvent>
  readonly overflowGuilds: Set<Snowflake>
}

const newBatch = (): Batch => ({
  tally: { counted: 0, skipped: new Map() },
  lanesToDrain: new Set(),
  toLoad: new Map(),
  overflow: [],
  overflowGuilds: new Set(),
})

/** Events one buffer step of a lane's drain takes at most, so other fibers get their turn. */
const DRAIN_STEP = 1_024

export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const contexts = yield* GuildContext
    const accrual = yield* Accrual
    const seen = yield* SeenMessages
    const spill = yield* Spill

    const capacity = options.queueCapacity ?? 10_000
    const maxWaitForRoom = Duration.toMillis(options.maxWaitForRoom ?? Duration.seconds(30))

    const queues = new Map<Snowflake, GuildQueue>()
    const drainers = yield* FiberMap.make<string>()
    const loaders = yield* FiberSet.make()
    /** Per guild, per member: the last counted message's time and the last message's channel. */
    const writers = new Map<Snowflake, GuildWriters>()
    const idleMillis = Duration.toMillis(options.idleTimeout ?? Duration.hours(1))
    let waiting = 0
    let closed = false
    /** Set when an overflow wait is interrupted: from then on nothing waits for room. */
    let stopping = false

    const setWaiting = (change: number) =>
      Effect.suspend(() => {
        waiting += change
        return Metrics.messagesWaiting(Effect.succeed(waiting))
      })

    /** A pass's tally as plain metric updates: one effect op, not several per metric. */
    const recordNow = (tally: Tally) => {
      if (tally.counted > 0) Metrics.messagesCounted.unsafeUpdate(tally.counted, [])
      for (const [reason, count] of tally.skipped) {
        Metrics.messagesSkipped(reason).unsafeUpdate(count, [])
      }
    }

    const skipped = (tally: Tally, reason: string) => {
      tally.skipped.set(reason, (tally.skipped.get(reason) ?? 0) + 1)
    }

    /**
     * Decides and accrues one event, synchronously, inside a buffer step of the guild's DB shard
     * (`accrue`). `needsTotal`: counted, but the author's total must be loaded first (nothing
     * changed).
     */
    const step = (
      event: MessageEvent,
      context: GuildContextData,
      accrue: (input: AccrualInput) => Totals | undefined,
      tally: Tally,
    ): Step => {
      if (seen.unsafeIsSeen(event.discordShardId, event.messageId)) {
        skipped(tally, "Duplicate")
        return "done"
      }
      const sentAt = timestampMillis(event.messageId)
      let guildWriters = writers.get(event.guildId)
      if (guildWriters === undefined) {
        guildWriters = { latest: sentAt, members: new Map() }
        writers.set(event.guildId, guildWriters)
      } else if (sentAt > guildWriters.latest) {
        guildWriters.latest = sentAt
      }
      let writer = guildWriters.members.get(event.authorId)
      const last = writer === undefined ? null : writer.lastCountedAt
      // The event itself, of one shape (made in one place), and no object per message.
      const award = Award.textMessageAt(context, event, sentAt, last)
      if (
        award._tag === "Counted" ||
        (award.reason._tag !== "BotAuthor" && award.reason._tag !== "SystemMessage")
      ) {
        if (writer === undefined) {
          writer = { lastCountedAt: null, lastChannel: event.channelId, seenAt: sentAt }
          guildWriters.members.set(event.authorId, writer)
        } else {
          writer.lastChannel = event.channelId
          if (sentAt > writer.seenAt) writer.seenAt = sentAt
        }
      }
      if (award._tag === "Skipped") {
        seen.unsafeMarkSeen(event.discordShardId, event.messageId)
        skipped(tally, award.reason._tag)
        return "done"
      }
      const accrued = accrue({
        dbShardId: context.dbShardId,
        guildId: event.guildId,
        userId: event.authorId,
        award,
        at: sentAt,
        settings: context.settings,
        noticeChannelId: event.channelId,
      })
      if (accrued === undefined) return "needsTotal"
      seen.unsafeMarkSeen(event.discordShardId, event.messageId)
      // A counted award passed the checks above, so the member's entry exists.
      writer!.lastCountedAt = last === null || sentAt > last ? sentAt : last
      tally.counted += 1
      return "done"
    }

    const queueOf = (guildId: Snowflake): GuildQueue => {
      let queue = queues.get(guildId)
      if (queue === undefined) {
        queue = { lane: [], parked: new Map(), parkedCount: 0, draining: false, dropped: 0 }
        queues.set(guildId, queue)
      }
      return queue
    }

    const sizeOf = (queue: GuildQueue) => queue.lane.length + queue.parkedCount

    /** Forgets a guild's queue once nothing waits in it and nothing works on it. */
    const tidy = (guildId: Snowflake) => {
      const queue = queues.get(guildId)
      if (queue !== undefined && sizeOf(queue) === 0 && !queue.draining) queues.delete(guildId)
    }

    /** Whether the guild's full queue turns the event away (into `batch.overflow`). */
    const overflows = (event: MessageEvent, queue: GuildQueue, batch: Batch): boolean => {
      if (!batch.overflowGuilds.has(event.guildId) && sizeOf(queue) < capacity) return false
      batch.overflowGuilds.add(event.guildId)
      batch.overflow.push(event)
      return true
    }

    const toLane = (event: MessageEvent, batch: Batch) => {
      const queue = queueOf(event.guildId)
      if (overflows(event, queue, batch)) return
      queue.lane.push(event)
      waiting += 1
      batch.lanesToDrain.add(event.guildId)
    }

    /** Puts an event under its author; `counted`: it already counts as waiting (moved). */
    const park = (event: MessageEvent, dbShardId: number, batch: Batch, counted: boolean) => {
      const queue = queueOf(event.guildId)
      if (!counted && overflows(event, queue, batch)) return
      const parked = queue.parked.get(event.authorId)
      if (parked !== undefined) {
        parked.push(event)
      } else {
        queue.parked.set(event.authorId, [event])
        const load = batch.toLoad.get(event.guildId)
        if (load === undefined) {
          batch.toLoad.set(event.guildId, { dbShardId, authors: new Set([event.authorId]) })
        } else {
          load.authors.add(event.authorId)
        }
      }
      queue.parkedCount += 1
      if (!counted) waiting += 1
    }

    /**
     * Counts an event whose guild's context is known, inside a buffer step: behind its guild's
     * lane or its author's earlier events if any wait, else now (or parked, if its author's total
     * is not loaded). `fromQueue`: the event comes out of the guild's queue (it already counts as
     * waiting, and is older than anything in the lane).
     */
    const place = (
      event: MessageEvent,
      context: GuildContextData,
      accrue: (input: AccrualInput) => Totals | undefined,
      batch: Batch,
      fromQueue: boolean,
    ) => {
      const queue = queues.get(event.guildId)
      if (queue !== undefined) {
        if (!fromQueue && (queue.lane.length > 0 || batch.overflowGuilds.has(event.guildId))) {
          return toLane(event, batch)
        }
        if (queue.parked.has(event.authorId))
          return park(event, context.dbShardId, batch, fromQueue)
      }
      if (step(event, context, accrue, batch.tally) === "needsTotal") {
        park(event, context.dbShardId, batch, fromQueue)
      } else if (fromQueue) {
        waiting -= 1
      }
    }

    /**
     * What a pass leaves that must happen with it: its metrics. (`waiting` itself changes with
     * the queues, in the pass, so that no other pass can see the two disagree.)
     */
    const settle = (batch: Batch): Effect.Effect<void> =>
      // Lazy: the pass fills the batch after this effect is built.
      Effect.sync(() => {
        recordNow(batch.tally)
        Metrics.messagesWaiting.unsafeUpdate(waiting, [])
      })

    /**
     * What a pass leaves to start after it: lane drains, total loads, and the overflow, which may
     * wait for room. Started in the pass's own uninterruptible region, so that an interrupted
     * caller cannot leave a parked author without a loader; the fibers it starts are
     * interruptible themselves.
     */
    const follow = (batch: Batch): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (
          batch.lanesToDrain.size === 0 &&
          batch.toLoad.size === 0 &&
          batch.overflow.length === 0
        ) {
          return Effect.void
        }
        return Effect.all(
          [
            Effect.forEach(batch.lanesToDrain, startDrain, { discard: true }),
            Effect.forEach(
              batch.toLoad,
              ([guildId, { dbShardId, authors }]) =>
                FiberSet.run(
                  loaders,
                  Effect.interruptible(loadThenRelease(dbShardId, guildId, authors)),
                ),
              { discard: true },
            ),
            Effect.forEach(batch.overflow, enqueue, { discard: true }),
          ],
          { discard: true },
        )
      })

    /** A pass, its settling and what it starts, never cut apart by an interruption. */
    const complete = (passes: Effect.Effect<void>, batch: Batch): Effect.Effect<void> =>
      passes.pipe(
        Effect.zipRight(settle(batch)),
        Effect.zipRight(follow(batch)),
        Effect.uninterruptible,
      )

    /** Loads the authors' totals, then counts their parked events in order. */
    const loadThenRelease = (
      dbShardId: number,
      guildId: Snowflake,
      authors: ReadonlySet<Snowflake>,
    ): Effect.Effect<void> =>
      Effect.gen(function* () {
        yield* accrual.ensureAllLoaded(dbShardId, guildId, authors)
        // Forgotten meanwhile (the bot left): do not load its context back into the cache.
        if (!queues.has(guildId)) return
        const context = yield* contexts.load(guildId)
        const batch = newBatch()
        yield* accrual
          .transact(context.dbShardId, (accrue) => {
            const queue = queues.get(guildId)
            if (queue === undefined) return
            for (const author of authors) {
              const parked = queue.parked.get(author)
              if (parked === undefined) continue
              queue.parked.delete(author)
              queue.parkedCount -= parked.length
              for (const event of parked) place(event, context, accrue, batch, true)
            }
            tidy(guildId)
          })
          .pipe((pass) => complete(pass, batch))
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logError("members' waiting events failed; retrying them", cause).pipe(
                Effect.zipRight(Effect.sleep(Duration.seconds(1))),
                Effect.zipRight(Effect.suspend(() => loadThenRelease(dbShardId, guildId, authors))),
              ),
        ),
        Effect.annotateLogs({ guildId }),
      )

    /** Works through a guild's lane, in order, once its context is known, until it is empty. */
    const drain = (guildId: Snowflake, queue: GuildQueue): Effect.Effect<void> =>
      Effect.gen(function* () {
        while (true) {
          const finished = yield* Effect.sync(() => {
            if (queue.lane.length > 0) return false
            queue.draining = false
            if (queues.get(guildId) === queue) tidy(guildId)
            return true
          })
          if (finished) {
            if (queue.dropped > 0) {
              yield* Effect.logWarning(
                "guild queue drained; events were dropped while it was full",
              ).pipe(Effect.annotateLogs({ dropped: queue.dropped, capacity }))
              queue.dropped = 0
            }
            return
          }
          const context = yield* contexts.load(guildId)
          const batch = newBatch()
          yield* accrual
            .transact(context.dbShardId, (accrue) => {
              for (let taken = 0; taken < DRAIN_STEP && queue.lane.length > 0; taken++) {
                place(queue.lane.shift()!, context, accrue, batch, true)
              }
            })
            .pipe((pass) => complete(pass, batch))
          yield* Effect.yieldNow()
        }
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logError("guild queue failed; restarting it", cause).pipe(
                Effect.zipRight(
                  Effect.sync(() => {
                    queue.draining = false
                  }),
                ),
                Effect.zipRight(Effect.suspend(() => startDrain(guildId))),
              ),
        ),
        Effect.annotateLogs({ guildId }),
      )

    const startDrain = (guildId: Snowflake): Effect.Effect<void> =>
      Effect.suspend(() => {
        const queue = queues.get(guildId)
        if (queue === undefined || queue.draining) return Effect.void
        queue.draining = true
        return Effect.asVoid(
          FiberMap.run(drainers, guildId, Effect.interruptible(drain(guildId, queue))),
        )
      })

    const drop = (event: MessageEvent, queue: GuildQueue) =>
      Effect.suspend(() => {
        queue.dropped += 1
        return Effect.zipRight(
          Metrics.messagesDropped("QueueFull")(Effect.succeed(1)),
          queue.dropped === 1
            ? Effect.logWarning("guild queue full; dropping its new events until it drains").pipe(
                Effect.annotateLogs({ guildId: event.guildId, capacity }),
              )
            : Effect.void,
        )
      })

    /**
     * An event that met its guild's full queue. A guild whose context is known is only behind
     * (loading totals): the caller waits for room, up to `maxWaitForRoom`, then the event is
     * counted as if new. A full queue of a guild whose route or settings are unknown drops the
     * event, logged and counted.
     */
    const enqueue = (event: MessageEvent): Effect.Effect<void> =>
      Effect.gen(function* () {
        const full = () => sizeOf(queueOf(event.guildId)) >= capacity
        if (!stopping && full() && Option.isSome(contexts.cached(event.guildId))) {
          const deadline = (yield* Clock.currentTimeMillis) + maxWaitForRoom
          const waited = yield* Effect.exit(
            Effect.interruptible(
              Effect.gen(function* () {
                while (full() && (yield* Clock.currentTimeMillis) < deadline) {
                  yield* Effect.sleep(Duration.millis(5))
                }
              }),
            ),
          )
          // The caller is stopping (Gateway.stop): its events are handed over already, so they
          // wait past the capacity, to be saved by `shutdown`, rather than be lost.
          if (Exit.isInterrupted(waited)) stopping = true
        }
        if (stopping) {
          queueOf(event.guildId).lane.push(event)
          waiting += 1
          return
        }
        if (full()) return yield* drop(event, queueOf(event.guildId))
        yield* route([event])
      })

    /**
     * Counts events in order. The events of a guild whose context is not known join its lane;
     * the others are placed in one buffer step per DB shard.
     */
    const route = (events: ReadonlyArray<MessageEvent>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const batch = newBatch()
        const byDbShard = new Map<number, Array<MessageEvent>>()
        const contextOf = new Map<Snowflake, GuildContextData>()
        for (const event of events) {
          const context =
            contextOf.get(event.guildId) ?? Option.getOrUndefined(contexts.cached(event.guildId))
          if (context === undefined) {
            toLane(event, batch)
            continue
          }
          contextOf.set(event.guildId, context)
          const group = byDbShard.get(context.dbShardId)
          if (group === undefined) byDbShard.set(context.dbShardId, [event])
          else group.push(event)
        }
        const pass = ([dbShardId, group]: readonly [number, ReadonlyArray<MessageEvent>]) =>
          accrual.transact(dbShardId, (accrue) => {
            for (const event of group) {
              place(event, contextOf.get(event.guildId)!, accrue, batch, false)
            }
          })
        const groups = [...byDbShard]
        return complete(
          groups.length === 1 ? pass(groups[0]!) : Effect.forEach(groups, pass, { discard: true }),
          batch,
        )
      })

    const countMessages = (events: ReadonlyArray<MessageEvent>): Effect.Effect<void> =>
      Effect.suspend(() => {
        Metrics.messagesReceived.unsafeUpdate(events.length, [])
        return route(events)
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logError("messages not counted", cause).pipe(
                Effect.annotateLogs({ messages: events.length }),
              ),
        ),
      )

    const countMessage = (event: MessageEvent): Effect.Effect<void> => countMessages([event])

    /** Everything a guild has waiting, each author's events in order. */
    const waitingOf = (queue: GuildQueue): Array<MessageEvent> => [
      // Parked events are older than any still in the lane (they came out of it, or no lane was).
      ...[...queue.parked.values()].flat(),
      ...queue.lane,
    ]

    const forgetGuild = (guildId: Snowflake) =>
      Effect.gen(function* () {
        yield* FiberMap.remove(drainers, guildId)
        const queue = queues.get(guildId)
        queues.delete(guildId)
        writers.delete(guildId)
        yield* contexts.forget(guildId)
        const dropped = queue === undefined ? 0 : sizeOf(queue)
        if (dropped > 0) {
          yield* setWaiting(-dropped)
          yield* Metrics.messagesDropped("GuildForgotten")(Effect.succeed(dropped))
          yield* Effect.logInfo("guild forgotten with events waiting; they are dropped").pipe(
            Effect.annotateLogs({ guildId, dropped }),
          )
        }
      })

    const roleDeleted = (guildId: Snowflake, roleId: Snowflake) =>
      contexts.roleDeleted(guildId, roleId)

    const shutdown = Effect.gen(function* () {
      if (closed) return { savedEvents: 0 }
      closed = true
      yield* FiberMap.clear(drainers)
      yield* FiberSet.clear(loaders)
      const events = [...queues.values()].flatMap(waitingOf)
      queues.clear()
      yield* setWaiting(-waiting)
      const encoded = events.map((event) => Schema.encodeSync(MessageEventSchema)(event))
      yield* spill
        .writeWaiting(encoded)
        .pipe(
          Effect.catchAll((error) =>
            Effect.logError("cannot save the waiting events; they are lost").pipe(
              Effect.annotateLogs({ events: events.length, cause: String(error.cause) }),
            ),
          ),
        )
      if (events.length > 0) {
        yield* Effect.logWarning(
          "events still waiting for their guild saved for the next start",
        ).pipe(Effect.annotateLogs({ events: events.length, directory: spill.directory }))
      }
      return { savedEvents: events.length }
    }).pipe(Effect.uninterruptible, Effect.withLogSpan("Counter.shutdown"))

    const stats = Effect.sync(() => ({ waitingEvents: waiting, waitingGuilds: queues.size }))

    // Events that were still waiting at the last shutdown go first, in their order.
    const saved = yield* spill.readWaiting.pipe(
      Effect.flatMap((rows) =>
        Effect.forEach(rows, (row) => Schema.decodeUnknown(MessageEventSchema)(row)),
      ),
      Effect.tap(() => spill.writeWaiting([])),
      Effect.catchAll((error) =>
        Effect.logError("cannot read the saved waiting events; starting without them").pipe(
          Effect.annotateLogs({ cause: String(error) }),
          Effect.as([] as ReadonlyArray<MessageEvent>),
        ),
      ),
    )
    yield* route(saved)
    if (saved.length > 0) {
      yield* Effect.log("re-queued events saved at the last shutdown").pipe(
        Effect.annotateLogs({ events: saved.length }),
      )
    }

    yield* Effect.addFinalizer(() => shutdown)

    const lastMessageChannel = (guildId: Snowflake, userId: Snowflake) =>
      Effect.sync(() => Option.fromNullable(writers.get(guildId)?.members.get(userId)?.lastChannel))

    // By the messages' times, not this process's: a replay of old messages (or a backlog after
    // an outage) forgets no member whose cooldown can still matter.
    const forgetIdleWriters = Effect.sync(() => {
      for (const guildWriters of writers.values()) {
        const before = guildWriters.latest - idleMillis
        for (const [userId, writer] of guildWriters.members) {
          if (writer.seenAt < before) guildWriters.members.delete(userId)
        }
      }
    })
    yield* Effect.forkScoped(
      forgetIdleWriters.pipe(
        Effect.catchAllCause((cause) => Effect.logError("forgetting idle writers failed", cause)),
        Effect.repeat(Schedule.spaced(options.sweepInterval ?? Duration.minutes(1))),
      ),
    )

    const counter: Context.Tag.Service<Counter> = {
      countMessage,
      countMessages,
      forgetGuild,
      roleDeleted,
      shutdown,
      stats,
    }
    return { counter, lastMessageChannels: { of: lastMessageChannel } }
  })

export const layer = (
  options: Options = {},
): Layer.Layer<
  Counter | LastMessageChannels,
  never,
  GuildContext | Accrual | SeenMessages | Spill
> =>
  Layer.scopedContext(
    Effect.map(make(options), ({ counter, lastMessageChannels }) =>
      Context.make(Counter, counter).pipe(Context.add(LastMessageChannels, lastMessageChannels)),
    ),
  )
