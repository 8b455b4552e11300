/**
 * A window of recently counted message ids per Discord shard: an event replayed after a resume is
 * seen here and not counted twice. Bounded: it holds the last `capacity / 2` to `capacity` ids,
 * and the oldest leave first. In memory only: across a restart it relies on the resumed session
 * starting after the last processed event.
 */
import type { Snowflake } from "@tally/domain/Snowflake"
import { Context, Effect, Layer } from "effect"

export class SeenMessages extends Context.Tag("@tally/gateway/SeenMessages")<
  SeenMessages,
  {
    readonly isSeen: (discordShardId: number, messageId: Snowflake) => Effect.Effect<boolean>
    /** Records the id (the oldest id leaves a full window). */
    readonly markSeen: (discordShardId: number, messageId: Snowflake) => Effect.Effect<void>
    /** Records the id and answers true, or answers false when it is already in the window. */
    readonly markIfNew: (discordShardId: number, messageId: Snowflake) => Effect.Effect<boolean>
    /** `isSeen` as a plain call, for the counter's synchronous batch steps. */
    readonly unsafeIsSeen: (discordShardId: number, messageId: Snowflake) => boolean
    /** `markSeen` as a plain call, for the counter's synchronous batch steps. */
    readonly unsafeMarkSeen: (discordShardId: number, messageId: Snowflake) => void
  }
>() {}

/** Resumes replay what the client missed; a few minutes of a busy Discord shard fit in this. */
export const defaultCapacity = 100_000

/**
 * One generation of ids: an open-addressing table of the ids' two decimal halves (up to 11
 * leading digits, then the last 9), each exact as a double. No string is kept: a window of
 * strings held 100,000 objects that every collection had to visit, and each lookup hashed a
 * freshly parsed string.
 */
class Generation {
  /** Slot i holds the halves at 2i and 2i + 1; -1 marks an empty slot. */
  private slots = new Float64Array(INITIAL_SLOTS * 2).fill(-1)
  private mask = INITIAL_SLOTS - 1
  size = 0

  /** Where the id is, or the empty slot where it would go. */
  private slotOf(high: number, low: number): number {
    let hash = Math.imul(low, 0x9e3779b1) ^ Math.imul((high % 0x1_0000_0000) | 0, 0x85ebca77)
    hash ^= hash >>> 15
    let slot = hash & this.mask
    for (;;) {
      const stored = this.slots[slot * 2]!
      if (stored === -1 || (stored === high && this.slots[slot * 2 + 1] === low)) return slot
      slot = (slot + 1) & this.mask
    }
  }

  has(high: number, low: number): boolean {
    return this.slots[this.slotOf(high, low) * 2] !== -1
  }

  add(high: number, low: number): void {
    // At most half full, so that a probe always meets an empty slot soon.
    if ((this.size + 1) * 2 > this.mask + 1) this.grow()
    const slot = this.slotOf(high, low)
    if (this.slots[slot * 2] !== -1) return
    this.slots[slot * 2] = high
    this.slots[slot * 2 + 1] = low
    this.size += 1
  }

  /** Twice the slots; a quiet Discord shard keeps a small table, a busy one grows it once. */
  private grow(): void {
    const old = this.slots
    const length = (this.mask + 1) * 2
    this.slots = new Float64Array(length * 2).fill(-1)
    this.mask = length - 1
    for (let index = 0; index < old.length; index += 2) {
      const high = old[index]!
      if (high === -1) continue
      const slot = this.slotOf(high, old[index + 1]!)
      this.slots[slot * 2] = high
      this.slots[slot * 2 + 1] = old[index + 1]!
    }
  }

  clear(): void {
    this.slots.fill(-1)
    this.size = 0
  }
}

const INITIAL_SLOTS = 16

/**
 * Two generations: new ids go into `current`; a full `current` becomes `previous` (the older
 * generation is dropped whole, its table reused). A check is two lookups and a record one insert.
 */
interface Window {
  current: Generation
  previous: Generation
}

/** Parsed halves of the last id looked at (module state: no object per call). */
let high = 0
let low = 0

/** Splits a snowflake (decimal digits, up to 20) into its leading digits and its last 9. */
const split = (id: string): void => {
  const cut = Math.max(0, id.length - 9)
  high = 0
  low = 0
  for (let i = 0; i < cut; i++) high = high * 10 + (id.charCodeAt(i) - 48)
  for (let i = cut; i < id.length; i++) low = low * 10 + (id.charCodeAt(i) - 48)
}

export const make = (
  capacityPerDiscordShard = defaultCapacity,
): Context.Tag.Service<SeenMessages> => {
  const generation = Math.max(1, Math.ceil(capacityPerDiscordShard / 2))
  const windows = new Map<number, Window>()

  const has = (discordShardId: number, messageId: Snowflake) => {
    const window = windows.get(discordShardId)
    if (window === undefined) return false
    split(messageId)
    return window.current.has(high, low) || window.previous.has(high, low)
  }

  const add = (discordShardId: number, messageId: Snowflake) => {
    let window = windows.get(discordShardId)
    if (window === undefined) {
      window = { current: new Generation(), previous: new Generation() }
      windows.set(discordShardId, window)
    }
    // Not checked against `previous`: an id recorded twice only stays a generation longer.
    if (window.current.size >= generation) {
      const dropped = window.previous
      dropped.clear()
      window.previous = window.current
      window.current = dropped
    }
    split(messageId)
    window.current.add(high, low)
  }

  return {
    isSeen: (discordShardId, messageId) => Effect.sync(() => has(discordShardId, messageId)),
    markSeen: (discordShardId, messageId) => Effect.sync(() => add(discordShardId, messageId)),
    markIfNew: (discordShardId, messageId) =>
      Effect.sync(() => {
        if (has(discordShardId, messageId)) return false
        add(discordShardId, messageId)
        return true
      }),
    unsafeIsSeen: has,
    unsafeMarkSeen: add,
  }
}

export const layer = (capacityPerDiscordShard = defaultCapacity): Layer.Layer<SeenMessages> =>
  Layer.sync(SeenMessages, () => make(capacityPerDiscordShard))
