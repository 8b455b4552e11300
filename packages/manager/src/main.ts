import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as Manager from "./Manager"
import { stopOnlyOnce } from "./Signals"

const stop = (reason: string) =>
  Effect.logError(reason).pipe(Effect.andThen(Effect.sync(() => process.exit(1))))

stopOnlyOnce()
Layer.launch(Manager.layer).pipe(
  Effect.catchTag("SettingsInvalid", (error) => stop(`the manager cannot start: ${error.reason}`)),
  Effect.catchTag("RouteToUnconfiguredDbShard", (error) => stop(error.message)),
  Effect.catchTag("ServeError", (error) => {
    const code = (error.cause as { readonly code?: unknown } | undefined)?.code
    const reason =
      code === "EADDRINUSE"
        ? "the manager's address is in use (another manager running?); set MANAGER_HOST / MANAGER_PORT"
        : `the manager could not listen: ${String(code ?? error.cause)}`
    return stop(reason)
  }),
  Effect.catchTag("SqlError", (error) => {
    // The cause's code only: the error's cause may hold the URL, and so a password.
    const code = (error.cause as { readonly code?: unknown } | undefined)?.code
    return stop(
      `the manager cannot reach its database (MANAGER_DATABASE_URL) or a DB shard (SHARD_DATABASE_URLS): ${error.message}${code === undefined ? "" : ` (${String(code)})`}`,
    )
  }),
  // Whatever else stops the start (a migration, the token file): its message, not a stack.
  Effect.catchAll((error) =>
    stop(`the manager cannot start: ${error instanceof Error ? error.message : String(error)}`),
  ),
  NodeRuntime.runMain,
)
