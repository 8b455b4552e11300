import * as Reactivity from "@effect/experimental/Reactivity"
import type { SqlClient } from "@effect/sql/SqlClient"
import * as SqlClientTag from "@effect/sql/SqlClient"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import {
  Clock,
  Config,
  ConfigError,
  Context,
  Data,
  Duration,
  Effect,
  Either,
  Layer,
  Redacted,
  Scope,
  SynchronizedRef,
} from "effect"
import { identity } from "effect/Function"
import * as DatabaseUrl from "./DatabaseUrl"

/**
 * A DB shard that is not configured (`unknown`), whose server cannot be reached right now
 * (`unreachable`), or whose server answered but refused the login or has no such database
 * (`refused`: the user, password or database in `SHARD_DATABASE_URLS`, or the server's grants).
 */
export class ShardUnavailable extends Data.TaggedError("ShardUnavailable")<{
  readonly dbShardId: number
  readonly reason: "unknown" | "unreachable" | "refused"
  readonly cause?: unknown
}> {
  override get message() {
    const shard = `DB shard ${this.dbShardId}`
    return this.reason === "unknown"
      ? `${shard} is not configured`
      : this.reason === "unreachable"
        ? `${shard} cannot be reached`
        : `${shard} refused the login or has no such database (check SHARD_DATABASE_URLS)`
  }
}

/** MySQL's answers to a connect that reached the server: access denied, unknown database. */
const refusedCodes: ReadonlySet<string> = new Set([
  "ER_ACCESS_DENIED_ERROR",
  "ER_ACCESS_DENIED_NO_PASSWORD_ERROR",
  "ER_DBACCESS_DENIED_ERROR",
  "ER_BAD_DB_ERROR",
])

/** Whether a failed connect (an `SqlError` or mysql2's own error) was the server refusing it. */
export const isRefusal = (error: unknown): boolean => {
  let cause: unknown = error
  // SqlError wraps mysql2's error in `cause`.
  for (let depth = 0; depth < 3 && typeof cause === "object" && cause !== null; depth++) {
    const code = (cause as { readonly code?: unknown }).code
    if (typeof code === "string" && refusedCodes.has(code)) return true
    cause = (cause as { readonly cause?: unknown }).cause
  }
  return false
}

/** One `SqlClient` per DB shard, keyed by the shard's explicit id. */
export class ShardClients extends Context.Tag("@tally/sql/ShardClients")<
  ShardClients,
  {
    readonly ids: ReadonlyArray<number>
    /** The shard's client; connects on first use if the server was down so far. */
    readonly get: (dbShardId: number) => Effect.Effect<SqlClient, ShardUnavailable>
  }
>() {}

/** Runs `effect` with the `SqlClient` of one DB shard. */
export const use = <A, E, R>(
  dbShardId: number,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, E | ShardUnavailable, ShardClients | Exclude<R, SqlClient>> =>
  Effect.flatMap(ShardClients, (shards) => shards.get(dbShardId)).pipe(
    Effect.flatMap((client) => Effect.provideService(effect, SqlClientTag.SqlClient, client)),
  )

/** `0=mysql://…,1=mysql://…`: explicit ids, never list positions. */
export const parseShardUrls = (
  text: string,
): Either.Either<ReadonlyMap<number, DatabaseUrl.DatabaseConfig>, string> => {
  const shards = new Map<number, DatabaseUrl.DatabaseConfig>()
  for (const entry of text.split(",").map((part) => part.trim())) {
    if (entry === "") continue
    const match = /^(\d+)=(.+)$/.exec(entry)
    if (match === null) return Either.left("each entry must read <id>=mysql://…")
    const dbShardId = Number(match[1])
    if (shards.has(dbShardId)) return Either.left(`DB shard ${dbShardId} is listed twice`)
    const config = DatabaseUrl.parse(match[2]!)
    if (Either.isLeft(config)) {
      return Either.left(`DB shard ${dbShardId}: ${config.left.reason}`)
    }
    shards.set(dbShardId, config.right)
  }
  return shards.size === 0 ? Either.left("no DB shard given") : Either.right(shards)
}

export const defaultShardUrls =
  "0=mysql://root@127.0.0.1:3306/tally_shard_0,1=mysql://root@127.0.0.1:3306/tally_shard_1"

/** `SHARD_DATABASE_URLS`, read as a secret. */
export const shardUrlsConfig: Config.Config<ReadonlyMap<number, DatabaseUrl.DatabaseConfig>> =
  Config.redacted("SHARD_DATABASE_URLS").pipe(
    Config.withDefault(Redacted.make(defaultShardUrls)),
    Config.mapOrFail((urls) =>
      Either.mapLeft(parseShardUrls(Redacted.value(urls)), (reason) =>
        ConfigError.InvalidData(["SHARD_DATABASE_URLS"], reason),
      ),
    ),
  )

export interface Options {
  readonly maxConnections?: number
  /** After a failed connect, `get` fails at once for this long before trying again. */
  readonly retryAfter?: Duration.DurationInput
}

export const make = (
  shards: ReadonlyMap<number, DatabaseUrl.DatabaseConfig>,
  options?: Options,
): Effect.Effect<Context.Tag.Service<ShardClients>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const reactivity = yield* Reactivity.make

    const connect = (dbShardId: number, config: DatabaseUrl.DatabaseConfig) =>
      MysqlClient.make(DatabaseUrl.clientConfig(config, options)).pipe(
        Effect.provideService(Reactivity.Reactivity, reactivity),
        Scope.extend(scope),
        Effect.mapError(
          (cause) =>
            new ShardUnavailable({
              dbShardId,
              reason: isRefusal(cause) ? "refused" : "unreachable",
              cause,
            }),
        ),
      )

    // `MysqlClient.make` fails when its first query fails, so a shard that is down at start gets
    // its client on a later `get`. The ref serialises attempts; after a failed one, callers fail
    // at once for `retryAfter` instead of each waiting for a connect timeout.
    const retryAfter = Duration.toMillis(options?.retryAfter ?? "2 seconds")
    type State =
      | { readonly _tag: "Connected"; readonly client: SqlClient }
      | { readonly _tag: "Down"; readonly at: number; readonly error: ShardUnavailable }
      | { readonly _tag: "New" }
    const clients = new Map<number, Effect.Effect<SqlClient, ShardUnavailable>>()
    for (const [dbShardId, config] of shards) {
      const ref = yield* SynchronizedRef.make<State>({ _tag: "New" })
      clients.set(
        dbShardId,
        SynchronizedRef.modifyEffect(
          ref,
          (state): Effect.Effect<readonly [Either.Either<SqlClient, ShardUnavailable>, State]> =>
            Effect.gen(function* () {
              if (state._tag === "Connected") return [Either.right(state.client), state] as const
              const now = yield* Clock.currentTimeMillis
              if (state._tag === "Down" && now - state.at < retryAfter) {
                return [Either.left(state.error), state] as const
              }
              return yield* connect(dbShardId, config).pipe(
                Effect.map(
                  (client) => [Either.right(client), { _tag: "Connected", client }] as const,
                ),
                Effect.catchAll((error) =>
                  Effect.map(
                    Clock.currentTimeMillis,
                    (at) => [Either.left(error), { _tag: "Down", at, error }] as const,
                  ),
                ),
              )
            }),
        ).pipe(Effect.flatMap(identity)),
      )
    }

    const get = (dbShardId: number): Effect.Effect<SqlClient, ShardUnavailable> =>
      clients.get(dbShardId) ?? Effect.fail(new ShardUnavailable({ dbShardId, reason: "unknown" }))

    yield* Effect.forEach(
      clients.keys(),
      (dbShardId) =>
        get(dbShardId).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning(`${error.message} at start; connecting again on first use`).pipe(
              Effect.annotateLogs({ dbShardId, cause: String(error.cause) }),
            ),
          ),
        ),
      { concurrency: "unbounded", discard: true },
    )

    return { ids: [...clients.keys()].sort((a, b) => a - b), get }
  })

/** Shards from `SHARD_DATABASE_URLS` (default: shards 0 and 1 on the local server). */
export const layer = (options?: Options): Layer.Layer<ShardClients, ConfigError.ConfigError> =>
  Layer.scoped(
    ShardClients,
    Effect.flatMap(shardUrlsConfig, (shards) => make(shards, options)),
  )

/** Shards from explicit URLs, e.g. throwaway test databases. */
export const layerFromUrls = (
  urls: ReadonlyMap<number, Redacted.Redacted | string>,
  options?: Options,
): Layer.Layer<ShardClients, DatabaseUrl.InvalidDatabaseUrl> =>
  Layer.scoped(
    ShardClients,
    Effect.gen(function* () {
      const shards = new Map<number, DatabaseUrl.DatabaseConfig>()
      for (const [dbShardId, url] of urls) {
        shards.set(dbShardId, yield* DatabaseUrl.parse(url))
      }
      return yield* make(shards, options)
    }),
  )
