import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { Chunk, ConfigProvider, Context, Duration, Effect, Layer, Queue } from "effect"
import * as Discord from "../src/Discord"
import type { ArrivedMessage } from "../src/Payloads"
import * as Session from "../src/Session"
import { temporaryDirectory } from "./support/stack"

const guildId = "260730761364171728"
const channelId = "300000000000000002"
const userId = "400000000000000001"
const MESSAGES = 400

/** A simulator with one guild and a connected `Discord` (nothing takes its dispatches). */
const connected = (maxBacklog: number) =>
  Effect.gen(function* () {
    const sim = yield* DiscordSim.make({
      world: {
        guilds: [{ id: guildId, channels: [{ id: channelId, type: 0 }], members: [{ userId }] }],
      },
      discordShards: 1,
      heartbeatIntervalMillis: 5000,
    })
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

    return { sim, discord }
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
