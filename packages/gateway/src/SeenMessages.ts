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
 * Two generations of ids: new ids go into `current`; a full `current` becomes `previous` (the
 * older generation is dropped whole). A check is two lookups and a record one insert, where a
 * ring of single evictions cost a read, a delete and an insert more per message.
 */
interface Window {
  current: Set<string>
  previous: Set<string>
}

export const make = (
  capacityPerDiscordShard = defaultCapacity,
): Context.Tag.Service<SeenMessages> => {
  const generation = Math.max(1, Math.ceil(capacityPerDiscordShard / 2))
  const windows = new Map<number, Window>()

  const has = (discordShardId: number, messageId: Snowflake) => {
    const window = windows.get(discordShardId)
    return window !== undefined && (window.current.has(messageId) || window.previous.has(messageId))
  }

  const add = (discordShardId: number, messageId: Snowflake) => {
    let window = windows.get(discordShardId)
    if (window === undefined) {
      window = { current: new Set(), previous: new Set() }
      windows.set(discordShardId, window)
    }
    // Not checked against `previous`: an id recorded twice only stays a generation longer.
    if (window.current.size >= generation) {
      window.previous = window.current
      window.current = new Set()
    }
    window.current.add(messageId)
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
