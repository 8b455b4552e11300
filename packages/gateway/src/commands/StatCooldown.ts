/**
 * The stat-command cooldown (reference §6.0): a member may run `/rank`, `/top` (and later
 * `/memberinfo`) once per cooldown in a guild. Kept in memory per process, like ActivityRank's,
 * but in a map of its own rather than on evictable member objects (§9.11), so it holds for
 * every member until it runs out.
 */
import { Clock, Duration, Effect, Option } from "effect"

/** ActivityRank's default for members without Patreon tiers. */
// TODO: shorter cooldowns for premium members (20 s / 5 s in §6.0) — remove when Tally has tiers.
export const defaultCooldown = Duration.seconds(120)

export interface StatCooldown {
  /**
   * Starts the member's cooldown and succeeds with none when they may run a stat command now;
   * otherwise leaves it alone and succeeds with the epoch millis when they may again.
   */
  readonly take: (guildId: string, userId: string) => Effect.Effect<Option.Option<number>>
  /** Ends a cooldown just taken whose command could not be answered after all. */
  readonly giveBack: (guildId: string, userId: string) => Effect.Effect<void>
}

/** Entries past their end are dropped when the map grows beyond this. */
const PRUNE_AT = 50_000

export const make = (cooldown: Duration.DurationInput = defaultCooldown): StatCooldown => {
  const millis = Duration.toMillis(cooldown)
  const endsAt = new Map<string, number>()

  const prune = (now: number) => {
    for (const [key, end] of endsAt) if (end <= now) endsAt.delete(key)
  }

  return {
    take: (guildId, userId) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (millis <= 0) return Option.none()
        const key = `${guildId}/${userId}`
        const end = endsAt.get(key)
        if (end !== undefined && end > now) return Option.some(end)
        if (endsAt.size >= PRUNE_AT) prune(now)
        endsAt.set(key, now + millis)
        return Option.none()
      }),
    giveBack: (guildId, userId) =>
      Effect.sync(() => {
        endsAt.delete(`${guildId}/${userId}`)
      }),
  }
}
