/**
 * The dispatch loop: takes gateway dispatches in order, decodes only the fields it needs, keeps
 * `GuildState` current and hands resolvable messages to `Counter.countMessages`, a run at a time.
 *
 * A malformed or unexpected payload is logged with a reason, counted and skipped; the loop goes
 * on. A message whose guild or channel (a thread not announced yet) is unknown waits in a bounded
 * per-guild queue until GUILD_CREATE / THREAD_CREATE / CHANNEL_CREATE makes it resolvable, or
 * until it has waited `pendingTimeout`.
 */
import * as Permissions from "@tally/domain/Permissions"
import { Snowflake } from "@tally/domain/Snowflake"
import {
  Cause,
  Chunk,
  Clock,
  Context,
  Duration,
  Effect,
  Either,
  Layer,
  Metric,
  Option,
  Queue,
  Schedule,
  Schema,
} from "effect"
import { Counter, type MessageEvent } from "./Counter"
import type { ChannelInfo, GuildSnapshot, GuildStore, RoleInfo } from "./GuildState"
import { GuildState } from "./GuildState"
import { ArrivedMessage, decodeMessage, decoder, type MessageFields } from "./Payloads"
import { VoiceTracker } from "./VoiceTracker"
import { Votes } from "./Votes"

/** One dispatch as it left the WebSocket, with its Discord shard and sequence. */
export interface Envelope {
  readonly discordShardId: number
  readonly sequence: number
  readonly event: string
  readonly data: unknown
}

/**
 * Dispatches in the batch they arrived in, decoded when the dispatch loop comes to them: a
 * backlog waits as one string per batch rather than as thousands of small objects, which the
 * young-generation GC copied again at every collection until they were promoted.
 */
export interface DispatchBatch {
  readonly size: number
  readonly envelopes: () => ReadonlyArray<Envelope>
}

/** A batch of envelopes already decoded. */
export const batchOf = (envelopes: ReadonlyArray<Envelope>): DispatchBatch => ({
  size: envelopes.length,
  envelopes: () => envelopes,
})

/** A decoded message that waits for its guild or channel to become known. */
export interface PendingMessage {
  readonly discordShardId: number
  readonly sequence: number
  readonly receivedAt: number
  readonly message: DecodedMessage
}

// ---------------------------------------------------------------------------------------------
// Payloads: only the fields Tally reads. Unknown fields are ignored.

/** Permission bits: Discord's decimal string of a 64-bit number. */
const PermissionBits = Schema.String.pipe(Schema.filter(Permissions.isBits))

const Overwrite = Schema.Struct({
  id: Snowflake,
  type: Schema.Int,
  allow: PermissionBits,
  deny: PermissionBits,
})

const Channel = Schema.Struct({
  id: Snowflake,
  type: Schema.Int,
  parent_id: Schema.optional(Schema.NullOr(Snowflake)),
  // Read leniently: an overwrite not understood makes the channel's permissions unknown, not the
  // whole event (a GUILD_CREATE) malformed.
  permission_overwrites: Schema.optional(Schema.Array(Schema.Unknown)),
})

const isOverwrite = Schema.is(Overwrite)

const Role = Schema.Struct({
  id: Snowflake,
  position: Schema.Int,
  permissions: Schema.String,
})

const User = Schema.Struct({ id: Snowflake })

const Member = Schema.Struct({ user: User, roles: Schema.Array(Snowflake) })

/** Discord allows 4,000 characters (2,000 without Nitro); more is not a real message. */
export const MAX_CONTENT_LENGTH = 4000

export interface DecodedMessage {
  readonly messageId: Snowflake
  readonly guildId: Snowflake
  readonly channelId: Snowflake
  readonly authorId: Snowflake
  readonly authorBot: boolean
  readonly messageType: number
  readonly memberRoleIds: ReadonlyArray<Snowflake>
}

const Ready = Schema.Struct({ user: User })

const GuildCreate = Schema.Struct({
  id: Snowflake,
  unavailable: Schema.optional(Schema.Boolean),
  name: Schema.String,
  owner_id: Schema.optional(Snowflake),
  afk_channel_id: Schema.optional(Schema.NullOr(Snowflake)),
  roles: Schema.Array(Role),
  channels: Schema.Array(Channel),
  threads: Schema.optional(Schema.Array(Channel)),
  members: Schema.optional(Schema.Array(Member)),
})

const GuildUnavailable = Schema.Struct({
  id: Snowflake,
  unavailable: Schema.Literal(true),
})

const GuildUpdate = Schema.Struct({
  id: Snowflake,
  name: Schema.String,
  owner_id: Schema.optional(Snowflake),
  afk_channel_id: Schema.optional(Schema.NullOr(Snowflake)),
  roles: Schema.optional(Schema.Array(Role)),
})

const GuildDelete = Schema.Struct({ id: Snowflake, unavailable: Schema.optional(Schema.Boolean) })

const GuildChannel = Schema.Struct({ ...Channel.fields, guild_id: Snowflake })

const ThreadListSync = Schema.Struct({
  guild_id: Snowflake,
  channel_ids: Schema.optional(Schema.Array(Snowflake)),
  threads: Schema.Array(Channel),
})

const GuildRole = Schema.Struct({ guild_id: Snowflake, role: Role })

const GuildRoleDelete = Schema.Struct({ guild_id: Snowflake, role_id: Snowflake })

const GuildMember = Schema.Struct({
  guild_id: Snowflake,
  user: User,
  roles: Schema.Array(Snowflake),
})

const GuildMemberRemove = Schema.Struct({ guild_id: Snowflake, user: User })

const decodeReady = decoder(Ready)
const decodeGuildCreate = decoder(GuildCreate)
const isGuildUnavailable = Schema.is(GuildUnavailable)
const decodeGuildUpdate = decoder(GuildUpdate)
const decodeGuildDelete = decoder(GuildDelete)
const decodeGuildChannel = decoder(GuildChannel)
const decodeThreadListSync = decoder(ThreadListSync)
const decodeGuildRole = decoder(GuildRole)
const decodeGuildRoleDelete = decoder(GuildRoleDelete)
const decodeGuildMember = decoder(GuildMember)
const decodeGuildMemberRemove = decoder(GuildMemberRemove)

const channelInfo = (channel: typeof Channel.Type): ChannelInfo => {
  // Discord sends overwrites with every guild channel, none with a thread.
  const overwrites = channel.permission_overwrites ?? []
  return {
    id: channel.id,
    type: channel.type,
    parentId: channel.parent_id ?? null,
    ...(overwrites.every(isOverwrite)
      ? { overwrites: overwrites.map(({ id, type, allow, deny }) => ({ id, type, allow, deny })) }
      : {}),
  }
}

const roleInfo = (role: typeof Role.Type): RoleInfo => ({
  id: role.id,
  position: role.position,
  permissions: role.permissions,
})

export const guildSnapshot = (guild: typeof GuildCreate.Type): GuildSnapshot => ({
  id: guild.id,
  name: guild.name,
  ownerId: guild.owner_id ?? null,
  afkChannelId: guild.afk_channel_id ?? null,
  channels: [...guild.channels, ...(guild.threads ?? [])].map(channelInfo),
  roles: guild.roles.map(roleInfo),
  members: (guild.members ?? []).map((member) => ({
    userId: member.user.id,
    roleIds: member.roles,
  })),
})

// ---------------------------------------------------------------------------------------------
// Metrics

const eventsTotal = Metric.counter("tally_gateway_dispatch_events_total", {
  description: "gateway dispatches received, by event name",
  incremental: true,
})

const skippedTotal = Metric.counter("tally_gateway_dispatch_skipped_total", {
  description: "dispatches dropped before counting, by reason",
  incremental: true,
})

const backpressureWaits = Metric.counter("tally_gateway_dispatch_backpressure_waits_total", {
  description: "times the dispatch loop waited for the counter's queues to drain",
  incremental: true,
})

export const pendingMessages = Metric.gauge("tally_gateway_pending_messages", {
  description: "messages waiting for their guild or channel to become known",
})

const tagged = (metric: Metric.Metric.Counter<number>, key: string) => {
  const cache = new Map<string, Metric.Metric.Counter<number>>()
  return (value: string) => {
    let found = cache.get(value)
    if (!found) {
      found = Metric.tagged(metric, key, value)
      cache.set(value, found)
    }
    return found
  }
}

const eventCounter = tagged(eventsTotal, "event")
const skippedCounter = tagged(skippedTotal, "reason")

/** How many dispatches of `event` were received so far in this process. */
export const receivedCount = (event: string): Effect.Effect<number> =>
  Metric.value(eventCounter(event)).pipe(Effect.map((state) => state.count))

/** How many dispatches were dropped for `reason` so far in this process. */
export const skippedCount = (reason: SkipReason): Effect.Effect<number> =>
  Metric.value(skippedCounter(reason)).pipe(Effect.map((state) => state.count))

export type SkipReason =
  | "malformed"
  | "not_in_guild"
  | "no_member"
  | "giant_content"
  | "unknown_guild"
  | "unknown_channel"
  | "pending_overflow"
  | "guild_deleted"
  | "handler_failed"

// ---------------------------------------------------------------------------------------------

export interface DispatchOptions {
  /** Messages one guild may have waiting; more are dropped (and logged with counts). */
  readonly maxPendingPerGuild: number
  /** How long a message may wait for its guild or channel before it is dropped. */
  readonly pendingTimeout: Duration.DurationInput
  /**
   * While the counter holds this many events waiting (behind a route, settings or members'
   * totals), the loop waits before handing it more: the unbounded dispatch queue in front holds
   * them instead, so nothing is dropped for being merely behind. Below the counter's per-guild
   * capacity (10,000).
   */
  readonly maxCounterWaiting: number
}

export const defaultOptions: DispatchOptions = {
  maxPendingPerGuild: 10_000,
  pendingTimeout: Duration.seconds(30),
  maxCounterWaiting: 8_000,
}

export class Dispatch extends Context.Tag("@tally/gateway/Dispatch")<
  Dispatch,
  {
    /** Handles one dispatch. Never fails: a bad event is logged, counted and skipped. */
    readonly handle: (envelope: Envelope) => Effect.Effect<void>
    /** Takes dispatches from the queue forever, in order. */
    readonly run: (
      queue: Queue.Dequeue<DispatchBatch>,
      /** Told how many dispatches each take removed (the connection's backpressure). */
      taken?: (count: number) => void,
    ) => Effect.Effect<never>
    /** The sequence of the last dispatch of a Discord shard that was fully handled. */
    readonly processedSequence: (discordShardId: number) => Effect.Effect<number | undefined>
    readonly pending: Effect.Effect<ReadonlyArray<PendingMessage>>
    /** Puts messages saved by an earlier process back in the waiting queue, then retries all. */
    readonly restorePending: (messages: ReadonlyArray<PendingMessage>) => Effect.Effect<void>
    /** Drops waiting messages older than the timeout; runs on a schedule in the layer. */
    readonly expirePending: Effect.Effect<void>
  }
>() {}

export const make = (options: Partial<DispatchOptions> = {}) =>
  Effect.gen(function* () {
    const counter = yield* Counter
    const guildState = yield* GuildState
    // Optional: present in the process (Live), absent in tests of counting alone.
    const voice = yield* Effect.serviceOption(VoiceTracker)
    const votes = yield* Effect.serviceOption(Votes)
    const withService = <S>(
      service: Option.Option<S>,
      use: (service: S) => Effect.Effect<void>,
    ): Effect.Effect<void> => (Option.isSome(service) ? use(service.value) : Effect.void)
    const { maxPendingPerGuild, pendingTimeout, maxCounterWaiting } = {
      ...defaultOptions,
      ...options,
    }
    const timeoutMillis = Duration.toMillis(pendingTimeout)
    const store: GuildStore = guildState.store

    const processed = new Map<number, number>()
    const waiting = new Map<Snowflake, Array<PendingMessage>>()
    const overflowed = new Map<Snowflake, number>()
    let waitingCount = 0

    const skip = (reason: SkipReason, detail: Record<string, unknown>, count = 1) =>
      Effect.logWarning(`skipped: ${reason}`).pipe(
        Effect.annotateLogs({ reason, ...detail }),
        Effect.zipRight(Metric.incrementBy(skippedCounter(reason), count)),
      )

    const malformed = (envelope: Envelope, error: string) =>
      skip("malformed", {
        event: envelope.event,
        discordShardId: envelope.discordShardId,
        sequence: envelope.sequence,
        error,
      })

    /**
     * The counter's event for a message whose guild and channel are known; else undefined. Takes
     * the decoded fields as they are (no message object per message).
     */
    const resolveEvent = (
      fields: Omit<DecodedMessage, "guildId" | "memberRoleIds">,
      guildId: Snowflake,
      memberRoleIds: ReadonlyArray<Snowflake>,
      discordShardId: number,
    ): MessageEvent | undefined => {
      const resolution = store.resolve(guildId, fields.channelId)
      if (resolution._tag !== "Resolved") return undefined
      const { channel, parentId, categoryId } = resolution.resolved
      return {
        discordShardId,
        messageId: fields.messageId,
        guildId,
        channelId: fields.channelId,
        channelType: channel.type,
        parentId,
        categoryId,
        authorId: fields.authorId,
        authorBot: fields.authorBot,
        messageType: fields.messageType,
        memberRoleIds,
      }
    }

    const count = (message: DecodedMessage, discordShardId: number) =>
      Effect.suspend(() => {
        const event = resolveEvent(message, message.guildId, message.memberRoleIds, discordShardId)
        if (event === undefined) return Effect.succeed(false)
        return Effect.as(Effect.zipRight(counterCaughtUp, counter.countMessage(event)), true)
      })

    // TODO: one slow guild holds back every guild here — remove when the counter's queues apply
    // backpressure per guild instead of dropping when full.
    const counterCaughtUp = Effect.flatMap(counter.stats, (stats) =>
      stats.waitingEvents < maxCounterWaiting
        ? Effect.void
        : Effect.gen(function* () {
            yield* Metric.increment(backpressureWaits)
            while ((yield* counter.stats).waitingEvents >= maxCounterWaiting) {
              yield* Effect.sleep(Duration.millis(5))
            }
          }),
    )

    const enqueue = (pending: PendingMessage) =>
      Effect.suspend(() => {
        const guildId = pending.message.guildId
        const queue = waiting.get(guildId) ?? []
        if (queue.length >= maxPendingPerGuild) {
          const dropped = (overflowed.get(guildId) ?? 0) + 1
          overflowed.set(guildId, dropped)
          const log =
            dropped === 1 || dropped % 1000 === 0
              ? skip("pending_overflow", { guildId, dropped, waiting: queue.length })
              : Metric.increment(skippedCounter("pending_overflow"))
          return log
        }
        queue.push(pending)
        waiting.set(guildId, queue)
        waitingCount++
        return Metric.set(pendingMessages, waitingCount)
      })

    /** Counts every waiting message of a guild that has become resolvable, in arrival order. */
    const release = (guildId: Snowflake) =>
      Effect.gen(function* () {
        const queue = waiting.get(guildId)
        if (!queue) return
        const still: Array<PendingMessage> = []
        let released = 0
        for (const pending of queue) {
          const counted = yield* count(pending.message, pending.discordShardId)
          if (counted) released++
          else still.push(pending)
        }
        if (released === 0) return
        waitingCount -= released
        if (still.length === 0) waiting.delete(guildId)
        else waiting.set(guildId, still)
        const dropped = overflowed.get(guildId) ?? 0
        overflowed.delete(guildId)
        yield* Metric.set(pendingMessages, waitingCount)
        yield* Effect.logInfo("released waiting messages").pipe(
          Effect.annotateLogs({ guildId, released, stillWaiting: still.length, dropped }),
        )
      })

    const dropGuild = (guildId: Snowflake, reason: SkipReason) =>
      Effect.suspend(() => {
        const queue = waiting.get(guildId)
        if (!queue) return Effect.void
        waiting.delete(guildId)
        overflowed.delete(guildId)
        waitingCount -= queue.length
        return skip(reason, { guildId, messages: queue.length }, queue.length).pipe(
          Effect.zipRight(Metric.set(pendingMessages, waitingCount)),
        )
      })

    const expirePending = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (const [guildId, queue] of [...waiting]) {
        const expired = queue.filter((pending) => now - pending.receivedAt >= timeoutMillis)
        if (expired.length === 0) continue
        const kept = queue.filter((pending) => now - pending.receivedAt < timeoutMillis)
        if (kept.length === 0) waiting.delete(guildId)
        else waiting.set(guildId, kept)
        waitingCount -= expired.length
        const unknownGuild = !store.has(guildId)
        yield* skip(
          unknownGuild ? "unknown_guild" : "unknown_channel",
          {
            guildId,
            messages: expired.length,
            channelIds: [...new Set(expired.map((pending) => pending.message.channelId))].slice(
              0,
              5,
            ),
            waitedMillis: timeoutMillis,
          },
          expired.length,
        )
      }
      yield* Metric.set(pendingMessages, waitingCount)
    })

    /**
     * What to do with one `MESSAGE_CREATE`, decided synchronously: count it with the batch it
     * arrived in, or run an effect (skip it, or let it wait for its guild or channel).
     */
    const classifyMessage = (envelope: Envelope): MessageEvent | Effect.Effect<void> => {
      const decoded =
        envelope.data instanceof ArrivedMessage
          ? envelope.data.decoded
          : decodeMessage(envelope.data)
      if (Either.isLeft(decoded)) return malformed(envelope, decoded.left)
      const fields = decoded.right
      if (fields.guildId === null) return skip("not_in_guild", detailOf(envelope, fields))
      const guildId = fields.guildId
      if (fields.contentLength > MAX_CONTENT_LENGTH) {
        return skip("giant_content", {
          ...detailOf(envelope, fields),
          guildId,
          length: fields.contentLength,
        })
      }
      if (fields.memberRoleIds === null && !fields.authorBot) {
        return skip("no_member", { ...detailOf(envelope, fields), guildId })
      }
      const memberRoleIds = fields.memberRoleIds ?? []
      const event = resolveEvent(fields, guildId, memberRoleIds, envelope.discordShardId)
      if (event !== undefined) return event
      const message: DecodedMessage = {
        messageId: fields.messageId,
        guildId,
        channelId: fields.channelId,
        authorId: fields.authorId,
        authorBot: fields.authorBot,
        messageType: fields.messageType,
        memberRoleIds,
      }
      return Effect.flatMap(Clock.currentTimeMillis, (receivedAt) =>
        enqueue({
          discordShardId: envelope.discordShardId,
          sequence: envelope.sequence,
          receivedAt,
          message,
        }),
      )
    }

    const decodeThen = <A>(
      envelope: Envelope,
      decode: (data: unknown) => Either.Either<A, string>,
      use: (payload: A) => Effect.Effect<void>,
    ) => {
      const decoded = decode(envelope.data)
      return Either.isLeft(decoded) ? malformed(envelope, decoded.left) : use(decoded.right)
    }

    /** Every dispatch but `MESSAGE_CREATE` (batched in `handleAll`). */
    const onEvent = (envelope: Envelope): Effect.Effect<void> => {
      switch (envelope.event) {
        case "READY":
          return decodeThen(envelope, decodeReady, (ready) =>
            Effect.sync(() => {
              store.botUserId = ready.user.id
            }),
          )
        case "GUILD_CREATE":
          if (isGuildUnavailable(envelope.data)) return Effect.void
          return decodeThen(envelope, decodeGuildCreate, (guild) =>
            Effect.sync(() => store.create(guildSnapshot(guild))).pipe(
              Effect.zipRight(withService(voice, (voice) => voice.guildAvailable(envelope.data))),
              Effect.zipRight(release(guild.id)),
            ),
          )
        case "GUILD_UPDATE":
          return decodeThen(envelope, decodeGuildUpdate, (guild) =>
            Effect.sync(() =>
              store.update(
                guild.id,
                {
                  name: guild.name,
                  ownerId: guild.owner_id ?? null,
                  afkChannelId: guild.afk_channel_id ?? null,
                },
                guild.roles?.map(roleInfo) ?? null,
              ),
            ),
          )
        case "GUILD_DELETE":
          return decodeThen(envelope, decodeGuildDelete, (guild) =>
            Effect.zipRight(
              withService(voice, (voice) => voice.guildGone(guild.id)),
              guild.unavailable === true
                ? Effect.logWarning("guild unavailable").pipe(
                    Effect.annotateLogs("guildId", guild.id),
                  )
                : Effect.sync(() => store.remove(guild.id)).pipe(
                    Effect.zipRight(dropGuild(guild.id, "guild_deleted")),
                    Effect.zipRight(counter.forgetGuild(guild.id)),
                    Effect.zipRight(
                      Effect.logInfo("guild left").pipe(Effect.annotateLogs("guildId", guild.id)),
                    ),
                  ),
            ),
          )
        case "CHANNEL_CREATE":
        case "CHANNEL_UPDATE":
        case "THREAD_CREATE":
        case "THREAD_UPDATE":
          // DM channels carry no guild_id: nothing to keep.
          if (!hasGuildId(envelope.data)) return Effect.void
          return decodeThen(envelope, decodeGuildChannel, (channel) =>
            Effect.sync(() => store.upsertChannel(channel.guild_id, channelInfo(channel))).pipe(
              Effect.zipRight(release(channel.guild_id)),
            ),
          )
        case "CHANNEL_DELETE":
        case "THREAD_DELETE":
          if (!hasGuildId(envelope.data)) return Effect.void
          return decodeThen(envelope, decodeGuildChannel, (channel) =>
            Effect.sync(() => store.deleteChannel(channel.guild_id, channel.id)),
          )
        case "THREAD_LIST_SYNC":
          return decodeThen(envelope, decodeThreadListSync, (sync) =>
            Effect.sync(() =>
              store.syncThreads(
                sync.guild_id,
                sync.channel_ids ?? null,
                sync.threads.map(channelInfo),
              ),
            ).pipe(Effect.zipRight(release(sync.guild_id))),
          )
        case "GUILD_ROLE_CREATE":
        case "GUILD_ROLE_UPDATE":
          return decodeThen(envelope, decodeGuildRole, (event) =>
            Effect.sync(() => store.upsertRole(event.guild_id, roleInfo(event.role))),
          )
        case "GUILD_ROLE_DELETE":
          return decodeThen(envelope, decodeGuildRoleDelete, (event) =>
            Effect.sync(() => store.deleteRole(event.guild_id, event.role_id)).pipe(
              Effect.zipRight(counter.roleDeleted(event.guild_id, event.role_id)),
            ),
          )
        case "GUILD_MEMBER_ADD":
        case "GUILD_MEMBER_UPDATE":
          return decodeThen(envelope, decodeGuildMember, (member) =>
            Effect.sync(() =>
              store.upsertMember(member.guild_id, {
                userId: member.user.id,
                roleIds: member.roles,
              }),
            ).pipe(
              // A member in voice who gains or loses a no-XP role is re-judged from now on.
              Effect.zipRight(
                withService(voice, (voice) =>
                  voice.memberRolesUpdated(member.guild_id, member.user.id, member.roles),
                ),
              ),
            ),
          )
        case "GUILD_MEMBER_REMOVE":
          return decodeThen(envelope, decodeGuildMemberRemove, (member) =>
            Effect.sync(() => store.removeMember(member.guild_id, member.user.id)),
          )
        case "VOICE_STATE_UPDATE":
          return withService(voice, (voice) => voice.voiceStateUpdate(envelope.data))
        case "MESSAGE_REACTION_ADD":
          return withService(votes, (votes) => votes.reactionAdd(envelope.data))
        case "INTERACTION_CREATE":
          // Answered already (`Discord.interactions`); here it only holds its place in the
          // stream, for the sequence a stop saves.
          return Effect.void
        default:
          return Effect.void
      }
    }

    const markProcessed = (envelope: Envelope) => {
      const last = processed.get(envelope.discordShardId)
      // A READY starts a new session, whose sequence starts again: the old one's is no bound.
      if (last === undefined || envelope.sequence > last || envelope.event === "READY") {
        processed.set(envelope.discordShardId, envelope.sequence)
      }
    }

    /** Runs the handling of `envelopes`; a failure is logged and counted against all of them. */
    const guarded = (envelopes: ReadonlyArray<Envelope>, handling: Effect.Effect<void>) =>
      handling.pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : skip(
                "handler_failed",
                {
                  event: envelopes[0]?.event,
                  discordShardId: envelopes[0]?.discordShardId,
                  sequence: envelopes[0]?.sequence,
                  events: envelopes.length,
                  cause: Cause.pretty(cause),
                },
                envelopes.length,
              ),
        ),
        Effect.zipRight(
          Effect.sync(() => {
            for (const envelope of envelopes) markProcessed(envelope)
          }),
        ),
      )

    /**
     * Handles dispatches in order. Runs of `MESSAGE_CREATE` are decoded synchronously and handed
     * to the counter as one batch, the rest one by one: per message, the loop costs a few plain
     * checks rather than a chain of effects.
     */
    const handleAll = (chunk: ReadonlyArray<Envelope>): Effect.Effect<void> =>
      Effect.gen(function* () {
        // Plain updates: a metric effect per event name per chunk cost more than the decoding.
        const received = new Map<string, number>()
        for (const envelope of chunk) {
          received.set(envelope.event, (received.get(envelope.event) ?? 0) + 1)
        }
        for (const [event, n] of received) eventCounter(event).unsafeUpdate(n, [])

        let messages: Array<Envelope> = []
        let batch: Array<MessageEvent> = []
        let others: Array<Effect.Effect<void>> = []
        // Only the wait for the counter to catch up can be interrupted: once a run is handed
        // over it is marked processed with it, or a resume would replay what was counted.
        const flush = Effect.suspend(() => {
          if (messages.length === 0) return Effect.void
          const events = batch
          const rest = others
          const envelopes = messages
          messages = []
          batch = []
          others = []
          return Effect.uninterruptibleMask((restore) => {
            const counting =
              events.length === 0
                ? Effect.void
                : Effect.zipRight(restore(counterCaughtUp), counter.countMessages(events))
            const handling =
              rest.length === 0
                ? counting
                : Effect.zipRight(counting, Effect.all(rest, { discard: true }))
            return guarded(envelopes, handling)
          })
        })
        for (const envelope of chunk) {
          if (envelope.event !== "MESSAGE_CREATE") {
            yield* flush
            yield* guarded([envelope], onEvent(envelope))
            continue
          }
          messages.push(envelope)
          try {
            const outcome = classifyMessage(envelope)
            if (Effect.isEffect(outcome)) others.push(outcome)
            else batch.push(outcome)
          } catch (error) {
            others.push(Effect.die(error))
          }
        }
        yield* flush
      })

    const handle = (envelope: Envelope): Effect.Effect<void> => handleAll([envelope])

    /**
     * The next dispatches: every batch that waits. A short chunk waits one millisecond for the
     * socket to deliver more, so that under load each pass over the counter carries many messages
     * (a pass costs about as much as a few dozen messages).
     */
    const nextBatches = (queue: Queue.Dequeue<DispatchBatch>, taken: (count: number) => void) =>
      Effect.flatMap(Queue.takeBetween(queue, 1, Number.POSITIVE_INFINITY), (first) => {
        const batches = Chunk.toReadonlyArray(first)
        const size = sizeOf(batches)
        taken(size)
        return size >= SHORT_CHUNK
          ? Effect.succeed(batches)
          : Effect.sleep(Duration.millis(1)).pipe(
              Effect.zipRight(Queue.takeAll(queue)),
              Effect.map((more) => {
                const rest = Chunk.toReadonlyArray(more)
                taken(sizeOf(rest))
                return batches.concat(rest)
              }),
            )
      })

    const run = (
      queue: Queue.Dequeue<DispatchBatch>,
      taken: (count: number) => void = () => {},
    ) => {
      let turnAt = 0
      return nextBatches(queue, taken).pipe(
        Effect.flatMap((batches) =>
          Effect.gen(function* () {
            // Counted from the take: one that waited let the event loop run; one that did not
            // leaves it waiting at most one more window.
            turnAt = performance.now()
            // Lazily: a batch is decoded only when its pass comes.
            const unreadable: Array<unknown> = []
            for (const pass of passesOf(batches, unreadable)) {
              yield* handleAll(pass)
              // Effect yields to other fibers through microtasks, which rarely let Node's event
              // loop run: behind a backlog, flushes, member-total loads, REST answers and the
              // thread's next batches waited for the queue to run dry (seconds, in a flood).
              // Wall time on purpose: this is about the event loop, not the events' clock.
              if (performance.now() - turnAt >= MAX_MILLIS_WITHOUT_TURN) {
                yield* eventLoopTurn
                turnAt = performance.now()
              }
            }
            for (const error of unreadable) {
              yield* Effect.logError("a batch of dispatches could not be read; skipped", error)
            }
          }),
        ),
        Effect.forever,
      )
    }

    const restorePending = (messages: ReadonlyArray<PendingMessage>) =>
      Effect.gen(function* () {
        for (const pending of messages) yield* enqueue(pending)
        for (const guildId of [...waiting.keys()]) yield* release(guildId)
      })

    yield* Effect.forkScoped(
      expirePending.pipe(Effect.repeat(Schedule.spaced(Duration.seconds(1)))),
    )

    return Dispatch.of({
      handle,
      run,
      processedSequence: (discordShardId) => Effect.sync(() => processed.get(discordShardId)),
      pending: Effect.sync(() => [...waiting.values()].flat()),
      restorePending,
      expirePending,
    })
  })

const MAX_CHUNK = 1_024
const SHORT_CHUNK = 128

const sizeOf = (batches: ReadonlyArray<DispatchBatch>) => {
  let size = 0
  for (const batch of batches) size += batch.size
  return size
}

/**
 * The longest the dispatch loop keeps Node's event loop waiting behind a backlog (plus one
 * pass, about 20 ms in a flood): short beside Discord's 3 s for an interaction's answer and a
 * flush's few round trips, and long enough to keep the turns few.
 */
const MAX_MILLIS_WITHOUT_TURN = 50

/** Resumes after one turn of Node's event loop (its I/O callbacks included). */
const eventLoopTurn = Effect.async<void>((resume) => {
  const id = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(id))
})

/**
 * The batches' envelopes in order, in passes of at most `MAX_CHUNK` (one pass never holds the
 * thread for long; small batches share a pass, which costs about as much as a few dozen
 * messages). Each batch is decoded when the first pass that needs it is made.
 */
function* passesOf(
  batches: ReadonlyArray<DispatchBatch>,
  /** Where a batch that cannot be decoded goes (the thread wrote it: not expected). */
  unreadable: Array<unknown>,
): Generator<ReadonlyArray<Envelope>> {
  let pass: Array<Envelope> = []
  for (const batch of batches) {
    let envelopes: ReadonlyArray<Envelope>
    try {
      envelopes = batch.envelopes()
    } catch (error) {
      unreadable.push(error)
      continue
    }
    for (const envelope of envelopes) {
      pass.push(envelope)
      if (pass.length === MAX_CHUNK) {
        yield pass
        pass = []
      }
    }
  }
  if (pass.length > 0) yield pass
}

/**
 * What a skipped message's log line names. Made only for a skip, by a function defined once: a
 * closure made per message costs more than it saves (tsx names every closure it makes).
 */
const detailOf = (envelope: Envelope, fields: MessageFields) => ({
  messageId: fields.messageId,
  channelId: fields.channelId,
  discordShardId: envelope.discordShardId,
})

const hasGuildId = (data: unknown): boolean =>
  typeof data === "object" && data !== null && "guild_id" in data && data.guild_id != null

export const layer = (options: Partial<DispatchOptions> = {}) =>
  Layer.scoped(Dispatch, make(options))
