import { SqlSchema } from "@effect/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Domain from "@tally/domain/GuildSettings"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Clock, Effect, Option, type ParseResult, Schema } from "effect"
import { Bool, Counter, Id, OptionalId } from "./Columns"

/** The `guild` row's columns (these names in snake_case) as mysql2 reads them. */
const GuildRow = Schema.Struct({
  voteTag: Schema.String,
  voteEmote: Schema.String,
  bonusTag: Schema.String,
  bonusEmote: Schema.String,
  entriesPerPage: Schema.Number,
  showNicknames: Bool,
  textXp: Bool,
  voiceXp: Bool,
  inviteXp: Bool,
  voteXp: Bool,
  bonusXp: Bool,
  notifyLevelupDm: Bool,
  notifyLevelupCurrentChannel: Bool,
  notifyLevelupWithRole: Bool,
  takeAwayAssignedRolesOnLevelDown: Bool,
  levelFactor: Schema.Number,
  voteCooldownSeconds: Schema.Number,
  textMessageCooldownSeconds: Schema.Number,
  xpPerVoiceMinute: Schema.Number,
  xpPerTextMessage: Schema.Number,
  xpPerVote: Schema.Number,
  xpPerInvite: Schema.Number,
  xpPerBonus: Schema.Number,
  bonusPerTextMessage: Schema.Number,
  bonusPerVoiceMinute: Schema.Number,
  bonusPerVote: Schema.Number,
  bonusPerInvite: Schema.Number,
  bonusUntil: Counter,
  reactionVote: Bool,
  allowMutedXp: Bool,
  allowDeafenedXp: Bool,
  allowSoloXp: Bool,
  levelupChannelId: OptionalId,
  serverJoinChannelId: OptionalId,
  levelupMessage: Schema.String,
  serverJoinMessage: Schema.String,
  roleAssignMessage: Schema.String,
  roleDeassignMessage: Schema.String,
  resetDeletedMembers: Bool,
  stickyLevelRoles: Bool,
  timeZone: Schema.String,
  weekStartsOn: Schema.Number,
  isBanned: Bool,
  addedAt: Counter,
})

/** A guild's settings (`guild`), checked against the domain's limits when read and written. */
export const GuildSettings = Schema.compose(GuildRow, Domain.GuildSettings, { strict: false })
export type GuildSettings = Domain.GuildSettings

const RoleRow = Schema.Struct({
  roleId: Id,
  assignLevel: Schema.Number,
  deassignLevel: Schema.Number,
  assignMessage: Schema.String,
  deassignMessage: Schema.String,
  xpPerVoiceMinute: Schema.Number,
  xpPerTextMessage: Schema.Number,
  xpPerVote: Schema.Number,
  xpPerInvite: Schema.Number,
  noXp: Bool,
})

/** A role's level thresholds, messages and XP overrides (`guild_role`). */
export const RoleSettings = Schema.compose(RoleRow, Domain.RoleSettings, { strict: false })
export type RoleSettings = Domain.RoleSettings

/** A channel's (or category's) settings (`guild_channel`). */
export const ChannelSettings = Schema.compose(
  Schema.Struct({ channelId: Id, noXp: Bool }),
  Domain.ChannelSettings,
  { strict: false },
)
export type ChannelSettings = Domain.ChannelSettings

/** A member's own settings (`guild_member`); defaults when the member has no row yet. */
export const MemberSettings = Schema.compose(
  Schema.Struct({ notifyLevelupDm: Bool, reactionVote: Bool, inviter: OptionalId }),
  Domain.MemberSettings,
  { strict: false },
)
export type MemberSettings = Domain.MemberSettings

export const defaultMemberSettings: MemberSettings = Domain.defaultMemberSettings

const guildColumns = Object.keys(GuildRow.fields)
const roleColumns = Object.keys(RoleRow.fields)

type Failure = SqlError | ParseResult.ParseError

const nowSeconds = Effect.map(Clock.currentTimeMillis, (millis) => Math.floor(millis / 1000))

/** A guild's settings; the row with the defaults is created on first read. */
export const guild = (
  guildId: Snowflake,
): Effect.Effect<GuildSettings, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const find = SqlSchema.findOne({
      Request: Id,
      Result: GuildSettings,
      execute: (id) =>
        sql`SELECT ${sql.csv(guildColumns.map((column) => sql`${sql(column)}`))} FROM guild WHERE guild_id = ${id}`,
    })
    const existing = yield* find(guildId)
    if (Option.isSome(existing)) return existing.value
    const row = yield* Schema.encode(GuildSettings)({
      ...Domain.defaults,
      addedAt: yield* nowSeconds,
    })
    yield* sql`INSERT IGNORE INTO guild ${sql.insert({ guildId, ...row })}`
    return yield* Effect.flatten(find(guildId))
  }).pipe(Effect.catchTag("NoSuchElementException", () => Effect.die("guild row vanished")))

/**
 * Changes some of a guild's settings (creating its row first if needed). A value outside the
 * domain's limits fails with a `ParseError` and nothing is written.
 */
export const updateGuild = (
  guildId: Snowflake,
  changes: Partial<GuildSettings>,
): Effect.Effect<GuildSettings, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const current = yield* guild(guildId)
    const next = { ...current, ...changes }
    const row = yield* Schema.encode(GuildSettings)(next)
    yield* sql`UPDATE guild SET ${sql.update(row)} WHERE guild_id = ${guildId}`
    return yield* Schema.decodeUnknown(GuildSettings)(row)
  })

/** The guild's configured roles (roles without a row have the defaults: no thresholds, no override). */
export const roles = (guildId: Snowflake) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    SqlSchema.findAll({
      Request: Id,
      Result: RoleSettings,
      execute: (id) =>
        sql`SELECT ${sql.csv(roleColumns.map((column) => sql`${sql(column)}`))} FROM guild_role WHERE guild_id = ${id} ORDER BY role_id`,
    })(guildId),
  )

/** Stores a role's settings whole. */
export const putRole = (guildId: Snowflake, role: RoleSettings) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const encoded = yield* Schema.encode(RoleSettings)(role)
    const { roleId: _, ...settings } = encoded
    yield* sql`INSERT INTO guild_role ${sql.insert({ guildId, ...encoded })}
      ON DUPLICATE KEY UPDATE ${sql.update(settings)}`
  })

/** Forgets a role's settings (the role was deleted). */
export const deleteRole = (guildId: Snowflake, roleId: Snowflake) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`DELETE FROM guild_role WHERE guild_id = ${guildId} AND role_id = ${roleId}`,
  )

/** The guild's configured channels and categories. */
export const channels = (guildId: Snowflake) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    SqlSchema.findAll({
      Request: Id,
      Result: ChannelSettings,
      execute: (id) =>
        sql`SELECT channel_id, no_xp FROM guild_channel WHERE guild_id = ${id} ORDER BY channel_id`,
    })(guildId),
  )

/** Stores a channel's settings whole. */
export const putChannel = (guildId: Snowflake, channel: ChannelSettings) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { channelId, noXp } = yield* Schema.encode(ChannelSettings)(channel)
    yield* sql`INSERT INTO guild_channel ${sql.insert({ guildId, channelId, noXp })}
      ON DUPLICATE KEY UPDATE no_xp = ${noXp}`
  })

/** A member's own settings, or the defaults when the member has no row yet. */
export const member = (guildId: Snowflake, userId: Snowflake) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    SqlSchema.findOne({
      Request: Schema.Struct({ guildId: Id, userId: Id }),
      Result: MemberSettings,
      execute: (key) =>
        sql`SELECT notify_levelup_dm, reaction_vote, inviter FROM guild_member
          WHERE guild_id = ${key.guildId} AND user_id = ${key.userId}`,
    })({ guildId, userId }),
  ).pipe(Effect.map(Option.getOrElse(() => defaultMemberSettings)))

/** Changes some of a member's settings; the member's XP is untouched. */
export const updateMember = (
  guildId: Snowflake,
  userId: Snowflake,
  changes: Partial<MemberSettings>,
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    if (Object.keys(changes).length === 0) return
    const current = yield* member(guildId, userId)
    const encoded = yield* Schema.encode(MemberSettings)({ ...current, ...changes })
    yield* sql`INSERT INTO guild_member ${sql.insert({ guildId, userId, ...encoded })}
      ON DUPLICATE KEY UPDATE ${sql.update(encoded)}`
  })
