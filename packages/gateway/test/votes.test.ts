import type * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import type { SimEvent } from "@tally/discord-sim/Events"
import * as GuildSettings from "@tally/domain/GuildSettings"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Settings from "@tally/sql/Settings"
import { Duration, Effect } from "effect"
import { memberColumn, startStack } from "./levelupsStack"

const guildId = "350000000000000001" as Snowflake
const text = "350000000000000010"
const paula = "350000000000000101" as Snowflake
const quinn = "350000000000000102" as Snowflake
const robot = "350000000000000103" as Snowflake
const vera = "350000000000000104" as Snowflake
const nora = "350000000000000105" as Snowflake
const ulf = "350000000000000106" as Snowflake
const noXpRole = "350000000000000020" as Snowflake
const paulasMessage = "350000000000001001"
const robotsMessage = "350000000000001002"

// A second guild where reaction votes are off.
const quiet = "360000000000000001" as Snowflake
const quietText = "360000000000000010"
const olga = "360000000000000101" as Snowflake
const omar = "360000000000000102" as Snowflake

const world = {
  guilds: [
    {
      id: guildId,
      name: "Votes",
      channels: [{ id: text, type: 0 }],
      members: [
        { userId: paula, username: "paula" },
        { userId: quinn, username: "quinn" },
        { userId: robot, username: "robot", bot: true },
        { userId: vera, username: "vera" },
        { userId: nora, username: "nora", roles: [noXpRole] },
        { userId: ulf, username: "ulf" },
      ],
      roles: [{ id: noXpRole, name: "no-xp", position: 1 }],
    },
    {
      id: quiet,
      name: "Quiet",
      channels: [{ id: quietText, type: 0 }],
      members: [
        { userId: olga, username: "olga" },
        { userId: omar, username: "omar" },
      ],
    },
  ],
}

const setup = Effect.gen(function* () {
  yield* Settings.updateGuild(guildId, { reactionVote: true, voteCooldownSeconds: 180 })
  yield* Settings.putRole(guildId, { ...GuildSettings.defaultRoleSettings(noXpRole), noXp: true })
  // Vera does not let her reactions count as votes.
  yield* Settings.updateMember(guildId, vera, { reactionVote: false })
}) as Effect.Effect<void, unknown, SqlClient.SqlClient>

const heart = { id: null, name: "❤️" }

const react = (
  voterId: string,
  messageAuthorId: string,
  emoji: { id: string | null; name: string } = heart,
  guild: string = guildId,
  channelId: string = text,
): SimEvent => ({
  type: "reactionAdd",
  guildId: guild,
  channelId,
  messageId: messageAuthorId === robot ? robotsMessage : paulasMessage,
  userId: voterId,
  emoji,
  messageAuthorId,
})

describe("reaction votes through simulator, gateway and MariaDB", () => {
  it.scopedLive(
    "the vote emoji gives the author one vote; the voter's cooldown holds; no self-votes; bots neither vote nor receive; no votes from members who opted out or for no-XP members; other emojis and guilds without reaction votes count nothing",
    () =>
      Effect.gen(function* () {
        const stack = yield* startStack({ world, setup })

        yield* stack.injectAll([
          react(quinn, paula), // counts
          react(quinn, paula), // within Quinn's cooldown
          react(paula, paula), // self-vote
          react(robot, paula), // a bot votes
          react(vera, paula), // Vera's reactions are no votes
          react(ulf, nora), // Nora holds a no-XP role
          react(olga, omar, heart, quiet, quietText), // reaction votes off there
        ])
        yield* stack.settle
        expect((yield* stack.query(memberColumn("vote", guildId))).get(paula)).toBe(1)

        // After the cooldown: the wrong emoji and a bot author count nothing; the heart
        // without its variation selector counts.
        yield* stack.time.advance(Duration.seconds(181))
        yield* stack.injectAll([
          react(quinn, paula, { id: null, name: "👍" }),
          react(quinn, robot),
          react(quinn, paula, { id: null, name: "❤" }),
        ])
        yield* stack.settle

        const votes = yield* stack.query(memberColumn("vote", guildId))
        const xp = yield* stack.query(memberColumn("guild_member", guildId))
        expect(votes.get(paula)).toBe(2)
        expect(xp.get(paula)).toBe(60)
        expect(votes.get(quinn) ?? 0).toBe(0)
        expect(votes.get(robot) ?? 0).toBe(0)
        expect(votes.get(nora) ?? 0).toBe(0)
        expect((yield* stack.query(memberColumn("vote", quiet))).size).toBe(0)
      }),
  )
})
