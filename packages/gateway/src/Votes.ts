/**
 * Votes by reaction (reference §3.5): a reaction with the guild's vote emoji, when reaction votes
 * are on, is one vote for the message's author (the event's `message_author_id`). The voter's
 * cooldown is respected, nobody votes for themselves, bots neither vote nor receive, and the vote
 * goes through the one accrual path. Removing the reaction does nothing.
 *
 * The dispatch fiber drops what cannot be a vote at once (when the guild's settings are loaded)
 * and queues the rest; one worker decides them in arrival order, so a voter's cooldown holds.
 */
import type { REST } from "@discordjs/rest"
import * as Award from "@tally/domain/Award"
import * as Emoji from "@tally/domain/Emoji"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Snowflake as SnowflakeSchema } from "@tally/domain/Snowflake"
import * as Settings from "@tally/sql/Settings"
import * as ShardClients from "@tally/sql/ShardClients"
import { Routes } from "discord-api-types/v10"
import {
  Cause,
  type Clock,
  Context,
  Duration,
  Effect,
  Either,
  Layer,
  Metric,
  Option,
  Queue,
  Schema,
} from "effect"
import { Accrual } from "./Accrual"
import { Discord } from "./Discord"
import { GuildContext, type GuildContextData } from "./GuildContext"

export class Votes extends Context.Tag("@tally/gateway/Votes")<
  Votes,
  {
    /** A `MESSAGE_REACTION_ADD` payload (`d`). Returns at once; never fails. */
    readonly reactionAdd: (data: unknown) => Effect.Effect<void>
    /** Waits until every queued reaction was decided (and counted votes accrued). */
    readonly awaitSettled: Effect.Effect<void>
    readonly stats: Effect.Effect<{ readonly queued: number; readonly counted: number }>
  }
>() {}

export interface Options {
  /** Reactions waiting to be decided; more are dropped and logged (default 10,000). */
  readonly queueCapacity?: number
}

const Reaction = Schema.Struct({
  guild_id: Schema.optional(SnowflakeSchema),
  channel_id: SnowflakeSchema,
  message_id: SnowflakeSchema,
  user_id: SnowflakeSchema,
  message_author_id: Schema.optional(SnowflakeSchema),
  member: Schema.optional(
    Schema.Struct({
      user: Schema.optional(
        Schema.Struct({ id: SnowflakeSchema, bot: Schema.optional(Schema.Boolean) }),
      ),
      roles: Schema.Array(SnowflakeSchema),
    }),
  ),
  emoji: Schema.Struct({
    id: Schema.optional(Schema.NullOr(Schema.String)),
    name: Schema.optional(Schema.NullOr(Schema.String)),
  }),
})

const decodeReaction = Schema.decodeUnknownEither(Reaction)

/** One reaction that may be a vote, stamped when it arrived. */
interface Candidate {
  readonly guildId: Snowflake
  readonly channelId: Snowflake
  readonly voterId: Snowflake
  readonly voterBot: boolean
  readonly voterRoleIds: ReadonlyArray<Snowflake>
  readonly targetId: Snowflake
  readonly reaction: Emoji.ReactionEmoji
  readonly at: number
}

/** What the target is, as Discord says (`GET /guilds/{g}/members/{u}`). */
interface Target {
  readonly bot: boolean
  readonly roleIds: ReadonlyArray<Snowflake>
}

export const votesCounted = Metric.counter("tally_gateway_votes_counted_total", {
  description: "Reaction votes counted",
  incremental: true,
})

const votesSkipped = Metric.counter("tally_gateway_votes_skipped_total", {
  description: "Reactions with a chance of being a vote that did not count, by reason",
  incremental: true,
})

/** The vote decision with what the event alone tells; the rest is looked up only if it passes. */
const decide = (
  context: GuildContextData,
  candidate: Candidate,
  voterLastVoteAt: number | null,
  target: Target,
  voterAllowsReactionVotes: boolean,
) =>
  Award.vote(context, {
    via: "reaction",
    voterId: candidate.voterId,
    voterBot: candidate.voterBot,
    voterRoleIds: candidate.voterRoleIds,
    voterLastVoteAt,
    voterAllowsReactionVotes,
    targetId: candidate.targetId,
    targetBot: target.bot,
    targetRoleIds: target.roleIds,
    reaction: candidate.reaction,
    voteEmoji: Option.getOrUndefined(Emoji.parse(context.settings.voteEmote)),
    at: candidate.at,
  })

export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const contexts = yield* GuildContext
    const accrual = yield* Accrual
    const discord = yield* Discord
    const shards = yield* ShardClients.ShardClients
    const clock: Clock.Clock = yield* Effect.clock
    const rest: REST = discord.rest

    const capacity = options.queueCapacity ?? 10_000
    const queue = yield* Queue.dropping<Candidate>(capacity)
    /** When each voter last voted, per guild (`guildId/userId`). */
    // TODO: in memory only, so a restart forgets cooldowns (as in ActivityRank) — remove when
    // the last vote time is stored with the member.
    const lastVoteAt = new Map<string, number>()
    let pending = 0
    let counted = 0
    let dropped = 0

    const skipped = (reason: string) =>
      Metric.increment(Metric.tagged(votesSkipped, "reason", reason))

    const target = (guildId: Snowflake, userId: Snowflake) =>
      Effect.tryPromise(
        () => rest.get(Routes.guildMember(guildId, userId)) as Promise<unknown>,
      ).pipe(
        Effect.map((member) => {
          const fields = member as { user?: { bot?: boolean }; roles?: ReadonlyArray<string> }
          return Option.some<Target>({
            bot: fields.user?.bot === true,
            roleIds: (fields.roles ?? []) as ReadonlyArray<Snowflake>,
          })
        }),
        Effect.catchAll((error) =>
          Effect.logInfo("vote target not found in the guild; vote skipped").pipe(
            Effect.annotateLogs({ guildId, userId, reason: String(error.error) }),
            Effect.as(Option.none<Target>()),
          ),
        ),
      )

    const voterAllows = (context: GuildContextData, userId: Snowflake) =>
      ShardClients.use(context.dbShardId, Settings.member(context.guildId, userId)).pipe(
        Effect.provideService(ShardClients.ShardClients, shards),
        Effect.map((settings) => settings.reactionVote),
        Effect.catchAll((error) =>
          Effect.logWarning("voter's settings unavailable; taking the default").pipe(
            Effect.annotateLogs({ reason: String(error._tag) }),
            Effect.as(Settings.defaultMemberSettings.reactionVote),
          ),
        ),
      )

    const handle = (candidate: Candidate) =>
      Effect.gen(function* () {
        const context = yield* contexts.load(candidate.guildId)
        const voterKey = `${candidate.guildId}/${candidate.voterId}`
        const last = lastVoteAt.get(voterKey) ?? null
        // The event alone decides most reactions (not the emoji, cooldown, self, bot voter).
        const first = decide(context, candidate, last, { bot: false, roleIds: [] }, true)
        if (first._tag === "Skipped") return yield* skipped(first.reason._tag)
        const found = yield* target(candidate.guildId, candidate.targetId)
        if (Option.isNone(found)) return yield* skipped("TargetNotMember")
        const allows = yield* voterAllows(context, candidate.voterId)
        const award = decide(context, candidate, last, found.value, allows)
        if (award._tag === "Skipped") return yield* skipped(award.reason._tag)
        lastVoteAt.set(voterKey, candidate.at)
        yield* accrual.accrue({
          dbShardId: context.dbShardId,
          guildId: candidate.guildId,
          userId: candidate.targetId,
          award,
          at: candidate.at,
          settings: context.settings,
          noticeChannelId: candidate.channelId,
        })
        counted++
        yield* Metric.increment(votesCounted)
      }).pipe(
        Effect.annotateLogs({
          guildId: candidate.guildId,
          voterId: candidate.voterId,
          targetId: candidate.targetId,
        }),
      )

    const worker = Queue.take(queue).pipe(
      Effect.flatMap((candidate) =>
        handle(candidate).pipe(
          Effect.catchAllCause((cause) =>
            Cause.isInterruptedOnly(cause)
              ? Effect.interrupt
              : Effect.logError("reaction vote not decided", cause),
          ),
          Effect.ensuring(Effect.sync(() => pending--)),
        ),
      ),
      Effect.forever,
    )
    yield* Effect.forkScoped(worker)

    const reactionAdd = (data: unknown): Effect.Effect<void> =>
      Effect.gen(function* () {
        const decoded = decodeReaction(data)
        if (Either.isLeft(decoded)) {
          return yield* Effect.logWarning("reaction not understood; skipped").pipe(
            Effect.annotateLogs({ reason: decoded.left.message.slice(0, 300) }),
          )
        }
        const payload = decoded.right
        if (payload.guild_id === undefined) return
        // Without the author there is nobody to vote for (and no message to fetch by design).
        if (payload.message_author_id === undefined) return yield* skipped("UnknownAuthor")
        const candidate: Candidate = {
          guildId: payload.guild_id,
          channelId: payload.channel_id,
          voterId: payload.user_id,
          voterBot: payload.member?.user?.bot === true,
          voterRoleIds: payload.member?.roles ?? [],
          targetId: payload.message_author_id,
          reaction: { id: payload.emoji.id ?? null, name: payload.emoji.name ?? null },
          at: yield* clock.currentTimeMillis,
        }
        // Most reactions are not votes: when the settings are known, say so without queueing.
        const known = contexts.cached(candidate.guildId)
        if (Option.isSome(known)) {
          const settings = known.value.settings
          const voteEmoji = Emoji.parse(settings.voteEmote)
          if (
            !settings.voteXp ||
            !settings.reactionVote ||
            Option.isNone(voteEmoji) ||
            !Emoji.matchesReaction(voteEmoji.value, candidate.reaction)
          ) {
            return
          }
        }
        pending++
        if (!(yield* Queue.offer(queue, candidate))) {
          pending--
          dropped++
          if (dropped === 1 || dropped % 1000 === 0) {
            yield* Effect.logWarning("vote queue full; reactions dropped").pipe(
              Effect.annotateLogs({ dropped, capacity }),
            )
          }
        }
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logError("reaction not handled", cause),
        ),
      )

    const awaitSettled = Effect.gen(function* () {
      while (pending > 0) yield* Effect.sleep(Duration.millis(10))
    })

    return {
      reactionAdd,
      awaitSettled,
      stats: Effect.sync(() => ({ queued: pending, counted })),
    } satisfies Context.Tag.Service<Votes>
  })

export const layer = (
  options: Options = {},
): Layer.Layer<Votes, never, GuildContext | Accrual | Discord | ShardClients.ShardClients> =>
  Layer.scoped(Votes, make(options))
