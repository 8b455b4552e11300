/**
 * A whole stack for the voice, vote and level-up suites: throwaway MariaDB databases, the manager,
 * the simulator over a real WebSocket, and the gateway's live layers (which include the voice
 * tracker, the votes and the level-up jobs, fed by `Dispatch`). The gateway reads a clock the test moves forward (voice
 * minutes and vote cooldowns follow it); its sleeps take real time.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import type { SimEvent } from "@tally/discord-sim/Events"
import type { WorldSpec } from "@tally/discord-sim/World"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Clock, ConfigProvider, Context, Duration, Effect, Layer, Queue } from "effect"
import { Accrual } from "../src/Accrual"
import { Counter } from "../src/Counter"
import { Discord } from "../src/Discord"
import { Dispatch } from "../src/Dispatch"
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
      Live.layer({
        stateDirectory,
        discord: { skipIdentifyThrottle: true },
        voice: { tickInterval: options.voiceTickInterval ?? Duration.hours(1) },
      }),
    ).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(env)), Effect.withClock(time.clock))

    const discord = Context.get(live, Discord)
    const dispatch = Context.get(live, Dispatch)
    const counter = Context.get(live, Counter)
    const flusher = Context.get(live, Flusher)
    const voice = Context.get(live, VoiceTracker.VoiceTracker)
    const votes = Context.get(live, Votes.Votes)
    const levelUps = Context.get(live, LevelUps.LevelUps)

    const handled = new Map<string, number>()
    const handledIds = new Set<string>()
    yield* Effect.forkScoped(
      Queue.take(discord.dispatches).pipe(
        Effect.tap((batch) => discord.taken(batch.size)),
        Effect.flatMap((batch) =>
          Effect.forEach(batch.envelopes(), (envelope) =>
            dispatch.handle(envelope).pipe(
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
    case "channelCreate":
      return "CHANNEL_CREATE"
    case "channelUpdate":
      return "CHANNEL_UPDATE"
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
