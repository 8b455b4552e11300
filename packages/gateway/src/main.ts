/**
 * The gateway process. SIGINT/SIGTERM interrupt it: the dispatch loop stops, buffers are flushed
 * within a time limit (the rest is spilled), the Discord sessions are saved and closed with a
 * resumable code, and it exits 0. A fatal Discord error (refused token, bad intents or shard), a
 * manager refusing MANAGER_TOKEN at start or a setting that cannot be read is logged as one clear
 * sentence and it exits 1.
 */
import { NodeRuntime } from "@effect/platform-node"
import { ManagerClient } from "@tally/manager/ManagerClient"
import { Cause, Config, Effect, Layer, Logger, LogLevel } from "effect"
import { Discord } from "./Discord"
import * as Gateway from "./Gateway"
import * as Live from "./Live"

const logLevel = Config.logLevel("LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info))

/**
 * A manager that refuses the token will refuse every route, for good: stop at once with a clear
 * sentence rather than retry every guild for ever. A manager not reachable yet may come up.
 */
const checkManagerToken = Effect.flatMap(ManagerClient, (manager) => manager.dbShards).pipe(
  Effect.catchTags({
    ManagerRejected: (error) =>
      Effect.fail(
        new Error(`the manager refused the request (${error.reason}): check MANAGER_TOKEN`),
      ),
    ManagerUnavailable: (error) =>
      Effect.logWarning("the manager is not reachable yet; going on").pipe(
        Effect.annotateLogs({ reason: error.reason }),
      ),
  }),
)

const program = Effect.scoped(
  Effect.gen(function* () {
    yield* checkManagerToken
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
