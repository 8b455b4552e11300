import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import {
  Chunk,
  ConfigProvider,
  Context,
  Duration,
  Effect,
  Exit,
  HashMap,
  Layer,
  Logger,
  Queue,
  Scope,
} from "effect"
import * as Discord from "../src/Discord"
import type { ArrivedMessage } from "../src/Payloads"
import * as Session from "../src/Session"
import { temporaryDirectory } from "./support/stack"

const guildId = "260730761364171728"
const channelId = "300000000000000002"
const userId = "400000000000000001"
const MESSAGES = 400

/** A simulator with one guild (on `port`, or a free one). */
const simulator = (port?: number) =>
  DiscordSim.make({
    world: {
      guilds: [{ id: guildId, channels: [{ id: channelId, type: 0 }], members: [{ userId }] }],
    },
    discordShards: 1,
    heartbeatIntervalMillis: 5000,
    port,
  })

interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** A logger that keeps what it is given, for tests that pin what the connection logs. */
const logCapture = () => {
  const lines: Array<LogLine> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message, annotations }) => {
    lines.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      annotations: Object.fromEntries(HashMap.toEntries(annotations)),
    })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** A connected `Discord` against `sim` (nothing takes its dispatches). */
const connectTo = (
  sim: DiscordSim.DiscordSim,
  maxBacklog: number,
  logs: Layer.Layer<never> = Layer.empty,
) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      Discord.layer({ skipIdentifyThrottle: true, maxBacklog }).pipe(
        Layer.provide(Session.layer(yield* temporaryDirectory)),
      ),
    ).pipe(
      Effect.withConfigProvider(
        ConfigProvider.fromMap(
          new Map([
            ["DISCORD_TOKEN", sim.token],
            ["DISCORD_API_URL", sim.apiUrl],
            ["DISCORD_SHARD_COUNT", "1"],
          ]),
        ),
      ),
    )
    const discord = Context.get(context, Discord.Discord)
    yield* discord.connect
    return discord
  }).pipe(Effect.provide(logs))

/** A simulator with one guild and a connected `Discord` (nothing takes its dispatches). */
const connected = (maxBacklog: number) =>
  Effect.gen(function* () {
    const sim = yield* simulator()
    return { sim, discord: yield* connectTo(sim, maxBacklog) }
  })

/** Polls `check` every 50 ms until it holds. */
const until = (check: () => boolean) =>
  Effect.gen(function* () {
    while (!check()) yield* Effect.sleep(Duration.millis(50))
  })

describe("the Discord connection's thread", () => {
  it.scopedLive(
    "stops reading while the dispatch loop is behind, then delivers every message in order",
    () =>
      Effect.gen(function* () {
        const { sim, discord } = yield* connected(20)
        const takeMessages = Effect.map(Queue.takeAll(discord.dispatches), (batches) => {
          const envelopes = Chunk.toReadonlyArray(batches).flatMap((batch) => batch.envelopes())
          return {
            envelopes,
            messages: envelopes.filter((envelope) => envelope.event === "MESSAGE_CREATE"),
          }
        })
        // The connection's own dispatches (READY, GUILD_CREATE) are taken first.
        yield* discord.sync
        discord.taken((yield* takeMessages).envelopes.length)

        for (let n = 0; n < MESSAGES; n++) {
          yield* sim.inject({ type: "message", guildId, channelId, authorId: userId })
        }
        yield* Effect.sleep(Duration.millis(300))
        // Nothing was taken meanwhile: past 20 waiting, the thread stopped reading.
        const early = yield* takeMessages
        expect(early.messages.length).toBeGreaterThan(0)
        expect(early.messages.length).toBeLessThan(MESSAGES)

        // Taken, the rest follows.
        const all = [...early.messages]
        discord.taken(early.envelopes.length)
        const deadline = Date.now() + 20_000
        while (all.length < MESSAGES && Date.now() < deadline) {
          yield* Effect.sleep(Duration.millis(20))
          const next = yield* takeMessages
          all.push(...next.messages)
          discord.taken(next.envelopes.length)
        }
        expect(all).toHaveLength(MESSAGES)
        const sequences = all.map((envelope) => envelope.sequence)
        expect(sequences).toEqual([...sequences].sort((a, b) => a - b))
        const ids = all.map((envelope) => {
          const decoded = (envelope.data as ArrivedMessage).decoded
          return decoded._tag === "Right" ? decoded.right.messageId : "malformed"
        })
        expect(new Set(ids).size).toBe(MESSAGES)
      }),
    60_000,
  )

  it.scopedLive("lives through a READY without its guild list", () =>
    Effect.gen(function* () {
      const { sim, discord } = yield* connected(20_000)
      yield* sim.inject({ type: "raw", guildId: null, event: "READY", data: { session_id: "x" } })
      yield* sim.inject({ type: "message", guildId, channelId, authorId: userId })
      let events: Array<string> = []
      while (!events.includes("MESSAGE_CREATE")) {
        yield* Effect.sleep(Duration.millis(20))
        events = events.concat(
          Chunk.toReadonlyArray(yield* Queue.takeAll(discord.dispatches))
            .flatMap((batch) => batch.envelopes())
            .map((envelope) => envelope.event),
        )
      }
      expect(events).toContain("READY")
    }).pipe(Effect.timeout("20 seconds")),
  )
})

describe("a lost Discord connection", () => {
  it.scopedLive(
    "is logged as a warning with its shard and close code, and the shard is connected again once resumed",
    () =>
      Effect.gen(function* () {
        const logs = logCapture()
        const sim = yield* simulator()
        const discord = yield* connectTo(sim, 20_000, logs.layer)
        expect((yield* discord.shardStates).get(0)).toBe("connected")

        yield* sim.faults.close(4000, 0)
        yield* until(() => logs.lines.some((line) => line.message === "discord resumed"))
        const warnings = logs.lines.filter((line) => line.level === "WARN")
        expect(warnings).toHaveLength(1)
        expect(warnings[0]!.message).toMatch(/closed; reconnecting/)
        expect(warnings[0]!.annotations).toMatchObject({ discordShardId: 0, closeCode: 4000 })
        expect((yield* discord.shardStates).get(0)).toBe("connected")
      }).pipe(Effect.timeout("20 seconds")),
    30_000,
  )

  it.scopedLive(
    "that Discord asked for (op 7 RECONNECT, op 9 INVALID SESSION) is an info line, not a warning",
    () =>
      Effect.gen(function* () {
        const logs = logCapture()
        const sim = yield* simulator()
        const discord = yield* connectTo(sim, 20_000, logs.layer)
        const back = (event: string, after: number) => () =>
          logs.lines.slice(after).some((line) => line.message === event)

        yield* sim.faults.drop("reconnect", 0)
        yield* until(back("discord resumed", 0))
        const seen = logs.lines.length
        yield* sim.faults.drop("invalid-session", 0)
        yield* until(back("discord ready", seen))

        expect(logs.lines.filter((line) => line.level === "WARN")).toEqual([])
        const asked = logs.lines.filter((line) => line.message.startsWith("discord asked"))
        expect(asked).toHaveLength(2)
        expect(asked[0]).toMatchObject({ level: "INFO", annotations: { closeCode: 4200 } })
        expect((yield* discord.shardStates).get(0)).toBe("connected")
      }).pipe(Effect.timeout("20 seconds")),
    30_000,
  )

  it.scopedLive("while the gateway stops is no warning (a busy stop may miss an ack)", () =>
    Effect.gen(function* () {
      const logs = logCapture()
      const sim = yield* simulator()
      const discord = yield* connectTo(sim, 20_000, logs.layer)
      yield* discord.stopping
      yield* sim.faults.close(4000, 0)
      yield* until(() => logs.lines.some((line) => line.message === "discord resumed"))
      expect(logs.lines.filter((line) => line.level === "WARN")).toEqual([])
    }).pipe(Effect.timeout("20 seconds")),
  )

  it.scopedLive(
    "reads as reconnecting while Discord is away, with one warning for all the retries",
    () =>
      Effect.gen(function* () {
        const logs = logCapture()
        const simScope = yield* Scope.make()
        const sim = yield* Scope.extend(simulator(), simScope)
        const discord = yield* connectTo(sim, 20_000, logs.layer)

        yield* Scope.close(simScope, Exit.void)
        // The library retries every half second; each try ends in a close.
        yield* Effect.sleep(Duration.seconds(3))
        expect((yield* discord.shardStates).get(0)).toBe("reconnecting")
        const warnings = logs.lines.filter((line) => line.level === "WARN")
        expect(warnings).toHaveLength(1)
        expect(warnings[0]!.annotations).toMatchObject({ discordShardId: 0 })

        const seen = logs.lines.length
        yield* simulator(sim.port)
        const back = () =>
          logs.lines.slice(seen).find((line) => /discord (ready|resumed)/.test(line.message))
        yield* until(() => back() !== undefined)
        expect((yield* discord.shardStates).get(0)).toBe("connected")
        expect(back()?.annotations).toHaveProperty("downFor")
      }).pipe(Effect.timeout("30 seconds")),
    40_000,
  )
})
