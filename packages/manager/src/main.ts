import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer, Logger, LogLevel } from "effect"
import * as Manager from "./Manager"

const logLevel = Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info))

Layer.launch(Manager.layer).pipe(
  Effect.tapErrorCause(Effect.logError),
  Effect.provide(Layer.unwrapEffect(Effect.map(logLevel, Logger.minimumLogLevel))),
  NodeRuntime.runMain({ disableErrorReporting: true }),
)
