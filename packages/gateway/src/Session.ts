/**
 * Discord sessions kept across a restart. `@discordjs/ws` asks this store (synchronously, so
 * sequence updates stay in order) for a shard's session before it connects, and resumes when it
 * finds one. On shutdown the gateway writes `.tally/session-<shard>.json` with the session id,
 * resume URL, the last *processed* sequence, the guild state of that shard (RESUME does not send
 * GUILD_CREATE again) with the bot's user id, the messages still waiting for their guild or
 * channel and the level-up jobs not carried out, and the `DISCORD_API_URL` it was made with. The
 * next start reads the file once and deletes it, so a later crash cannot resume from a stale
 * sequence; a session of another Discord (the simulator then Discord, or another simulator) is
 * not resumed.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import type { SessionInfo } from "@discordjs/ws"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Context, Data, Effect, Layer, Schema } from "effect"
import type { PendingMessage } from "./Dispatch"
import type { GuildSnapshot } from "./GuildState"
import type { SavedJob } from "./LevelUps"

export class SessionFileError extends Data.TaggedError("SessionFileError")<{
  readonly reason: string
  readonly path: string
}> {}

/** What one session file holds. */
export interface SavedSession {
  readonly session: SessionInfo
  readonly guilds: ReadonlyArray<GuildSnapshot>
  readonly pending: ReadonlyArray<PendingMessage>
  /** Level-up jobs of this shard's guilds not carried out (absent in older files). */
  readonly levelUpJobs: ReadonlyArray<SavedJob>
  /**
   * The bot's user id (from READY): a resumed session gets no READY, and what the bot may do in
   * a channel depends on it (absent in older files).
   */
  readonly botUserId: Snowflake | null
  readonly savedAt: number
}

const SessionInfoSchema = Schema.Struct({
  sessionId: Schema.String,
  sequence: Schema.Int,
  shardId: Schema.Int,
  shardCount: Schema.Int,
  resumeURL: Schema.String,
})

const SavedSessionSchema = Schema.Struct({
  session: SessionInfoSchema,
  // Written by this module from validated state; checked for shape only.
  guilds: Schema.Array(Schema.Unknown),
  pending: Schema.Array(Schema.Unknown),
  levelUpJobs: Schema.optionalWith(Schema.Array(Schema.Unknown), { default: () => [] }),
  botUserId: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => null }),
  savedAt: Schema.Number,
  /** `DISCORD_API_URL` (null: Discord's own); absent in older files, which are taken as they are. */
  discordApiUrl: Schema.optional(Schema.NullOr(Schema.String)),
})

export const fileName = (discordShardId: number) => `session-${discordShardId}.json`

/** `@discordjs/rest`'s default API base: Discord's own. */
const DISCORD_API = "https://discord.com/api"

/**
 * Which Discord a `DISCORD_API_URL` names, in one spelling: null for Discord's own (unset or
 * written out), else the URL's normal form without a trailing slash (host case, default port).
 */
export const discordOf = (apiUrl: string | null): string | null => {
  if (apiUrl === null || !URL.canParse(apiUrl)) return apiUrl
  const normal = new URL(apiUrl).href.replace(/\/+$/, "")
  return normal === DISCORD_API ? null : normal
}

export class Session extends Context.Tag("@tally/gateway/Session")<
  Session,
  {
    readonly directory: string
    /** For `WebSocketManagerOptions.retrieveSessionInfo`. */
    readonly retrieve: (discordShardId: number) => SessionInfo | null
    /** For `WebSocketManagerOptions.updateSessionInfo`. */
    readonly update: (discordShardId: number, info: SessionInfo | null) => void
    /**
     * Reads what the previous process saved for these shards, and deletes the files. Sessions
     * saved against another `discordApiUrl` (`DISCORD_API_URL`, null for Discord's own) are
     * ignored; later saves are stamped with this one.
     */
    readonly load: (
      discordShardIds: ReadonlyArray<number>,
      discordApiUrl?: string | null,
    ) => Effect.Effect<ReadonlyMap<number, SavedSession>>
    readonly save: (saved: SavedSession) => Effect.Effect<void, SessionFileError>
  }
>() {}

const readSaved = (path: string) =>
  Effect.tryPromise({
    try: () => Fs.readFile(path, "utf8"),
    catch: (error) => new SessionFileError({ reason: String(error), path }),
  }).pipe(
    Effect.flatMap((text) =>
      Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: () => new SessionFileError({ reason: "not JSON", path }),
      }),
    ),
    Effect.flatMap((json) =>
      Schema.decodeUnknown(SavedSessionSchema)(json).pipe(
        Effect.mapError(
          (error) => new SessionFileError({ reason: `unexpected shape: ${error.message}`, path }),
        ),
      ),
    ),
    Effect.map(({ discordApiUrl, ...saved }) => ({
      saved: saved as unknown as SavedSession,
      discordApiUrl,
    })),
  )

/** A session store whose files live in `directory` (`.tally` under the working directory in main). */
export const make = (directory: string) =>
  Effect.sync(() => {
    const sessions = new Map<number, SessionInfo>()
    let currentApiUrl: string | null = null

    /**
     * Reads (and deletes) the session files of `discordShardIds`. A missing file means a fresh
     * IDENTIFY; an unreadable one is logged and ignored.
     */
    const load = (discordShardIds: ReadonlyArray<number>, discordApiUrl: string | null = null) =>
      Effect.gen(function* () {
        currentApiUrl = discordOf(discordApiUrl)
        const restored = new Map<number, SavedSession>()
        for (const discordShardId of discordShardIds) {
          const path = Path.join(directory, fileName(discordShardId))
          const exists = yield* Effect.promise(() =>
            Fs.access(path).then(
              () => true,
              () => false,
            ),
          )
          if (!exists) continue
          yield* readSaved(path).pipe(
            Effect.filterOrFail(
              (file) =>
                file.discordApiUrl === undefined ||
                discordOf(file.discordApiUrl) === discordOf(discordApiUrl),
              (file) =>
                new SessionFileError({
                  reason: `saved for ${file.discordApiUrl ?? "Discord"}, not ${discordApiUrl ?? "Discord"} (DISCORD_API_URL changed): starting a new session`,
                  path,
                }),
            ),
            Effect.map((file) => file.saved),
            Effect.tap((saved) =>
              Effect.sync(() => {
                sessions.set(discordShardId, saved.session)
                restored.set(discordShardId, saved)
              }),
            ),
            Effect.tap((saved) =>
              Effect.logInfo("session restored").pipe(
                Effect.annotateLogs({
                  discordShardId,
                  sequence: saved.session.sequence,
                  guilds: saved.guilds.length,
                  pending: saved.pending.length,
                }),
              ),
            ),
            Effect.catchAll((error) =>
              Effect.logWarning("session file ignored").pipe(
                Effect.annotateLogs({ path: error.path, reason: error.reason }),
              ),
            ),
          )
          yield* Effect.promise(() => Fs.rm(path, { force: true }))
        }
        return restored as ReadonlyMap<number, SavedSession>
      })

    const save = (saved: SavedSession) => {
      const path = Path.join(directory, fileName(saved.session.shardId))
      const temporary = `${path}.tmp`
      return Effect.tryPromise({
        try: async () => {
          await Fs.mkdir(directory, { recursive: true })
          await Fs.writeFile(
            temporary,
            JSON.stringify({ ...saved, discordApiUrl: currentApiUrl }),
            { mode: 0o600 },
          )
          await Fs.rename(temporary, path)
        },
        catch: (error) => new SessionFileError({ reason: String(error), path }),
      }).pipe(
        Effect.tap(() =>
          Effect.logInfo("session saved").pipe(
            Effect.annotateLogs({
              discordShardId: saved.session.shardId,
              sequence: saved.session.sequence,
              guilds: saved.guilds.length,
              pending: saved.pending.length,
            }),
          ),
        ),
      )
    }

    return Session.of({
      directory,
      retrieve: (discordShardId) => sessions.get(discordShardId) ?? null,
      update: (discordShardId, info) => {
        if (info === null) sessions.delete(discordShardId)
        else sessions.set(discordShardId, info)
      },
      load,
      save,
    })
  })

export const layer = (directory: string) => Layer.effect(Session, make(directory))
