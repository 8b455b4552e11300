/**
 * A local Discord: gateway WebSocket + REST on 127.0.0.1, with a world, trace replay, faults on
 * demand and a control API (`/_sim/…`). `make` is scoped: the server closes with the scope.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Data, Duration, Effect, type Scope } from "effect"
import { makeControl } from "./Control"
import {
  eventEntry,
  type InteractionInput,
  interactionEntry,
  makeIdSource,
  type SimEvent,
  SimEventRejected,
} from "./Events"
import { makeGateway, PRIVILEGED_INTENTS, type ShardStats } from "./Gateway"
import { type InteractionReply, makeInteractions } from "./Interactions"
import { makeReplay, type ReplayStatus, type Speed } from "./Replay"
import { makeRest, type RateLimitFault, type RestCall, type ServerErrorFault } from "./Rest"
import type { Trace } from "./Trace"
import { worldFromTrace } from "./TraceWorld"
import { type ChannelSpec, makeWorld, type World, type WorldSpec } from "./World"

export interface DiscordSimOptions {
  /** port on 127.0.0.1; default: a free one */
  readonly port?: number | undefined
  /** the only bot token accepted; default: any token */
  readonly token?: string | undefined
  /** the bot's user id, also its application id */
  readonly applicationId?: string | undefined
  readonly botUsername?: string | undefined
  /** Discord shards (`shards` of /gateway/bot); a guild lives on `(id >> 22) % count`. Default 1 */
  readonly discordShards?: number | undefined
  /** HELLO's heartbeat_interval; default 41250 like Discord */
  readonly heartbeatIntervalMillis?: number | undefined
  /** guilds, channels, roles, members; `messages` are replayed */
  readonly world?: WorldSpec | undefined
  /** a trace to replay (its world is built with `worldFromTrace`); wins over `world` */
  readonly trace?: Trace | undefined
  /** the instant of the trace's t = 0, anchoring message ids; default now minus its span */
  readonly startMillis?: number | undefined
  /** replay speed; default "max" */
  readonly speed?: Speed | undefined
  /** start the replay once every Discord shard is READY; default true when there are messages */
  readonly autoStartReplay?: boolean | undefined
  /** privileged intents the "developer portal" allows; default all three */
  readonly privilegedIntents?: number | undefined
  /** REST bucket size and window; default 50 per 1000 ms */
  readonly rateLimit?: { readonly limit: number; readonly windowMillis: number } | undefined
  /** REST requests per second before a global 429; default 50 */
  readonly globalRateLimitPerSecond?: number | undefined
  /** time to the initial interaction response; default 3000 ms */
  readonly interactionCallbackMillis?: number | undefined
  /** the bot's managed role position (default: above every role) and its permissions */
  readonly botRolePosition?: number | undefined
  readonly botPermissions?: bigint | undefined
}

export class SimListenError extends Data.TaggedError("SimListenError")<{
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}

export class InteractionTimeout extends Data.TaggedError("InteractionTimeout")<{
  readonly reason: string
  readonly interactionId: string
}> {}

export type DropKind =
  /** server closes 4000; the client resumes */
  | "close"
  /** op 7 RECONNECT; the client resumes */
  | "reconnect"
  /** op 9 d:false after the client acknowledged all it got; the client identifies anew */
  | "invalid-session"
  /** close 4009 after the client acknowledged all it got; its RESUME gets op 9 d:false */
  | "session-timeout"

export interface SimStats {
  readonly shards: ReadonlyArray<ShardStats>
  readonly replay: ReplayStatus
  /** first deliveries per event name */
  readonly delivered: Readonly<Record<string, number>>
  readonly sessionStarts: number
  readonly restCalls: number
  readonly deliveryPaused: boolean
  readonly heartbeatAcks: boolean
  /** this process's CPU time (µs) and memory, for benchmarks */
  readonly process: { readonly cpuMicros: number; readonly rssBytes: number }
}

export interface RunInteraction extends InteractionInput {
  /** how long to wait for the final reply; default 10 s */
  readonly timeoutMillis?: number | undefined
}

export interface DiscordSim {
  readonly port: number
  /** for `new REST({ api })`: `http://127.0.0.1:PORT/api` (no version) */
  readonly apiUrl: string
  readonly gatewayUrl: string
  readonly resumeGatewayUrl: string
  /** the control API: `http://127.0.0.1:PORT/_sim` */
  readonly controlUrl: string
  /** the configured token, or a suggestion when any token is accepted */
  readonly token: string
  readonly applicationId: string
  readonly world: World
  readonly inject: (event: SimEvent) => Effect.Effect<void, SimEventRejected>
  readonly replay: {
    /** replaces the messages to replay (the world's guilds must already exist) */
    readonly load: (world: WorldSpec) => Effect.Effect<void>
    readonly start: Effect.Effect<void>
    readonly pause: Effect.Effect<void>
    readonly resume: Effect.Effect<void>
    readonly setSpeed: (speed: Speed) => Effect.Effect<void>
    readonly status: Effect.Effect<ReplayStatus>
    /**
     * Waits until every message was fed and every shard's stream acknowledged by a client
     * (asking clients for heartbeats, op 1, once all is sent).
     */
    readonly awaitDone: (
      timeout: Duration.DurationInput,
    ) => Effect.Effect<ReplayStatus, InteractionTimeout>
  }
  readonly runInteraction: (
    input: RunInteraction,
  ) => Effect.Effect<InteractionReply, InteractionTimeout | SimEventRejected>
  readonly restCalls: Effect.Effect<ReadonlyArray<RestCall>>
  readonly faults: {
    readonly drop: (kind: DropKind, shardId?: number) => Effect.Effect<void>
    /** closes the shard's socket with any code (see the close-code table) */
    readonly close: (code: number, shardId?: number) => Effect.Effect<void>
    /** op 9 d:true: the client resumes on the same socket */
    readonly invalidSessionResumable: (shardId?: number) => Effect.Effect<void>
    readonly heartbeatAcks: (enabled: boolean) => Effect.Effect<void>
    readonly pauseDelivery: Effect.Effect<void>
    readonly resumeDelivery: Effect.Effect<void>
    readonly rateLimit: (fault: RateLimitFault) => Effect.Effect<void>
    readonly serverError: (fault: ServerErrorFault) => Effect.Effect<void>
    readonly clear: Effect.Effect<void>
  }
  readonly stats: Effect.Effect<SimStats>
}

const cpuAndMemory = () => {
  const { user, system } = process.cpuUsage()
  return { cpuMicros: user + system, rssBytes: process.memoryUsage.rss() }
}

const DEFAULT_APPLICATION_ID = "1100000000000000001"

const traceWorld = (trace: Trace, startMillis: number | undefined): WorldSpec =>
  worldFromTrace(trace, startMillis !== undefined ? { startMillis } : {})

const announcedThreads = (spec: WorldSpec) => {
  const announced = new Set<string>()
  for (const message of spec.messages ?? []) {
    if (message.announceThreadFirst !== undefined) announced.add(message.announceThreadFirst)
  }
  const threads = new Map<string, { guildId: string; spec: ChannelSpec }>()
  for (const guild of spec.guilds) {
    for (const thread of guild.threads ?? []) {
      if (announced.has(thread.id)) threads.set(thread.id, { guildId: guild.id, spec: thread })
    }
  }
  return threads
}

export const make = (
  options: DiscordSimOptions = {},
): Effect.Effect<DiscordSim, SimListenError, Scope.Scope> =>
  Effect.gen(function* () {
    const applicationId = options.applicationId ?? DEFAULT_APPLICATION_ID
    const shardCount = options.discordShards ?? 1
    const worldSpec: WorldSpec = options.trace
      ? traceWorld(options.trace, options.startMillis)
      : (options.world ?? { guilds: [] })
    const botSpec = {
      id: applicationId,
      username: options.botUsername ?? "Tally",
      rolePosition: options.botRolePosition,
      permissions: options.botPermissions,
    }

    const world = makeWorld(botSpec, worldSpec, Date.now())
    const newId = makeIdSource()
    const interactions = makeInteractions()
    let baseUrl = ""
    const threads = new Map(announcedThreads(worldSpec))
    let replay: ReturnType<typeof makeReplay> | undefined
    const gateway = makeGateway({
      world,
      shardCount,
      token: options.token ?? null,
      heartbeatIntervalMillis: options.heartbeatIntervalMillis ?? 41_250,
      allowedPrivilegedIntents: options.privilegedIntents ?? PRIVILEGED_INTENTS,
      gatewayUrl: () => `${baseUrl.replace("http", "ws")}/gateway`,
      resumeGatewayUrl: () => `${baseUrl.replace("http", "ws")}/resume-gateway`,
      onLive: () => replay?.onLive(),
      onIdle: () => replay?.onIdle(),
    })
    replay = makeReplay({ world, gateway, threads })
    replay.setSpeed(options.speed ?? "max")
    replay.load(worldSpec.messages ?? [])

    const sessionStartsRemaining = 1000
    const rest = makeRest({
      world,
      gateway,
      interactions,
      token: options.token ?? null,
      newId,
      gatewayInfo: () => ({
        url: `${baseUrl.replace("http", "ws")}/gateway`,
        shards: shardCount,
        session_start_limit: {
          total: 1000,
          remaining: Math.max(sessionStartsRemaining - gateway.sessionStarts(), shardCount),
          reset_after: 14_400_000,
          max_concurrency: 1,
        },
      }),
      bucket: options.rateLimit ?? { limit: 50, windowMillis: 1000 },
      globalPerSecond: options.globalRateLimitPerSecond ?? 50,
      interactionCallbackMillis: options.interactionCallbackMillis ?? 3000,
    })

    // -- the API ------------------------------------------------------------------------------

    const inject = (event: SimEvent) =>
      Effect.try({
        try: () => {
          const { guildId, entry } = eventEntry(world, event, newId)
          gateway.appendForGuild(guildId, entry)
        },
        catch: (cause) =>
          cause instanceof SimEventRejected
            ? cause
            : new SimEventRejected({ reason: String(cause) }),
      })

    const startInteraction = (input: InteractionInput) =>
      Effect.try({
        try: () => {
          const id = newId()
          const record = interactions.create({
            id,
            guildId: input.guildId,
            channelId: input.channelId,
            userId: input.userId,
            commandName: input.commandName,
          })
          const entry = interactionEntry(
            world,
            input,
            {
              id,
              token: record.token,
              commandId: input.commandId ?? rest.commandIdFor(input.guildId, input.commandName),
            },
            () => {
              record.deliveredAt = Date.now()
            },
          )
          gateway.appendForGuild(input.guildId, entry)
          return record
        },
        catch: (cause) =>
          cause instanceof SimEventRejected
            ? cause
            : new SimEventRejected({ reason: String(cause) }),
      })

    const runInteraction = (input: RunInteraction) =>
      Effect.gen(function* () {
        const record = yield* startInteraction(input)
        const timeout = input.timeoutMillis ?? 10_000
        return yield* Effect.async<InteractionReply>((resume) => {
          const ready = interactions.finalReply(record)
          if (ready) return resume(Effect.succeed(ready))
          record.waiters.push((reply) => resume(Effect.succeed(reply)))
        }).pipe(
          Effect.timeoutFail({
            duration: Duration.millis(timeout),
            onTimeout: () =>
              new InteractionTimeout({
                reason: `no final reply to /${input.commandName} within ${timeout} ms (state: ${record.state})`,
                interactionId: record.id,
              }),
          }),
        )
      })

    const stats = Effect.sync(
      (): SimStats => ({
        shards: gateway.stats(),
        replay: replay.status(),
        delivered: gateway.eventCounts(),
        sessionStarts: gateway.sessionStarts(),
        restCalls: rest.calls().length,
        deliveryPaused: gateway.deliveryPaused,
        heartbeatAcks: gateway.heartbeatAcks,
        process: cpuAndMemory(),
      }),
    )

    const awaitDone = (timeout: Duration.DurationInput) =>
      Effect.gen(function* () {
        let polls = 0
        while (!(replay.status().phase === "done" && gateway.settled())) {
          // once everything is sent, ask for heartbeats instead of waiting for the next ones
          if (replay.status().phase === "done" && ++polls % 5 === 0) gateway.requestHeartbeats()
          yield* Effect.sleep(Duration.millis(20))
        }
        return replay.status()
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new InteractionTimeout({
              reason: `replay not done: ${JSON.stringify(replay.status())}`,
              interactionId: "",
            }),
        }),
      )

    const faults: DiscordSim["faults"] = {
      drop: (kind, shardId) =>
        kind === "close" || kind === "reconnect"
          ? Effect.sync(() => gateway.dropResumable(shardId, kind))
          : Effect.promise(() => gateway.dropNonResumable(shardId, kind)),
      close: (code, shardId) => Effect.sync(() => gateway.closeWith(shardId, code)),
      invalidSessionResumable: (shardId) =>
        Effect.sync(() => gateway.invalidSessionResumable(shardId)),
      heartbeatAcks: (enabled) => Effect.sync(() => gateway.setHeartbeatAcks(enabled)),
      pauseDelivery: Effect.sync(() => gateway.setDeliveryPaused(true)),
      resumeDelivery: Effect.sync(() => gateway.setDeliveryPaused(false)),
      rateLimit: (fault) => Effect.sync(() => rest.rateLimit(fault)),
      serverError: (fault) => Effect.sync(() => rest.serverError(fault)),
      clear: Effect.sync(() => {
        rest.clearFaults()
        gateway.setHeartbeatAcks(true)
        gateway.setDeliveryPaused(false)
      }),
    }

    const replayControl: DiscordSim["replay"] = {
      load: (spec) =>
        Effect.sync(() => {
          for (const [id, thread] of announcedThreads(spec)) threads.set(id, thread)
          replay.load(spec.messages ?? [])
        }),
      start: Effect.sync(() => replay.start()),
      pause: Effect.sync(() => replay.pause()),
      resume: Effect.sync(() => replay.resume()),
      setSpeed: (speed) => Effect.sync(() => replay.setSpeed(speed)),
      status: Effect.sync(() => replay.status()),
      awaitDone,
    }

    // -- the server ---------------------------------------------------------------------------

    let sim: DiscordSim | undefined
    const control = makeControl(() => sim as DiscordSim)
    const server: Server = createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const url = request.url ?? "/"
        const raw = Buffer.concat(chunks)
        if (url.startsWith("/api/v10/")) return rest.handle(request, response, url.slice(8), raw)
        if (url.startsWith("/_sim")) return control(request, response, url.slice(5), raw)
        response.writeHead(404, { "Content-Type": "application/json" })
        response.end(JSON.stringify({ message: "404: Not Found", code: 0 }))
      })
    })
    server.keepAliveTimeout = 60_000
    server.on("upgrade", (request, socket, head) => {
      const path = (request.url ?? "").split("?")[0]
      if (path === "/gateway" || path === "/resume-gateway") {
        gateway.handleUpgrade(request, socket, head)
      } else {
        socket.destroy()
      }
    })

    const port = yield* Effect.acquireRelease(
      Effect.async<number, SimListenError>((resume) => {
        server.once("error", (cause: NodeJS.ErrnoException) =>
          resume(
            Effect.fail(
              new SimListenError({
                reason:
                  cause.code === "EADDRINUSE"
                    ? `cannot listen on 127.0.0.1:${options.port ?? 0}: the port is in use (choose another, or none for a free one)`
                    : `cannot listen on 127.0.0.1:${options.port ?? 0}: ${cause.message}`,
              }),
            ),
          ),
        )
        server.listen(options.port ?? 0, "127.0.0.1", () =>
          resume(Effect.succeed((server.address() as AddressInfo).port)),
        )
      }),
      () =>
        Effect.promise(async () => {
          replay.stop()
          await gateway.shutdown()
          server.closeAllConnections()
          await new Promise<void>((resolve) => server.close(() => resolve()))
        }),
    )
    baseUrl = `http://127.0.0.1:${port}`

    if ((worldSpec.messages?.length ?? 0) > 0 && options.autoStartReplay !== false) replay.start()

    sim = {
      port,
      apiUrl: `${baseUrl}/api`,
      gatewayUrl: `${baseUrl.replace("http", "ws")}/gateway`,
      resumeGatewayUrl: `${baseUrl.replace("http", "ws")}/resume-gateway`,
      controlUrl: `${baseUrl}/_sim`,
      token: options.token ?? "sim-token",
      applicationId,
      world,
      inject,
      replay: replayControl,
      runInteraction,
      restCalls: Effect.sync(() => rest.calls()),
      faults,
      stats,
    }
    return sim
  })
