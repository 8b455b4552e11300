/**
 * `/rank` and `/top` after a replay through the whole bot: the simulator replays a generated
 * trace over a real WebSocket, the gateway's dispatch loop counts it (counting core, buffers,
 * flusher, MariaDB), and the answers are checked against the trace's independent count.
 *
 * The gateway is the one `main.ts` runs (`Live.layer` through `LocalStack.startGateway`), with
 * the default stat cooldown: each member below runs one command.
 */
import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { countTrace } from "@tally/discord-sim/TraceCount"
import { generateTrace } from "@tally/discord-sim/TraceGenerator"
import { worldFromTrace } from "@tally/discord-sim/TraceWorld"
import * as LevelCurve from "@tally/domain/LevelCurve"
import type { APIEmbed } from "discord-api-types/v10"
import { Effect } from "effect"
import * as LocalStack from "../src/LocalStack"
import { temporaryDirectory, throwawayDatabases } from "./support/stack"

const newcomer = "300000000000000001"

describe("/rank and /top after a replay through the whole bot", () => {
  it.scopedLive(
    "positions, XP, levels and message counts equal the trace's count; a newcomer has no position",
    () =>
      Effect.gen(function* () {
        const dbs = yield* throwawayDatabases(2)
        const manager = yield* LocalStack.startManager(dbs)
        const trace = generateTrace({ seed: 7, messages: 1500, guilds: 2 })
        const world = worldFromTrace(trace)
        const sim = yield* DiscordSim.make({
          world,
          discordShards: 1,
          heartbeatIntervalMillis: 1000,
        })

        const gateway = yield* LocalStack.startGateway({
          sim,
          manager,
          shardUrls: dbs.shardUrls,
          discordShardCount: 1,
          stateDirectory: yield* temporaryDirectory,
        })
        yield* LocalStack.awaitCaughtUp(sim, gateway)

        // The busiest guild of the trace, its members ranked by the independent count.
        const count = countTrace(trace)
        const guild = world.guilds
          .map((candidate) => ({
            guild: candidate,
            members: [...count.members]
              .filter(([key, member]) => key.startsWith(`${candidate.id}/`) && member.xp > 0)
              .map(([, member]) => ({ ...member })),
          }))
          .sort((a, b) => b.members.length - a.members.length)[0]!
        const ranked = guild.members.sort((a, b) =>
          b.xp !== a.xp ? b.xp - a.xp : BigInt(a.userId) < BigInt(b.userId) ? -1 : 1,
        )
        const positionOf = (xp: number) => 1 + ranked.filter((member) => member.xp > xp).length
        const channelId = guild.guild.channels?.find((channel) => channel.type === 0)?.id
        expect(channelId).toBeDefined()
        expect(ranked.length).toBeGreaterThan(12)

        const run = (userId: string, commandName: string, options: ReadonlyArray<unknown> = []) =>
          sim
            .runInteraction({
              guildId: guild.guild.id,
              channelId: channelId!,
              userId,
              commandName,
              options,
            })
            .pipe(Effect.map((reply) => reply.message.embeds[0] as APIEmbed))

        const top = yield* run(ranked[0]!.userId, "top")
        expect(top.description?.split("\n")).toEqual(
          ranked
            .slice(0, 12)
            .map(
              (member) =>
                `**#${positionOf(member.xp)}** <@${member.userId}> · Level ${LevelCurve.level(member.xp, 100)} · Total: ${member.xp.toLocaleString("en-US")} XP`,
            ),
        )

        const third = ranked[2]!
        const rank = yield* run(ranked[1]!.userId, "rank", [
          { name: "member", type: 6, value: third.userId },
        ])
        const progress = LevelCurve.levelOf(third.xp, 100)
        expect(rank.description).toBe(
          [
            `**#${positionOf(third.xp)}** <@${third.userId}> · Level ${progress.level}`,
            `Total XP: ${third.xp.toLocaleString("en-US")} (#${positionOf(third.xp)})`,
            `Next level: ${LevelCurve.percentToNext(progress)}% (level ${progress.level + 1})`,
          ].join("\n"),
        )
        const messagesAhead = ranked.filter((member) => member.textMessages > third.textMessages)
        expect(rank.fields?.[0]?.value).toContain(
          `Messages: ${third.textMessages.toLocaleString("en-US")} (#${1 + messagesAhead.length})`,
        )

        const newcomerCard = yield* run(newcomer, "rank")
        expect(newcomerCard.description).toBe(
          [`<@${newcomer}> · Level 1`, "Total XP: 0", "Next level: 0% (level 2)"].join("\n"),
        )
      }),
    { timeout: 240_000 },
  )
})
