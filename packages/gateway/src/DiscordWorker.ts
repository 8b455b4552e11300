/**
 * The Discord connection's worker thread: an `@discordjs/ws` `WebSocketManager` (simple sharding
 * strategy) that receives and parses every frame off the main thread, checks each
 * `MESSAGE_CREATE` (`MessageCheck`) and posts what arrived to the main thread in batches:
 * one batch per turn of this thread's event loop, so a socket read of many frames costs the main
 * thread one message. Sessions live here (the library asks for one on every dispatch); changed
 * ones travel with the batch.
 */

import { parentPort, workerData } from "node:worker_threads"
import { REST, RESTEvents } from "@discordjs/rest"
import { type SessionInfo, WebSocketManager, WebSocketShardEvents } from "@discordjs/ws"
import type { ToMain, ToWorker, WireDispatch, WorkerStart } from "./DiscordWire"
import { checkMessage } from "./MessageCheck"

const port = parentPort
if (port === null) throw new Error("DiscordWorker runs in a worker thread")
const start = workerData as WorkerStart
const post = (message: ToMain) => port.postMessage(message)

const rest = new REST({
  version: "10",
  ...(start.apiUrl === null ? {} : { api: start.apiUrl }),
}).setToken(start.token)
rest.on(RESTEvents.Response, (request, response) => {
  if (response.status === 401 && request.data.auth !== false) {
    post({ type: "restRefused", method: request.method, route: request.route })
  }
})

const backlog = new Int32Array(start.backlog)
/** The longest the worker waits for the main thread after one batch: heartbeats must go out. */
const MAX_PAUSE_MILLIS = 1_000

/**
 * Behind a backlog, stops reading: the socket's data waits in the kernel (and Discord's side
 * slows down) instead of in the main thread's memory. At most a second per batch, so heartbeats
 * still leave on time and a stuck main thread does not stop the connection.
 */
const waitForRoom = () => {
  const until = Date.now() + MAX_PAUSE_MILLIS
  for (;;) {
    const waiting = Atomics.load(backlog, 0)
    const left = until - Date.now()
    if (waiting <= start.maxBacklog / 2 || left <= 0) return
    Atomics.wait(backlog, 0, waiting, Math.min(left, 50))
  }
}

const sessions = new Map<number, SessionInfo>(start.sessions)
const changed = new Set<number>()
let dispatches: Array<WireDispatch> = []
let scheduled = false

const flush = () => {
  scheduled = false
  if (dispatches.length === 0 && changed.size === 0) return
  const batch: ToMain = {
    type: "dispatches",
    dispatches: JSON.stringify(dispatches),
    count: dispatches.length,
    sessions: [...changed].map((id) => [id, sessions.get(id) ?? null] as const),
  }
  Atomics.add(backlog, 0, dispatches.length)
  dispatches = []
  changed.clear()
  post(batch)
  if (Atomics.load(backlog, 0) > start.maxBacklog) waitForRoom()
}
const schedule = () => {
  if (scheduled) return
  scheduled = true
  setImmediate(flush)
}

const manager = new WebSocketManager({
  token: start.token,
  intents: start.intents,
  rest,
  shardCount: start.shardCount,
  shardIds: [...start.shardIds],
  retrieveSessionInfo: (id) => sessions.get(id) ?? null,
  updateSessionInfo: (id, info) => {
    if (info === null) sessions.delete(id)
    else sessions.set(id, info)
    changed.add(id)
    schedule()
  },
  ...(start.skipIdentifyThrottle
    ? {
        buildIdentifyThrottler: () => Promise.resolve({ waitForIdentify: () => Promise.resolve() }),
      }
    : {}),
})

manager.on(WebSocketShardEvents.Dispatch, (payload, discordShardId) => {
  if (payload.t === "INTERACTION_CREATE") {
    // At once, not with the batch: the dispatch loop may be seconds behind in a flood or while a
    // DB shard is away, and nothing it counts depends on a command. The batch keeps only its
    // place (no data), so the sequence a stop saves moves past it once the loop gets there.
    post({ type: "interaction", data: payload.d })
    dispatches.push({
      discordShardId,
      sequence: payload.s,
      event: payload.t,
      data: null,
      checked: false,
    })
    schedule()
    return
  }
  const fields = payload.t === "MESSAGE_CREATE" ? checkMessage(payload.d) : undefined
  dispatches.push({
    discordShardId,
    sequence: payload.s,
    event: payload.t,
    data: fields ?? payload.d,
    checked: fields !== undefined,
  })
  schedule()
})
/**
 * Shards the library is closing because Discord asked it to (op 7 RECONNECT, or op 9 INVALID
 * SESSION): routine, unlike a lost connection. The library says why only in its debug text.
 */
const askedToReconnect = new Set<number>()
const ASKED_BY_DISCORD =
  /^Destroying shard\n\tReason: (Told to reconnect by Discord|Invalid session)\n/
manager.on(WebSocketShardEvents.Debug, (message, discordShardId) => {
  if (ASKED_BY_DISCORD.test(message)) askedToReconnect.add(discordShardId)
})
// What happened to a shard follows the dispatches that came before it.
manager.on(WebSocketShardEvents.Ready, (data, discordShardId) => {
  // A destroy that found no open socket closes nothing: its flag must not outlive the reconnect.
  askedToReconnect.delete(discordShardId)
  flush()
  // A READY without its guild list must not throw here: a throw in a listener ends the thread.
  post({
    type: "ready",
    discordShardId,
    guilds: Array.isArray(data.guilds) ? data.guilds.length : 0,
  })
})
manager.on(WebSocketShardEvents.Resumed, (discordShardId) => {
  askedToReconnect.delete(discordShardId)
  flush()
  post({ type: "resumed", discordShardId })
})
manager.on(WebSocketShardEvents.Closed, (code, discordShardId) => {
  flush()
  post({ type: "closed", discordShardId, code, asked: askedToReconnect.delete(discordShardId) })
})
manager.on(WebSocketShardEvents.SocketError, (error, discordShardId) => {
  post({
    type: "socketError",
    discordShardId,
    message: error instanceof Error ? error.message : String(error),
  })
})
manager.on(WebSocketShardEvents.Error, (error, discordShardId) => {
  flush()
  post({ type: "error", discordShardId, message: error.message })
})

port.on("message", (message: ToWorker) => {
  const work =
    message.type === "connect"
      ? manager.connect()
      : message.type === "destroy"
        ? manager.destroy({ code: message.code, reason: message.reason })
        : undefined
  Promise.resolve(work).then(
    () => {
      flush()
      post({ type: "done", request: message.request })
    },
    (error: unknown) => {
      flush()
      post({ type: "failed", request: message.request, error: String(error) })
    },
  )
})
