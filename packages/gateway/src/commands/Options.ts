/**
 * Decoding a slash command's options against its definition. Discord's client enforces choices
 * and limits, but an interaction is only a payload: every value is checked again here, and a bad
 * one becomes a sentence naming the option and what it accepts.
 */
import { Either } from "effect"
import type {
  CommandDefinition,
  OptionDefinition,
  Options,
  OptionValue,
  ResolvedUser,
  ValueOption,
} from "./Command"
import { optionTypeOf } from "./Command"

/** An option as it arrives in `data.options`. */
export interface RawOption {
  readonly name: string
  readonly type: number
  readonly value?: unknown
  readonly options?: ReadonlyArray<RawOption> | undefined
}

export interface Resolved {
  readonly users?: Readonly<
    Record<
      string,
      { readonly username?: string; readonly global_name?: string | null; readonly bot?: boolean }
    >
  >
  readonly members?: Readonly<Record<string, { readonly nick?: string | null }>>
}

const describeRange = (minimum: number | undefined, maximum: number | undefined) =>
  minimum !== undefined && maximum !== undefined
    ? `from ${minimum} to ${maximum}`
    : minimum !== undefined
      ? `of at least ${minimum}`
      : `of at most ${maximum}`

const checkValue = (option: ValueOption, value: unknown): Either.Either<OptionValue, string> => {
  const named = `\`${option.name}\``
  switch (option.type) {
    case "integer":
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) {
        return Either.left(`${named} must be a number.`)
      }
      if (option.type === "integer" && !Number.isInteger(value)) {
        return Either.left(`${named} must be a whole number.`)
      }
      if (option.choices && !option.choices.some((choice) => choice.value === value)) {
        return Either.left(
          `${named} must be one of ${option.choices.map((choice) => choice.value).join(", ")}.`,
        )
      }
      const { minValue, maxValue } = option
      if (
        (minValue !== undefined && value < minValue) ||
        (maxValue !== undefined && value > maxValue)
      ) {
        return Either.left(`${named} must be ${describeRange(minValue, maxValue)}; got ${value}.`)
      }
      return Either.right(value)
    }
    case "string": {
      if (typeof value !== "string") return Either.left(`${named} must be text.`)
      if (option.choices && !option.choices.some((choice) => choice.value === value)) {
        return Either.left(
          `${named} must be one of ${option.choices.map((choice) => choice.value).join(", ")}.`,
        )
      }
      const length = [...value].length
      const { minLength, maxLength } = option
      if (
        (minLength !== undefined && length < minLength) ||
        (maxLength !== undefined && length > maxLength)
      ) {
        return Either.left(
          `${named} must be ${describeRange(minLength, maxLength)} characters long.`,
        )
      }
      return Either.right(value)
    }
    case "boolean":
      return typeof value === "boolean"
        ? Either.right(value)
        : Either.left(`${named} must be true or false.`)
    default:
      return typeof value === "string" && /^\d{1,20}$/.test(value)
        ? Either.right(value)
        : Either.left(`${named} must name a ${option.type}.`)
  }
}

const resolvedUser = (id: string, resolved: Resolved | undefined): ResolvedUser => {
  const user = resolved?.users?.[id]
  return {
    id,
    username: user?.username ?? null,
    globalName: user?.global_name ?? null,
    nick: resolved?.members?.[id]?.nick ?? null,
    bot: user?.bot === true,
  }
}

const isGroup = (option: OptionDefinition) =>
  option.type === "subcommand" || option.type === "subcommandGroup"

/** Checks `raw` against the definition's options; the failure is a sentence for the user. */
export const decodeOptions = (
  definition: CommandDefinition,
  raw: ReadonlyArray<RawOption>,
  resolved?: Resolved,
): Either.Either<Options, string> => {
  const subcommand: Array<string> = []
  let defined: ReadonlyArray<OptionDefinition> = definition.options ?? []
  let given = raw

  // Walk down the subcommand group and subcommand Discord sends as the only option.
  while (defined.some(isGroup)) {
    const [chosen] = given
    const match = chosen && defined.find((option) => option.name === chosen.name)
    if (!chosen || !match || !isGroup(match) || chosen.type !== optionTypeOf(match)) {
      return Either.left(
        `Choose one of: ${defined
          .filter(isGroup)
          .map((option) => option.name)
          .join(", ")}.`,
      )
    }
    subcommand.push(match.name)
    defined = (match.options ?? []) as ReadonlyArray<OptionDefinition>
    given = chosen.options ?? []
  }

  const values = new Map<string, OptionValue>()
  for (const option of given) {
    const match = defined.find((candidate) => candidate.name === option.name) as
      | ValueOption
      | undefined
    if (match === undefined) return Either.left(`\`${option.name}\` is not an option here.`)
    if (option.type !== optionTypeOf(match)) {
      return Either.left(`\`${option.name}\` has the wrong type.`)
    }
    const checked = checkValue(match, option.value)
    if (Either.isLeft(checked)) return Either.left(checked.left)
    values.set(match.name, checked.right)
  }
  for (const option of defined as ReadonlyArray<ValueOption>) {
    if (option.required && !values.has(option.name)) {
      return Either.left(`\`${option.name}\` is required.`)
    }
  }

  const typed =
    <A extends OptionValue>(kind: string) =>
    (name: string): A | undefined => {
      const value = values.get(name)
      return typeof value === kind ? (value as A) : undefined
    }
  const id = typed<string>("string")
  return Either.right({
    subcommand,
    string: id,
    number: typed<number>("number"),
    boolean: typed<boolean>("boolean"),
    id,
    user: (name) => {
      const userId = id(name)
      return userId === undefined ? undefined : resolvedUser(userId, resolved)
    },
  })
}

export { resolvedUser }
