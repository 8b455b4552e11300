import { NodeRuntime } from "@effect/platform-node"
import { Config, ConfigError, Effect, Either, Layer, Logger, LogLevel } from "effect"
import * as Manager from "./Manager"

/** LOG_LEVEL by name or label, any case: `Info`, `warning`, `WARN`, `debug`. */
const logLevel = Config.string("LOG_LEVEL").pipe(
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

Layer.launch(Manager.layer).pipe(
  Effect.provide(Layer.unwrapEffect(Effect.map(logLevel, Logger.minimumLogLevel))),
  NodeRuntime.runMain,
)
