/**
 * Level-up jobs (reference §5): every level change the accrual path publishes becomes a job that
 * runs off the counting path. Jobs are coalesced per member (a member's waiting job takes the
 * latest level), the waiting set is bounded, and REST calls go through `@discordjs/rest`, which
 * keeps Discord's rate limits.
 *
 * A job reconciles the member's level roles with single-role calls (`PUT`/`DELETE
 * /guilds/{g}/members/{u}/roles/{r}`), never touching other roles; a role the bot cannot give or
 * take (above its highest role, dangerous permissions, managed) is skipped while the others still
 * apply, and the guild is warned once per role and reason. On a level-up (never a level-down) it
 * posts the notice `LevelUpNotice.decide` chooses, trying its places in order.
 */
import { DiscordAPIError, type REST } from "@discordjs/rest"
import * as GuildSettings from "@tally/domain/GuildSettings"
import * as LevelRoles from "@tally/domain/LevelRoles"
import * as LevelUpNotice from "@tally/domain/LevelUpNotice"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Settings from "@tally/sql/Settings"
import * as ShardClients from "@tally/sql/ShardClients"
import { type RESTPostAPIChannelMessageJSONBody, Routes } from "discord-api-types/v10"
import {
  Cause,
  Context,
  Data,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Metric,
  Option,
  PubSub,
  Queue,
} from "effect"
import { Accrual, type LevelChange } from "./Accrual"
import { LastMessageChannels } from "./Counter"
import { Discord } from "./Discord"
import { GuildContext, type GuildContextData } from "./GuildContext"
import { GuildState } from "./GuildState"

/** Whether any role of the guild is given or taken at some level (memoized per context). */
const levelRolesOf = new WeakMap<GuildContextData, boolean>()
const hasLevelRoles = (context: GuildContextData): boolean => {
  let known = levelRolesOf.get(context)
  if (known === undefined) {
    known = [...context.roles.values()].some(GuildSettings.isLevelRole)
    levelRolesOf.set(context, known)
  }
  return known
}

/** A member's level change not yet carried out when the process stopped (in the session file). */
export interface SavedJob {
  readonly dbShardId: number
  readonly guildId: Snowflake
  readonly userId: Snowflake
  readonly fromLevel: number
  readonly toLevel: number
  readonly noticeChannelId: Snowflake | null
}

export class LevelUps extends Context.Tag("@tally/gateway/LevelUps")<
  LevelUps,
  {
    /** Waits until no job waits or runs (tests, shutdown). */
    readonly awaitIdle: Effect.Effect<void>
    /**
     * Stops taking level changes and running jobs, and returns the jobs not carried out (a
     * running one cut short included: its role calls are safe to repeat, its notice may come
     * twice). The gateway saves them with the session.
     */
    readonly shutdown: Effect.Effect<ReadonlyArray<SavedJob>>
    /** Takes up the jobs the previous process saved. */
    readonly restore: (jobs: ReadonlyArray<SavedJob>) => Effect.Effect<void>
    readonly stats: Effect.Effect<{
      readonly waiting: number
      readonly running: number
      readonly done: number
      readonly dropped: number
    }>
  }
>() {}

export interface Options {
  /** Members whose jobs may wait at once; more are dropped and logged (default 10,000). */
  readonly capacity?: number
  /** Jobs running at once, for different members (default 4). */
  readonly concurrency?: number
  /**
   * How long a member's first level change waits for later ones to join its job (default
   * 500 ms): a burst of messages makes one notice and one role change, at the latest level.
   */
  readonly coalesceWindow?: Duration.DurationInput
}

/** A REST call Discord did not take. */
export class RestFailed extends Data.TaggedError("RestFailed")<{
  readonly reason: string
  readonly status: number | null
  readonly code: number | string | null
}> {}

/** One member's level change still to carry out: from the first level to the latest. */
interface Job {
  readonly dbShardId: number
  readonly guildId: Snowflake
  readonly userId: Snowflake
  readonly fromLevel: number
  toLevel: number
  noticeChannelId: Snowflake | null
}

interface Member {
  readonly username: string
  readonly roleIds: ReadonlyArray<Snowflake>
}

interface Role extends LevelRoles.GuildRole {
  readonly name: string
}

/** Channel types a message can be posted in: text, voice chat, announcement, threads, stage. */
const textBasedChannelTypes: ReadonlySet<number> = new Set([0, 2, 5, 10, 11, 12, 13])

/** Discord's flag for messages built from Components V2. */
const IS_COMPONENTS_V2 = 1 << 15
const NOTICE_ACCENT = 0x01c3d9

export const levelUpJobs = Metric.counter("tally_gateway_levelup_jobs_total", {
  description: "Level-up jobs carried out (after coalescing)",
  incremental: true,
})

export const roleChanges = Metric.counter("tally_gateway_level_role_changes_total", {
  description: "Level roles added or removed over REST",
  incremental: true,
})

export const noticesPosted = Metric.counter("tally_gateway_levelup_notices_total", {
  description: "Level-up notices posted",
  incremental: true,
})

export const jobsWaiting = Metric.gauge("tally_gateway_levelup_jobs_waiting", {
  description: "Members whose level-up job waits to run",
})

const memberKey = (guildId: Snowflake, userId: Snowflake) => `${guildId}/${userId}`

export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const accrual = yield* Accrual
    const contexts = yield* GuildContext
    const guildState = yield* GuildState
    const discord = yield* Discord
    const shards = yield* ShardClients.ShardClients
    // Where members last wrote, for "current channel" notices (absent when counting is not built).
    const lastMessageChannels = yield* Effect.serviceOption(LastMessageChannels)
    const rest: REST = discord.rest
    const store = guildState.store

    const capacity = options.capacity ?? 10_000
    const concurrency = options.concurrency ?? 4
    const coalesceWindow = Duration.decode(options.coalesceWindow ?? Duration.millis(500))
    const scope = yield* Effect.scope

    const waiting = new Map<string, Job>()
    const running = new Set<string>()
    /** Jobs a shutdown interrupted, saved with the waiting ones. */
    const cutShort: Array<Job> = []
    const ready = yield* Queue.unbounded<string>()
    /** `guildId/roleId/reason` the guild was warned about. */
    const warned = new Set<string>()
    let done = 0
    let dropped = 0

    // -- REST ----------------------------------------------------------------------------------

    const call = <A>(what: string, request: () => Promise<unknown>) =>
      Effect.tryPromise({
        try: () => request() as Promise<A>,
        catch: (error) =>
          error instanceof DiscordAPIError
            ? new RestFailed({
                reason: `${what}: ${error.message}`,
                status: error.status,
                code: error.code,
              })
            : new RestFailed({ reason: `${what}: ${String(error)}`, status: null, code: null }),
      })

    const fetchMember = (guildId: Snowflake, userId: Snowflake) =>
      call<{ user?: { username?: string }; roles?: ReadonlyArray<Snowflake> }>("fetch member", () =>
        rest.get(Routes.guildMember(guildId, userId)),
      ).pipe(
        Effect.map(
          (member): Member => ({
            username: member.user?.username ?? userId,
            roleIds: member.roles ?? [],
          }),
        ),
      )

    const fetchRoles = (guildId: Snowflake) =>
      call<
        ReadonlyArray<{
          id: Snowflake
          name: string
          position: number
          permissions: string
          managed?: boolean
        }>
      >("fetch roles", () => rest.get(Routes.guildRoles(guildId))).pipe(
        Effect.map(
          (roles) =>
            new Map<Snowflake, Role>(
              roles.map((role) => [
                role.id,
                {
                  id: role.id,
                  name: role.name,
                  position: role.position,
                  permissions: BigInt(role.permissions),
                  managed: role.managed === true,
                },
              ]),
            ),
        ),
      )

    /** The bot's highest role position: its roles as the guild state saw them, else asked. */
    const botHighestPosition = (guildId: Snowflake, roles: ReadonlyMap<Snowflake, Role>) =>
      Effect.gen(function* () {
        let botRoleIds = store.botRoles(guildId)
        if (botRoleIds.length === 0) {
          const botId =
            store.botUserId ??
            (yield* call<{ id: Snowflake }>("fetch bot user", () => rest.get(Routes.user()))).id
          botRoleIds = (yield* fetchMember(guildId, botId)).roleIds
        }
        return Math.max(0, ...botRoleIds.map((roleId) => roles.get(roleId)?.position ?? 0))
      })

    const post = (channelId: Snowflake, body: RESTPostAPIChannelMessageJSONBody) =>
      call("post message", () => rest.post(Routes.channelMessages(channelId), { body }))

    // -- warnings ------------------------------------------------------------------------------

    /**
     * Posts a warning to the first channel that takes it: the level-up and welcome channels, then
     * the guild's text channels (at most five tries).
     */
    const warnGuild = (context: GuildContextData, text: string) =>
      Effect.gen(function* () {
        const guildId = context.guildId
        const textChannels = (store.snapshot(guildId)?.channels ?? [])
          .filter((channel) => channel.type === 0)
          .map((channel) => channel.id)
        const candidates = [
          ...new Set([
            ...[context.settings.levelupChannelId, context.settings.serverJoinChannelId].filter(
              (channelId): channelId is Snowflake => channelId !== null,
            ),
            ...textChannels,
          ]),
        ]
          // Channels the bot is known not to be able to post in are not tried.
          .filter((channelId) => store.botCanSendIn(guildId, channelId) !== false)
          .slice(0, 5)
        for (const channelId of candidates) {
          const sent = yield* post(channelId, {
            content: text,
            allowed_mentions: { parse: [] },
          }).pipe(
            Effect.as(true),
            Effect.catchAll(() => Effect.succeed(false)),
          )
          if (sent) return
        }
        yield* Effect.logWarning("no channel took the guild warning").pipe(
          Effect.annotateLogs({ tried: candidates.length }),
        )
      })

    const warnSkipped = (context: GuildContextData, skipped: LevelRoles.SkippedRole) =>
      Effect.gen(function* () {
        const key = `${context.guildId}/${skipped.roleId}/${skipped.why._tag}`
        if (warned.has(key)) return
        warned.add(key)
        const sentence = LevelRoles.explainSkipped(skipped)
        yield* Effect.logWarning("level role skipped").pipe(
          Effect.annotateLogs({
            roleId: skipped.roleId,
            direction: skipped.direction,
            reason: skipped.why._tag,
          }),
        )
        if (skipped.why._tag === "Missing") return
        yield* warnGuild(context, `⚠️ I could not change a level role: ${sentence}`)
      })

    // -- roles ---------------------------------------------------------------------------------

    /** Adds and removes the member's level roles; returns the roles really changed. */
    const reconcileRoles = (context: GuildContextData, job: Job, member: Member) =>
      Effect.gen(function* () {
        const wanted = LevelRoles.changes({
          from: job.fromLevel,
          to: job.toLevel,
          memberRoleIds: member.roleIds,
          roles: context.roles.values(),
          takeAwayAssignedRolesOnLevelDown: context.settings.takeAwayAssignedRolesOnLevelDown,
        })
        if (wanted.add.length === 0 && wanted.remove.length === 0) {
          return { added: [], removed: [] }
        }
        const roles = yield* fetchRoles(job.guildId)
        const botPosition = yield* botHighestPosition(job.guildId, roles)
        const possible = LevelRoles.applicable(wanted, { roles, botHighestPosition: botPosition })
        yield* Effect.forEach(possible.skipped, (skipped) => warnSkipped(context, skipped), {
          discard: true,
        })
        const change = (roleId: Snowflake, direction: "add" | "remove") =>
          call("change role", () =>
            direction === "add"
              ? rest.put(Routes.guildMemberRole(job.guildId, job.userId, roleId), {
                  reason: `level ${job.toLevel}`,
                })
              : rest.delete(Routes.guildMemberRole(job.guildId, job.userId, roleId), {
                  reason: `level ${job.toLevel}`,
                }),
          ).pipe(
            Effect.zipRight(Metric.increment(roleChanges)),
            Effect.as(Option.some(roleId)),
            Effect.catchAll((error) =>
              Effect.logWarning("level role not changed").pipe(
                Effect.annotateLogs({ roleId, direction, reason: error.reason }),
                Effect.as(Option.none<Snowflake>()),
              ),
            ),
          )
        const added = yield* Effect.forEach(possible.add, (roleId) => change(roleId, "add"))
        const removed = yield* Effect.forEach(possible.remove, (roleId) => change(roleId, "remove"))
        const named = (ids: ReadonlyArray<Option.Option<Snowflake>>) =>
          ids.flatMap(Option.toArray).map(
            (roleId): LevelUpNotice.ChangedRole => ({
              settings: context.roles.get(roleId) ?? GuildSettings.defaultRoleSettings(roleId),
              name: roles.get(roleId)?.name ?? roleId,
            }),
          )
        return { added: named(added), removed: named(removed) }
      })

    // -- notice --------------------------------------------------------------------------------

    const memberAllowsDm = (context: GuildContextData, userId: Snowflake) =>
      context.settings.notifyLevelupDm
        ? ShardClients.use(context.dbShardId, Settings.member(context.guildId, userId)).pipe(
            Effect.provideService(ShardClients.ShardClients, shards),
            Effect.map((settings) => settings.notifyLevelupDm),
            Effect.catchAll((error) =>
              Effect.logWarning("member settings unavailable; no DM").pipe(
                Effect.annotateLogs({ reason: String(error._tag) }),
                Effect.as(false),
              ),
            ),
          )
        : Effect.succeed(false)

    /**
     * A channel the guild state knows as text-based, where the bot may view and send messages as
     * far as the state knows (roles, overwrites); unknown guilds are left to Discord. Where the
     * state cannot tell, or is behind, the post's 403 says so and the next place is tried.
     */
    const canPostIn = (guildId: Snowflake) => (channelId: Snowflake) => {
      if (!store.has(guildId)) return true
      const channel = store.channel(guildId, channelId)
      return (
        channel !== undefined &&
        textBasedChannelTypes.has(channel.type) &&
        store.botCanSendIn(guildId, channelId) !== false
      )
    }

    /** The member's last message channel; the level change's own channel when none is known. */
    const lastChannelOf = (guildId: Snowflake, userId: Snowflake) =>
      Option.match(lastMessageChannels, {
        onNone: () => Effect.succeed(Option.none<Snowflake>()),
        onSome: (channels) => channels.of(guildId, userId),
      })

    const noticeBody = (notice: LevelUpNotice.LevelUpNotice): RESTPostAPIChannelMessageJSONBody =>
      ({
        flags: IS_COMPONENTS_V2,
        components: [
          {
            type: 17,
            accent_color: NOTICE_ACCENT,
            components: [{ type: 10, content: notice.text }],
          },
        ],
        allowed_mentions: {
          parse: [],
          users: [...notice.allowedMentions.users],
        },
      }) as RESTPostAPIChannelMessageJSONBody

    const deliver = (
      target: LevelUpNotice.NoticeTarget,
      body: RESTPostAPIChannelMessageJSONBody,
    ) =>
      target._tag === "DirectMessage"
        ? call<{ id: Snowflake }>("open DM", () =>
            rest.post(Routes.userChannels(), { body: { recipient_id: target.userId } }),
          ).pipe(Effect.flatMap((dm) => post(dm.id, body)))
        : post(target.channelId, body)

    const postNotice = (
      context: GuildContextData,
      job: Job,
      member: Member,
      changed: {
        readonly added: ReadonlyArray<LevelUpNotice.ChangedRole>
        readonly removed: ReadonlyArray<LevelUpNotice.ChangedRole>
      },
    ) =>
      Effect.gen(function* () {
        const notice = LevelUpNotice.decide({
          userId: job.userId,
          username: member.username,
          guildName: store.header(job.guildId)?.name ?? "",
          oldLevel: job.fromLevel,
          newLevel: job.toLevel,
          rolesAdded: changed.added,
          rolesRemoved: changed.removed,
          settings: context.settings,
          memberNotifyLevelupDm: yield* memberAllowsDm(context, job.userId),
          lastActiveChannelId: Option.getOrElse(
            yield* lastChannelOf(job.guildId, job.userId),
            () => job.noticeChannelId,
          ),
          canPostIn: canPostIn(job.guildId),
        })
        if (Option.isNone(notice)) return
        const body = noticeBody(notice.value)
        for (const target of notice.value.targets) {
          const sent = yield* deliver(target, body).pipe(
            Effect.as(true),
            Effect.catchAll((error) =>
              Effect.logInfo("level-up notice not posted there; trying the next place").pipe(
                Effect.annotateLogs({ target: target._tag, reason: error.reason }),
                Effect.as(false),
              ),
            ),
          )
          if (sent) return yield* Metric.increment(noticesPosted)
        }
        yield* Effect.logInfo("level-up notice skipped: no place took it").pipe(
          Effect.annotateLogs({ places: notice.value.targets.length }),
        )
      })

    // -- jobs ----------------------------------------------------------------------------------

    /**
     * Whether a level change can lead to anything here: level roles to reconcile, or (going up)
     * a level-up message. Most guilds set neither; then no job runs and Discord is not asked for
     * the member, which under a busy guild would be a REST call per level-up.
     */
    const hasWork = (context: GuildContextData, fromLevel: number, toLevel: number) =>
      (toLevel > fromLevel && context.settings.levelupMessage !== "") || hasLevelRoles(context)

    const runJob = (job: Job) =>
      Effect.gen(function* () {
        const context = yield* contexts.load(job.guildId)
        if (!hasWork(context, job.fromLevel, job.toLevel)) return
        const member = yield* fetchMember(job.guildId, job.userId).pipe(
          Effect.tapError((error) =>
            Effect.logInfo("member not fetched; level-up job dropped").pipe(
              Effect.annotateLogs({ reason: error.reason }),
            ),
          ),
          Effect.option,
        )
        if (Option.isNone(member)) return
        const changed = yield* reconcileRoles(context, job, member.value)
        if (job.toLevel > job.fromLevel) yield* postNotice(context, job, member.value, changed)
        yield* Metric.increment(levelUpJobs)
      }).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logError("level-up job failed", cause),
        ),
        Effect.annotateLogs({
          guildId: job.guildId,
          userId: job.userId,
          fromLevel: job.fromLevel,
          toLevel: job.toLevel,
        }),
        Effect.withLogSpan("LevelUps.job"),
      )

    const worker = Effect.gen(function* () {
      while (true) {
        const key = yield* Queue.take(ready)
        // A member with a running job gets the next one when it finishes (see below).
        if (running.has(key)) continue
        const job = waiting.get(key)
        if (job === undefined) continue
        waiting.delete(key)
        running.add(key)
        yield* Metric.set(jobsWaiting, waiting.size)
        yield* runJob(job).pipe(
          Effect.onExit((exit) =>
            Effect.suspend(() => {
              running.delete(key)
              if (Exit.isInterrupted(exit)) cutShort.push(job)
              else done++
              return waiting.has(key) ? Queue.offer(ready, key) : Effect.void
            }),
          ),
        )
      }
    })

    const accept = (
      change: Pick<
        LevelChange,
        "dbShardId" | "guildId" | "userId" | "oldLevel" | "newLevel" | "noticeChannelId"
      >,
    ) =>
      Effect.suspend(() => {
        const key = memberKey(change.guildId, change.userId)
        const known = waiting.get(key)
        if (known !== undefined) {
          known.toLevel = change.newLevel
          if (change.noticeChannelId !== null) known.noticeChannelId = change.noticeChannelId
          return Effect.void
        }
        // Only a change that would start a job is filtered: one joining a waiting job may undo it.
        const context = contexts.cached(change.guildId)
        if (Option.isSome(context) && !hasWork(context.value, change.oldLevel, change.newLevel)) {
          return Effect.void
        }
        if (waiting.size >= capacity) {
          dropped++
          return dropped === 1 || dropped % 1000 === 0
            ? Effect.logWarning("level-up jobs full; level changes dropped").pipe(
                Effect.annotateLogs({ dropped, capacity }),
              )
            : Effect.void
        }
        waiting.set(key, {
          dbShardId: change.dbShardId,
          guildId: change.guildId,
          userId: change.userId,
          fromLevel: change.oldLevel,
          toLevel: change.newLevel,
          noticeChannelId: change.noticeChannelId,
        })
        return Metric.set(jobsWaiting, waiting.size).pipe(
          Effect.zipRight(
            Effect.sleep(coalesceWindow).pipe(
              Effect.zipRight(Queue.offer(ready, key)),
              Effect.forkIn(scope),
            ),
          ),
          Effect.asVoid,
        )
      })

    const changes = yield* PubSub.subscribe(accrual.levelChanges)
    const taking = yield* Effect.forkScoped(
      Queue.take(changes).pipe(Effect.flatMap(accept), Effect.forever),
    )
    const workers: Array<Fiber.RuntimeFiber<never>> = []
    for (let index = 0; index < concurrency; index++) workers.push(yield* Effect.forkScoped(worker))

    const shutdown = Effect.gen(function* () {
      yield* Fiber.interruptAll([taking, ...workers])
      // Changes published before the stop still become jobs (their coalescing timers are moot).
      for (const change of yield* Queue.takeAll(changes)) yield* accept(change)
      const jobs = new Map<string, Job>()
      for (const job of cutShort) jobs.set(memberKey(job.guildId, job.userId), job)
      for (const [key, job] of waiting) {
        const earlier = jobs.get(key)
        // A job cut short and a later change of the same member: from the first level to the last.
        jobs.set(key, earlier === undefined ? job : { ...job, fromLevel: earlier.fromLevel })
      }
      cutShort.length = 0
      waiting.clear()
      yield* Metric.set(jobsWaiting, 0)
      return [...jobs.values()].map(
        (job): SavedJob => ({
          dbShardId: job.dbShardId,
          guildId: job.guildId,
          userId: job.userId,
          fromLevel: job.fromLevel,
          toLevel: job.toLevel,
          noticeChannelId: job.noticeChannelId,
        }),
      )
    }).pipe(Effect.uninterruptible)

    const restore = (jobs: ReadonlyArray<SavedJob>) =>
      Effect.forEach(
        jobs,
        (job) =>
          accept({
            dbShardId: job.dbShardId,
            guildId: job.guildId,
            userId: job.userId,
            oldLevel: job.fromLevel,
            newLevel: job.toLevel,
            noticeChannelId: job.noticeChannelId,
          }),
        { discard: true },
      )

    const awaitIdle = Effect.gen(function* () {
      while (waiting.size > 0 || running.size > 0 || (yield* Queue.size(changes)) > 0) {
        yield* Effect.sleep(Duration.millis(10))
      }
    })

    return {
      awaitIdle,
      shutdown,
      restore,
      stats: Effect.sync(() => ({
        waiting: waiting.size,
        running: running.size,
        done,
        dropped,
      })),
    } satisfies Context.Tag.Service<LevelUps>
  })

export const layer = (
  options: Options = {},
): Layer.Layer<
  LevelUps,
  never,
  Accrual | GuildContext | GuildState | Discord | ShardClients.ShardClients
> => Layer.scoped(LevelUps, make(options))
