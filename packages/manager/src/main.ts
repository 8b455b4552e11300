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
  NodeRuntime.runMain,
)
