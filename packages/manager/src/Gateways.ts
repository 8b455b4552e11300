import { SqlClient } from "@effect/sql"
import * as ManagerApi from "@tally/domain/ManagerApi"
import { Clock, Config, ConfigError, Duration, Effect, Either, Schema } from "effect"

const DiscordShardIds = Schema.parseJson(Schema.Array(Schema.Int))

interface GatewayRow {
  readonly instanceId: string
  readonly discordShardIds: string
  readonly guildCount: number | string
  readonly eventsPerSecond: number
  readonly bufferedRows: number | string
  readonly oldestBufferedAt: number | string | null
  readonly lastFlushAt: number | string | null
  readonly lastHeartbeatAt: number | string
}

const nullableNumber = (value: number | string | null) => (value === null ? null : Number(value))

/** Gateways send a heartbeat every 30 seconds: a shorter retention would hide running ones. */
const MIN_RETENTION = Duration.minutes(1)

/**
 * `MANAGER_GATEWAY_RETENTION` (an Effect duration, at least 1 minute, default 1 day): how long a
 * gateway that sends no heartbeat stays listed. A stopped or renamed gateway is forgotten after
 * it; its row is deleted at the next heartbeat of any gateway.
 */
export const retentionConfig = Config.duration("MANAGER_GATEWAY_RETENTION").pipe(
  Config.withDefault(Duration.days(1)),
  Config.mapOrFail((retention) =>
    Duration.lessThan(retention, MIN_RETENTION)
      ? Either.left(
          ConfigError.InvalidData(
            ["MANAGER_GATEWAY_RETENTION"],
            `${Duration.format(retention)} is shorter than 1 minute (gateways send a heartbeat every 30 seconds)`,
          ),
        )
      : Either.right(retention),
  ),
)

/**
 * Gateway processes' last heartbeats, kept in the manager database so that every manager process
 * lists the same gateways.
 */
export class Gateways extends Effect.Service<Gateways>()("@tally/manager/Gateways", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const retentionMillis = Duration.toMillis(yield* retentionConfig)

    const heartbeat = (instanceId: string, heartbeat: ManagerApi.Heartbeat) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const row = {
          instanceId,
          discordShardIds: JSON.stringify(heartbeat.discordShardIds),
          guildCount: heartbeat.guildCount,
          eventsPerSecond: heartbeat.eventsPerSecond,
          bufferedRows: heartbeat.bufferedRows,
          oldestBufferedAt: heartbeat.oldestBufferedAt,
          lastFlushAt: heartbeat.lastFlushAt,
          lastHeartbeatAt: now,
        }
        yield* sql`
          INSERT INTO gateway_heartbeat ${sql.insert(row)}
          ON DUPLICATE KEY UPDATE
            discord_shard_ids = VALUES(discord_shard_ids),
            guild_count = VALUES(guild_count),
            events_per_second = VALUES(events_per_second),
            buffered_rows = VALUES(buffered_rows),
            oldest_buffered_at = VALUES(oldest_buffered_at),
            last_flush_at = VALUES(last_flush_at),
            last_heartbeat_at = VALUES(last_heartbeat_at)`
        yield* sql`DELETE FROM gateway_heartbeat WHERE last_heartbeat_at < ${now - retentionMillis}`
      }).pipe(Effect.withSpan("Gateways.heartbeat", { attributes: { instanceId } }))

    const list = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // Past the retention a gateway is gone from the list even before the next heartbeat
      // (of any gateway) deletes its row.
      const rows = yield* sql<GatewayRow>`
        SELECT instance_id, discord_shard_ids, guild_count, events_per_second, buffered_rows,
          oldest_buffered_at, last_flush_at, last_heartbeat_at
        FROM gateway_heartbeat
        WHERE last_heartbeat_at >= ${now - retentionMillis}
        ORDER BY instance_id`
      return yield* Effect.forEach(rows, (row) =>
        Effect.map(Schema.decode(DiscordShardIds)(row.discordShardIds), (discordShardIds) => {
          const lastHeartbeatAt = Number(row.lastHeartbeatAt)
          return new ManagerApi.Gateway({
            instanceId: row.instanceId,
            discordShardIds,
            guildCount: Number(row.guildCount),
            eventsPerSecond: Number(row.eventsPerSecond),
            bufferedRows: Number(row.bufferedRows),
            oldestBufferedAt: nullableNumber(row.oldestBufferedAt),
            lastFlushAt: nullableNumber(row.lastFlushAt),
            lastHeartbeatAt,
            ageMillis: Math.max(0, now - lastHeartbeatAt),
          })
        }),
      )
    }).pipe(Effect.withSpan("Gateways.list"))

    return { heartbeat, list } as const
  }),
}) {}
