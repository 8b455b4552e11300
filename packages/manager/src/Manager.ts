import { NodeContext } from "@effect/platform-node"
import * as ShardClients from "@tally/sql/ShardClients"
import { Config, ConfigError, Effect, Either, Layer, Logger, LogLevel } from "effect"
import { DbShards, layerShardClients } from "./DbShards"
import * as Gateways from "./Gateways"
import * as ManagerDatabase from "./ManagerDatabase"
import * as ManagerHttp from "./ManagerHttp"
import * as ManagerToken from "./ManagerToken"
import { Routes } from "./Routes"
import * as Settings from "./Settings"

/** LOG_LEVEL by name or label, any case: `Info`, `Warning`, `warn`, `debug` (default Info). */
export const logLevelConfig = Config.string("LOG_LEVEL").pipe(
  Config.withDefault("Info"),
  Config.mapOrFail((text) => {
    const wanted = text.trim().toLowerCase()
    const level = LogLevel.allLevels.find(
      (level) => level._tag.toLowerCase() === wanted || level.label.toLowerCase() === wanted,
    )
    return level === undefined
      ? Either.left(
          ConfigError.InvalidData(
            ["LOG_LEVEL"],
            `unknown level ${JSON.stringify(text)} ` +
              "(Trace, Debug, Info, Warning, Error, Fatal or None)",
          ),
        )
      : Either.right(level)
  }),
)

export const layerLogLevel = Layer.unwrapEffect(Effect.map(logLevelConfig, Logger.minimumLogLevel))

/** Routes, DB shards and gateway heartbeats over the migrated manager and DB shard databases. */
export const layerServices = Layer.mergeAll(Routes.Default, Gateways.Gateways.Default).pipe(
  Layer.provideMerge(DbShards.Default),
  Layer.provide(Layer.merge(ManagerDatabase.layer, layerShardClients)),
)

/** Every setting the manager reads that can be wrong (MANAGER_TOKEN cannot). */
export const settingsConfig = Config.all({
  server: ManagerHttp.serverConfig,
  database: ManagerDatabase.databaseConfig,
  dbShards: ShardClients.shardUrlsConfig,
  logLevel: logLevelConfig,
  gatewayRetention: Gateways.retentionConfig,
})

/**
 * The whole manager from its configuration: databases, services, token and HTTP server. The
 * layers read their settings again; checking them all first means a wrong one stops the start
 * before any database is created or migrated, and every wrong one is named at once.
 */
export const layer = Layer.unwrapEffect(
  Effect.as(
    Settings.check(settingsConfig),
    ManagerHttp.layer.pipe(
      Layer.provide(layerServices),
      Layer.provide(ManagerToken.layer),
      Layer.provide(NodeContext.layer),
      Layer.provide(layerLogLevel),
    ),
  ),
)
