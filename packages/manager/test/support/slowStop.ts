/**
 * A process whose stop takes 500 ms and then writes `argv[2]`; with `--stop-only-once` it calls
 * `stopOnlyOnce` first. Prints `ready` once its signal handling is in place.
 */
import * as Fs from "node:fs"
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { stopOnlyOnce } from "../../src/Signals"

const [marker, mode] = process.argv.slice(2)
if (mode === "--stop-only-once") stopOnlyOnce()

Effect.addFinalizer(() =>
  Effect.sleep("500 millis").pipe(Effect.andThen(() => Fs.writeFileSync(marker!, "stopped"))),
).pipe(
  Effect.andThen(() => process.stdout.write("ready\n")),
  Effect.andThen(Effect.never),
  Effect.scoped,
  NodeRuntime.runMain,
)
