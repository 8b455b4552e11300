/**
 * Settings read from the environment, and how a wrong one reaches the user: one sentence per
 * setting that names it and says what is wrong, never its value when it may hold a secret.
 */
import { Config, ConfigError, Data, Effect, Either } from "effect"

/** One or more settings cannot be used; `reason` names each of them. */
export class SettingsInvalid extends Data.TaggedError("SettingsInvalid")<{
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}

/** "Expected …" reads on after a colon as "expected …"; "DB shard 0: …" keeps its capitals. */
const lowerFirst = (text: string) =>
  /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text

/** `MANAGER_PORT is not valid: "abc" is not a port …; LOG_LEVEL is not set`, each once. */
export const describe = (error: ConfigError.ConfigError): string => {
  const sentences = new Set<string>()
  const visit = (error: ConfigError.ConfigError): void => {
    const name = "path" in error && error.path.length > 0 ? error.path.join("_") : "a setting"
    switch (error._op) {
      case "And":
      case "Or":
        visit(error.left)
        visit(error.right)
        return
      case "MissingData":
        sentences.add(`${name} is not set`)
        return
      case "InvalidData":
        sentences.add(`${name} is not valid: ${lowerFirst(error.message)}`)
        return
      case "SourceUnavailable":
        sentences.add(`${name} cannot be read: ${lowerFirst(error.message)}`)
        return
      case "Unsupported":
        sentences.add(`${name} is not supported: ${lowerFirst(error.message)}`)
        return
    }
  }
  visit(error)
  return [...sentences].join("; ")
}

/** Reads `config`, a failure becoming `SettingsInvalid`. */
export const check = <A>(config: Config.Config<A>): Effect.Effect<A, SettingsInvalid> =>
  Effect.mapError(config, (error) => new SettingsInvalid({ reason: describe(error) }))

/** A TCP port, 1 to 65535. */
export const port = (name: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((text) => {
      const value = Number(text)
      return /^\d{1,5}$/.test(text.trim()) && value >= 1 && value <= 65535
        ? Either.right(value)
        : Either.left(
            ConfigError.InvalidData([], `${JSON.stringify(text)} is not a port (1 to 65535)`),
          )
    }),
  )
