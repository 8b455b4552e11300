/**
 * The gateway process. SIGINT/SIGTERM interrupt it: the dispatch loop stops, buffers are flushed
 * within a time limit (the rest is spilled), the Discord sessions are saved and closed with a
 * resumable code, and node exits 0. (Under `pnpm … start`, Ctrl-C reaches pnpm too, which then
 * reports the signal itself: exit 130.) A fatal Discord error (refused token, bad intents or
 * shard), a manager refusing MANAGER_TOKEN at start, a setting that is missing or cannot be read,
 * or an HTTP port that is taken is logged as one clear sentence and it exits 1.
 */
import { NodeRuntime } from "@effect/platform-node"
import { ManagerClient } from "@tally/manager/ManagerClient"
import { stopOnlyOnce } from "@tally/manager/Signals"
import { Cause, Config, ConfigError, Effect, Layer, Logger, LogLevel } from "effect"
import { describeConfigError } from "./Config"
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

/** Why the gateway stopped, as the sentence it is logged with (never a stack trace). */
const reasonOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (ConfigError.isConfigError(error)) return describeConfigError(error)
  if (error instanceof Error) return error.message === "" ? error.name : error.message
  return String(error)
}

const program = Effect.scoped(
  Effect.gen(function* () {
    yield* checkManagerToken
    yield* Gateway.start
    const discord = yield* Discord
    return yield* discord.fatal
  }),
)

// A relayed second Ctrl-C must not cut the stop (flush, session save) short.
stopOnlyOnce()
program.pipe(
  Effect.provide(Live.layer()),
  // Outside the log level's layer: a LOG_LEVEL that cannot be read is reported too.
  Effect.provide(Layer.unwrapEffect(Effect.map(logLevel, Logger.minimumLogLevel))),
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Effect.logError(`gateway stopped: ${reasonOf(cause)}`),
  ),
  NodeRuntime.runMain({ disableErrorReporting: true }),
)
