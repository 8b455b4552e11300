/**
 * What counting needs to know of a guild beyond the Discord state: its DB shard (the manager's
 * route) and its settings, role settings and channel settings from that DB shard. Loaded once and
 * cached; a load that fails (manager or DB shard down) is retried on a schedule, never given up,
 * and never replaced by made-up settings. Also the bounded queue events wait in meanwhile.
 */

import type { SqlClient } from "@effect/sql/SqlClient"
import type { GuildRules } from "@tally/domain/Award"
import type { Snowflake } from "@tally/domain/Snowflake"
import { ManagerClient } from "@tally/manager/ManagerClient"
import * as Settings from "@tally/sql/Settings"
import * as ShardClients from "@tally/sql/ShardClients"
import {
  Context,
  Deferred,
  Duration,
  Effect,
  FiberId,
  FiberMap,
  FiberSet,
  Layer,
  Option,
  Schedule,
} from "effect"

/** A guild's rules (the award decisions' input) and the DB shard it lives on. */
export interface GuildContextData extends GuildRules {
  readonly dbShardId: number
}

export class GuildContext extends Context.Tag("@tally/gateway/GuildContext")<
  GuildContext,
  {
    /** The context if it is loaded; never waits. */
    readonly cached: (guildId: Snowflake) => Option.Option<GuildContextData>
    /** The context, loading it first if needed; waits through outages, never fails. */
    readonly load: (guildId: Snowflake) => Effect.Effect<GuildContextData>
    /**
     * Drops the cached context: the next `load` reads it again. Call it when the guild's settings,
     * roles or channels change (config commands) or the guild is gone.
     */
    readonly forget: (guildId: Snowflake) => Effect.Effect<void>
    /** Drops the role from the cache now, and its settings row in the background. */
    readonly roleDeleted: (guildId: Snowflake, roleId: Snowflake) => Effect.Effect<void>
  }
>() {}

export interface Options {
  /** The first retry's delay; it doubles up to `maxRetryDelay` (default 200 ms, 30 s). */
  readonly retryDelay?: Duration.DurationInput
  readonly maxRetryDelay?: Duration.DurationInput
}

const retrySchedule = (options: Options) =>
  Schedule.exponential(options.retryDelay ?? Duration.millis(200)).pipe(
    Schedule.union(Schedule.spaced(options.maxRetryDelay ?? Duration.seconds(30))),
  )

export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const manager = yield* ManagerClient
    const shards = yield* ShardClients.ShardClients

    const contexts = new Map<string, GuildContextData>()
    const loading = new Map<string, Deferred.Deferred<GuildContextData>>()
    const loaders = yield* FiberSet.make()
    const background = yield* FiberMap.make<string>()

    const onShard = <A, E>(dbShardId: number, effect: Effect.Effect<A, E, SqlClient>) =>
      ShardClients.use(dbShardId, effect).pipe(
        Effect.provideService(ShardClients.ShardClients, shards),
      )

    const read = (guildId: Snowflake) =>
      Effect.gen(function* () {
        const dbShardId = yield* manager.guildRoute(guildId)
        const [settings, roles, channels] = yield* onShard(
          dbShardId,
          Effect.all([
            Settings.guild(guildId),
            Settings.roles(guildId),
            Settings.channels(guildId),
          ]),
        )
        return {
          guildId,
          dbShardId,
          settings,
          roles: new Map(roles.map((role) => [role.roleId, role])),
          channels: new Map(channels.map((channel) => [channel.channelId, channel])),
        } satisfies GuildContextData
      }).pipe(
        Effect.tapError((error) =>
          Effect.logWarning("guild context unavailable; retrying").pipe(
            Effect.annotateLogs({ reason: describe(error) }),
          ),
        ),
        Effect.retry(retrySchedule(options)),
        Effect.orDie,
        Effect.annotateLogs({ guildId }),
        Effect.withLogSpan("GuildContext.load"),
      )

    const load = (guildId: Snowflake): Effect.Effect<GuildContextData> =>
      Effect.suspend(() => {
        const known = contexts.get(guildId)
        if (known !== undefined) return Effect.succeed(known)
        const inFlight = loading.get(guildId)
        if (inFlight !== undefined) return Deferred.await(inFlight)
        const done = Deferred.unsafeMake<GuildContextData>(FiberId.none)
        loading.set(guildId, done)
        return FiberSet.run(
          loaders,
          read(guildId).pipe(
            Effect.tap((context) =>
              Effect.sync(() => {
                if (loading.get(guildId) === done) {
                  contexts.set(guildId, context)
                  loading.delete(guildId)
                }
              }),
            ),
            Effect.exit,
            Effect.flatMap((exit) => Deferred.done(done, exit)),
          ),
        ).pipe(Effect.zipRight(Deferred.await(done)))
      })

    // A load in flight is not interrupted: whoever waits for it still gets its answer; it is just
    // not cached, so the next `load` reads the guild again.
    const forget = (guildId: Snowflake) =>
      Effect.sync(() => {
        contexts.delete(guildId)
        loading.delete(guildId)
      })

    const roleDeleted = (guildId: Snowflake, roleId: Snowflake) =>
      Effect.suspend(() => {
        const known = contexts.get(guildId)
        if (known?.roles.has(roleId)) {
          const roles = new Map(known.roles)
          roles.delete(roleId)
          contexts.set(guildId, { ...known, roles })
        }
        const deleteRow = Effect.gen(function* () {
          const dbShardId = yield* manager.guildRoute(guildId)
          yield* onShard(dbShardId, Settings.deleteRole(guildId, roleId))
        }).pipe(
          Effect.tapError((error) =>
            Effect.logWarning("cannot delete the role's settings yet; retrying").pipe(
              Effect.annotateLogs({ reason: describe(error) }),
            ),
          ),
          Effect.retry(retrySchedule(options)),
          Effect.catchAllCause((cause) => Effect.logError("role settings not deleted", cause)),
          Effect.annotateLogs({ guildId, roleId }),
        )
        return FiberMap.run(background, `${guildId}/${roleId}`, deleteRow, { onlyIfMissing: true })
      }).pipe(Effect.asVoid)

    return {
      cached: (guildId) => Option.fromNullable(contexts.get(guildId)),
      load,
      forget,
      roleDeleted,
    } satisfies Context.Tag.Service<GuildContext>
  })

const describe = (error: unknown): string =>
  // Its reason is a word ("refused"); its message names the shard and the setting to check.
  error instanceof ShardClients.ShardUnavailable
    ? error.message
    : typeof error === "object" && error !== null && "reason" in error
      ? String((error as { reason: unknown }).reason)
      : typeof error === "object" && error !== null && "_tag" in error
        ? String((error as { _tag: unknown })._tag)
        : String(error)

export const layer = (
  options: Options = {},
): Layer.Layer<GuildContext, never, ManagerClient | ShardClients.ShardClients> =>
  Layer.scoped(GuildContext, make(options))
