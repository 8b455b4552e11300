/**
 * A guild's flushed data as one document: members with XP per period (as of `exportedAt`, in the
 * guild's time zone), level and all-time statistics; channels with all-time text messages and
 * voice minutes. Members by all-time XP descending, then user id ascending. Read only: nothing is
 * created on the DB shard.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as GuildSettings from "@tally/domain/GuildSettings"
import * as LevelCurve from "@tally/domain/LevelCurve"
import * as PeriodKey from "@tally/domain/PeriodKey"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Clock, Effect } from "effect"

export interface ExportedMember {
  readonly userId: string
  readonly xp: {
    readonly alltime: number
    readonly year: number
    readonly month: number
    readonly week: number
    readonly day: number
  }
  readonly level: number
  readonly textMessages: number
  readonly voiceMinutes: number
  readonly invites: number
  readonly votes: number
  readonly bonus: number
}

export interface ExportedChannel {
  readonly channelId: string
  readonly textMessages: number
  readonly voiceMinutes: number
}

export interface GuildExport {
  readonly guildId: string
  readonly exportedAt: string
  readonly levelFactor: number
  readonly members: ReadonlyArray<ExportedMember>
  readonly channels: ReadonlyArray<ExportedChannel>
}

const byUserId = (a: string, b: string) => {
  const left = BigInt(a)
  const right = BigInt(b)
  return left < right ? -1 : left > right ? 1 : 0
}

/** Reads one guild from its DB shard (the `SqlClient` in context). */
export const read = (guildId: Snowflake) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const now = yield* Clock.currentTimeMillis

    const settingsRows = yield* sql<{
      levelFactor: number
      timeZone: string
      weekStartsOn: number
    }>`SELECT level_factor, time_zone, week_starts_on FROM guild WHERE guild_id = ${guildId}`
    const settings = settingsRows[0] ?? GuildSettings.defaults
    const levelFactor = Number(settings.levelFactor)
    const current = PeriodKey.periodKeys(now, settings.timeZone, Number(settings.weekStartsOn))

    const xpRows = yield* sql<{
      userId: string
      alltime: string | number
      year: string | number
      yearKey: number
      month: string | number
      monthKey: number
      week: string | number
      weekKey: number
      day: string | number
      dayKey: number
    }>`SELECT user_id, alltime, year, year_key, month, month_key, week, week_key, day, day_key
       FROM guild_member WHERE guild_id = ${guildId}`

    const memberStatistic = (table: "invite" | "vote" | "bonus") =>
      sql<{ userId: string; amount: string | number }>`
        SELECT user_id, alltime AS amount FROM ${sql(table)} WHERE guild_id = ${guildId}`
    const channelStatistic = (table: "text_message" | "voice_minute") =>
      sql<{ userId: string; channelId: string; amount: string | number }>`
        SELECT user_id, channel_id, alltime AS amount FROM ${sql(table)} WHERE guild_id = ${guildId}`

    const [textRows, voiceRows, inviteRows, voteRows, bonusRows] = yield* Effect.all([
      channelStatistic("text_message"),
      channelStatistic("voice_minute"),
      memberStatistic("invite"),
      memberStatistic("vote"),
      memberStatistic("bonus"),
    ])

    type Totals = {
      -readonly [K in keyof Omit<ExportedMember, "userId" | "level">]: ExportedMember[K]
    }
    const members = new Map<string, Totals>()
    const member = (userId: string): Totals => {
      let found = members.get(userId)
      if (!found) {
        found = {
          xp: { alltime: 0, year: 0, month: 0, week: 0, day: 0 },
          textMessages: 0,
          voiceMinutes: 0,
          invites: 0,
          votes: 0,
          bonus: 0,
        }
        members.set(userId, found)
      }
      return found
    }
    const inPeriod = (amount: string | number, key: number, currentKey: number) =>
      PeriodKey.isCurrent(Number(key), currentKey) ? Number(amount) : 0

    for (const row of xpRows) {
      member(String(row.userId)).xp = {
        alltime: Number(row.alltime),
        year: inPeriod(row.year, row.yearKey, current.year),
        month: inPeriod(row.month, row.monthKey, current.month),
        week: inPeriod(row.week, row.weekKey, current.week),
        day: inPeriod(row.day, row.dayKey, current.day),
      }
    }

    const channels = new Map<string, { textMessages: number; voiceMinutes: number }>()
    const channel = (channelId: string) => {
      let found = channels.get(channelId)
      if (!found) {
        found = { textMessages: 0, voiceMinutes: 0 }
        channels.set(channelId, found)
      }
      return found
    }
    for (const row of textRows) {
      member(String(row.userId)).textMessages += Number(row.amount)
      channel(String(row.channelId)).textMessages += Number(row.amount)
    }
    for (const row of voiceRows) {
      member(String(row.userId)).voiceMinutes += Number(row.amount)
      channel(String(row.channelId)).voiceMinutes += Number(row.amount)
    }
    for (const row of inviteRows) member(String(row.userId)).invites += Number(row.amount)
    for (const row of voteRows) member(String(row.userId)).votes += Number(row.amount)
    for (const row of bonusRows) member(String(row.userId)).bonus += Number(row.amount)

    const document: GuildExport = {
      guildId,
      exportedAt: new Date(now).toISOString(),
      levelFactor,
      members: [...members]
        .map(([userId, totals]) => ({
          userId,
          xp: totals.xp,
          level: LevelCurve.level(totals.xp.alltime, levelFactor),
          textMessages: totals.textMessages,
          voiceMinutes: totals.voiceMinutes,
          invites: totals.invites,
          votes: totals.votes,
          bonus: totals.bonus,
        }))
        .sort((a, b) => b.xp.alltime - a.xp.alltime || byUserId(a.userId, b.userId)),
      channels: [...channels]
        .map(([channelId, totals]) => ({ channelId, ...totals }))
        .sort((a, b) => byUserId(a.channelId, b.channelId)),
    }
    return document
  })

const csvColumns = [
  "userId",
  "xpAlltime",
  "xpYear",
  "xpMonth",
  "xpWeek",
  "xpDay",
  "level",
  "textMessages",
  "voiceMinutes",
  "invites",
  "votes",
  "bonus",
] as const

/** One row per member, the JSON member's fields flattened (`xp.alltime` → `xpAlltime`). */
export const toCsv = (document: GuildExport): string => {
  const rows = document.members.map((member) =>
    [
      member.userId,
      member.xp.alltime,
      member.xp.year,
      member.xp.month,
      member.xp.week,
      member.xp.day,
      member.level,
      member.textMessages,
      member.voiceMinutes,
      member.invites,
      member.votes,
      member.bonus,
    ].join(","),
  )
  return `${[csvColumns.join(","), ...rows].join("\n")}\n`
}

export const toJson = (document: GuildExport): string => `${JSON.stringify(document, null, 2)}\n`
