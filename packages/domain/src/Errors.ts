import { Data } from "effect"

/**
 * A settings change that breaks a limit or a rule (`levelFactor` outside 20..400, an unknown time
 * zone, a role assigned at or after its removal level). `reason` is a sentence for the user.
 */
export class InvalidSettingsValue extends Data.TaggedError("InvalidSettingsValue")<{
  /** The field's name (`levelFactor`), or the record's name when a rule spans fields. */
  readonly field: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.field}: ${this.reason}`
  }
}

/** Text that should name an emoji but does not (`heartx`, an id that is too short). */
export class InvalidEmoji extends Data.TaggedError("InvalidEmoji")<{
  readonly input: string
  readonly reason: string
}> {
  override get message(): string {
    return `${JSON.stringify(this.input)}: ${this.reason}`
  }
}
