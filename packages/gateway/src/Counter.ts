/**
 * Counts text messages: the guild's context, the domain's award decision, the accrual. Events of
 * a guild whose route or settings are not known yet wait in its bounded queue, in order.
 */
import * as Award from "@tally/domain/Award"
import {
  type Snowflake,
  Snowflake as SnowflakeSchema,
  timestampMillis,
} from "@tally/domain/Snowflake"
import { Cause, Clock, Context, Duration, Effect, FiberMap, Layer, Option, Schema } from "effect"
import { Accrual } from "./Accrual"
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

export class Counter extends Context.Tag("@tally/gateway/Counter")<
  Counter,
  {
    /**
     * Never fails. Returns once the event is accrued, skipped, or queued behind its guild's
     * route/settings or its author's total; replayed message ids count once.
     */
    readonly countMessage: (event: MessageEvent) => Effect.Effect<void>
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
}

/** The events of one guild that wait for its context or for an author's total, in order. */
interface Lane {
  readonly events: Array<MessageEvent>
  draining: boolean
  dropped: number
}

type Step = "done" | "needsTotal"

export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const contexts = yield* GuildContext
    const accrual = yield* Accrual
    const seen = yield* SeenMessages
    const spill = yield* Spill

    const capacity = options.queueCapacity ?? 10_000
    const maxWaitForRoom = Duration.toMillis(options.maxWaitForRoom ?? Duration.seconds(30))
    const prefetchLimit = 5_000

    const lanes = new Map<string, Lane>()
    const drainers = yield* FiberMap.make<string>()
    /** When each member's last counted message was sent, per guild. */
    // TODO: these two maps keep one entry per member who wrote since start (dropped only with the
    // guild) — remove when they are evicted after the longest cooldown (120 s) of inactivity.
    const lastCounted = new Map<string, Map<string, number>>()
    /** The channel of each member's last message, per guild. */
    const lastChannel = new Map<string, Map<string, Snowflake>>()
    let waiting = 0
    let closed = false

    const setWaiting = (change: number) =>
      Effect.suspend(() => {
        waiting += change
        return Metrics.messagesWaiting(Effect.succeed(waiting))
      })

    /**
     * Decides and accrues one event, all at once: nothing is half-done if the caller is
     * interrupted. `needsTotal`: counted, but the author's total must be loaded first (nothing
     * changed).
     */
    const step = (event: MessageEvent, context: GuildContextData): Effect.Effect<Step> =>
      Effect.gen(function* () {
        if (yield* seen.isSeen(event.discordShardId, event.messageId)) {
          yield* Metrics.messagesSkipped("Duplicate")(Effect.succeed(1))
          return "done" as const
        }
        const sentAt = timestampMillis(event.messageId)
        const members = lastCounted.get(event.guildId)
        const last = members?.get(event.authorId) ?? null
        const award = Award.textMessage(context, { ...event, sentAt, lastCountedAt: last })
        if (
          award._tag === "Counted" ||
          (award.reason._tag !== "BotAuthor" && award.reason._tag !== "SystemMessage")
        ) {
          const channels = lastChannel.get(event.guildId)
          if (channels === undefined) {
            lastChannel.set(event.guildId, new Map([[event.authorId, event.channelId]]))
          } else {
            channels.set(event.authorId, event.channelId)
          }
        }
        if (award._tag === "Skipped") {
          yield* seen.markSeen(event.discordShardId, event.messageId)
          yield* Metrics.messagesSkipped(award.reason._tag)(Effect.succeed(1))
          return "done" as const
        }
        const accrued = yield* accrual.accrueIfLoaded({
          dbShardId: context.dbShardId,
          guildId: event.guildId,
          userId: event.authorId,
          award,
          at: sentAt,
          settings: context.settings,
          noticeChannelId: event.channelId,
        })
        if (Option.isNone(accrued)) return "needsTotal" as const
        yield* seen.markSeen(event.discordShardId, event.messageId)
        if (members === undefined) {
          lastCounted.set(event.guildId, new Map([[event.authorId, sentAt]]))
        } else {
          members.set(event.authorId, Math.max(last ?? sentAt, sentAt))
        }
        yield* Metrics.messagesCounted(Effect.succeed(1))
        return "done" as const
      }).pipe(Effect.uninterruptible)

    /** Works through one guild's waiting events, in order, until none is left. */
    const drain = (guildId: Snowflake, lane: Lane): Effect.Effect<void> =>
      Effect.gen(function* () {
        while (true) {
          const finished = yield* Effect.sync(() => {
            if (lane.events.length > 0) return false
            lane.draining = false
            if (lanes.get(guildId) === lane) lanes.delete(guildId)
            return true
          })
          if (finished) {
            if (lane.dropped > 0) {
              yield* Effect.logWarning(
                "guild queue drained; events were dropped while it was full",
              ).pipe(Effect.annotateLogs({ dropped: lane.dropped, capacity }))
            }
            return
          }
          const context = yield* contexts.load(guildId)
          const head = lane.events[0]!
          const result = yield* step(head, context).pipe(
            Effect.tap((result) =>
              result === "done"
                ? Effect.zipRight(
                    Effect.sync(() => lane.events.shift()),
                    setWaiting(-1),
                  )
                : Effect.void,
            ),
            Effect.uninterruptible,
          )
          if (result === "needsTotal") yield* prefetchTotals(context.dbShardId, guildId, lane)
        }
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logError("guild queue failed; restarting it", cause).pipe(
                Effect.zipRight(
                  Effect.sync(() => {
                    lane.draining = false
                  }),
                ),
                Effect.zipRight(Effect.suspend(() => startDrain(guildId, lane))),
              ),
        ),
        Effect.annotateLogs({ guildId }),
      )

    /**
     * Loads the totals of every author waiting in the lane at once (one batched query per
     * guild), not one round trip per new author as the lane reaches them.
     */
    const prefetchTotals = (dbShardId: number, guildId: Snowflake, lane: Lane) =>
      Effect.suspend(() => {
        const authors = new Set<Snowflake>()
        for (const event of lane.events) {
          if (!event.authorBot) authors.add(event.authorId)
          if (authors.size >= prefetchLimit) break
        }
        if (lane.events[0] !== undefined) authors.add(lane.events[0].authorId)
        return Effect.forEach(
          authors,
          (userId) => accrual.ensureLoaded(dbShardId, guildId, userId),
          {
            concurrency: "unbounded",
            discard: true,
          },
        )
      })

    const startDrain = (guildId: Snowflake, lane: Lane): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (lane.draining) return Effect.void
        lane.draining = true
        return Effect.asVoid(FiberMap.run(drainers, guildId, drain(guildId, lane)))
      })

    const laneOf = (guildId: Snowflake): Lane => {
      let lane = lanes.get(guildId)
      if (lane === undefined) {
        lane = { events: [], draining: false, dropped: 0 }
        lanes.set(guildId, lane)
      }
      return lane
    }

    const drop = (event: MessageEvent, lane: Lane) =>
      Effect.suspend(() => {
        lane.dropped += 1
        return Effect.zipRight(
          Metrics.messagesDropped("QueueFull")(Effect.succeed(1)),
          lane.dropped === 1
            ? Effect.logWarning("guild queue full; dropping its new events until it drains").pipe(
                Effect.annotateLogs({ guildId: event.guildId, capacity }),
              )
            : Effect.void,
        )
      })

    /**
     * Queues an event behind its guild's. A full queue of a guild whose context is known is only
     * behind (loading totals): the caller waits for room, up to `maxWaitForRoom`. A full queue of
     * a guild whose route or settings are unknown drops the event, logged and counted.
     */
    const enqueue = (event: MessageEvent): Effect.Effect<void> =>
      Effect.gen(function* () {
        let lane = laneOf(event.guildId)
        if (lane.events.length >= capacity && Option.isSome(contexts.cached(event.guildId))) {
          const deadline = (yield* Clock.currentTimeMillis) + maxWaitForRoom
          while (lane.events.length >= capacity && (yield* Clock.currentTimeMillis) < deadline) {
            yield* Effect.sleep(Duration.millis(5))
            lane = laneOf(event.guildId)
          }
        }
        if (lane.events.length >= capacity) return yield* drop(event, lane)
        lane.events.push(event)
        yield* setWaiting(1)
        yield* startDrain(event.guildId, lane)
      })

    const countMessage = (event: MessageEvent): Effect.Effect<void> =>
      Effect.gen(function* () {
        yield* Metrics.messagesReceived(Effect.succeed(1))
        if (!lanes.has(event.guildId)) {
          const context = contexts.cached(event.guildId)
          if (Option.isSome(context) && (yield* step(event, context.value)) === "done") return
        }
        yield* enqueue(event)
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logError("message not counted", cause).pipe(
                Effect.annotateLogs({ guildId: event.guildId, messageId: event.messageId }),
              ),
        ),
      )

    const forgetGuild = (guildId: Snowflake) =>
      Effect.gen(function* () {
        yield* FiberMap.remove(drainers, guildId)
        const lane = lanes.get(guildId)
        lanes.delete(guildId)
        lastCounted.delete(guildId)
        lastChannel.delete(guildId)
        yield* contexts.forget(guildId)
        if (lane !== undefined && lane.events.length > 0) {
          yield* setWaiting(-lane.events.length)
          yield* Metrics.messagesDropped("GuildForgotten")(Effect.succeed(lane.events.length))
          yield* Effect.logInfo("guild forgotten with events waiting; they are dropped").pipe(
            Effect.annotateLogs({ guildId, dropped: lane.events.length }),
          )
        }
      })

    const roleDeleted = (guildId: Snowflake, roleId: Snowflake) =>
      contexts.roleDeleted(guildId, roleId)

    const shutdown = Effect.gen(function* () {
      if (closed) return { savedEvents: 0 }
      closed = true
      yield* FiberMap.clear(drainers)
      const events = [...lanes.values()].flatMap((lane) => lane.events)
      lanes.clear()
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

    const stats = Effect.sync(() => ({ waitingEvents: waiting, waitingGuilds: lanes.size }))

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
    yield* Effect.forEach(saved, enqueue, { discard: true })
    if (saved.length > 0) {
      yield* Effect.log("re-queued events saved at the last shutdown").pipe(
        Effect.annotateLogs({ events: saved.length }),
      )
    }

    yield* Effect.addFinalizer(() => shutdown)

    const lastMessageChannel = (guildId: Snowflake, userId: Snowflake) =>
      Effect.sync(() => Option.fromNullable(lastChannel.get(guildId)?.get(userId)))

    const counter: Context.Tag.Service<Counter> = {
      countMessage,
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
