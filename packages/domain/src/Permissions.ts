/**
 * What a member may do in a channel: Discord's permission computation (the guild's roles, then
 * the channel's overwrites), for the bot to check before it posts.
 */
import { Permission as RolePermission } from "./LevelRoles"
import type { Snowflake } from "./Snowflake"

/** Discord permission bits read here. */
export const Permission = {
  Administrator: RolePermission.Administrator,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  SendMessagesInThreads: 1n << 38n,
} as const

const ALL = (1n << 64n) - 1n

/** A channel's permission overwrite; bits as Discord's decimal strings. */
export interface Overwrite {
  readonly id: Snowflake
  /** 0: a role (the guild's id: @everyone), 1: a member. */
  readonly type: number
  readonly allow: string
  readonly deny: string
}

export interface Member {
  readonly guildId: Snowflake
  readonly ownerId: Snowflake | null
  readonly userId: Snowflake
  readonly roleIds: ReadonlyArray<Snowflake>
  /** A role's permission bits (decimal string); undefined for a role not known. */
  readonly rolePermissions: (roleId: Snowflake) => string | undefined
}

/** Whether a value is permission bits as Discord writes them (a decimal string of 64 bits). */
export const isBits = (value: unknown): value is string =>
  typeof value === "string" && /^\d{1,20}$/.test(value) && BigInt(value) <= ALL

const bits = (decimal: string | undefined): bigint => (isBits(decimal) ? BigInt(decimal) : 0n)

/** The member's guild-wide permissions: @everyone and every role; the owner and admins hold all. */
export const base = (member: Member): bigint => {
  if (member.ownerId !== null && member.ownerId === member.userId) return ALL
  let permissions = bits(member.rolePermissions(member.guildId))
  for (const roleId of member.roleIds) permissions |= bits(member.rolePermissions(roleId))
  return (permissions & Permission.Administrator) !== 0n ? ALL : permissions
}

/**
 * The member's permissions in a channel with these overwrites (a thread's are its parent's):
 * @everyone's overwrite, then the member's roles' (their denies, then their allows, together),
 * then the member's own.
 */
export const inChannel = (member: Member, overwrites: ReadonlyArray<Overwrite>): bigint => {
  let permissions = base(member)
  if (permissions === ALL) return ALL
  const apply = (overwrite: Overwrite | undefined) => {
    if (overwrite !== undefined)
      permissions = (permissions & ~bits(overwrite.deny)) | bits(overwrite.allow)
  }
  apply(overwrites.find((overwrite) => overwrite.type === 0 && overwrite.id === member.guildId))
  let allow = 0n
  let deny = 0n
  for (const overwrite of overwrites) {
    // Discord never lists @everyone among a member's roles; if it did, its overwrite would
    // count twice here (harmless: the same bits again).
    if (overwrite.type === 0 && member.roleIds.includes(overwrite.id)) {
      allow |= bits(overwrite.allow)
      deny |= bits(overwrite.deny)
    }
  }
  permissions = (permissions & ~deny) | allow
  apply(overwrites.find((overwrite) => overwrite.type === 1 && overwrite.id === member.userId))
  return permissions
}

const has = (permissions: bigint, bit: bigint) => (permissions & bit) === bit

/** Whether these permissions let a message be posted (in a thread: `SendMessagesInThreads`). */
export const canSend = (permissions: bigint, inThread: boolean): boolean =>
  has(permissions, Permission.ViewChannel) &&
  has(permissions, inThread ? Permission.SendMessagesInThreads : Permission.SendMessages)
