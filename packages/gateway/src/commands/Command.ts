/**
 * What a slash command is: a definition (name, description, options with their limits, the
 * default member permissions Discord applies) and a handler. The framework (`Interactions`)
 * decodes and checks the options against the definition before the handler runs, so a handler
 * sees only values inside their limits; out-of-range or missing values are answered with a
 * sentence naming the option.
 */
import type { ManagerClient } from "@tally/manager/ManagerClient"
import type { ShardClients } from "@tally/sql/ShardClients"
import {
  type APIApplicationCommandOption,
  type APIEmbed,
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
} from "discord-api-types/v10"
import { Data, type Effect } from "effect"

// ---------------------------------------------------------------------------------------------
// Definitions

interface OptionBase {
  readonly name: string
  readonly description: string
  readonly required?: boolean
}

export interface Choice<A> {
  readonly name: string
  readonly value: A
}

export type ValueOption =
  | (OptionBase & {
      readonly type: "string"
      readonly choices?: ReadonlyArray<Choice<string>>
      readonly minLength?: number
      readonly maxLength?: number
    })
  | (OptionBase & {
      readonly type: "integer" | "number"
      readonly choices?: ReadonlyArray<Choice<number>>
      readonly minValue?: number
      readonly maxValue?: number
    })
  | (OptionBase & { readonly type: "boolean" | "user" | "role" | "mentionable" })
  | (OptionBase & { readonly type: "channel"; readonly channelTypes?: ReadonlyArray<number> })

export interface SubcommandOption {
  readonly type: "subcommand"
  readonly name: string
  readonly description: string
  readonly options?: ReadonlyArray<ValueOption>
}

export interface SubcommandGroupOption {
  readonly type: "subcommandGroup"
  readonly name: string
  readonly description: string
  readonly options: ReadonlyArray<SubcommandOption>
}

export type OptionDefinition = ValueOption | SubcommandOption | SubcommandGroupOption

export interface CommandDefinition {
  /** Lower case, 1–32 characters, as Discord requires. */
  readonly name: string
  readonly description: string
  readonly options?: ReadonlyArray<OptionDefinition>
  /**
   * Who may see and use the command by default (Discord side; server admins can change it).
   * None: everyone. Deployed as `default_member_permissions`.
   */
  readonly defaultMemberPermissions?: bigint
  /**
   * Permission bits the invoking member must hold in the channel, checked by Tally on every use
   * from the interaction's own `member.permissions` (Administrator grants all).
   */
  readonly requiredPermissions?: bigint
  /** Stat commands share the per-member stat cooldown (reference §6.0). */
  readonly statCooldown?: boolean
  /** Whether the deferred answer is visible to the caller only. */
  readonly ephemeral?: boolean
}

// ---------------------------------------------------------------------------------------------
// What a handler receives and returns

/** A user named by an option, with what the interaction resolved about them. */
export interface ResolvedUser {
  readonly id: string
  readonly username: string | null
  readonly globalName: string | null
  readonly nick: string | null
  readonly bot: boolean
}

export type OptionValue = string | number | boolean

/** Options after decoding: only values the definition allows, by option name. */
export interface Options {
  /** The chosen subcommand path, e.g. `["server", "xp"]` for `/reset server xp`. */
  readonly subcommand: ReadonlyArray<string>
  readonly string: (name: string) => string | undefined
  readonly number: (name: string) => number | undefined
  readonly boolean: (name: string) => boolean | undefined
  /** A user, member or role id option's snowflake. */
  readonly id: (name: string) => string | undefined
  readonly user: (name: string) => ResolvedUser | undefined
}

export interface CommandInteraction {
  readonly interactionId: string
  readonly applicationId: string
  readonly commandName: string
  readonly guildId: string
  readonly guildName: string
  readonly channelId: string
  readonly user: ResolvedUser
  /** The member's permission bits in the channel. */
  readonly permissions: bigint
  readonly locale: string
  readonly options: Options
}

export interface Reply {
  readonly content?: string
  readonly embeds?: ReadonlyArray<APIEmbed>
}

/** A refusal or failure the user should read as it is (a sentence, no stack trace). */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}

/** Services every handler may use: the manager's routes and the DB shards. */
export type CommandServices = ManagerClient | ShardClients

export interface Command {
  readonly definition: CommandDefinition
  /**
   * Builds the answer. Typed failures other than `CommandFailed` (database, manager) are logged
   * and answered with a generic sentence; `CommandFailed` is shown as it is.
   */
  readonly run: (
    interaction: CommandInteraction,
  ) => Effect.Effect<Reply, CommandFailed | UnexpectedFailure, CommandServices>
}

/** Failures a handler does not answer itself (a DB shard or the manager is down, bad rows). */
export type UnexpectedFailure = { readonly _tag: string }

export const make = (command: Command): Command => command

// ---------------------------------------------------------------------------------------------
// Deployment JSON

const optionTypes = {
  string: ApplicationCommandOptionType.String,
  integer: ApplicationCommandOptionType.Integer,
  number: ApplicationCommandOptionType.Number,
  boolean: ApplicationCommandOptionType.Boolean,
  user: ApplicationCommandOptionType.User,
  channel: ApplicationCommandOptionType.Channel,
  role: ApplicationCommandOptionType.Role,
  mentionable: ApplicationCommandOptionType.Mentionable,
  subcommand: ApplicationCommandOptionType.Subcommand,
  subcommandGroup: ApplicationCommandOptionType.SubcommandGroup,
} as const

export const optionTypeOf = (option: OptionDefinition): ApplicationCommandOptionType =>
  optionTypes[option.type]

/** Keeps the fields that are set, under Discord's names. */
const defined = (fields: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))

const optionJson = (option: OptionDefinition): APIApplicationCommandOption => {
  const base = { name: option.name, description: option.description, type: optionTypeOf(option) }
  if (option.type === "subcommand" || option.type === "subcommandGroup") {
    return { ...base, ...defined({ options: option.options?.map(optionJson) }) } as never
  }
  return {
    ...base,
    ...defined({
      required: option.required === true ? true : undefined,
      choices: "choices" in option ? option.choices : undefined,
      min_length: "minLength" in option ? option.minLength : undefined,
      max_length: "maxLength" in option ? option.maxLength : undefined,
      min_value: "minValue" in option ? option.minValue : undefined,
      max_value: "maxValue" in option ? option.maxValue : undefined,
      channel_types: "channelTypes" in option ? option.channelTypes : undefined,
    }),
  } as never
}

/** The body of a bulk overwrite: every definition as Discord's JSON, guild-only. */
export const deploymentJson = (
  definitions: ReadonlyArray<CommandDefinition>,
): ReadonlyArray<RESTPostAPIChatInputApplicationCommandsJSONBody> =>
  definitions.map((definition) => ({
    type: ApplicationCommandType.ChatInput,
    name: definition.name,
    description: definition.description,
    ...(definition.options ? { options: definition.options.map(optionJson) } : {}),
    default_member_permissions:
      definition.defaultMemberPermissions === undefined
        ? null
        : definition.defaultMemberPermissions.toString(),
    integration_types: [ApplicationIntegrationType.GuildInstall],
    contexts: [InteractionContextType.Guild],
  }))
