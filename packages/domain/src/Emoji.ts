import { Either, Option, ParseResult, Schema } from "effect"
import { InvalidEmoji } from "./Errors"
import { isSnowflake, type Snowflake } from "./Snowflake"

/**
 * An emoji as a guild setting (`voteEmote`, `bonusEmote`): a Unicode emoji stored as its text,
 * or a guild's custom emoji stored as `<:name:id>` / `<a:name:id>`. Settings accept Unicode,
 * `:shortcode:` names from a small built-in table, and the custom forms (reference §10 item 3).
 */
export type Emoji =
  | { readonly _tag: "Unicode"; readonly value: string }
  | {
      readonly _tag: "Custom"
      readonly name: string
      readonly id: Snowflake
      readonly animated: boolean
    }

/** A reaction's emoji as Discord sends it: custom emojis have an id, Unicode ones only a name. */
export interface ReactionEmoji {
  readonly id: string | null
  readonly name: string | null
}

/** Shortcodes accepted in settings, mapped to the Unicode text that is stored. */
// TODO: a small table of common names, not Discord's full list — remove when settings take
// emojis from a picker or a maintained emoji dataset.
export const shortcodes: ReadonlyMap<string, string> = new Map([
  ["heart", "❤️"],
  ["blue_heart", "💙"],
  ["green_heart", "💚"],
  ["yellow_heart", "💛"],
  ["purple_heart", "💜"],
  ["orange_heart", "🧡"],
  ["black_heart", "🖤"],
  ["white_heart", "🤍"],
  ["trophy", "🏆"],
  ["medal", "🏅"],
  ["crown", "👑"],
  ["gem", "💎"],
  ["star", "⭐"],
  ["star2", "🌟"],
  ["sparkles", "✨"],
  ["fire", "🔥"],
  ["tada", "🎉"],
  ["gift", "🎁"],
  ["rocket", "🚀"],
  ["thumbsup", "👍"],
  ["+1", "👍"],
  ["clap", "👏"],
  ["raised_hands", "🙌"],
  ["ok_hand", "👌"],
  ["muscle", "💪"],
  ["pray", "🙏"],
  ["wave", "👋"],
  ["eyes", "👀"],
  ["100", "💯"],
  ["white_check_mark", "✅"],
  ["red_circle", "🔴"],
  ["arrow_up", "⬆️"],
  ["smile", "😄"],
  ["joy", "😂"],
  ["heart_eyes", "😍"],
  ["moneybag", "💰"],
])

const customBracketed = /^<(a?):([A-Za-z0-9_]{2,32}):([0-9]{17,20})>$/
const customBare = /^(a?):([A-Za-z0-9_]{2,32}):([0-9]{17,20})$/
const customNameAndId = /^([A-Za-z0-9_]{2,32}):([0-9]{17,20})$/
const shortcode = /^:?([a-z0-9_+-]{1,40}):?$/

/** Code points an emoji's text may consist of, and those of which it needs at least one. */
const emojiCodePoints = /^(?:\p{Emoji}|\p{Emoji_Component}|\u200D|\uFE0E|\uFE0F)+$/u
const pictographic = /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20E3/u
const graphemes = new Intl.Segmenter("en", { granularity: "grapheme" })

const isUnicodeEmoji = (text: string): boolean =>
  emojiCodePoints.test(text) && pictographic.test(text) && [...graphemes.segment(text)].length === 1

const custom = (animated: string, name: string, id: string): Option.Option<Emoji> =>
  isSnowflake(id)
    ? Option.some({ _tag: "Custom", name, id: id as Snowflake, animated: animated === "a" })
    : Option.none()

/** Reads an emoji in any accepted form; `None` when it is not one. */
export const parse = (input: string): Option.Option<Emoji> => {
  const text = input.trim()

  const bracketed = customBracketed.exec(text) ?? customBare.exec(text)
  if (bracketed !== null) return custom(bracketed[1]!, bracketed[2]!, bracketed[3]!)
  const nameAndId = customNameAndId.exec(text)
  if (nameAndId !== null) return custom("", nameAndId[1]!, nameAndId[2]!)

  const named = shortcode.exec(text)
  if (named !== null) {
    const unicode = shortcodes.get(named[1]!)
    return unicode === undefined ? Option.none() : Option.some({ _tag: "Unicode", value: unicode })
  }

  return isUnicodeEmoji(text) ? Option.some({ _tag: "Unicode", value: text }) : Option.none()
}

/** The stored text: Unicode as it is, custom as `<:name:id>` or `<a:name:id>`. */
export const serialize = (emoji: Emoji): string =>
  emoji._tag === "Unicode"
    ? emoji.value
    : `<${emoji.animated ? "a" : ""}:${emoji.name}:${emoji.id}>`

/** Unicode text without variation selectors (U+FE0E text, U+FE0F emoji presentation). */
export const withoutVariationSelectors = (text: string): string =>
  text.replace(/[\uFE0E\uFE0F]/g, "")

/**
 * Whether a reaction is this emoji: custom emojis by id, Unicode ones by text with variation
 * selectors ignored (Discord sends ❤ for ❤️ on some clients).
 */
export const matchesReaction = (emoji: Emoji, reaction: ReactionEmoji): boolean =>
  emoji._tag === "Custom"
    ? reaction.id === emoji.id
    : reaction.id === null &&
      reaction.name !== null &&
      withoutVariationSelectors(reaction.name) === withoutVariationSelectors(emoji.value)

/** Text in the stored form: what `serialize` gives (`❤️`, `<:name:id>`). */
export const StoredEmojiText = Schema.String.pipe(
  Schema.filter((text) =>
    Option.match(parse(text), {
      onNone: () => false,
      onSome: (emoji) => serialize(emoji) === text,
    }),
  ),
  Schema.annotations({
    identifier: "StoredEmojiText",
    arbitrary: () => (fc) =>
      fc.constantFrom(...shortcodes.values(), "\u2764", "<a:Peek:854403361826275349>"),
  }),
)

/**
 * A stored emoji setting. Decoding accepts every form `parse` does and yields the stored text
 * (`:heart:` decodes to `❤️`); encoding gives the stored text back.
 */
export const StoredEmoji = Schema.transformOrFail(Schema.String, StoredEmojiText, {
  strict: true,
  decode: (input, _, ast) =>
    Option.match(parse(input), {
      onNone: () =>
        ParseResult.fail(
          new ParseResult.Type(ast, input, "expected an emoji: Unicode, :shortcode: or <:name:id>"),
        ),
      onSome: (emoji) => ParseResult.succeed(serialize(emoji)),
    }),
  encode: ParseResult.succeed,
}).annotations({ identifier: "StoredEmoji" })

/** Reads an emoji in any accepted form, failing with the reason. */
export const decode = (input: string): Either.Either<Emoji, InvalidEmoji> =>
  Either.fromOption(
    parse(input),
    () =>
      new InvalidEmoji({
        input,
        reason: "is no emoji: use a Unicode emoji, a :shortcode: or a custom <:name:id>",
      }),
  )
