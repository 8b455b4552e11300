import { Either, ParseResult, Schema } from "effect"
import { StoredEmoji } from "./Emoji"
import { InvalidSettingsValue } from "./Errors"
import { isTimeZone } from "./PeriodKey"
import { Snowflake } from "./Snowflake"

/**
 * Settings of guilds, roles, channels and members with ActivityRank's defaults and command limits
 * (reference §1.1). Decoding `{}` gives the defaults; decoding a stored row checks every limit.
 * The SQL tables use the same names as columns; booleans are booleans here.
 */

const int = (minimum: number, maximum: number) => Schema.Int.pipe(Schema.between(minimum, maximum))

const withDefault = <S extends Schema.Schema.Any>(schema: S, value: Schema.Schema.Type<S>) =>
  Schema.optionalWith(schema, { default: () => value })

const text = (maxLength: number, value: string) =>
  withDefault(Schema.String.pipe(Schema.maxLength(maxLength)), value)

const flag = (value: boolean) => withDefault(Schema.Boolean, value)

const count = (minimum: number, maximum: number, value: number) =>
  withDefault(int(minimum, maximum), value)

/** Epoch seconds; 0 means "never" / "not recorded". */
const EpochSeconds = Schema.NonNegativeInt

/** An IANA time zone name the runtime's `Intl` knows. */
export const TimeZone = Schema.String.pipe(
  Schema.filter(isTimeZone, { message: (issue) => `${String(issue.actual)} is no IANA time zone` }),
  Schema.annotations({
    identifier: "TimeZone",
    arbitrary: () => (fc) =>
      fc.constantFrom(
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Pacific/Tongatapu",
        "Asia/Kolkata",
      ),
  }),
)

/** Day the week starts on: 0 = Sunday … 6 = Saturday. */
export const WeekStartsOn = int(0, 6)

export const GuildSettings = Schema.Struct({
  voteTag: text(56, "likes"),
  voteEmote: withDefault(StoredEmoji.pipe(Schema.maxLength(128)), "❤️"),
  bonusTag: text(56, "bonus"),
  bonusEmote: withDefault(StoredEmoji.pipe(Schema.maxLength(128)), "🏆"),
  entriesPerPage: count(4, 20, 12),
  showNicknames: flag(false),

  textXp: flag(true),
  voiceXp: flag(true),
  inviteXp: flag(true),
  voteXp: flag(true),
  /** Only whether bonus is displayed; never blocks accrual. */
  bonusXp: flag(true),

  notifyLevelupDm: flag(false),
  notifyLevelupCurrentChannel: flag(false),
  notifyLevelupWithRole: flag(true),
  takeAwayAssignedRolesOnLevelDown: flag(false),

  levelFactor: count(20, 400, 100),
  voteCooldownSeconds: count(180, 86_400, 1_800),
  textMessageCooldownSeconds: count(0, 120, 0),

  xpPerVoiceMinute: count(0, 5, 3),
  xpPerTextMessage: count(0, 10, 6),
  xpPerVote: count(0, 100, 30),
  xpPerInvite: count(0, 1_000, 300),
  // ActivityRank has no command for it (always 1); the upper limit is ours.
  xpPerBonus: count(0, 100, 1),
  bonusPerTextMessage: count(0, 20, 6),
  bonusPerVoiceMinute: count(0, 10, 3),
  bonusPerVote: count(0, 200, 30),
  bonusPerInvite: count(0, 2_000, 200),
  /** Bonus time is on while `bonusUntil` (epoch seconds) is after now; 0 = none. */
  bonusUntil: withDefault(EpochSeconds, 0),

  reactionVote: flag(false),
  allowMutedXp: flag(true),
  allowDeafenedXp: flag(true),
  allowSoloXp: flag(true),

  levelupChannelId: withDefault(Schema.NullOr(Snowflake), null),
  serverJoinChannelId: withDefault(Schema.NullOr(Snowflake), null),
  levelupMessage: text(2_048, ""),
  serverJoinMessage: text(1_024, ""),
  roleAssignMessage: text(1_024, ""),
  roleDeassignMessage: text(1_024, ""),

  resetDeletedMembers: flag(false),
  stickyLevelRoles: flag(true),
  timeZone: withDefault(TimeZone, "UTC"),
  weekStartsOn: withDefault(WeekStartsOn, 0),
  isBanned: flag(false),
  addedAt: withDefault(EpochSeconds, 0),
}).annotations({ identifier: "GuildSettings" })
export type GuildSettings = typeof GuildSettings.Type

/** A guild nobody has configured. */
export const defaults: GuildSettings = Schema.decodeSync(GuildSettings)({})

/** Whether bonus time is on at `atMillis`. */
export const isBonusTime = (settings: GuildSettings, atMillis: number): boolean =>
  settings.bonusUntil * 1000 > atMillis

export const RoleSettings = Schema.Struct({
  roleId: Snowflake,
  /** Level at which the role is given; 0 = never. */
  assignLevel: count(0, 1_000, 0),
  /** Level at which the role is taken away; 0 = never. */
  deassignLevel: count(0, 1_000, 0),
  assignMessage: text(1_024, ""),
  deassignMessage: text(1_024, ""),
  /** Per-role XP overrides; 0 = no override. */
  xpPerVoiceMinute: count(0, 15, 0),
  xpPerTextMessage: count(0, 30, 0),
  xpPerVote: count(0, 300, 0),
  xpPerInvite: count(0, 3_000, 0),
  /** Members holding the role earn nothing. */
  noXp: flag(false),
})
  .pipe(
    Schema.filter(
      (role) =>
        role.assignLevel === 0 ||
        role.deassignLevel === 0 ||
        role.assignLevel < role.deassignLevel ||
        `a role must be assigned (level ${role.assignLevel}) before it is removed ` +
          `(level ${role.deassignLevel})`,
    ),
  )
  .annotations({ identifier: "RoleSettings" })
export type RoleSettings = typeof RoleSettings.Type

/** The settings of a role nobody has configured. */
export const defaultRoleSettings = (roleId: Snowflake): RoleSettings =>
  Schema.decodeSync(RoleSettings)({ roleId })

/** Whether a role takes part in level roles (has an assign or deassign level). */
export const isLevelRole = (role: RoleSettings): boolean =>
  role.assignLevel !== 0 || role.deassignLevel !== 0

export const ChannelSettings = Schema.Struct({
  /** A channel or a category. */
  channelId: Snowflake,
  /** The channel (or every channel of the category) gives no XP. */
  noXp: flag(false),
}).annotations({ identifier: "ChannelSettings" })
export type ChannelSettings = typeof ChannelSettings.Type

export const defaultChannelSettings = (channelId: Snowflake): ChannelSettings =>
  Schema.decodeSync(ChannelSettings)({ channelId })

export const MemberSettings = Schema.Struct({
  /** The member allows level-up notices by DM (the guild must allow them too). */
  notifyLevelupDm: flag(true),
  /** The member's reactions may count as votes. */
  reactionVote: flag(true),
  /** Who the member declared as their inviter; set once. */
  inviter: withDefault(Schema.NullOr(Snowflake), null),
}).annotations({ identifier: "MemberSettings" })
export type MemberSettings = typeof MemberSettings.Type

export const defaultMemberSettings: MemberSettings = Schema.decodeSync(MemberSettings)({})

/** Turns a failed decode into the first issue, as a field and a sentence. */
const firstIssue = (error: ParseResult.ParseError, record: string): InvalidSettingsValue => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  return new InvalidSettingsValue({
    field: issue?.path.map(String).join(".") || record,
    reason: issue?.message ?? error.message,
  })
}

const updateWith =
  <A, I>(schema: Schema.Schema<A, I>, record: string) =>
  (current: A, changes: Partial<I>): Either.Either<A, InvalidSettingsValue> => {
    const encoded = Schema.encodeSync(schema)(current)
    return Schema.decodeUnknownEither(schema)({ ...encoded, ...changes }).pipe(
      Either.mapLeft((error) => firstIssue(error, record)),
    )
  }

/**
 * Applies changes (in stored form, e.g. `{ levelFactor: 150 }` or `{ voteEmote: ":fire:" }`) to
 * settings, checking every limit; the first broken one is the error.
 */
export const update: (
  current: GuildSettings,
  changes: Partial<typeof GuildSettings.Encoded>,
) => Either.Either<GuildSettings, InvalidSettingsValue> = updateWith(GuildSettings, "guild")

/** Like `update`, for a role (the assign-before-deassign rule included). */
export const updateRole: (
  current: RoleSettings,
  changes: Partial<typeof RoleSettings.Encoded>,
) => Either.Either<RoleSettings, InvalidSettingsValue> = updateWith(RoleSettings, "role")
