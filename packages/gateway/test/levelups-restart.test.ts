/**
 * A level-up job the process could not finish before it stopped is saved with the Discord session
 * and carried out by the next process: the gateway as `main.ts` runs it (`Live.layer` and
 * `Gateway.start` through `LocalStack.startGateway`), stopped by closing its scope, over the
 * simulator and MariaDB.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import * as GuildSettings from "@tally/domain/GuildSettings"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Settings from "@tally/sql/Settings"
import { Duration, Effect } from "effect"
import * as LocalStack from "../src/LocalStack"
import * as Session from "../src/Session"
import { eventually } from "./support/process"
import { temporaryDirectory, throwawayDatabases } from "./support/stack"

const guild = "410000000000000001" as Snowflake
const text = "410000000000000010"
const levelupChannel = "410000000000000011" as Snowflake
const role = "410000000000000020" as Snowflake
const nina = "410000000000000101" as Snowflake

const world = {
  guilds: [
    {
      id: guild,
      name: "Restart",
      channels: [
        { id: text, type: 0 },
        { id: levelupChannel, type: 0 },
      ],
      roles: [{ id: role, name: "Ten", position: 1 }],
      members: [{ userId: nina, username: "nina" }],
    },
  ],
}

const setup = Effect.gen(function* () {
  yield* Settings.updateGuild(guild, {
    levelupMessage: "<mention> reached level <level>",
    levelupChannelId: levelupChannel,
  })
  yield* Settings.putRole(guild, { ...GuildSettings.defaultRoleSettings(role), assignLevel: 10 })
  // Level 9; one message (6 XP) reaches level 10.
  const sql = yield* SqlClient.SqlClient
  yield* sql`INSERT INTO guild_member ${sql.insert({ guildId: guild, userId: nina, alltime: 5394 })}`
})

const rolePut = `/guilds/${guild}/members/${nina}/roles/${role}`

describe("level-up jobs across a restart", () => {
  it.scopedLive(
    "a job cut short by the stop is saved with the session; the next process (resumed) gives the role and posts the notice",
    () =>
      Effect.gen(function* () {
        const dbs = yield* throwawayDatabases(1)
        const manager = yield* LocalStack.startManager(dbs)
        yield* LocalStack.withDatabase(dbs.shardUrls.get(0)!, setup)
        const sim = yield* DiscordSim.make({
          world,
          heartbeatIntervalMillis: 1000,
          botRolePosition: 5,
        })
        const stateDirectory = yield* temporaryDirectory
        const options = {
          sim,
          manager,
          shardUrls: dbs.shardUrls,
          discordShardCount: 1,
          stateDirectory,
        }
        const calls = (method: string, path: string) =>
          Effect.map(sim.restCalls, (all) =>
            all.filter((call) => call.method === method && call.path === path),
          )

        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* LocalStack.startGateway(options)
            // Discord answers the role change with a long 429: the job waits in @discordjs/rest.
            yield* sim.faults.rateLimit({
              route: "PUT /guilds/:guild/members/:user/roles/:role",
              retryAfterSeconds: 120,
              count: 1,
            })
            yield* sim.inject({ type: "message", guildId: guild, channelId: text, authorId: nina })
            yield* eventually(
              Effect.map(calls("PUT", rolePut), (puts) => puts.some((put) => put.status === 429)),
              Duration.seconds(20),
              1,
            )
          }),
        )
        const saved = JSON.parse(
          Fs.readFileSync(Path.join(stateDirectory, Session.fileName(0)), "utf8"),
        ) as Session.SavedSession
        expect(saved.levelUpJobs).toEqual([
          expect.objectContaining({ guildId: guild, userId: nina, fromLevel: 9, toLevel: 10 }),
        ])
        const member = () => sim.world.guilds.get(guild)!.members.get(nina)!
        expect(member().roles).not.toContain(role)

        yield* Effect.scoped(
          Effect.gen(function* () {
            const gateway = yield* LocalStack.startGateway(options)
            // Resumed (no READY): the bot's id, which its permissions depend on, came from the file.
            expect((yield* sim.stats).sessionStarts).toBe(1)
            expect(gateway.guildState.store.botUserId).toBe(sim.world.bot.id)
            yield* eventually(
              Effect.sync(() => member().roles.includes(role)),
              Duration.seconds(20),
              1,
            )
            yield* eventually(
              Effect.map(
                calls("POST", `/channels/${levelupChannel}/messages`),
                (posts) => posts.length === 1,
              ),
              Duration.seconds(20),
              1,
            )
          }),
        )
        const puts = yield* calls("PUT", rolePut)
        expect(puts.map((put) => put.status)).toEqual([429, 204])
      }),
    { timeout: 90_000 },
  )
})
