/**
 * Slash commands end to end: the simulator sends INTERACTION_CREATE over a real WebSocket to the
 * gateway's Discord connection, `Interactions` answers through REST (defer, then edit), and the
 * figures come from a real MariaDB DB shard routed by a real manager. Activity is seeded with
 * `ActivityWriter` (known deltas), so every figure below is computed by hand.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import type { InteractionReply } from "@tally/discord-sim/Interactions"
import * as ActivityDelta from "@tally/domain/ActivityDelta"
import { periodKeys } from "@tally/domain/PeriodKey"
import { fromTimestamp, type Snowflake } from "@tally/domain/Snowflake"
import { ManagerClient, layerConfig as managerClientLayer } from "@tally/manager/ManagerClient"
import * as ActivityWriter from "@tally/sql/ActivityWriter"
import * as Settings from "@tally/sql/Settings"
import * as ShardClients from "@tally/sql/ShardClients"
import type { APIEmbed } from "discord-api-types/v10"
import { ConfigProvider, Context, Effect, Layer, Metric, Queue } from "effect"
import * as Command from "../src/commands/Command"
import * as Registry from "../src/commands/Registry"
import * as Discord from "../src/Discord"
import { guildSnapshot } from "../src/Dispatch"
import * as GuildState from "../src/GuildState"
import * as Interactions from "../src/Interactions"
import * as LocalStack from "../src/LocalStack"
import * as Session from "../src/Session"
import { temporaryDirectory, throwawayDatabases } from "./support/stack"

const guildId = "100000000000000001"
const channelId = "100000000000000002"
const blockedGuildId = "100000000000000011"
const blockedChannelId = "100000000000000012"
const user = (n: number) => `20000000000000000${n}`
const [alice, bob, carol, dave, erin, frank, grace, heidi, owner] = [1, 2, 3, 4, 5, 6, 7, 8, 9].map(
  user,
) as [string, string, string, string, string, string, string, string, string]

const world = {
  guilds: [
    {
      id: guildId,
      name: "Test Guild",
      ownerId: owner,
      channels: [{ id: channelId, type: 0, name: "general" }],
      members: [alice, bob, carol, dave, erin, frank, grace, heidi, owner].map((userId) => ({
        userId,
        username: `user-${userId.slice(-1)}`,
      })),
    },
    {
      id: blockedGuildId,
      name: "Blocked Guild",
      ownerId: owner,
      channels: [{ id: blockedChannelId, type: 0, name: "general" }],
      members: [{ userId: alice }, { userId: owner }],
    },
  ],
  messages: [],
}

/** Commands only the tests have: an admin-only one and one that fails unexpectedly. */
const adminProbe = Command.make({
  definition: {
    name: "probe-admin",
    description: "Answers ok to members who may manage the server",
    requiredPermissions: 32n,
  },
  run: () => Effect.succeed({ content: "ok" }),
})

const failingProbe = Command.make({
  definition: { name: "probe-fail", description: "Fails with a defect" },
  run: () => Effect.die(new Error("boom: secret stack detail")),
})

const statProbe = Command.make({
  definition: { name: "probe-stat", description: "A stat command", statCooldown: true },
  run: () => Effect.succeed({ content: "stats" }),
})

const slowProbe = Command.make({
  definition: { name: "probe-slow", description: "Takes longer than its time limit" },
  run: () => Effect.as(Effect.sleep("10 seconds"), { content: "late" }),
})

class Stack extends Context.Tag("test/Stack")<
  Stack,
  {
    readonly sim: DiscordSim.DiscordSim
    readonly dispatchLoop: Effect.Latch
    /** The instance with the stat cooldown, to hand interactions to directly. */
    readonly strict: Interactions.Interactions["Type"]
  }
>() {}

/** Known activity: keys of today in UTC (the guild's default zone), Dave's day key stale. */
const seed = Effect.gen(function* () {
  const manager = yield* ManagerClient
  const dbShardId = yield* manager.guildRoute(guildId as Snowflake)
  const today = periodKeys(Date.now(), "UTC", 0)
  const yesterday = { ...today, day: today.day - 1 }
  const delta = (
    kind: ActivityDelta.DeltaKind,
    userId: string,
    amount: number,
    keys = today,
  ): ActivityDelta.ActivityDelta =>
    ActivityDelta.make({
      kind,
      guildId: guildId as Snowflake,
      userId: userId as Snowflake,
      channelId: channelId as Snowflake,
      amount,
      keys,
    })
  yield* ShardClients.use(
    dbShardId,
    Effect.gen(function* () {
      yield* ActivityWriter.apply({
        batchId: "commands-seed",
        deltas: [
          delta("xp", dave, 5400, yesterday),
          delta("xp", alice, 650),
          delta("xp", bob, 650),
          delta("xp", carol, 200),
          delta("xp", frank, 100),
          delta("xp", grace, 50),
          delta("xp", heidi, 50),
          delta("textMessages", alice, 50),
          delta("textMessages", bob, 20),
          delta("voiceMinutes", alice, 90),
          delta("votes", bob, 2),
        ],
      })
      yield* Settings.updateGuild(guildId as Snowflake, { entriesPerPage: 4 })
    }),
  )
  const blockedShardId = yield* manager.guildRoute(blockedGuildId as Snowflake)
  yield* ShardClients.use(
    blockedShardId,
    Settings.updateGuild(blockedGuildId as Snowflake, { isBanned: true }),
  )
})

const stackLayer = Layer.scoped(
  Stack,
  Effect.gen(function* () {
    const dbs = yield* throwawayDatabases(2)
    const manager = yield* LocalStack.startManager(dbs)
    const sim = yield* DiscordSim.make({ world, discordShards: 1, heartbeatIntervalMillis: 1000 })
    const directory = yield* temporaryDirectory
    const env = new Map([
      ["DISCORD_TOKEN", sim.token],
      ["DISCORD_API_URL", sim.apiUrl],
      ["DISCORD_SHARD_COUNT", "1"],
      ["MANAGER_URL", manager.url],
      ["MANAGER_TOKEN", manager.token],
      ["SHARD_DATABASE_URLS", LocalStack.shardUrlsText(dbs.shardUrls)],
    ])
    const connection = Discord.layer({ skipIdentifyThrottle: true }).pipe(
      Layer.provideMerge(Layer.merge(GuildState.layer, Session.layer(directory))),
    )
    const services = Layer.merge(managerClientLayer, ShardClients.layer())
    const gateway = Interactions.layer({
      statCooldown: 0,
      registry: Registry.make([...Registry.all, adminProbe, failingProbe]),
    }).pipe(Layer.provideMerge(Layer.merge(connection, services)))
    const context = yield* Layer.build(gateway).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(env)),
    )

    // The part of the dispatch loop these tests need: guild names and interactions.
    const discord = Context.get(context, Discord.Discord)
    const interactions = Context.get(context, Interactions.Interactions)
    const guildState = Context.get(context, GuildState.GuildState)
    // A second instance with ActivityRank's cooldown and a short time limit answers the probes
    // for those two.
    const strict = yield* Interactions.make({
      statCooldown: "120 seconds",
      timeout: "300 millis",
      registry: Registry.make([statProbe, slowProbe]),
    }).pipe(Effect.provide(context))
    // Closed by a test to stand for a dispatch loop that is far behind.
    const dispatchLoop = yield* Effect.makeLatch(true)
    yield* Effect.forkScoped(
      Queue.take(discord.dispatches).pipe(
        Effect.tap(() => dispatchLoop.await),
        Effect.tap((batch) => discord.taken(batch.size)),
        Effect.flatMap((batch) =>
          Effect.forEach(batch.envelopes(), (envelope) =>
            envelope.event === "GUILD_CREATE"
              ? Effect.sync(() =>
                  guildState.store.create(
                    guildSnapshot(envelope.data as Parameters<typeof guildSnapshot>[0]),
                  ),
                )
              : Effect.void,
          ),
        ),
        Effect.forever,
      ),
    )
    yield* Effect.forkScoped(
      Queue.take(discord.interactions).pipe(
        Effect.flatMap((data) => {
          const name = (data as { data?: { name?: string } }).data?.name
          const strictOnes = ["probe-stat", "probe-slow"]
          return (strictOnes.includes(name ?? "") ? strict : interactions).handle(data)
        }),
        Effect.forever,
      ),
    )
    yield* discord.connect
    yield* Effect.provide(seed, context)
    return { sim, dispatchLoop, strict }
  }),
)

const run = (commandName: string, userId: string, options: ReadonlyArray<unknown> = []) =>
  Effect.flatMap(Stack, ({ sim }) =>
    sim.runInteraction({ guildId, channelId, userId, commandName, options }),
  )

const embedOf = (reply: InteractionReply): APIEmbed => reply.message.embeds[0] as APIEmbed

const member = (userId: string) => ({ name: "member", type: 6, value: userId })
const period = (value: string) => ({ name: "period", type: 3, value })
const page = (value: number) => ({ name: "page", type: 4, value })

const EPHEMERAL = 64

layer(stackLayer, { timeout: 120_000, excludeTestServices: true })(
  "slash commands over the simulator",
  (it) => {
    it.effect("a command is answered while the dispatch loop is behind", () =>
      Effect.gen(function* () {
        const { sim, dispatchLoop } = yield* Stack
        yield* dispatchLoop.close
        // A message the loop has not handled comes before the command.
        yield* sim.inject({ type: "message", guildId, channelId, authorId: grace })
        const reply = yield* sim.runInteraction({
          guildId,
          channelId,
          userId: erin,
          commandName: "rank",
          options: [],
          timeoutMillis: 5_000,
        })
        expect(reply.mode).toBe("deferred")
        expect(embedOf(reply).description).toContain(`<@${erin}>`)
      }).pipe(Effect.ensuring(Effect.flatMap(Stack, ({ dispatchLoop }) => dispatchLoop.open))),
    )

    describe("/rank", () => {
      it.effect(
        "shows all-time XP, shared position, level and progress, statistics with positions",
        () =>
          Effect.gen(function* () {
            const reply = yield* run("rank", alice)
            expect(reply.mode).toBe("deferred")
            expect(reply.message.allowed_mentions).toEqual({ parse: [] })
            const embed = embedOf(reply)
            expect(embed.title).toBe("All time stats in Test Guild")
            // Dave 5400 ahead; Alice and Bob tie at 650 and share #2; 650 XP at factor 100 is
            // level 3 and 40 % of the way to level 4.
            expect(embed.description).toBe(
              [
                `**#2** <@${alice}> · Level 3`,
                "Total XP: 650 (#2)",
                "Next level: 40% (level 4)",
              ].join("\n"),
            )
            expect(embed.fields).toEqual([
              {
                name: "Stats",
                value: [
                  "Messages: 50 (#1)",
                  "Voice: 1.5 hours (#1)",
                  "Invites: 0",
                  "❤️ likes: 0",
                  "🏆 bonus: 0",
                ].join("\n"),
              },
            ])
          }),
      )

      it.effect("another member's card: the option's member, ranked in the period asked for", () =>
        Effect.gen(function* () {
          const embed = embedOf(yield* run("rank", alice, [member(bob), period("day")]))
          expect(embed.title).toBe("Today stats in Test Guild")
          expect(embed.description).toContain(`**#1** <@${bob}> · Level 3`)
          expect(embed.description).toContain("Total XP: 650 (#1)")
          expect(embed.fields?.[0]?.value).toContain("Messages: 20 (#2)")
          expect(embed.fields?.[0]?.value).toContain("❤️ likes: 2 (#1)")
        }),
      )

      it.effect("nothing in the period: no position, level still from all-time XP", () =>
        Effect.gen(function* () {
          const embed = embedOf(yield* run("rank", dave, [period("day")]))
          expect(embed.description).toBe(
            [`<@${dave}> · Level 10`, "Total XP: 0", "Next level: 0% (level 11)"].join("\n"),
          )
        }),
      )

      it.effect(
        "a member with no activity at all gets a card without positions, not an error",
        () =>
          Effect.gen(function* () {
            const reply = yield* run("rank", alice, [member(erin)])
            expect(reply.mode).toBe("deferred")
            const embed = embedOf(reply)
            expect(embed.description).toBe(
              [`<@${erin}> · Level 1`, "Total XP: 0", "Next level: 0% (level 2)"].join("\n"),
            )
            expect(embed.fields?.[0]?.value).not.toContain("#")
          }),
      )
    })

    describe("/top", () => {
      it.effect(
        "pages of entriesPerPage by all-time XP; ties share a position in user-id order",
        () =>
          Effect.gen(function* () {
            const first = embedOf(yield* run("top", carol))
            expect(first.title).toBe("Toplist for server Test Guild | All time | By total XP")
            expect(first.description).toBe(
              [
                `**#1** <@${dave}> · Level 10 · Total: 5,400 XP`,
                `**#2** <@${alice}> · Level 3 · Total: 650 XP`,
                `**#2** <@${bob}> · Level 3 · Total: 650 XP`,
                `**#4** <@${carol}> · Level 2 · Total: 200 XP`,
              ].join("\n"),
            )
            const second = embedOf(yield* run("top", carol, [page(2)]))
            expect(second.description).toBe(
              [
                `**#5** <@${frank}> · Level 1 · Total: 100 XP`,
                `**#6** <@${grace}> · Level 1 · Total: 50 XP`,
                `**#6** <@${heidi}> · Level 1 · Total: 50 XP`,
              ].join("\n"),
            )
            expect(second.footer?.text).toBe("Page 2")
          }),
      )

      it.effect("a period ranks by that period's XP; levels stay from all-time XP", () =>
        Effect.gen(function* () {
          const embed = embedOf(yield* run("top", carol, [period("day")]))
          expect(embed.title).toBe("Toplist for server Test Guild | Today | By total XP")
          expect(embed.description).toBe(
            [
              `**#1** <@${alice}> · Level 3 · Total: 650 XP`,
              `**#1** <@${bob}> · Level 3 · Total: 650 XP`,
              `**#3** <@${carol}> · Level 2 · Total: 200 XP`,
              `**#4** <@${frank}> · Level 1 · Total: 100 XP`,
            ].join("\n"),
          )
        }),
      )

      it.effect("a page past the end says so", () =>
        Effect.gen(function* () {
          const reply = yield* run("top", carol, [page(3)])
          expect(reply.mode).toBe("deferred")
          expect(embedOf(reply).description).toBe("No entries found for this page.")
        }),
      )

      it.effect("an out-of-range page is refused at once, ephemeral, naming the limits", () =>
        Effect.gen(function* () {
          const reply = yield* run("top", carol, [page(0)])
          expect(reply.mode).toBe("immediate")
          expect(reply.message.flags & EPHEMERAL).toBe(EPHEMERAL)
          expect(reply.message.content).toBe("`page` must be from 1 to 1000; got 0.")
          const unknownPeriod = yield* run("top", carol, [period("decade")])
          expect(unknownPeriod.message.content).toBe(
            "`period` must be one of alltime, year, month, week, day.",
          )
        }),
      )
    })

    describe("the framework", () => {
      it.effect(
        "an admin command runs for a member with the permission, is refused otherwise",
        () =>
          Effect.gen(function* () {
            const allowed = yield* run("probe-admin", owner)
            expect(allowed.message.content).toBe("ok")
            const refused = yield* run("probe-admin", alice)
            expect(refused.mode).toBe("immediate")
            expect(refused.message.flags & EPHEMERAL).toBe(EPHEMERAL)
            expect(refused.message.content).toBe(
              "You need the Manage Server permission to use /probe-admin.",
            )
          }),
      )

      it.effect("an unexpected failure is one sentence, no stack trace or detail", () =>
        Effect.gen(function* () {
          const reply = yield* run("probe-fail", alice)
          expect(reply.message.content).toBe(
            "Tally could not answer /probe-fail just now; please try again in a minute.",
          )
          expect(reply.message.content).not.toContain("boom")
        }),
      )

      it.effect(
        "a stat command twice within the cooldown: the second is refused until it ends",
        () =>
          Effect.gen(function* () {
            const before = Math.floor(Date.now() / 1000)
            expect((yield* run("probe-stat", frank)).message.content).toBe("stats")
            const refused = yield* run("probe-stat", frank)
            expect(refused.mode).toBe("immediate")
            expect(refused.message.flags & EPHEMERAL).toBe(EPHEMERAL)
            const again = /try again <t:(\d+):R>\.$/.exec(refused.message.content)
            expect(refused.message.content).toContain("can be used once every 2m")
            expect(Number(again?.[1])).toBeGreaterThanOrEqual(before + 120)
            expect(Number(again?.[1])).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 120)
            expect((yield* run("probe-stat", grace)).message.content).toBe("stats")
          }),
      )

      it.effect(
        "a command replayed after a restart is not answered and takes no cooldown: skipped when long past, refused by Discord when not",
        () =>
          Effect.gen(function* () {
            const { sim, strict } = yield* Stack
            const expired = () =>
              Metric.unsafeSnapshot()
                .filter(
                  ({ metricKey }) =>
                    metricKey.name === "tally_gateway_commands_total" &&
                    metricKey.tags.some((tag) => tag.key === "outcome" && tag.value === "expired"),
                )
                .reduce(
                  (sum, { metricState }) =>
                    sum + ("count" in metricState ? Number(metricState.count) : 0),
                  0,
                )
            const callbacksOf = (token: string) =>
              Effect.map(
                sim.restCalls,
                (calls) => calls.filter((call) => call.path.includes(`/${token}/callback`)).length,
              )
            const replayed = (ageMillis: number, token: string) =>
              strict.answer({
                id: fromTimestamp(Date.now() - ageMillis),
                application_id: "1",
                type: 2,
                token,
                guild_id: guildId,
                channel_id: channelId,
                member: { user: { id: heidi, username: "heidi" }, permissions: "0" },
                data: { name: "probe-stat" },
              })
            const before = expired()

            // Minutes old: not even tried.
            yield* replayed(5 * 60_000, "replayed-long-ago")
            expect(yield* callbacksOf("replayed-long-ago")).toBe(0)
            // Seconds old: tried, and Discord (the simulator) says it knows no such interaction.
            yield* replayed(20_000, "replayed-just-now")
            expect(yield* callbacksOf("replayed-just-now")).toBe(1)

            expect(expired()).toBe(before + 2)
            // Neither was answered, so neither kept the cooldown: the member's next use is.
            expect((yield* run("probe-stat", heidi)).message.content).toBe("stats")
          }),
      )

      it.effect("a command over its time limit is told so in one sentence", () =>
        Effect.gen(function* () {
          const reply = yield* run("probe-slow", alice)
          expect(reply.mode).toBe("deferred")
          expect(reply.message.content).toBe(
            "Tally took too long to answer /probe-slow; please try again in a minute.",
          )
        }),
      )

      it.effect("a blocked guild gets a refusal sentence instead of statistics", () =>
        Effect.gen(function* () {
          const { sim } = yield* Stack
          const reply = yield* sim.runInteraction({
            guildId: blockedGuildId,
            channelId: blockedChannelId,
            userId: alice,
            commandName: "rank",
          })
          expect(reply.message.content).toBe(
            "This server is blocked from using Tally's statistics.",
          )
          expect(reply.message.embeds).toEqual([])
        }),
      )

      it.effect("an unknown command is refused with a sentence", () =>
        Effect.gen(function* () {
          const reply = yield* run("no-such-command", alice)
          expect(reply.message.flags & EPHEMERAL).toBe(EPHEMERAL)
          expect(reply.message.content).toContain("does not know /no-such-command")
        }),
      )
    })
  },
)
