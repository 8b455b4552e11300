/**
 * `/top [period] [page]` (reference §6.2, members by total XP): one page of the guild's members
 * by XP in the period, `entriesPerPage` per page, ties sharing a position and kept in user-id
 * order so pages never overlap. Levels come from all-time XP, the one level every command
 * shows (ActivityRank's `/top` computed it from the period's XP instead).
 */
import * as LevelCurve from "@tally/domain/LevelCurve"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Leaderboard from "@tally/sql/Leaderboard"
import { Effect } from "effect"
import * as Command from "./Command"
import * as GuildStats from "./GuildStats"

/** Far beyond any real guild's ranking; the option's limit, so a typo gets a clear error. */
export const MAX_PAGE = 1000

export const EMPTY_PAGE = "No entries found for this page."

export interface TopEntry extends Leaderboard.MemberEntry {
  readonly alltimeXp: number
}

export const entries = (stats: GuildStats.GuildStats, period: GuildStats.Period, page: number) =>
  GuildStats.onShard(
    stats,
    Effect.gen(function* () {
      const members = yield* Leaderboard.topMembers({
        guildId: stats.guildId,
        keys: stats.keys,
        by: "xp",
        period,
        page,
        pageSize: stats.settings.entriesPerPage,
      })
      return yield* Effect.forEach(
        members,
        (member) =>
          period === "alltime"
            ? Effect.succeed({ ...member, alltimeXp: member.value })
            : Leaderboard.memberValue({
                guildId: stats.guildId,
                keys: stats.keys,
                by: "xp",
                period: "alltime",
                userId: member.userId as Snowflake,
              }).pipe(Effect.map((alltimeXp) => ({ ...member, alltimeXp }))),
        { concurrency: 4 },
      )
    }),
  )

export const render = (
  stats: GuildStats.GuildStats,
  guildName: string,
  period: GuildStats.Period,
  page: number,
  entries: ReadonlyArray<TopEntry>,
): Command.Reply => {
  const lines = entries.map((entry) => {
    const level = LevelCurve.level(entry.alltimeXp, stats.settings.levelFactor)
    return `**#${entry.position}** ${GuildStats.mention(entry.userId)} · Level ${level} · Total: ${GuildStats.formatCount(entry.value)} XP`
  })
  const bonus = GuildStats.bonusLine(stats)
  return {
    embeds: [
      {
        title: `Toplist for server ${guildName} | ${GuildStats.periodLabels[period]} | By total XP`,
        description: [bonus, ...(lines.length > 0 ? lines : [EMPTY_PAGE])]
          .filter((line) => line !== null)
          .join("\n"),
        color: 0x01c3d9,
        footer: { text: `Page ${page}` },
      },
    ],
  }
}

// TODO: orders by a statistic, members in a channel, top channels and the ◀ ▶ page buttons
// (§6.2) — remove when `Interactions` routes components to their commands.
export const command = Command.make({
  definition: {
    name: "top",
    description: "Show the members with the most XP",
    options: [
      GuildStats.periodOption("The period to rank by (default: all time)"),
      {
        type: "integer",
        name: "page",
        description: "The page to show (default: 1)",
        minValue: 1,
        maxValue: MAX_PAGE,
      },
    ],
    statCooldown: true,
  },
  run: (interaction) =>
    Effect.gen(function* () {
      const period = GuildStats.periodOf(interaction.options)
      const page = interaction.options.number("page") ?? 1
      const stats = yield* GuildStats.load(interaction.guildId)
      const found = yield* entries(stats, period, page)
      return render(stats, interaction.guildName, period, page, found)
    }).pipe(Effect.withSpan("Commands.top")),
})
