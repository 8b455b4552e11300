/**
 * The gateway process. SIGINT/SIGTERM interrupt it: the dispatch loop stops, buffers are flushed
 * within a time limit (the rest is spilled), the Discord sessions are saved and closed with a
 * resumable code, and it exits 0. A fatal Discord error (refused token, bad intents or shard) is
 * logged as one clear sentence and it exits 1.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Effect, Layer, Logger, LogLevel } from "effect"
import { Discord } from "./Discord"
import * as Gateway from "./Gateway"
import * as Live from "./Live"

const logLevel = Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info))

const program = Effect.scoped(
  Effect.gen(function* () {
    yield* Gateway.start
    const discord = yield* Discord
    return yield* discord.fatal
  }),
)

program.pipe(
  Effect.provide(Live.layer()),
  // Outside the log level's layer: a LOG_LEVEL that cannot be read is reported too.
  Effect.provide(Layer.unwrapEffect(Effect.map(logLevel, Logger.minimumLogLevel))),
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.logError(
          `gateway stopped: ${Cause.squash(cause) instanceof Error ? (Cause.squash(cause) as Error).message : Cause.pretty(cause)}`,
        ),
  ),
  NodeRuntime.runMain({ disableErrorReporting: true }),
)
