/**
 * The gateway's client for the manager. Routes are cached for the life of the process (a route
 * never changes); lookups that miss the cache within a few milliseconds of each other, from any
 * fibers, share one batch call.
 */
import {
  HttpApiClient,
  type HttpClient,
  type HttpClientError,
  HttpClient as HttpClientOps,
  HttpClientRequest,
} from "@effect/platform"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import * as ManagerApi from "@tally/domain/ManagerApi"
import type * as Snowflake from "@tally/domain/Snowflake"
import {
  Config,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberId,
  FiberSet,
  Layer,
  Option,
  Redacted,
  type Scope,
} from "effect"
import { readTokenFile, TOKEN_FILE } from "./ManagerToken"

/**
 * The manager could not be reached or could not answer now; retrying later may succeed. Carries
 * no HTTP error as its cause: those hold the request, and so the bearer token.
 */
export class ManagerUnavailable extends Data.TaggedError("ManagerUnavailable")<{
  readonly reason: string
}> {
  readonly retryable = true
  override get message() {
    return this.reason
  }
}

/** The manager refused the request (wrong token, invalid request); retrying will not help. */
export class ManagerRejected extends Data.TaggedError("ManagerRejected")<{
  readonly reason: string
}> {
  readonly retryable = false
  override get message() {
    return this.reason
  }
}

export type ManagerError = ManagerUnavailable | ManagerRejected

export interface Options {
  readonly url: string
  readonly token: Redacted.Redacted<string>
  /** How long lookups wait for others to join their batch (default 5 ms). */
  readonly batchWindow?: Duration.DurationInput
  /** Each call's time limit (default 5 s); a call that takes longer is `ManagerUnavailable`. */
  readonly timeout?: Duration.DurationInput
}

export class ManagerClient extends Context.Tag("@tally/manager/ManagerClient")<
  ManagerClient,
  {
    /** The DB shard of a guild; assigned by the manager on the first ask, then cached. */
    readonly guildRoute: (guildId: Snowflake.Snowflake) => Effect.Effect<number, ManagerError>
    /**
     * The DB shard of a guild the manager has routed before, none for one it never has; never
     * assigns a route (for read-only tools).
     */
    readonly existingGuildRoute: (
      guildId: Snowflake.Snowflake,
    ) => Effect.Effect<Option.Option<number>, ManagerError>
    /** The DB shard of a user; assigned by the manager on the first ask, then cached. */
    readonly userRoute: (userId: Snowflake.Snowflake) => Effect.Effect<number, ManagerError>
    /** A route already known to this process, without asking. */
    readonly cachedGuildRoute: (guildId: Snowflake.Snowflake) => Option.Option<number>
    readonly heartbeat: (
      instanceId: string,
      heartbeat: ManagerApi.Heartbeat,
    ) => Effect.Effect<void, ManagerError>
    readonly dbShards: Effect.Effect<ReadonlyArray<ManagerApi.DbShard>, ManagerError>
    readonly gateways: Effect.Effect<ReadonlyArray<ManagerApi.Gateway>, ManagerError>
  }
>() {}

const describe = (error: { readonly description?: string | undefined }) =>
  error.description === undefined ? "" : ` (${error.description})`

const toManagerError = (error: unknown): ManagerError => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) {
    return new ManagerUnavailable({ reason: "unexpected failure" })
  }
  switch (error._tag) {
    case "Unauthorized":
      return new ManagerRejected({ reason: (error as ManagerApi.Unauthorized).reason })
    case "HttpApiDecodeError":
      return new ManagerRejected({ reason: "the manager refused the request as invalid" })
    case "RoutingUnavailable":
      return new ManagerUnavailable({ reason: (error as ManagerApi.RoutingUnavailable).reason })
    case "TimeoutException":
      return new ManagerUnavailable({ reason: "the manager did not answer in time" })
    case "RequestError":
      return new ManagerUnavailable({
        reason: `the manager cannot be reached${describe(error as HttpClientError.RequestError)}`,
      })
    case "ResponseError": {
      const status = (error as HttpClientError.ResponseError).response.status
      return new ManagerUnavailable({ reason: `the manager answered with status ${status}` })
    }
    default:
      return new ManagerUnavailable({ reason: `unexpected answer (${String(error._tag)})` })
  }
}

/**
 * A process-long cache of routes in front of a batch call: misses from any fibers within `window`
 * of the first one are sent together, at most MAX_BATCH ids per call; an id already on its way
 * is not asked again.
 *
 * Hand-written rather than Effect's `Request` batching with `@effect/experimental`'s
 * `dataLoader`: measured here, that spent about 0.8 s of CPU per 1,000 lookups before any I/O.
 */
const makeRouteCache = (
  fetch: (
    ids: ReadonlyArray<Snowflake.Snowflake>,
  ) => Effect.Effect<ReadonlyArray<readonly [Snowflake.Snowflake, number]>, ManagerError>,
  window: Duration.DurationInput,
) =>
  Effect.gen(function* () {
    const routes = new Map<string, number>()
    const waiting = new Map<string, Deferred.Deferred<number, ManagerError>>()
    let queued: Array<Snowflake.Snowflake> = []
    let timer: Fiber.RuntimeFiber<void> | undefined
    const run = yield* FiberSet.makeRuntime<never>()

    const send = (ids: ReadonlyArray<Snowflake.Snowflake>) =>
      fetch(ids).pipe(
        Effect.match({
          onFailure: (error) => {
            for (const id of ids) settle(id, Exit.fail(error))
          },
          onSuccess: (found) => {
            for (const [id, dbShardId] of found) routes.set(id, dbShardId)
            for (const id of ids) {
              const dbShardId = routes.get(id)
              settle(
                id,
                dbShardId === undefined
                  ? Exit.fail(new ManagerUnavailable({ reason: "the manager left out a route" }))
                  : Exit.succeed(dbShardId),
              )
            }
          },
        }),
      )

    const settle = (id: string, exit: Exit.Exit<number, ManagerError>) => {
      const deferred = waiting.get(id)
      waiting.delete(id)
      if (deferred !== undefined) Deferred.unsafeDone(deferred, exit)
    }

    const flush = () => {
      const ids = queued
      queued = []
      timer = undefined
      if (ids.length > 0) run(send(ids))
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        const closed = Exit.fail(
          new ManagerUnavailable({ reason: "the manager client was closed" }),
        )
        for (const id of [...waiting.keys()]) settle(id, closed)
      }),
    )

    const lookup = (id: Snowflake.Snowflake): Effect.Effect<number, ManagerError> =>
      Effect.suspend(() => {
        const cached = routes.get(id)
        if (cached !== undefined) return Effect.succeed(cached)
        let deferred = waiting.get(id)
        if (deferred === undefined) {
          deferred = Deferred.unsafeMake<number, ManagerError>(FiberId.none)
          waiting.set(id, deferred)
          queued.push(id)
          if (queued.length >= ManagerApi.MAX_BATCH) {
            if (timer !== undefined) run(Fiber.interrupt(timer))
            flush()
          } else if (timer === undefined) {
            timer = run(Effect.sleep(window).pipe(Effect.andThen(flush)))
          }
        }
        return Deferred.await(deferred)
      })
    const peek = (id: Snowflake.Snowflake) => Option.fromNullable(routes.get(id))

    return { lookup, peek } as const
  })

export const make = (
  options: Options,
): Effect.Effect<Context.Tag.Service<ManagerClient>, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const timeout = options.timeout ?? Duration.seconds(5)
    const window = options.batchWindow ?? Duration.millis(5)
    const client = yield* HttpApiClient.make(ManagerApi.Api, {
      baseUrl: options.url,
      transformClient: HttpClientOps.mapRequest(
        HttpClientRequest.bearerToken(Redacted.value(options.token)),
      ),
    })
    const call = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, ManagerError> =>
      effect.pipe(Effect.timeout(timeout), Effect.mapError(toManagerError))

    const guilds = yield* makeRouteCache(
      (guildIds) =>
        Effect.map(call(client.routes.guilds({ payload: { guildIds } })), ({ routes }) =>
          routes.map((route) => [route.guildId, route.dbShardId] as const),
        ),
      window,
    )
    const users = yield* makeRouteCache(
      (userIds) =>
        Effect.map(call(client.routes.users({ payload: { userIds } })), ({ routes }) =>
          routes.map((route) => [route.userId, route.dbShardId] as const),
        ),
      window,
    )

    return {
      guildRoute: guilds.lookup,
      userRoute: users.lookup,
      existingGuildRoute: (guildId) =>
        Effect.suspend(() => {
          const cached = guilds.peek(guildId)
          if (Option.isSome(cached)) return Effect.succeed(cached)
          return client.routes.existingGuild({ path: { guildId } }).pipe(
            Effect.map((route) => Option.some(route.dbShardId)),
            Effect.catchTag("GuildNotRouted", () => Effect.succeedNone),
            call,
          )
        }),
      cachedGuildRoute: guilds.peek,
      heartbeat: (instanceId, heartbeat) =>
        call(client.gateways.heartbeat({ path: { instanceId }, payload: heartbeat })),
      dbShards: Effect.map(call(client.shards.list()), ({ shards }) => shards),
      gateways: Effect.map(call(client.gateways.list()), ({ gateways }) => gateways),
    }
  })

export const layer = (options: Options): Layer.Layer<ManagerClient, never, HttpClient.HttpClient> =>
  Layer.scoped(ManagerClient, make(options))

/** MANAGER_URL (http://127.0.0.1:3005) and MANAGER_TOKEN (else `.tally/manager.token`). */
export const config = Effect.gen(function* () {
  const url = yield* Config.string("MANAGER_URL").pipe(Config.withDefault("http://127.0.0.1:3005"))
  const configured = yield* Config.option(Config.redacted("MANAGER_TOKEN"))
  const token = Option.isSome(configured)
    ? configured.value
    : yield* readTokenFile.pipe(
        Effect.provide(NodeContext.layer),
        Effect.mapError(
          () =>
            new ManagerRejected({
              reason: `MANAGER_TOKEN is not set and ${TOKEN_FILE} cannot be read`,
            }),
        ),
      )
  return { url, token }
})

/** From MANAGER_URL and MANAGER_TOKEN, over Node's HTTP client. */
export const layerConfig = Layer.scoped(ManagerClient, Effect.flatMap(config, make)).pipe(
  Layer.provide(NodeHttpClient.layerUndici),
)
