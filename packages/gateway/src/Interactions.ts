/**
 * Slash commands from INTERACTION_CREATE, which the connection delivers ahead of the other
 * dispatches (`Discord.interactions`). `handle` returns at once; each interaction is answered on a
 * fiber of its own:
 *
 * 1. decode the payload; find the command; check the member's permissions (from the
 *    interaction's own `member.permissions` bits), the options against the command's definition
 *    and the stat-command cooldown. A refusal is an ephemeral reply (callback type 4) at once.
 * 2. defer (callback type 5) within Discord's 3 seconds, run the handler under a time limit,
 *    then edit the original response (`PATCH /webhooks/{app}/{token}/messages/@original`).
 *
 * A command replayed after a restart (the session resumes from the last *processed* dispatch, and
 * commands are answered ahead of processing) can no longer be answered: one far older than
 * Discord's 3 seconds (by its id's time) is skipped; for a younger one Discord refuses the
 * deferral (10062, or 40060 when the last process answered it), and the stat cooldown it took is
 * given back. Both count as `expired`.
 *
 * Every failure reaches the user as one sentence, never a stack trace; unexpected ones are logged
 * with their cause. Allowed mentions are always none: names are shown as mentions, nobody pinged.
 */
import type { REST } from "@discordjs/rest"
import { isSnowflake, type Snowflake, timestampMillis } from "@tally/domain/Snowflake"
import { MessageFlags, PermissionFlagsBits, Routes } from "discord-api-types/v10"
import {
  Cause,
  Clock,
  Context,
  Data,
  Duration,
  Effect,
  Either,
  FiberSet,
  Layer,
  Metric,
  Option,
  ParseResult,
  Schema,
} from "effect"
import {
  type Command,
  CommandFailed,
  type CommandInteraction,
  type CommandServices,
  type Reply,
  type ResolvedUser,
} from "./commands/Command"
import { decodeOptions, type RawOption } from "./commands/Options"
import * as Registry from "./commands/Registry"
import * as StatCooldown from "./commands/StatCooldown"
import { Discord } from "./Discord"
import { GuildState } from "./GuildState"

export interface Options {
  readonly registry?: Registry.Registry
  /** The stat-command cooldown per member (default 120 s; zero turns it off). */
  readonly statCooldown?: Duration.DurationInput
  /** How long a handler may take before the user is told it took too long (default 60 s). */
  readonly timeout?: Duration.DurationInput
  /** Handlers running at once; more wait (already deferred) for a turn (default 32). */
  readonly concurrency?: number
}

export class Interactions extends Context.Tag("@tally/gateway/Interactions")<
  Interactions,
  {
    /** Answers one INTERACTION_CREATE payload in the background. Returns at once; never fails. */
    readonly handle: (data: unknown) => Effect.Effect<void>
    /** The same, but returns once the answer was sent (or given up). */
    readonly answer: (data: unknown) => Effect.Effect<void>
  }
>() {}

/** A callback or edit that Discord did not take. */
export class ReplyFailed extends Data.TaggedError("ReplyFailed")<{
  readonly reason: string
  readonly cause?: unknown
}> {}

// ---------------------------------------------------------------------------------------------
// Payload: only the fields Tally reads.

const RawOptionSchema: Schema.Schema<RawOption> = Schema.Struct({
  name: Schema.String,
  type: Schema.Int,
  value: Schema.optional(Schema.Unknown),
  options: Schema.optional(Schema.Array(Schema.suspend(() => RawOptionSchema))),
})

const User = Schema.Struct({
  id: Schema.String,
  username: Schema.optional(Schema.String),
  global_name: Schema.optional(Schema.NullOr(Schema.String)),
  bot: Schema.optional(Schema.Boolean),
})

const ResolvedSchema = Schema.Struct({
  users: Schema.optional(Schema.Record({ key: Schema.String, value: User })),
  members: Schema.optional(
    Schema.Record({
      key: Schema.String,
      value: Schema.Struct({ nick: Schema.optional(Schema.NullOr(Schema.String)) }),
    }),
  ),
})

const Interaction = Schema.Struct({
  id: Schema.String,
  application_id: Schema.String,
  type: Schema.Int,
  token: Schema.String,
  guild_id: Schema.optional(Schema.String),
  channel_id: Schema.optional(Schema.String),
  member: Schema.optional(
    Schema.Struct({
      user: User,
      nick: Schema.optional(Schema.NullOr(Schema.String)),
      permissions: Schema.String,
    }),
  ),
  user: Schema.optional(User),
  locale: Schema.optional(Schema.String),
  data: Schema.optional(
    Schema.Struct({
      name: Schema.String,
      options: Schema.optional(Schema.Array(RawOptionSchema)),
      resolved: Schema.optional(ResolvedSchema),
    }),
  ),
})
type Interaction = typeof Interaction.Type

const decodeInteraction = Schema.decodeUnknownEither(Interaction)

const APPLICATION_COMMAND = 2

// ---------------------------------------------------------------------------------------------
// Permissions

const permissionNames = Object.entries(PermissionFlagsBits) as ReadonlyArray<
  readonly [string, bigint]
>

const humanName = (flag: string) =>
  flag === "ManageGuild" ? "Manage Server" : flag.replace(/([a-z])([A-Z])/g, "$1 $2")

/** Whether `bits` hold every permission of `required` (Administrator holds all). */
export const hasPermissions = (bits: bigint, required: bigint): boolean =>
  (bits & PermissionFlagsBits.Administrator) !== 0n || (bits & required) === required

/** "the Manage Server permission", "the Kick Members and Ban Members permissions". */
export const describePermissions = (required: bigint): string => {
  const names = permissionNames
    .filter(([, bit]) => (required & bit) !== 0n)
    .map(([flag]) => humanName(flag))
  const unique = [...new Set(names)]
  return unique.length === 1
    ? `the ${unique[0]} permission`
    : `the ${unique.slice(0, -1).join(", ")} and ${unique.at(-1)} permissions`
}

const parseBits = (text: string): bigint => {
  try {
    return BigInt(text)
  } catch {
    return 0n
  }
}

// ---------------------------------------------------------------------------------------------
// Metrics

const commandsTotal = Metric.counter("tally_gateway_commands_total", {
  description: "slash commands answered, by command and outcome",
  incremental: true,
})

type Outcome = "answered" | "refused" | "failed" | "timed_out" | "unanswered" | "expired"

/**
 * Discord takes a first answer within 3 seconds of an interaction. Older than this, one is not
 * tried at all; the margin is for a host clock ahead of Discord's (younger ones are tried, and
 * Discord's refusal tells).
 */
const MAX_AGE_MILLIS = 60_000

/** Discord's answer to a deferral too late (10062) or one another process made (40060). */
const isExpiredInteraction = (error: ReplyFailed): boolean => {
  const code = (error.cause as { readonly code?: unknown } | undefined)?.code
  return code === 10062 || code === 40060
}

const countCommand = (command: string, outcome: Outcome) =>
  Metric.increment(
    Metric.tagged(Metric.tagged(commandsTotal, "command", command), "outcome", outcome),
  )

// ---------------------------------------------------------------------------------------------

export const NOT_IN_GUILD = "Tally's commands work in servers only."

const generic = (name: string) =>
  `Tally could not answer /${name} just now; please try again in a minute.`

const tooSlow = (name: string) =>
  `Tally took too long to answer /${name}; please try again in a minute.`

const displayUser = (user: typeof User.Type, nick: string | null | undefined): ResolvedUser => ({
  id: user.id,
  username: user.username ?? null,
  globalName: user.global_name ?? null,
  nick: nick ?? null,
  bot: user.bot === true,
})

export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const discord = yield* Discord
    const guildState = yield* Effect.serviceOption(GuildState)
    const services = yield* Effect.context<CommandServices>()

    const registry = options.registry ?? Registry.standard
    const timeout = options.timeout ?? Duration.seconds(60)
    const cooldownLength = Duration.decode(options.statCooldown ?? StatCooldown.defaultCooldown)
    const cooldown = StatCooldown.make(cooldownLength)
    const permits = yield* Effect.makeSemaphore(options.concurrency ?? 32)
    const fibers = yield* FiberSet.make()
    const rest: REST = discord.rest

    const call = (what: string, request: () => Promise<unknown>) =>
      Effect.tryPromise({
        try: request,
        catch: (cause) =>
          new ReplyFailed({
            reason: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause,
          }),
      })

    const messageBody = (reply: Reply) => ({
      content: reply.content ?? "",
      embeds: reply.embeds ?? [],
      allowed_mentions: { parse: [] },
    })

    /** An immediate answer (type 4); ephemeral for refusals. */
    const respond = (interaction: Interaction, reply: Reply, ephemeral: boolean) =>
      call("cannot reply to the interaction", () =>
        rest.post(Routes.interactionCallback(interaction.id, interaction.token), {
          body: {
            type: 4,
            data: {
              ...messageBody(reply),
              ...(ephemeral ? { flags: MessageFlags.Ephemeral } : {}),
            },
          },
          auth: false,
        }),
      )

    const defer = (interaction: Interaction, ephemeral: boolean) =>
      call("cannot defer the interaction", () =>
        rest.post(Routes.interactionCallback(interaction.id, interaction.token), {
          body: { type: 5, ...(ephemeral ? { data: { flags: MessageFlags.Ephemeral } } : {}) },
          auth: false,
        }),
      )

    const editOriginal = (interaction: Interaction, reply: Reply) =>
      call("cannot edit the deferred answer", () =>
        rest.patch(
          Routes.webhookMessage(interaction.application_id, interaction.token, "@original"),
          { body: messageBody(reply), auth: false },
        ),
      )

    const refuse = (interaction: Interaction, name: string, sentence: string) =>
      respond(interaction, { content: sentence }, true).pipe(
        Effect.zipRight(countCommand(name, "refused")),
      )

    const guildName = (guildId: string) =>
      Option.match(guildState, {
        onNone: () => undefined,
        onSome: (state) => state.store.header(guildId as Snowflake)?.name,
      }) ?? "this server"

    /** Runs the handler after the deferral; its outcome becomes the edited original. */
    const runDeferred = (command: Command, context: CommandInteraction) =>
      command.run(context).pipe(
        Effect.provide(services),
        permits.withPermits(1),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new TimedOut(),
        }),
        Effect.map((reply) => ({ reply, outcome: "answered" as Outcome })),
        Effect.catchAllCause((cause) => {
          const failure = Cause.failureOption(cause)
          if (Option.isSome(failure) && failure.value instanceof CommandFailed) {
            return Effect.succeed({
              reply: { content: failure.value.reason },
              outcome: "refused" as Outcome,
            })
          }
          if (Option.isSome(failure) && failure.value instanceof TimedOut) {
            return Effect.logWarning("command took too long").pipe(
              Effect.as({
                reply: { content: tooSlow(context.commandName) },
                outcome: "timed_out" as Outcome,
              }),
            )
          }
          if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
          return Effect.logError("command failed", cause).pipe(
            Effect.as({
              reply: { content: generic(context.commandName) },
              outcome: "failed" as Outcome,
            }),
          )
        }),
      )

    /** Checks, defers, runs and edits; a refusal is answered at once instead. */
    const respondTo = (interaction: Interaction, name: string) =>
      Effect.gen(function* () {
        const { guild_id: guildId, member } = interaction
        if (guildId === undefined || member === undefined) {
          return yield* refuse(interaction, name, NOT_IN_GUILD)
        }
        const command = registry.find(name)
        if (command === undefined) {
          return yield* refuse(
            interaction,
            name,
            `Tally does not know /${name} (any more); its commands may be being updated.`,
          )
        }
        const { definition } = command
        const permissions = parseBits(member.permissions)
        if (
          definition.requiredPermissions !== undefined &&
          !hasPermissions(permissions, definition.requiredPermissions)
        ) {
          return yield* refuse(
            interaction,
            name,
            `You need ${describePermissions(definition.requiredPermissions)} to use /${name}.`,
          )
        }
        const options = decodeOptions(
          definition,
          interaction.data?.options ?? [],
          interaction.data?.resolved as Parameters<typeof decodeOptions>[2],
        )
        if (Either.isLeft(options)) return yield* refuse(interaction, name, options.left)

        const tookCooldown = definition.statCooldown === true
        if (tookCooldown) {
          const again = yield* cooldown.take(guildId, member.user.id)
          if (Option.isSome(again)) {
            return yield* refuse(
              interaction,
              name,
              `Stat commands (/rank, /top) can be used once every ${Duration.format(
                cooldownLength,
              )}; try again <t:${Math.ceil(again.value / 1000)}:R>.`,
            )
          }
        }

        const deferred = yield* Effect.either(defer(interaction, definition.ephemeral === true))
        if (Either.isLeft(deferred)) {
          // Not answered: the member's cooldown is theirs again.
          if (tookCooldown) yield* cooldown.giveBack(guildId, member.user.id)
          return yield* Effect.fail(deferred.left)
        }
        const { reply, outcome } = yield* runDeferred(command, {
          interactionId: interaction.id,
          applicationId: interaction.application_id,
          commandName: name,
          guildId,
          guildName: guildName(guildId),
          channelId: interaction.channel_id ?? "",
          user: displayUser(member.user, member.nick),
          permissions,
          locale: interaction.locale ?? "en-US",
          options: options.right,
        })
        yield* editOriginal(interaction, reply)
        yield* countCommand(name, outcome)
      })

    const answer = (data: unknown): Effect.Effect<void> => {
      const decoded = decodeInteraction(data)
      if (Either.isLeft(decoded)) {
        const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)[0]
        return Effect.logWarning("interaction not understood").pipe(
          Effect.annotateLogs({
            error: issue ? `${issue.path.join(".")}: ${issue.message}` : "malformed",
          }),
        )
      }
      const interaction = decoded.right
      if (interaction.type !== APPLICATION_COMMAND || interaction.data === undefined) {
        // Components and autocomplete come with the commands that use them.
        return Effect.logDebug("interaction type not handled").pipe(
          Effect.annotateLogs({ type: interaction.type }),
        )
      }
      const name = interaction.data.name
      const expired = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const ageMillis = isSnowflake(interaction.id)
          ? now - timestampMillis(interaction.id)
          : Number.NaN
        return ageMillis > MAX_AGE_MILLIS
          ? Effect.logInfo(
              "interaction too old to answer (replayed after a restart?); skipped",
            ).pipe(
              Effect.annotateLogs({ ageMillis }),
              Effect.zipRight(countCommand(name, "expired")),
              Effect.as(true),
            )
          : Effect.succeed(false)
      })
      const respond = Effect.flatMap(expired, (skipped) =>
        skipped ? Effect.void : respondTo(interaction, name),
      )
      return respond.pipe(
        Effect.catchTag("ReplyFailed", (error) =>
          isExpiredInteraction(error)
            ? Effect.logInfo("interaction expired before it was answered; skipped").pipe(
                Effect.annotateLogs({ reason: error.reason }),
                Effect.zipRight(countCommand(name, "expired")),
              )
            : Effect.logWarning("interaction left unanswered").pipe(
                Effect.annotateLogs({ reason: error.reason }),
                Effect.zipRight(countCommand(name, "unanswered")),
              ),
        ),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.void
            : Effect.logError("interaction handling failed", cause),
        ),
        Effect.annotateLogs({
          interactionId: interaction.id,
          command: name,
          guildId: interaction.guild_id ?? "none",
          userId: interaction.member?.user.id ?? interaction.user?.id ?? "unknown",
        }),
        Effect.withSpan("Interactions.answer"),
      )
    }

    return Interactions.of({
      handle: (data) => FiberSet.run(fibers, answer(data)).pipe(Effect.asVoid),
      answer,
    })
  })

class TimedOut extends Data.TaggedError("TimedOut")<{}> {}

/** Needs `Discord` (its REST client) and what commands read: the manager client and DB shards. */
export const layer = (
  options: Options = {},
): Layer.Layer<Interactions, never, Discord | CommandServices> =>
  Layer.scoped(Interactions, make(options))
