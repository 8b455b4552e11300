/**
 * The Discord connection: `@discordjs/rest` (pointed at `DISCORD_API_URL` when set) here, and an
 * `@discordjs/ws` `WebSocketManager` with the simple sharding strategy in a worker thread
 * (`DiscordWorker.ts`): receiving and parsing the frames costs as much as counting them, so they
 * run on another core. Dispatches are bridged into a queue in arrival order, interactions into one
 * of their own (answered ahead of the dispatches); behind a backlog
 * (`maxBacklog` untaken) the thread stops reading for a while, so the rest waits in the socket. The
 * thread asks Discord for the gateway's address with a REST client of its own. Close codes
 * that end a session for good (4004, 4010–4014), a REST 401 and a failed worker complete
 * `fatal`, which main turns into a non-zero exit with a clear message. Any other close is a
 * warning (once per loss, not per retry) while the library reconnects; `shardStates` shows it.
 */
import { Worker } from "node:worker_threads"
import { REST, RESTEvents } from "@discordjs/rest"
import type { SessionInfo } from "@discordjs/ws"
import {
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  Layer,
  LogLevel,
  Option,
  Queue,
  Redacted,
  Runtime,
  Schedule,
} from "effect"
import { GatewayConfig, shardCountOf } from "./Config"
import type { Command, ToMain, ToWorker, WireDispatch, WorkerStart } from "./DiscordWire"
import type { DispatchBatch, Envelope } from "./Dispatch"
import * as Payloads from "./Payloads"
import { type SavedSession, Session } from "./Session"

/** GUILDS | GUILD_MEMBERS | GUILD_VOICE_STATES | GUILD_MESSAGES | GUILD_MESSAGE_REACTIONS. */
export const INTENTS = 1 | 2 | 128 | 512 | 1024

/** Close codes after which Discord will not take this bot on this shard again. */
export const FATAL_CLOSE_CODES: ReadonlyMap<number, string> = new Map([
  [4004, "the token was refused (authentication failed)"],
  [4010, "an invalid shard was sent"],
  [4011, "sharding is required: set DISCORD_SHARD_COUNT"],
  [4012, "an invalid API version was used"],
  [4013, "invalid intents were sent"],
  [4014, "disallowed intents: enable the Server Members intent in the developer portal"],
])

/** Library-internal close code that Discord treats as resumable (not 1000/1001). */
export const RESUMABLE_CLOSE_CODE = 4200

/**
 * Where a shard's connection stands: `reconnecting` from a close until the library is READY or
 * RESUMED again, `closed` once this process closed it (or Discord refused it for good).
 */
export type DiscordShardState = "connecting" | "connected" | "reconnecting" | "closed"

/** The connection cannot go on; the process must stop and a person must act. */
export class DiscordFatal extends Data.TaggedError("DiscordFatal")<{
  readonly reason: string
  readonly discordShardId?: number
  readonly closeCode?: number
}> {
  override get message() {
    return this.reason
  }
}

export class Discord extends Context.Tag("@tally/gateway/Discord")<
  Discord,
  {
    readonly rest: REST
    readonly discordShardIds: ReadonlyArray<number>
    readonly discordShardCount: number
    /**
     * Dispatches in arrival order, in the batches they crossed from the connection's thread in
     * (one queue operation per batch, not per dispatch); consumed by `Dispatch.run`.
     */
    readonly dispatches: Queue.Dequeue<DispatchBatch>
    /**
     * INTERACTION_CREATE data as it arrives, ahead of `dispatches` (which holds each only as a
     * place, without its data): a command does not wait for the dispatch loop. (Past
     * `maxBacklog` the connection stops reading for up to a second at a time, commands too.)
     */
    readonly interactions: Queue.Dequeue<unknown>
    /** Resolves once every dispatch the connection has received so far is in `dispatches`. */
    readonly sync: Effect.Effect<void>
    /**
     * The dispatch loop took `count` dispatches out of `dispatches`. Past `maxBacklog` untaken
     * dispatches the connection stops reading for a while.
     */
    readonly taken: (count: number) => void
    /** What the previous process saved for these shards (read once at start). */
    readonly restored: ReadonlyMap<number, SavedSession>
    /** Connects every shard (resuming a restored session); resolves once all are READY/RESUMED. */
    readonly connect: Effect.Effect<void, DiscordFatal>
    /** Fails when the connection cannot go on (fatal close code, REST 401). */
    readonly fatal: Effect.Effect<never, DiscordFatal>
    /** The library's current session of a shard (sequence = last received). */
    readonly sessionInfo: (discordShardId: number) => SessionInfo | null
    /**
     * Says the process is stopping: a connection that closes from now on is no loss to warn of
     * (a busy stop may miss a heartbeat's acknowledgement). The sockets stay open.
     */
    readonly stopping: Effect.Effect<void>
    /** Closes every shard with a resumable code; the session stays valid for a later RESUME. */
    readonly closeResumable: Effect.Effect<void>
    /** Each shard's connection state, by Discord shard id. */
    readonly shardStates: Effect.Effect<ReadonlyMap<number, DiscordShardState>>
  }
>() {}

/**
 * A batch from the connection's thread as envelopes: a message that passed the thread's hand
 * check carries its fields, any other is decoded here (the schema words the error).
 */
const toEnvelopes = (json: string): ReadonlyArray<Envelope> => {
  const batch = JSON.parse(json) as Array<WireDispatch>
  for (const wire of batch) {
    if (wire.event === "MESSAGE_CREATE") {
      ;(wire as { data: unknown }).data = wire.checked
        ? new Payloads.ArrivedMessage(Either.right(wire.data as Payloads.MessageFields))
        : // The thread's hand check failed already: only the schema is left to word the error.
          new Payloads.ArrivedMessage(Payloads.decodeMessageBySchema(wire.data))
    }
  }
  // A wire dispatch is an envelope with one more field (`checked`).
  return batch
}

/** The Discord shard that carries a guild. */
export const discordShardOf = (guildId: string, discordShardCount: number): number =>
  Number((BigInt(guildId) >> 22n) % BigInt(discordShardCount))

export interface DiscordOptions {
  /**
   * Skip the 5 s identify throttle between shards. Only for a local Discord (the simulator),
   * which does not limit identifies; real Discord needs the throttle.
   */
  readonly skipIdentifyThrottle?: boolean
  /** Dispatches waiting for the dispatch loop past which the connection pauses (20,000). */
  readonly maxBacklog?: number
}

export const make = (options: DiscordOptions = {}) =>
  Effect.gen(function* () {
    const config = yield* GatewayConfig
    const session = yield* Session
    const token = Redacted.value(config.discordToken)

    const fatal = yield* Deferred.make<never, DiscordFatal>()
    const fail = (error: DiscordFatal) => Deferred.unsafeDone(fatal, Effect.fail(error))

    const rest = new REST({
      version: "10",
      ...Option.match(config.discordApiUrl, {
        onNone: () => ({}),
        onSome: (api) => ({ api }),
      }),
    }).setToken(token)
    rest.on(RESTEvents.Response, (request, response) => {
      if (response.status === 401 && request.data.auth !== false) {
        fail(
          new DiscordFatal({
            reason: `Discord's REST API refused the token (401 on ${request.method} ${request.route}): check DISCORD_TOKEN`,
          }),
        )
      }
    })

    const gatewayBot = Effect.tryPromise({
      try: () => rest.get("/gateway/bot") as Promise<{ shards: number }>,
      catch: (error) => error,
    })
    const discordShardCount = yield* Option.match(shardCountOf(config), {
      onSome: Effect.succeed,
      onNone: () =>
        gatewayBot.pipe(
          Effect.map((info) => info.shards),
          Effect.tapError((error) =>
            Effect.logWarning("cannot ask Discord for the shard count; retrying").pipe(
              Effect.annotateLogs("error", String(error)),
            ),
          ),
          Effect.retry(Schedule.exponential("1 second").pipe(Schedule.upTo("2 minutes"))),
          Effect.orElse(() =>
            Effect.fail(
              new DiscordFatal({
                reason: "cannot learn the shard count from Discord; set DISCORD_SHARD_COUNT",
              }),
            ),
          ),
          // A refused token (REST 401) ends the retries at once, with its own reason.
          Effect.raceFirst(Deferred.await(fatal)),
        ),
    })
    const discordShardIds = Option.getOrElse(config.discordShardIds, () =>
      Array.from({ length: discordShardCount }, (_, id) => id),
    )
    const restored = yield* session.load(discordShardIds, Option.getOrNull(config.discordApiUrl))

    const dispatches = yield* Effect.acquireRelease(
      Queue.unbounded<DispatchBatch>(),
      Queue.shutdown,
    )

    const interactions = yield* Effect.acquireRelease(Queue.unbounded<unknown>(), Queue.shutdown)

    const backlogBuffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)
    const backlog = new Int32Array(backlogBuffer)
    let stopping = false
    const worker = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new Worker(new URL("./DiscordWorker.mjs", import.meta.url), {
            workerData: {
              token,
              apiUrl: Option.getOrNull(config.discordApiUrl),
              intents: INTENTS,
              shardCount: discordShardCount,
              shardIds: discordShardIds,
              sessions: discordShardIds.flatMap((id) => {
                const info = session.retrieve(id)
                return info === null ? [] : [[id, info] as const]
              }),
              skipIdentifyThrottle: options.skipIdentifyThrottle === true,
              backlog: backlogBuffer,
              maxBacklog: options.maxBacklog ?? 20_000,
            } satisfies WorkerStart,
          }),
      ),
      (worker) =>
        Effect.promise(() => {
          stopping = true
          return worker.terminate()
        }),
    )

    const runtime = yield* Effect.runtime<never>()
    const log = (level: LogLevel.LogLevel, message: string, annotations: Record<string, unknown>) =>
      Runtime.runFork(runtime)(
        Effect.logWithLevel(level, message).pipe(Effect.annotateLogs(annotations)),
      )

    const shardStates = new Map<number, DiscordShardState>(
      discordShardIds.map((id) => [id, "connecting"]),
    )
    /** When each reconnecting shard lost its connection. */
    const lostAt = new Map<number, number>()
    /** The last socket error of each shard since its last close (the close says only 1006). */
    const socketErrors = new Map<number, string>()
    /** Set before this process closes the shards: those closes are not losses. */
    let closing = false

    const connected = (discordShardId: number) => {
      const since = lostAt.get(discordShardId)
      lostAt.delete(discordShardId)
      shardStates.set(discordShardId, "connected")
      return since === undefined ? {} : { downFor: Duration.format(Date.now() - since) }
    }

    /**
     * While Discord is away the library retries every half second, each try ending in a close:
     * the first close is a warning, the tries after it are debug lines.
     */
    const closed = (discordShardId: number, closeCode: number, asked: boolean) => {
      const error = socketErrors.get(discordShardId)
      socketErrors.delete(discordShardId)
      const annotations = { discordShardId, closeCode, ...(error === undefined ? {} : { error }) }
      if (closing || FATAL_CLOSE_CODES.has(closeCode)) {
        shardStates.set(discordShardId, "closed")
        if (closing) log(LogLevel.Debug, "discord connection closed while stopping", annotations)
      } else if (shardStates.get(discordShardId) === "reconnecting") {
        log(LogLevel.Debug, "discord still unreachable; retrying", annotations)
      } else {
        shardStates.set(discordShardId, "reconnecting")
        lostAt.set(discordShardId, Date.now())
        // Discord asks every connection to move now and then: no cause for a warning.
        if (asked) log(LogLevel.Info, "discord asked to reconnect; reconnecting", annotations)
        else log(LogLevel.Warning, "discord connection closed; reconnecting", annotations)
      }
    }

    const requests = new Map<number, (outcome: Either.Either<void, string>) => void>()
    let nextRequest = 0
    /** Set when the thread has stopped: no request would ever be answered. */
    let exited = false
    const request = (command: Command) =>
      Effect.async<void, string>((resume) => {
        if (exited) return resume(Either.left("the Discord connection's thread has stopped"))
        const id = nextRequest++
        requests.set(id, (outcome) => resume(outcome))
        worker.postMessage({ ...command, request: id } satisfies ToWorker)
        return Effect.sync(() => requests.delete(id))
      })

    worker.on("message", (message: ToMain) => {
      switch (message.type) {
        case "dispatches":
          Queue.unsafeOffer(dispatches, {
            size: message.count,
            envelopes: () => toEnvelopes(message.dispatches),
          })
          for (const [id, info] of message.sessions) session.update(id, info)
          return
        case "interaction":
          Queue.unsafeOffer(interactions, message.data)
          return
        case "ready":
          return log(LogLevel.Info, "discord ready", {
            discordShardId: message.discordShardId,
            guilds: message.guilds,
            ...connected(message.discordShardId),
          })
        case "resumed":
          return log(LogLevel.Info, "discord resumed", {
            discordShardId: message.discordShardId,
            ...connected(message.discordShardId),
          })
        case "socketError":
          socketErrors.set(message.discordShardId, message.message)
          return
        case "closed": {
          closed(message.discordShardId, message.code, message.asked)
          const reason = FATAL_CLOSE_CODES.get(message.code)
          if (reason !== undefined) {
            fail(
              new DiscordFatal({
                reason: `Discord closed shard ${message.discordShardId} with ${message.code}: ${reason}`,
                discordShardId: message.discordShardId,
                closeCode: message.code,
              }),
            )
          }
          return
        }
        case "error":
          return fail(
            new DiscordFatal({
              reason: `Discord shard ${message.discordShardId} stopped: ${message.message}`,
              discordShardId: message.discordShardId,
            }),
          )
        case "restRefused":
          return fail(
            new DiscordFatal({
              reason: `Discord's REST API refused the token (401 on ${message.method} ${message.route}): check DISCORD_TOKEN`,
            }),
          )
        case "done":
        case "failed": {
          const resolve = requests.get(message.request)
          requests.delete(message.request)
          resolve?.(message.type === "done" ? Either.right(undefined) : Either.left(message.error))
          return
        }
      }
    })
    worker.on("error", (error) =>
      fail(
        new DiscordFatal({ reason: `the Discord connection's thread failed: ${error.message}` }),
      ),
    )
    worker.on("exit", (code) => {
      exited = true
      for (const answer of requests.values()) {
        answer(Either.left("the Discord connection's thread has stopped"))
      }
      requests.clear()
      if (!stopping) {
        fail(
          new DiscordFatal({
            reason: `the Discord connection's thread stopped (exit code ${code})`,
          }),
        )
      }
    })

    const connect = request({ type: "connect" }).pipe(
      Effect.catchAll(
        (error): Effect.Effect<never, string | DiscordFatal> =>
          Deferred.isDone(fatal).pipe(
            Effect.flatMap(
              (done): Effect.Effect<never, string | DiscordFatal> =>
                done
                  ? Deferred.await(fatal)
                  : Effect.logWarning("cannot connect to Discord; retrying").pipe(
                      Effect.annotateLogs("error", String(error)),
                      Effect.zipRight(Effect.fail(error)),
                    ),
            ),
          ),
      ),
      Effect.retry({
        schedule: Schedule.exponential("500 millis").pipe(
          Schedule.either(Schedule.spaced("30 seconds")),
        ),
        while: (error) => typeof error === "string",
      }),
      Effect.catchAll((error) =>
        typeof error === "string" ? Effect.die(new Error(error)) : Effect.fail(error),
      ),
      Effect.raceFirst(Deferred.await(fatal)),
      Effect.tap(() =>
        Effect.logInfo("discord connected").pipe(
          Effect.annotateLogs({ discordShardIds: discordShardIds.join(","), discordShardCount }),
        ),
      ),
    )

    const destroy = (options: { readonly code: number; readonly reason: string }) =>
      // Interruptible, so that the limit holds in a finalizer too (a close handshake can hang).
      Effect.interruptible(
        Effect.suspend(() => {
          closing = true
          return request({ type: "destroy", ...options })
        }),
      ).pipe(Effect.timeout(Duration.seconds(5)), Effect.ignore)

    // Whatever happened before, the sockets close when the scope does.
    yield* Effect.addFinalizer(() => destroy({ code: RESUMABLE_CLOSE_CODE, reason: "stopping" }))

    return Discord.of({
      rest,
      discordShardIds,
      discordShardCount,
      dispatches,
      interactions,
      sync: Effect.orDie(request({ type: "sync" })),
      taken: (count) => {
        Atomics.sub(backlog, 0, count)
        Atomics.notify(backlog, 0)
      },
      restored,
      connect,
      fatal: Deferred.await(fatal),
      sessionInfo: (discordShardId) => session.retrieve(discordShardId),
      stopping: Effect.sync(() => {
        closing = true
      }),
      closeResumable: destroy({ code: RESUMABLE_CLOSE_CODE, reason: "stopping; will resume" }),
      shardStates: Effect.sync(() => new Map(shardStates)),
    })
  })

export const layer = (options: DiscordOptions = {}) => Layer.scoped(Discord, make(options))
