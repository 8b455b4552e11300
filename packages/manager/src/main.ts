import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as Manager from "./Manager"

Layer.launch(Manager.layer).pipe(
  Effect.catchTag("ServeError", (error) => {
    const code = (error.cause as { readonly code?: unknown } | undefined)?.code
    const reason =
      code === "EADDRINUSE"
        ? "the manager's address is in use (another manager running?); set MANAGER_HOST / MANAGER_PORT"
        : `the manager could not listen: ${String(code ?? error.cause)}`
    return Effect.logError(reason).pipe(Effect.andThen(Effect.sync(() => process.exit(1))))
  }),
  Effect.catchTag("SqlError", (error) => {
    // The cause's code only: the error's cause may hold the URL, and so a password.
    const code = (error.cause as { readonly code?: unknown } | undefined)?.code
    return Effect.logError(
      `the manager cannot reach its database (MANAGER_DATABASE_URL) or a DB shard (SHARD_DATABASE_URLS): ${error.message}${code === undefined ? "" : ` (${String(code)})`}`,
    ).pipe(Effect.andThen(Effect.sync(() => process.exit(1))))
  }),
  NodeRuntime.runMain,
)
