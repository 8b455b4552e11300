/**
 * The commands Tally serves, by name: what `deploy-commands` registers with Discord and what
 * `Interactions` dispatches to. A new command is one file under `commands/` and one entry here.
 */
import type { RESTPostAPIChatInputApplicationCommandsJSONBody } from "discord-api-types/v10"
import { type Command, type CommandDefinition, deploymentJson } from "./Command"
import * as rank from "./rank"
import * as top from "./top"

export interface Registry {
  readonly definitions: ReadonlyArray<CommandDefinition>
  readonly find: (name: string) => Command | undefined
  /** The bulk-overwrite body for `PUT /applications/{app}/commands`. */
  readonly deploymentJson: ReadonlyArray<RESTPostAPIChatInputApplicationCommandsJSONBody>
}

const COMMAND_NAME = /^[-_\p{L}\p{N}]{1,32}$/u

export const make = (commands: ReadonlyArray<Command>): Registry => {
  const byName = new Map<string, Command>()
  for (const command of commands) {
    const { name, description } = command.definition
    if (!COMMAND_NAME.test(name) || name !== name.toLowerCase()) {
      throw new Error(`command name "${name}" is not a valid Discord command name`)
    }
    if (description.length < 1 || description.length > 100) {
      throw new Error(`command /${name}: the description must be 1 to 100 characters`)
    }
    if (byName.has(name)) throw new Error(`command /${name} is defined twice`)
    byName.set(name, command)
  }
  const definitions = commands.map((command) => command.definition)
  return {
    definitions,
    find: (name) => byName.get(name),
    deploymentJson: deploymentJson(definitions),
  }
}

/** Every command Tally has. */
export const all: ReadonlyArray<Command> = [rank.command, top.command]

export const standard: Registry = make(all)
