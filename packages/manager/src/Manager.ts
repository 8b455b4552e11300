import { NodeContext } from "@effect/platform-node"
import { Config, ConfigError, Effect, Either, Layer, Logger, LogLevel } from "effect"
import { DbShards, layerShardClients } from "./DbShards"
import { Gateways } from "./Gateways"
import * as ManagerDatabase from "./ManagerDatabase"
import * as ManagerHttp from "./ManagerHttp"
import * as ManagerToken from "./ManagerToken"
import { Routes } from "./Routes"

/** LOG_LEVEL by name or label, any case: `Info`, `Warning`, `warn`, `debug` (default Info). */
export const logLevelConfig = Config.string("LOG_LEVEL").pipe(
  Config.withDefault("Info"),
  Config.mapOrFail((text) => {
    const wanted = text.trim().toLowerCase()
    const level = LogLevel.allLevels.find(
      (level) => level._tag.toLowerCase() === wanted || level.label.toLowerCase() === wanted,
    )
    return level === undefined
      ? Either.left(ConfigError.InvalidData([], `LOG_LEVEL: unknown level ${text}`))
      : Either.right(level)
  }),
)

export const layerLogLevel = Layer.unwrapEffect(Effect.map(logLevelConfig, Logger.minimumLogLevel))

/** Routes, DB shards and gateway heartbeats over the migrated manager and DB shard databases. */
export const layerServices = Layer.mergeAll(Routes.Default, Gateways.Default).pipe(
  Layer.provideMerge(DbShards.Default),
  Layer.provide(Layer.merge(ManagerDatabase.layer, layerShardClients)),
)

/** The whole manager from its configuration: databases, services, token and HTTP server. */
export const layer = ManagerHttp.layer.pipe(
  Layer.provide(layerServices),
  Layer.provide(ManagerToken.layer),
  Layer.provide(NodeContext.layer),
  Layer.provide(layerLogLevel),
)
