/**
 * A window of recently counted message ids per Discord shard: an event replayed after a resume is
 * seen here and not counted twice. Bounded: the oldest ids leave the window first. In memory
 * only: across a restart it relies on the resumed session starting after the last processed event.
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

interface Window {
  readonly ids: Set<string>
  readonly ring: Array<string | undefined>
  next: number
}

export const make = (
  capacityPerDiscordShard = defaultCapacity,
): Context.Tag.Service<SeenMessages> => {
  const windows = new Map<number, Window>()

  const windowOf = (discordShardId: number): Window => {
    let window = windows.get(discordShardId)
    if (window === undefined) {
      window = { ids: new Set(), ring: new Array(capacityPerDiscordShard), next: 0 }
      windows.set(discordShardId, window)
    }
    return window
  }

  const has = (discordShardId: number, messageId: Snowflake) =>
    windows.get(discordShardId)?.ids.has(messageId) === true

  const add = (discordShardId: number, messageId: Snowflake) => {
    const window = windowOf(discordShardId)
    if (window.ids.has(messageId)) return
    const evicted = window.ring[window.next]
    if (evicted !== undefined) window.ids.delete(evicted)
    window.ring[window.next] = messageId
    window.next = (window.next + 1) % capacityPerDiscordShard
    window.ids.add(messageId)
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
