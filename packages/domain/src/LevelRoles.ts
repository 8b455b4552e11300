import { type Data, Either } from "effect"
import { InvalidSettingsValue } from "./Errors"
import { isLevelRole, type RoleSettings } from "./GuildSettings"
import type { Snowflake } from "./Snowflake"
import * as TaggedEnum from "./TaggedEnum"

/**
 * Level roles (reference §5.1, §5.2): which roles a member gains and loses at a level, and which
 * of those the bot can actually give. Only level roles ever change; a role that cannot be given
 * is skipped on its own so that the others still apply.
 */

export interface RoleChanges {
  readonly add: ReadonlyArray<Snowflake>
  readonly remove: ReadonlyArray<Snowflake>
}

export const noChanges: RoleChanges = { add: [], remove: [] }

export interface LevelRolesInput {
  /** The member's current roles. */
  readonly memberRoleIds: ReadonlyArray<Snowflake>
  /** The guild's role settings; those without assign or deassign level are ignored. */
  readonly roles: Iterable<RoleSettings>
  readonly takeAwayAssignedRolesOnLevelDown: boolean
}

/**
 * The level roles to add and remove so that a member at `level` holds what the rules say. For
 * each level role: at or past its deassign level it goes; else at or past its assign level it
 * comes; else, with "take away on level down", a role assigned at a higher level goes. Because
 * the result depends only on the level, a jump over several levels applies every threshold
 * crossed. Roles held manually are removed at their deassign level too, as in ActivityRank.
 */
export const forLevel = (level: number, input: LevelRolesInput): RoleChanges => {
  const held = new Set(input.memberRoleIds)
  const add: Array<Snowflake> = []
  const remove: Array<Snowflake> = []
  for (const role of input.roles) {
    if (!isLevelRole(role)) continue
    const has = held.has(role.roleId)
    if (role.deassignLevel !== 0 && level >= role.deassignLevel) {
      if (has) remove.push(role.roleId)
    } else if (role.assignLevel !== 0 && level >= role.assignLevel) {
      if (!has) add.push(role.roleId)
    } else if (input.takeAwayAssignedRolesOnLevelDown && role.assignLevel !== 0) {
      if (has) remove.push(role.roleId)
    }
  }
  return { add, remove }
}

/** The role changes for a level change from `from` to `to`; none when the level is the same. */
export const changes = (
  input: LevelRolesInput & { readonly from: number; readonly to: number },
): RoleChanges => (input.from === input.to ? noChanges : forLevel(input.to, input))

// ---------------------------------------------------------------------------------------------
// Whether the bot can give or take a role

/** Discord permission bits that matter here. */
export const Permission = {
  KickMembers: 1n << 1n,
  BanMembers: 1n << 2n,
  Administrator: 1n << 3n,
  ManageChannels: 1n << 4n,
  ManageGuild: 1n << 5n,
  ManageRoles: 1n << 28n,
  ManageWebhooks: 1n << 29n,
} as const
export type PermissionName = keyof typeof Permission

/** Permissions a level role must not carry to be given automatically. */
export const dangerousPermissions: ReadonlyArray<PermissionName> = [
  "Administrator",
  "BanMembers",
  "KickMembers",
  "ManageGuild",
  "ManageChannels",
  "ManageRoles",
  "ManageWebhooks",
]

/** A role as the guild has it. */
export interface GuildRole {
  readonly id: Snowflake
  readonly position: number
  readonly permissions: bigint
  /** Roles of integrations and boosts, which nobody can give by hand. */
  readonly managed?: boolean | undefined
}

export type Assignability = Data.TaggedEnum<{
  Assignable: {}
  /** The guild has no such role (deleted). */
  Missing: {}
  Managed: {}
  /** At or above the bot's highest role. */
  TooHigh: { readonly rolePosition: number; readonly botPosition: number }
  /** Would be given, but carries permissions too powerful to hand out automatically. */
  Dangerous: { readonly permissions: ReadonlyArray<PermissionName> }
}>
export const Assignability = TaggedEnum.taggedEnum<Assignability>({
  Assignable: null,
  Missing: null,
  Managed: null,
  TooHigh: null,
  Dangerous: null,
})

/**
 * Whether the bot, whose highest role is at `botHighestPosition`, can give (`"add"`) or take
 * (`"remove"`) a role. Dangerous permissions only block giving.
 */
export const assignability = (
  role: GuildRole | undefined,
  botHighestPosition: number,
  direction: "add" | "remove",
): Assignability => {
  if (role === undefined) return Assignability.Missing()
  if (role.managed === true) return Assignability.Managed()
  if (role.position >= botHighestPosition) {
    return Assignability.TooHigh({ rolePosition: role.position, botPosition: botHighestPosition })
  }
  if (direction === "add") {
    const permissions = dangerousPermissions.filter(
      (name) => (role.permissions & Permission[name]) !== 0n,
    )
    if (permissions.length > 0) return Assignability.Dangerous({ permissions })
  }
  return Assignability.Assignable()
}

export interface SkippedRole {
  readonly roleId: Snowflake
  readonly direction: "add" | "remove"
  readonly why: Exclude<Assignability, { readonly _tag: "Assignable" }>
}

/** The changes the bot can make, and the roles it must skip (for the caller to report). */
export const applicable = (
  wanted: RoleChanges,
  guild: { readonly roles: ReadonlyMap<Snowflake, GuildRole>; readonly botHighestPosition: number },
): RoleChanges & { readonly skipped: ReadonlyArray<SkippedRole> } => {
  const skipped: Array<SkippedRole> = []
  const keep = (direction: "add" | "remove") => (roleId: Snowflake) => {
    const why = assignability(guild.roles.get(roleId), guild.botHighestPosition, direction)
    if (why._tag === "Assignable") return true
    skipped.push({ roleId, direction, why })
    return false
  }
  return {
    add: wanted.add.filter(keep("add")),
    remove: wanted.remove.filter(keep("remove")),
    skipped,
  }
}

/** A sentence for a role the bot had to skip. */
export const explainSkipped = (skippedRole: SkippedRole): string => {
  const role = `<@&${skippedRole.roleId}>`
  switch (skippedRole.why._tag) {
    case "Missing":
      return `${role} no longer exists.`
    case "Managed":
      return `${role} belongs to an integration and cannot be given or taken by bots.`
    case "TooHigh":
      return `${role} is above my highest role; move my role above it.`
    case "Dangerous":
      return (
        `${role} has powerful permissions (${skippedRole.why.permissions.join(", ")}), ` +
        "so I do not give it automatically."
      )
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration rules

/** At most this many roles may share one assign level (and, separately, one deassign level). */
export const maxRolesPerLevel = 3

/**
 * Checks a role's new levels against the guild's other level roles: at most three roles per
 * assign level and per deassign level; `@everyone` (id = guild id) is no level role.
 */
export const checkLevels = (
  guildId: Snowflake,
  updated: RoleSettings,
  others: Iterable<RoleSettings>,
): Either.Either<RoleSettings, InvalidSettingsValue> => {
  if (updated.roleId === guildId && isLevelRole(updated)) {
    return Either.left(
      new InvalidSettingsValue({ field: "roleId", reason: "@everyone cannot be a level role" }),
    )
  }
  const rest = [...others].filter((role) => role.roleId !== updated.roleId)
  for (const field of ["assignLevel", "deassignLevel"] as const) {
    const level = updated[field]
    if (level === 0) continue
    const sharing = rest.filter((role) => role[field] === level).length
    if (sharing >= maxRolesPerLevel) {
      return Either.left(
        new InvalidSettingsValue({
          field,
          reason: `at most ${maxRolesPerLevel} roles can share level ${level}`,
        }),
      )
    }
  }
  return Either.right(updated)
}
