/**
 * A real bot-side client for the tests: an unmodified @discordjs/ws WebSocketManager and an
 * @discordjs/rest REST pointed at the simulator, with a per-manager session store and no
 * identify throttle (see discord-protocol.md §1 and §6).
 */
import { REST } from "@discordjs/rest"
import {
  type CompressionMethod,
  type SessionInfo,
  WebSocketManager,
  WebSocketShardEvents,
} from "@discordjs/ws"
import type { GatewayDispatchPayload } from "discord-api-types/v10"
import { Effect } from "effect"
import type { DiscordSim } from "../../src/DiscordSim"

/** GUILDS | GUILD_MEMBERS | GUILD_VOICE_STATES | GUILD_MESSAGES | GUILD_MESSAGE_REACTIONS */
export const TALLY_INTENTS: number = 1667

export interface TestClient {
  readonly manager: WebSocketManager
  readonly rest: REST
  readonly dispatches: Array<GatewayDispatchPayload & { shardId: number }>
  readonly closes: Array<number>
  readonly sessions: Map<number, SessionInfo>
  /** MESSAGE_CREATE ids in arrival order */
  readonly messageIds: () => Array<string>
  readonly lastSeq: (shardId: number) => number | null
}

export const connectClient = (
  sim: DiscordSim,
  options: {
    readonly intents?: number
    readonly shardCount?: number
    readonly compression?: CompressionMethod
    readonly onDispatch?: (payload: GatewayDispatchPayload, shardId: number) => void
  } = {},
) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<TestClient> => {
      const rest = new REST({ api: sim.apiUrl, version: "10" }).setToken(sim.token)
      const sessions = new Map<number, SessionInfo>()
      const manager = new WebSocketManager({
        token: sim.token,
        intents: options.intents ?? TALLY_INTENTS,
        rest,
        ...(options.shardCount !== undefined ? { shardCount: options.shardCount } : {}),
        ...(options.compression !== undefined ? { compression: options.compression } : {}),
        buildIdentifyThrottler: async () => ({ waitForIdentify: async () => {} }),
        retrieveSessionInfo: (shardId) => sessions.get(shardId) ?? null,
        updateSessionInfo: (shardId, info) => {
          if (info) sessions.set(shardId, info)
          else sessions.delete(shardId)
        },
        helloTimeout: 5000,
        readyTimeout: 5000,
        handshakeTimeout: 5000,
      })
      const dispatches: TestClient["dispatches"] = []
      const closes: Array<number> = []
      manager.on(WebSocketShardEvents.Dispatch, (payload, shardId) => {
        dispatches.push({ ...payload, shardId })
        options.onDispatch?.(payload, shardId)
      })
      manager.on(WebSocketShardEvents.Closed, (code) => closes.push(code))
      manager.on(WebSocketShardEvents.Error, () => {})
      await manager.connect()
      return {
        manager,
        rest,
        dispatches,
        closes,
        sessions,
        messageIds: () =>
          dispatches.flatMap((payload) => (payload.t === "MESSAGE_CREATE" ? [payload.d.id] : [])),
        lastSeq: (shardId) => sessions.get(shardId)?.sequence ?? null,
      }
    }),
    (client) =>
      Effect.promise(async () => {
        await client.manager.destroy()
      }),
  )

/** Polls until the condition holds (or fails the test after the timeout). */
export const eventually = (condition: () => boolean, timeoutMillis = 15_000, what = "condition") =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMillis
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })
