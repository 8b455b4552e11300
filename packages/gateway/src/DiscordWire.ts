/**
 * What the Discord connection's worker thread (`DiscordWorker.ts`) and the gateway's main thread
 * say to each other. Plain data only: it crosses threads by structured clone.
 */
import type { SessionInfo } from "@discordjs/ws"

/** `workerData` of the connection's worker. */
export interface WorkerStart {
  /** The bot token; it crosses to the worker only, never into a log. */
  readonly token: string
  readonly apiUrl: string | null
  readonly intents: number
  readonly shardCount: number
  readonly shardIds: ReadonlyArray<number>
  /** Sessions to resume, by Discord shard id. */
  readonly sessions: ReadonlyArray<readonly [number, SessionInfo]>
  readonly skipIdentifyThrottle: boolean
  /**
   * `Int32Array` over it, slot 0: dispatches posted and not yet taken by the dispatch loop. The
   * worker adds, the main thread subtracts (and notifies).
   */
  readonly backlog: SharedArrayBuffer
  /** Past this backlog the worker stops reading (up to a second per batch) until it halves. */
  readonly maxBacklog: number
}

/**
 * One dispatch. A `MESSAGE_CREATE` that passed the hand check carries only its fields
 * (`checked`); any other payload, or a message that did not pass, carries its parsed data.
 */
export interface WireDispatch {
  readonly discordShardId: number
  readonly sequence: number
  readonly event: string
  readonly data: unknown
  readonly checked: boolean
}

export type ToMain =
  | {
      readonly type: "dispatches"
      /**
       * `WireDispatch[]` as JSON: one string crosses faster than a graph of small objects
       * (structured clone), and the main thread's `JSON.parse` builds them faster than the clone.
       */
      readonly dispatches: string
      /** How many dispatches the string holds. */
      readonly count: number
      /** The sessions changed since the last batch (null: no session any more). */
      readonly sessions: ReadonlyArray<readonly [number, SessionInfo | null]>
    }
  /**
   * An INTERACTION_CREATE's data, posted at once: it is answered ahead of the dispatches waiting
   * for the dispatch loop (Discord wants an answer within 3 s). The next batch holds it without
   * its data, in its place in the stream.
   */
  | { readonly type: "interaction"; readonly data: unknown }
  | { readonly type: "ready"; readonly discordShardId: number; readonly guilds: number }
  | { readonly type: "resumed"; readonly discordShardId: number }
  | {
      readonly type: "closed"
      readonly discordShardId: number
      readonly code: number
      /** Discord asked for it (op 7 RECONNECT, op 9 INVALID SESSION): routine, not a loss. */
      readonly asked: boolean
    }
  | { readonly type: "error"; readonly discordShardId: number; readonly message: string }
  /** The socket failed (refused, reset); a `closed` follows and the library tries again. */
  | { readonly type: "socketError"; readonly discordShardId: number; readonly message: string }
  | { readonly type: "restRefused"; readonly method: string; readonly route: string }
  | { readonly type: "done"; readonly request: number }
  | { readonly type: "failed"; readonly request: number; readonly error: string }

/** What the main thread asks; the worker answers `done` or `failed` with the request's number. */
export type Command =
  | { readonly type: "connect" }
  /** Answered once every dispatch received so far has been posted. */
  | { readonly type: "sync" }
  | { readonly type: "destroy"; readonly code: number; readonly reason: string }

export type ToWorker = Command & { readonly request: number }
