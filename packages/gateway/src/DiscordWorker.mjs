// The Discord connection's worker thread starts here: worker threads do not inherit tsx's loader
// on Node 20, so it is registered before the TypeScript module is loaded.
import { register } from "tsx/esm/api"

register()
await import("./DiscordWorker.ts")
