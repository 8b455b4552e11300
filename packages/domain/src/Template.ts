import type { GuildSettings, RoleSettings } from "./GuildSettings"
import type { Snowflake } from "./Snowflake"

/**
 * Message templates (reference §5.3, §5.5): `<mention>`, `<name>`, `<level>`, `<servername>` for
 * the member, `<rolename>` / `<role>` and `<rolemention>` for a role. Placeholders are replaced
 * in one pass, so a name that itself contains `<level>` is left as written; a placeholder without
 * a value (a role placeholder in the level-up message) stays literal.
 */

export interface TemplateValues {
  readonly userId?: Snowflake | undefined
  /** The member's username (not the nickname). */
  readonly name?: string | undefined
  readonly level?: number | undefined
  readonly serverName?: string | undefined
  readonly role?: { readonly id: Snowflake; readonly name: string } | undefined
}

const placeholder = /<(mention|name|level|servername|rolename|role|rolemention)>/g

const placeholderValue = (name: string, values: TemplateValues): string | undefined => {
  switch (name) {
    case "mention":
      return values.userId === undefined ? undefined : `<@${values.userId}>`
    case "name":
      return values.name
    case "level":
      return values.level === undefined ? undefined : String(values.level)
    case "servername":
      return values.serverName
    case "rolename":
    case "role":
      return values.role?.name
    case "rolemention":
      return values.role === undefined ? undefined : `<@&${values.role.id}>`
    default:
      return undefined
  }
}

/** Fills the placeholders a template names with the values given. */
export const fill = (template: string, values: TemplateValues): string =>
  template.replace(placeholder, (whole, name: string) => placeholderValue(name, values) ?? whole)

export interface MemberValues {
  readonly userId: Snowflake
  readonly name: string
  readonly level: number
  readonly serverName: string
}

/** A role that changed, with its settings (for its own message) and its name. */
export interface ChangedRole {
  readonly settings: RoleSettings
  readonly name: string
}

/**
 * The level-up notice's text (§5.3), or null when there is nothing to say (the default guild's
 * level-ups are silent). Each given role contributes its assign message (else the guild's),
 * each taken role its deassign message (else the guild's); the guild's level-up message is added
 * when set and either `notifyLevelupWithRole` is on or there are no role messages.
 */
export const levelUpNotice = (input: {
  readonly settings: GuildSettings
  readonly member: MemberValues
  readonly added: ReadonlyArray<ChangedRole>
  readonly removed: ReadonlyArray<ChangedRole>
}): string | null => {
  const { settings, member } = input
  const roleMessage = (role: ChangedRole, own: string, fallback: string) => {
    const template = own !== "" ? own : fallback
    return template === ""
      ? null
      : fill(template, { ...member, role: { id: role.settings.roleId, name: role.name } })
  }
  const roleMessages = [
    ...input.added.map((role) =>
      roleMessage(role, role.settings.assignMessage, settings.roleAssignMessage),
    ),
    ...input.removed.map((role) =>
      roleMessage(role, role.settings.deassignMessage, settings.roleDeassignMessage),
    ),
  ].filter((text) => text !== null)

  const withLevelup =
    settings.levelupMessage !== "" && (settings.notifyLevelupWithRole || roleMessages.length === 0)
  const parts = withLevelup
    ? [fill(settings.levelupMessage, member), ...roleMessages]
    : roleMessages
  return parts.length === 0 ? null : parts.join("\n")
}

/** The greeting used when a guild sets no `serverJoinMessage`. */
export const defaultWelcome = "Welcome <mention>! We hope you enjoy your stay on <servername>."

/**
 * The welcome text (§5.5): the guild's join message or the default greeting, then the messages of
 * the level roles given on join, one per line (ActivityRank joined them with commas, §9.26).
 */
export const welcome = (input: {
  readonly settings: GuildSettings
  readonly member: Omit<MemberValues, "level">
  readonly roleMessages?: ReadonlyArray<string>
}): string => {
  const greeting = fill(
    input.settings.serverJoinMessage !== "" ? input.settings.serverJoinMessage : defaultWelcome,
    input.member,
  )
  return [greeting, ...(input.roleMessages ?? [])].join("\n")
}
