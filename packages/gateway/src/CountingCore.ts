/**
 * The counting core wired together: counter, accrual, buffers, member totals, flusher, spill
 * files, seen messages and guild contexts, one instance of each. It needs the DB shards and the
 * manager client; `main.ts` and the demo provide those.
 */
import { Layer } from "effect"
import * as Accrual from "./Accrual"
import * as ActivityBuffer from "./ActivityBuffer"
import * as Counter from "./Counter"
import * as Flusher from "./Flusher"
import * as GuildContext from "./GuildContext"
import * as MemberTotals from "./MemberTotals"
import * as SeenMessages from "./SeenMessages"
import * as Spill from "./Spill"

export interface Options {
  /** Where the spill, dead-letter and waiting files go (default `.tally`). */
  readonly directory?: string
  readonly flusher?: Partial<Omit<Flusher.Options, "write">>
  readonly buffer?: ActivityBuffer.Options
  readonly counter?: Counter.Options
  readonly guildContext?: GuildContext.Options
  readonly memberTotals?: MemberTotals.Options
  readonly seenMessagesPerDiscordShard?: number
}

export const layerWith = (options: Options = {}) => {
  const base = Layer.mergeAll(
    ActivityBuffer.layer(options.buffer),
    Spill.layer(options.directory),
    SeenMessages.layer(options.seenMessagesPerDiscordShard),
  )
  const flusher = Layer.provideMerge(Flusher.layer(options.flusher), base)
  const totals = Layer.provideMerge(MemberTotals.layer(options.memberTotals), flusher)
  const accrual = Layer.provideMerge(Accrual.layer, totals)
  const context = Layer.provideMerge(GuildContext.layer(options.guildContext), accrual)
  return Layer.provideMerge(Counter.layer(options.counter), context)
}

/** With the defaults: files under `.tally`, `FLUSH_INTERVAL` from the environment. */
export const layer = layerWith()
