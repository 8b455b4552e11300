import { SqlSchema } from "@effect/sql"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Clock, Effect, Option, type ParseResult, Schema } from "effect"
import { Bool, Counter, Id, OptionalId } from "./Columns"

// TODO: decode with the domain's `GuildSettings` schema — remove these field definitions when
// `@tally/domain/GuildSettings` lands (same names, so only the schema's source changes).
/** A guild's settings as stored in `guild` (columns are these names in snake_case). */
export const GuildSettings = Schema.Struct({
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
export type GuildSettings = typeof GuildSettings.Type

/** A role's level thresholds, messages and XP overrides (`guild_role`). */
export const RoleSettings = Schema.Struct({
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
export type RoleSettings = typeof RoleSettings.Type

/** A channel's (or category's) settings (`guild_channel`). */
export const ChannelSettings = Schema.Struct({ channelId: Id, noXp: Bool })
export type ChannelSettings = typeof ChannelSettings.Type

/** A member's own settings (`guild_member`); defaults when the member has no row yet. */
export const MemberSettings = Schema.Struct({
  notifyLevelupDm: Bool,
  reactionVote: Bool,
  inviter: OptionalId,
})
export type MemberSettings = typeof MemberSettings.Type

export const defaultMemberSettings: MemberSettings = {
  notifyLevelupDm: true,
  reactionVote: true,
  inviter: null,
}

const guildColumns = Object.keys(GuildSettings.fields)
const roleColumns = Object.keys(RoleSettings.fields)

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
    yield* sql`INSERT IGNORE INTO guild ${sql.insert({ guildId, addedAt: yield* nowSeconds })}`
    return yield* Effect.flatten(find(guildId))
  }).pipe(Effect.catchTag("NoSuchElementException", () => Effect.die("guild row vanished")))

/** Changes some of a guild's settings (creating its row first if needed). */
export const updateGuild = (
  guildId: Snowflake,
  changes: Partial<GuildSettings>,
): Effect.Effect<GuildSettings, Failure, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const encoded = yield* Schema.encode(Schema.partial(GuildSettings))(changes)
    yield* guild(guildId)
    if (Object.keys(encoded).length > 0) {
      yield* sql`UPDATE guild SET ${sql.update(encoded)} WHERE guild_id = ${guildId}`
    }
    return yield* guild(guildId)
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
    const noXp = channel.noXp ? 1 : 0
    yield* sql`INSERT INTO guild_channel ${sql.insert({ guildId, channelId: channel.channelId, noXp })}
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
    const encoded = yield* Schema.encode(Schema.partial(MemberSettings))(changes)
    if (Object.keys(encoded).length === 0) return
    yield* sql`INSERT INTO guild_member ${sql.insert({ guildId, userId, ...encoded })}
      ON DUPLICATE KEY UPDATE ${sql.update(encoded)}`
  })
