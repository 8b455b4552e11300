/**
 * The Discord connection: `@discordjs/rest` (pointed at `DISCORD_API_URL` when set) and an
 * `@discordjs/ws` `WebSocketManager` with the simple sharding strategy. Dispatches are bridged into
 * an unbounded queue in arrival order (`emit` does not wait for listeners, so the queue is the
 * backpressure point). Close codes that end a session for good (4004, 4010–4014) and a REST 401
 * complete `fatal`, which main turns into a non-zero exit with a clear message.
 */
import { REST, RESTEvents } from "@discordjs/rest"
import {
  type SessionInfo,
  WebSocketManager,
  type WebSocketShardDestroyOptions,
  WebSocketShardEvents,
} from "@discordjs/ws"
import {
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Layer,
  Option,
  Queue,
  Redacted,
  Runtime,
  Schedule,
} from "effect"
import { GatewayConfig, shardCountOf } from "./Config"
import type { Envelope } from "./Dispatch"
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
    readonly manager: WebSocketManager
    readonly discordShardIds: ReadonlyArray<number>
    readonly discordShardCount: number
    /** Dispatches in arrival order; consumed by `Dispatch.run`. */
    readonly dispatches: Queue.Dequeue<Envelope>
    /** What the previous process saved for these shards (read once at start). */
    readonly restored: ReadonlyMap<number, SavedSession>
    /** Connects every shard (resuming a restored session); resolves once all are READY/RESUMED. */
    readonly connect: Effect.Effect<void, DiscordFatal>
    /** Fails when the connection cannot go on (fatal close code, REST 401). */
    readonly fatal: Effect.Effect<never, DiscordFatal>
    /** The library's current session of a shard (sequence = last received). */
    readonly sessionInfo: (discordShardId: number) => SessionInfo | null
    /** Closes every shard with a resumable code; the session stays valid for a later RESUME. */
    readonly closeResumable: Effect.Effect<void>
  }
>() {}

/** The Discord shard that carries a guild. */
export const discordShardOf = (guildId: string, discordShardCount: number): number =>
  Number((BigInt(guildId) >> 22n) % BigInt(discordShardCount))

export interface DiscordOptions {
  /**
   * Skip the 5 s identify throttle between shards. Only for a local Discord (the simulator),
   * which does not limit identifies; real Discord needs the throttle.
   */
  readonly skipIdentifyThrottle?: boolean
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
        onSome: (api) => ({ api: api.replace(/\/+$/, "") }),
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
        ),
    })
    const discordShardIds = Option.getOrElse(config.discordShardIds, () =>
      Array.from({ length: discordShardCount }, (_, id) => id),
    )
    const restored = yield* session.load(discordShardIds)

    const dispatches = yield* Effect.acquireRelease(Queue.unbounded<Envelope>(), Queue.shutdown)

    const manager = new WebSocketManager({
      token,
      intents: INTENTS,
      rest,
      shardCount: discordShardCount,
      shardIds: [...discordShardIds],
      retrieveSessionInfo: (discordShardId) => session.retrieve(discordShardId),
      updateSessionInfo: (discordShardId, info) => session.update(discordShardId, info),
      ...(options.skipIdentifyThrottle
        ? {
            buildIdentifyThrottler: () =>
              Promise.resolve({ waitForIdentify: () => Promise.resolve() }),
          }
        : {}),
    })

    manager.on(WebSocketShardEvents.Dispatch, (payload, discordShardId) => {
      Queue.unsafeOffer(dispatches, {
        discordShardId,
        sequence: payload.s,
        event: payload.t,
        // A message is reduced here, so its parsed payload dies young (see `Payloads`).
        data: payload.t === "MESSAGE_CREATE" ? Payloads.arrived(payload.d) : payload.d,
      })
    })
    manager.on(WebSocketShardEvents.Closed, (code, discordShardId) => {
      const reason = FATAL_CLOSE_CODES.get(code)
      if (reason !== undefined) {
        fail(
          new DiscordFatal({
            reason: `Discord closed shard ${discordShardId} with ${code}: ${reason}`,
            discordShardId,
            closeCode: code,
          }),
        )
      }
    })
    manager.on(WebSocketShardEvents.Error, (error, discordShardId) => {
      fail(
        new DiscordFatal({
          reason: `Discord shard ${discordShardId} stopped: ${error.message}`,
          discordShardId,
        }),
      )
    })

    const runtime = yield* Effect.runtime<never>()
    const log = (message: string, annotations: Record<string, unknown>) =>
      Runtime.runFork(runtime)(Effect.logInfo(message).pipe(Effect.annotateLogs(annotations)))
    manager.on(WebSocketShardEvents.Ready, (data, discordShardId) =>
      log("discord ready", { discordShardId, guilds: data.guilds.length }),
    )
    manager.on(WebSocketShardEvents.Resumed, (discordShardId) =>
      log("discord resumed", { discordShardId }),
    )

    const connect = Effect.tryPromise({
      try: () => manager.connect(),
      catch: (error) => error,
    }).pipe(
      Effect.catchAll((error) =>
        Deferred.isDone(fatal).pipe(
          Effect.flatMap((done) =>
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
        while: (error) => !(error instanceof DiscordFatal),
      }),
      Effect.catchAll((error) =>
        error instanceof DiscordFatal ? Effect.fail(error) : Effect.die(error),
      ),
      Effect.raceFirst(Deferred.await(fatal)),
      Effect.tap(() =>
        Effect.logInfo("discord connected").pipe(
          Effect.annotateLogs({ discordShardIds: discordShardIds.join(","), discordShardCount }),
        ),
      ),
    )

    const destroy = (options: WebSocketShardDestroyOptions) =>
      Effect.promise(async () => {
        await manager.destroy(options)
      }).pipe(Effect.timeout(Duration.seconds(5)), Effect.ignore)

    // Whatever happened before, the sockets close when the scope does.
    yield* Effect.addFinalizer(() => destroy({ code: RESUMABLE_CLOSE_CODE, reason: "stopping" }))

    return Discord.of({
      rest,
      manager,
      discordShardIds,
      discordShardCount,
      dispatches,
      restored,
      connect,
      fatal: Deferred.await(fatal),
      sessionInfo: (discordShardId) => session.retrieve(discordShardId),
      closeResumable: destroy({ code: RESUMABLE_CLOSE_CODE, reason: "stopping; will resume" }),
    })
  })

export const layer = (options: DiscordOptions = {}) => Layer.scoped(Discord, make(options))
