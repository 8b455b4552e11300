/**
 * Tells the manager every 30 seconds that this gateway is alive: its Discord shards, guilds,
 * events per second since the last beat, and the flusher's buffered rows and times. A beat that
 * fails is logged; the next one is tried on schedule.
 */
import * as ManagerApi from "@tally/domain/ManagerApi"
import { ManagerClient } from "@tally/manager/ManagerClient"
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import { GatewayConfig } from "./Config"
import { Discord } from "./Discord"
import { receivedCount } from "./Dispatch"
import { Flusher } from "./Flusher"
import { GuildState } from "./GuildState"

export const interval = Duration.seconds(30)

export const make = Effect.gen(function* () {
  const manager = yield* ManagerClient
  const discord = yield* Discord
  const flusher = yield* Flusher
  const guildState = yield* GuildState
  const { instanceId } = yield* GatewayConfig

  let lastEvents = yield* receivedCount("MESSAGE_CREATE")
  let lastAt = yield* Clock.currentTimeMillis

  const beat = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const events = yield* receivedCount("MESSAGE_CREATE")
    const seconds = Math.max((now - lastAt) / 1000, 0.001)
    const stats = yield* flusher.stats
    const heartbeat = new ManagerApi.Heartbeat({
      discordShardIds: discord.discordShardIds,
      guildCount: yield* guildState.guildCount,
      eventsPerSecond: Math.max(0, (events - lastEvents) / seconds),
      bufferedRows: stats.bufferedRows,
      oldestBufferedAt: stats.oldestBufferedAt,
      lastFlushAt: stats.lastFlushAt,
    })
    lastEvents = events
    lastAt = now
    yield* manager.heartbeat(instanceId, heartbeat)
  }).pipe(
    Effect.catchAll((error) =>
      Effect.logWarning("heartbeat to the manager failed").pipe(
        Effect.annotateLogs({ reason: error.reason }),
      ),
    ),
    Effect.withSpan("Heartbeat.beat"),
  )

  yield* Effect.forkScoped(beat.pipe(Effect.repeat(Schedule.spaced(interval))))
})

export const layer = Layer.scopedDiscard(make)
