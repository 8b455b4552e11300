/**
 * `/rank [member] [period]` (reference §6.1): a member's XP in the period with their position,
 * their level and progress from all-time XP, and one line per enabled statistic with its
 * position. A member with nothing in the period gets the same card without positions.
 */
import * as LevelCurve from "@tally/domain/LevelCurve"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Leaderboard from "@tally/sql/Leaderboard"
import { Effect } from "effect"
import * as Command from "./Command"
import * as GuildStats from "./GuildStats"

/** A value in the period and the member's position by it (none when the value is zero). */
export interface Ranked {
  readonly value: number
  readonly position: number | null
}

export interface RankFigures {
  readonly userId: string
  readonly period: GuildStats.Period
  readonly alltimeXp: number
  readonly xp: Ranked
  /** Only the statistics the guild shows (its `textXp`, `voiceXp`, … flags). */
  readonly statistics: Partial<Record<Leaderboard.Ranking, Ranked>>
}

const statistics = [
  ["textMessages", "textXp"],
  ["voiceMinutes", "voiceXp"],
  ["invites", "inviteXp"],
  ["votes", "voteXp"],
  ["bonus", "bonusXp"],
] as const

// TODO: positions count every member ahead (`Leaderboard.position`); in guilds with very many
// members use the sql package's bounded/snapshot positions — remove when they are committed there.
const ranked = (query: Leaderboard.Query & { by: Leaderboard.Ranking; userId: Snowflake }) =>
  Effect.gen(function* () {
    const value = yield* Leaderboard.memberValue(query)
    const position = value > 0 ? yield* Leaderboard.position(query) : null
    return { value, position } satisfies Ranked
  })

export const figures = (stats: GuildStats.GuildStats, userId: string, period: GuildStats.Period) =>
  GuildStats.onShard(
    stats,
    Effect.gen(function* () {
      const query = { guildId: stats.guildId, keys: stats.keys, userId: userId as Snowflake }
      const shown = statistics.filter(([, flag]) => stats.settings[flag])
      const [alltimeXp, xp, values] = yield* Effect.all(
        [
          Leaderboard.memberValue({ ...query, by: "xp", period: "alltime" }),
          ranked({ ...query, by: "xp", period }),
          Effect.forEach(shown, ([by]) => ranked({ ...query, by, period }), {
            concurrency: 3,
          }),
        ],
        { concurrency: 3 },
      )
      return {
        userId,
        period,
        alltimeXp,
        xp,
        statistics: Object.fromEntries(shown.map(([by], index) => [by, values[index]])),
      } satisfies RankFigures
    }),
  )

const withPosition = (text: string, figure: Ranked) =>
  figure.position === null ? text : `${text} (#${figure.position})`

export const render = (
  stats: GuildStats.GuildStats,
  guildName: string,
  figures: RankFigures,
): Command.Reply => {
  const { settings } = stats
  const progress = LevelCurve.levelOf(figures.alltimeXp, settings.levelFactor)
  const name = GuildStats.mention(figures.userId)
  const heading =
    figures.xp.position === null
      ? `${name} · Level ${progress.level}`
      : `**#${figures.xp.position}** ${name} · Level ${progress.level}`
  const lines = [
    GuildStats.bonusLine(stats),
    heading,
    withPosition(`Total XP: ${GuildStats.formatCount(figures.xp.value)}`, figures.xp),
    `Next level: ${LevelCurve.percentToNext(progress)}% (level ${progress.level + 1})`,
  ].filter((line) => line !== null)

  const statLine = (by: Leaderboard.Ranking, figure: Ranked) => {
    switch (by) {
      case "textMessages":
        return withPosition(`Messages: ${GuildStats.formatCount(figure.value)}`, figure)
      case "voiceMinutes":
        return withPosition(`Voice: ${GuildStats.formatHours(figure.value)} hours`, figure)
      case "invites":
        return withPosition(`Invites: ${GuildStats.formatCount(figure.value)}`, figure)
      case "votes":
        return withPosition(
          `${GuildStats.emoji(settings.voteEmote)} ${settings.voteTag}: ${GuildStats.formatCount(figure.value)}`,
          figure,
        )
      default:
        return withPosition(
          `${GuildStats.emoji(settings.bonusEmote)} ${settings.bonusTag}: ${GuildStats.formatCount(figure.value)}`,
          figure,
        )
    }
  }
  const statLines = Object.entries(figures.statistics).map(([by, figure]) =>
    statLine(by as Leaderboard.Ranking, figure),
  )

  return {
    embeds: [
      {
        title: `${GuildStats.periodLabels[figures.period]} stats in ${guildName}`,
        description: lines.join("\n"),
        color: 0x01c3d9,
        ...(statLines.length > 0
          ? { fields: [{ name: "Stats", value: statLines.join("\n") }] }
          : {}),
      },
    ],
  }
}

// TODO: the period select and the "Top Channels" view (§6.1) need component interactions —
// remove when `Interactions` routes components to their commands.
export const command = Command.make({
  definition: {
    name: "rank",
    description: "Show a member's XP, level and statistics",
    options: [
      { type: "user", name: "member", description: "The member to show (default: you)" },
      GuildStats.periodOption("The period to show (default: all time)"),
    ],
    statCooldown: true,
  },
  run: (interaction) =>
    Effect.gen(function* () {
      const target = interaction.options.user("member") ?? interaction.user
      const period = GuildStats.periodOf(interaction.options)
      const stats = yield* GuildStats.load(interaction.guildId)
      return render(stats, interaction.guildName, yield* figures(stats, target.id, period))
    }).pipe(Effect.withSpan("Commands.rank")),
})
