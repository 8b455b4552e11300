/**
 * A whole stack for the voice, vote and level-up suites: throwaway MariaDB databases, the manager,
 * the simulator over a real WebSocket, and the gateway's live layers with the voice tracker, the
 * votes and the level-up jobs on top. The gateway reads a clock the test moves forward (voice
 * minutes and vote cooldowns follow it); its sleeps take real time.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import type { SimEvent } from "@tally/discord-sim/Events"
import type { WorldSpec } from "@tally/discord-sim/World"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Clock, ConfigProvider, Context, Duration, Effect, Layer, Option, Queue } from "effect"
import { Accrual } from "../src/Accrual"
import { Counter } from "../src/Counter"
import { Discord } from "../src/Discord"
import { Dispatch, type Envelope } from "../src/Dispatch"
import { Flusher } from "../src/Flusher"
import { GuildContext } from "../src/GuildContext"
import * as LevelUps from "../src/LevelUps"
import * as Live from "../src/Live"
import * as LocalStack from "../src/LocalStack"
import * as VoiceTracker from "../src/VoiceTracker"
import * as Votes from "../src/Votes"
import { temporaryDirectory, throwawayDatabases } from "./support/stack"

/** Real time plus an offset the test moves forward. */
export const offsetClock = () => {
  let offset = 0
  const real = Clock.make()
  const now = () => Date.now() + offset
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: now,
    currentTimeMillis: Effect.sync(now),
    unsafeCurrentTimeNanos: () => BigInt(now()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now()) * 1_000_000n),
    sleep: (duration) => real.sleep(duration),
  }
  return {
    clock,
    advance: (duration: Duration.DurationInput) =>
      Effect.sync(() => {
        offset += Duration.toMillis(duration)
      }),
  }
}

export interface StackOptions {
  readonly world: WorldSpec
  readonly botRolePosition?: number
  /** How often the voice tracker credits on its own (default: hourly, so only `tickNow` does). */
  readonly voiceTickInterval?: Duration.DurationInput
  /** Runs on the (only) DB shard before the gateway starts: settings, stored XP. */
  readonly setup?: Effect.Effect<void, unknown, SqlClient.SqlClient>
}

/**
 * Routes what `Dispatch` does not handle yet to the voice tracker and the votes, after
 * `Dispatch.handle` has updated the guild state.
 */
// TODO: the test routes these events itself while Live lacks these services — remove when
// Dispatch calls VoiceTracker and Votes (see INTERFACE-NOTES.md, "G4 → G2").
const route = (
  envelope: Envelope,
  voice: Context.Tag.Service<VoiceTracker.VoiceTracker>,
  votes: Context.Tag.Service<Votes.Votes>,
): Effect.Effect<void> => {
  const data = envelope.data as Record<string, unknown>
  switch (envelope.event) {
    case "VOICE_STATE_UPDATE":
      return voice.voiceStateUpdate(data)
    case "GUILD_CREATE":
      return data.unavailable === true ? Effect.void : voice.guildAvailable(data)
    case "GUILD_MEMBER_UPDATE": {
      const user = data.user as { id: Snowflake }
      return voice.memberRolesUpdated(
        data.guild_id as Snowflake,
        user.id,
        data.roles as ReadonlyArray<Snowflake>,
      )
    }
    case "GUILD_DELETE":
      return voice.guildGone(data.id as Snowflake)
    case "MESSAGE_REACTION_ADD":
      return votes.reactionAdd(data)
    default:
      return Effect.void
  }
}

export const startStack = (options: StackOptions) =>
  Effect.gen(function* () {
    const dbs = yield* throwawayDatabases(1)
    const manager = yield* LocalStack.startManager(dbs)
    const shardUrl = dbs.shardUrls.get(0)!
    if (options.setup !== undefined) yield* LocalStack.withDatabase(shardUrl, options.setup)

    const sim = yield* DiscordSim.make({
      world: options.world,
      heartbeatIntervalMillis: 1000,
      ...(options.botRolePosition !== undefined
        ? { botRolePosition: options.botRolePosition }
        : {}),
    })
    const stateDirectory = yield* temporaryDirectory
    const env = LocalStack.gatewayEnv({
      sim,
      manager,
      shardUrls: dbs.shardUrls,
      discordShardCount: 1,
      stateDirectory,
    })
    const time = offsetClock()
    const live = yield* Layer.build(
      Live.layer({ stateDirectory, discord: { skipIdentifyThrottle: true } }),
    ).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(env)), Effect.withClock(time.clock))

    // Once Live builds these services (and Dispatch feeds them), the test must not add a second
    // set: two level-up subscribers would post every notice twice.
    const wired = Option.isSome(Context.getOption(live, LevelUps.LevelUps))
    const ours = wired
      ? live
      : yield* Layer.build(
          Layer.mergeAll(
            VoiceTracker.layer({ tickInterval: options.voiceTickInterval ?? Duration.hours(1) }),
            Votes.layer(),
            LevelUps.layer(),
          ),
        ).pipe(Effect.provide(live), Effect.withClock(time.clock))
    const services = ours as unknown as Context.Context<
      VoiceTracker.VoiceTracker | Votes.Votes | LevelUps.LevelUps
    >

    const discord = Context.get(live, Discord)
    const dispatch = Context.get(live, Dispatch)
    const counter = Context.get(live, Counter)
    const flusher = Context.get(live, Flusher)
    const voice = Context.get(services, VoiceTracker.VoiceTracker)
    const votes = Context.get(services, Votes.Votes)
    const levelUps = Context.get(services, LevelUps.LevelUps)

    const handled = new Map<string, number>()
    const handledIds = new Set<string>()
    yield* Effect.forkScoped(
      Queue.take(discord.dispatches).pipe(
        Effect.flatMap((envelope) =>
          dispatch.handle(envelope).pipe(
            Effect.zipRight(wired ? Effect.void : route(envelope, voice, votes)),
            Effect.zipRight(
              Effect.sync(() => {
                handled.set(envelope.event, (handled.get(envelope.event) ?? 0) + 1)
                const id = (envelope.data as { id?: unknown } | null)?.id
                if (envelope.event === "MESSAGE_CREATE" && typeof id === "string") {
                  handledIds.add(id)
                }
              }),
            ),
          ),
        ),
        Effect.forever,
      ),
    )
    yield* discord.connect

    const count = (event: string) => handled.get(event) ?? 0

    /** Waits until `event` was handled `total` times in all. */
    const awaitCount = (event: string, total: number) =>
      Effect.gen(function* () {
        while (count(event) < total) yield* Effect.sleep(Duration.millis(10))
      }).pipe(Effect.timeout(Duration.seconds(20)), Effect.orDie)

    /** Injects events and waits until the gateway handled them (by event name). */
    const injectAll = (events: ReadonlyArray<SimEvent>) =>
      Effect.gen(function* () {
        const before = new Map<string, number>()
        for (const event of events) {
          yield* sim.inject(event)
          const name = eventName(event)
          before.set(name, (before.get(name) ?? count(name)) + 1)
        }
        for (const [name, total] of before) yield* awaitCount(name, total)
      }).pipe(Effect.orDie)

    /** Waits until counting, voice, votes and level-up jobs are idle, then flushes everything. */
    const settle = Effect.gen(function* () {
      yield* voice.awaitSettled
      yield* votes.awaitSettled
      while ((yield* counter.stats).waitingEvents > 0) yield* Effect.sleep(Duration.millis(10))
      yield* levelUps.awaitIdle
      for (;;) {
        yield* flusher.flushNow
        if ((yield* flusher.stats).bufferedRows === 0) return
        yield* Effect.sleep(Duration.millis(50))
      }
    }).pipe(Effect.timeout(Duration.seconds(30)), Effect.orDie)

    const query = <A>(use: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
      LocalStack.withDatabase(shardUrl, Effect.flatMap(SqlClient.SqlClient, use)).pipe(Effect.orDie)

    return {
      sim,
      time,
      accrual: Context.get(live, Accrual),
      contexts: Context.get(live, GuildContext),
      voice,
      votes,
      levelUps,
      injectAll,
      awaitCount,
      handledIds,
      settle,
      query,
    }
  })

const eventName = (event: SimEvent): string => {
  switch (event.type) {
    case "message":
      return "MESSAGE_CREATE"
    case "voiceState":
      return "VOICE_STATE_UPDATE"
    case "reactionAdd":
      return "MESSAGE_REACTION_ADD"
    case "channelDelete":
      return "CHANNEL_DELETE"
    case "memberUpdate":
      return "GUILD_MEMBER_UPDATE"
    case "raw":
      return event.event
    default:
      return event.type
  }
}

/** One stored counter per member: `user_id` → all-time value. */
export const memberColumn = (table: string, guildId: Snowflake) => (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<{ userId: string; alltime: string }>`
      SELECT user_id, alltime FROM ${sql(table)} WHERE guild_id = ${guildId}`,
    (rows) => new Map(rows.map((row) => [row.userId, Number(row.alltime)])),
  )
