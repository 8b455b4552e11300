/**
 * The gateway's life: restore what the previous process saved, run the dispatch loop (and beside
 * it the answering of commands), connect to Discord; on stop (signal or fatal error), stop
 * processing, flush with a time limit (the rest is spilled), save each Discord session at its last
 * processed sequence with its guild state, waiting messages and level-up jobs, and close with a
 * resumable code.
 */
import { Clock, Duration, Effect, Fiber, Option, Queue } from "effect"
import { Counter } from "./Counter"
import { Discord, discordShardOf } from "./Discord"
import { Dispatch } from "./Dispatch"
import { Flusher } from "./Flusher"
import { GuildState } from "./GuildState"
import { Interactions } from "./Interactions"
import { LevelUps, type SavedJob } from "./LevelUps"
import { type SavedSession, Session } from "./Session"
import { VoiceTracker } from "./VoiceTracker"

/** How long shutdown may spend flushing before what is left goes to the spill file. */
export const SHUTDOWN_FLUSH_LIMIT = Duration.seconds(10)

/**
 * Starts the gateway in the current scope and returns once every Discord shard is connected.
 * Closing the scope stops it as described above.
 */
export const start = Effect.gen(function* () {
  const discord = yield* Discord
  const dispatch = yield* Dispatch
  const guildState = yield* GuildState
  const counter = yield* Counter
  const flusher = yield* Flusher
  const session = yield* Session
  const voice = yield* Effect.serviceOption(VoiceTracker)
  const levelUps = yield* Effect.serviceOption(LevelUps)

  for (const saved of discord.restored.values()) {
    for (const guild of saved.guilds) guildState.store.create(guild)
    guildState.store.botUserId ??= saved.botUserId
  }
  yield* dispatch.restorePending([...discord.restored.values()].flatMap((saved) => saved.pending))
  if (Option.isSome(levelUps)) {
    yield* levelUps.value.restore(
      [...discord.restored.values()].flatMap((saved) => saved.levelUpJobs),
    )
  }

  const loop = yield* Effect.forkDaemon(dispatch.run(discord.dispatches, discord.taken))
  // Commands beside the dispatch loop, not behind it: each is answered on a fiber of its own.
  const interactions = yield* Effect.serviceOption(Interactions)
  const answering = yield* Effect.forkDaemon(
    Queue.take(discord.interactions).pipe(
      Effect.flatMap((data) =>
        Option.isSome(interactions) ? interactions.value.handle(data) : Effect.void,
      ),
      Effect.forever,
    ),
  )

  const stop = Effect.gen(function* () {
    yield* discord.stopping
    yield* Fiber.interrupt(loop)
    const { savedEvents } = yield* counter.shutdown
    // Voice minutes up to now go into the buffers before they are flushed.
    if (Option.isSome(voice)) yield* voice.value.shutdown(SHUTDOWN_FLUSH_LIMIT)
    // Level changes up to now (voice's last minutes included) are saved as jobs, not lost.
    const jobs = Option.isSome(levelUps) ? yield* levelUps.value.shutdown : []
    const sessions = yield* sessionsToSave(jobs)
    const { flushedRows, spilledRows } = yield* flusher.shutdown(SHUTDOWN_FLUSH_LIMIT)
    yield* Effect.forEach(
      sessions,
      (saved) =>
        session
          .save(saved)
          .pipe(
            Effect.catchAll((error) =>
              Effect.logError(
                "cannot save the Discord session; the next start identifies anew",
              ).pipe(Effect.annotateLogs({ path: error.path, reason: error.reason })),
            ),
          ),
      { discard: true },
    )
    yield* discord.closeResumable
    // Commands kept being answered while the rest stopped: the socket was open until now.
    yield* Fiber.interrupt(answering)
    yield* Effect.logInfo("gateway stopped").pipe(
      // Rows written by the stop itself (earlier flushes have their own log lines).
      Effect.annotateLogs({
        flushedAtStop: flushedRows,
        spilledRows,
        savedEvents,
        sessions: sessions.length,
      }),
    )
  }).pipe(Effect.withSpan("Gateway.stop"))

  const sessionsToSave = (jobs: ReadonlyArray<SavedJob>) =>
    Effect.gen(function* () {
      const pending = yield* dispatch.pending
      const saved: Array<SavedSession> = []
      for (const discordShardId of discord.discordShardIds) {
        const info = discord.sessionInfo(discordShardId)
        if (info === null) {
          // Discord ended the session (before or during the stop): nothing to resume, so what
          // would have waited for the next start is lost. Guilds come again with the next READY.
          const waitingMessages = pending.filter(
            (message) => message.discordShardId === discordShardId,
          ).length
          const levelUpJobs = jobs.filter(
            (job) => discordShardOf(job.guildId, discord.discordShardCount) === discordShardId,
          ).length
          if (waitingMessages + levelUpJobs > 0) {
            yield* Effect.logWarning(
              "no Discord session to save: what waited for the next start is dropped",
            ).pipe(Effect.annotateLogs({ discordShardId, waitingMessages, levelUpJobs }))
          }
          continue
        }
        const restored = discord.restored.get(discordShardId)
        const sequence =
          (yield* dispatch.processedSequence(discordShardId)) ??
          (restored?.session.sessionId === info.sessionId ? restored.session.sequence : undefined)
        if (sequence === undefined) continue
        saved.push({
          session: { ...info, sequence },
          guilds: guildState.store
            .guildIds()
            .filter(
              (guildId) => discordShardOf(guildId, discord.discordShardCount) === discordShardId,
            )
            .flatMap((guildId) => guildState.store.snapshot(guildId) ?? []),
          pending: pending.filter((message) => message.discordShardId === discordShardId),
          botUserId: guildState.store.botUserId,
          levelUpJobs: jobs.filter(
            (job) => discordShardOf(job.guildId, discord.discordShardCount) === discordShardId,
          ),
          savedAt: yield* Clock.currentTimeMillis,
        })
      }
      return saved
    })

  yield* Effect.addFinalizer(() => stop)
  yield* discord.connect
})
