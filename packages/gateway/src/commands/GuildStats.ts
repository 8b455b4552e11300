/**
 * What the stat commands read first: the guild's DB shard (the manager's route), its settings
 * from that shard, and the current period keys in the guild's time zone.
 *
 * The figures come from the DB shard only. Activity still in this process's buffers (at most one
 * flush interval, `FLUSH_INTERVAL`, 5 s by default) is not shown yet: adding the buffered deltas
 * would need a read of every ranked member's pending rows, and positions would still be computed
 * from the database, so the answer would mix two moments. The lag is accepted instead.
 */
import type { SqlClient } from "@effect/sql/SqlClient"
import * as Emoji from "@tally/domain/Emoji"
import type { PeriodKeys } from "@tally/domain/PeriodKey"
import { isTimeZone, periodKeys } from "@tally/domain/PeriodKey"
import type { Snowflake } from "@tally/domain/Snowflake"
import { ManagerClient } from "@tally/manager/ManagerClient"
import type { Period } from "@tally/sql/Leaderboard"
import * as Settings from "@tally/sql/Settings"
import * as ShardClients from "@tally/sql/ShardClients"
import { Clock, Effect, Option } from "effect"
import { type Choice, CommandFailed, type Options, type ValueOption } from "./Command"

/** ActivityRank answers a blocked guild and then leaves it; Tally only refuses (reference §6.0). */
export const BANNED = "This server is blocked from using Tally's statistics."

export type { Period }

export interface GuildStats {
  readonly guildId: Snowflake
  readonly dbShardId: number
  readonly settings: Settings.GuildSettings
  readonly keys: PeriodKeys
  /** When the keys were taken (epoch millis). */
  readonly now: number
}

export const periodLabels: Readonly<Record<Period, string>> = {
  alltime: "All time",
  year: "This year",
  month: "This month",
  week: "This week",
  day: "Today",
}

const periodChoices: ReadonlyArray<Choice<string>> = (
  ["alltime", "year", "month", "week", "day"] as const
).map((value) => ({ name: periodLabels[value], value }))

export const periodOption = (description: string): ValueOption => ({
  type: "string",
  name: "period",
  description,
  choices: periodChoices,
})

/** The chosen period; all time when none was chosen. */
export const periodOf = (options: Options): Period =>
  (options.string("period") as Period | undefined) ?? "alltime"

export const load = (guildId: string) =>
  Effect.gen(function* () {
    const manager = yield* ManagerClient
    const dbShardId = yield* manager.guildRoute(guildId as Snowflake)
    const settings = yield* ShardClients.use(dbShardId, Settings.guild(guildId as Snowflake))
    if (settings.isBanned) return yield* Effect.fail(new CommandFailed({ reason: BANNED }))
    const now = yield* Clock.currentTimeMillis
    const timeZone = isTimeZone(settings.timeZone) ? settings.timeZone : "UTC"
    return {
      guildId: guildId as Snowflake,
      dbShardId,
      settings,
      keys: periodKeys(now, timeZone, settings.weekStartsOn),
      now,
    } satisfies GuildStats
  }).pipe(Effect.withSpan("GuildStats.load"))

/** Runs a read on the guild's DB shard. */
export const onShard = <A, E, R>(stats: GuildStats, effect: Effect.Effect<A, E, R>) =>
  ShardClients.use(stats.dbShardId, effect) as Effect.Effect<
    A,
    E | ShardClients.ShardUnavailable,
    ShardClients.ShardClients | Exclude<R, SqlClient>
  >

/** Whole numbers with thousands separators, as ActivityRank prints them. */
export const formatCount = (value: number): string => Math.round(value).toLocaleString("en-US")

/** Voice minutes as hours with one decimal. */
export const formatHours = (minutes: number): string =>
  (Math.round((minutes / 60) * 10) / 10).toLocaleString("en-US", { maximumFractionDigits: 1 })

/** A stored emoji setting as Discord shows it (`:heart:` from older rows becomes ❤️). */
export const emoji = (stored: string): string =>
  Option.match(Emoji.parse(stored), { onNone: () => stored, onSome: Emoji.serialize })

export const mention = (userId: string): string => `<@${userId}>`

/** Bonus time is on: "Bonus XP ends <relative time>". */
export const bonusLine = (stats: GuildStats): string | null =>
  stats.settings.bonusUntil * 1000 > stats.now
    ? `**Bonus XP ends <t:${stats.settings.bonusUntil}:R>**`
    : null
