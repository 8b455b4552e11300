import type * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as GuildSettings from "@tally/domain/GuildSettings"
import type { Snowflake } from "@tally/domain/Snowflake"
import * as Settings from "@tally/sql/Settings"
import { Duration, Effect } from "effect"
import { memberColumn, startStack } from "./levelupsStack"

const guildId = "310000000000000001" as Snowflake
const textChannel = "310000000000000010"
const voiceChannel = "310000000000000011"
const noXpRole = "310000000000000020" as Snowflake
const alice = "310000000000000101"
const bob = "310000000000000102"
const carol = "310000000000000103"
const botUser = "310000000000000104"
const dave = "310000000000000105"
const erin = "310000000000000106"
const frank = "310000000000000107"
const gina = "310000000000000108"
const otherVoiceChannel = "310000000000000012"

const worldWith = (
  voiceStates: ReadonlyArray<{ readonly userId: string; readonly channelId: string }> = [],
) => ({
  guilds: [
    {
      id: guildId,
      name: "Voice",
      channels: [
        { id: textChannel, type: 0 },
        { id: voiceChannel, type: 2 },
        { id: otherVoiceChannel, type: 2 },
      ],
      roles: [{ id: noXpRole, name: "muted-role", position: 1 }],
      members: [
        { userId: alice, username: "alice" },
        { userId: bob, username: "bob" },
        { userId: carol, username: "carol", roles: [noXpRole] },
        { userId: botUser, username: "otherbot", bot: true },
        { userId: dave, username: "dave" },
        { userId: erin, username: "erin" },
        { userId: frank, username: "frank" },
        { userId: gina, username: "gina" },
      ],
      voiceStates,
    },
  ],
})

const setup = Effect.gen(function* () {
  yield* Settings.updateGuild(guildId, { allowSoloXp: false, allowMutedXp: false })
  yield* Settings.putRole(guildId, { ...GuildSettings.defaultRoleSettings(noXpRole), noXp: true })
}) as Effect.Effect<void, unknown, SqlClient.SqlClient>

const join = (userId: string, channelId: string | null) =>
  ({ type: "voiceState", guildId, userId, channelId }) as const

/** A moderator's server mute: the simulator's own voice events only carry self mute. */
const serverMute = (userId: string, mute: boolean) =>
  ({
    type: "raw",
    guildId,
    event: "VOICE_STATE_UPDATE",
    intent: 128,
    data: {
      guild_id: guildId,
      channel_id: voiceChannel,
      user_id: userId,
      session_id: `voice-${userId}`,
      mute,
      deaf: false,
      self_mute: false,
      self_deaf: false,
      suppress: false,
      member: { user: { id: userId, bot: false }, roles: [] },
    },
  }) as const

describe("voice minutes through simulator, gateway and MariaDB", () => {
  it.scopedLive(
    "a no-XP member does not stop the others earning; a server-muted member earns nothing while muted; a member alone with a bot earns nothing when solo XP is off",
    () =>
      Effect.gen(function* () {
        const stack = yield* startStack({ world: worldWith(), setup })

        // Alice, Bob and Carol (no-XP role) together for 10 minutes.
        yield* stack.injectAll([
          join(alice, voiceChannel),
          join(bob, voiceChannel),
          join(carol, voiceChannel),
        ])
        yield* stack.voice.awaitSettled
        expect((yield* stack.voice.stats).earning).toBe(2)
        yield* stack.time.advance(Duration.minutes(10))
        yield* stack.voice.tickNow

        // Alice server-muted for 5 minutes: Bob goes on earning.
        yield* stack.injectAll([serverMute(alice, true)])
        yield* stack.time.advance(Duration.minutes(5))
        yield* stack.voice.tickNow
        yield* stack.voice.awaitSettled

        // Bob and Carol leave, another bot joins, Alice is unmuted: alone with a bot, 5 minutes.
        yield* stack.injectAll([join(bob, null), join(carol, null)])
        yield* stack.injectAll([join(botUser, voiceChannel), serverMute(alice, false)])
        yield* stack.voice.awaitSettled
        expect((yield* stack.voice.stats).earning).toBe(0)
        yield* stack.time.advance(Duration.minutes(5))
        yield* stack.injectAll([join(alice, null)])
        yield* stack.settle

        const minutes = yield* stack.query(memberColumn("voice_minute_member", guildId))
        const xp = yield* stack.query(memberColumn("guild_member", guildId))
        expect(minutes.get(alice)).toBe(10)
        expect(minutes.get(bob)).toBe(15)
        expect(minutes.get(carol) ?? 0).toBe(0)
        expect(minutes.get(botUser) ?? 0).toBe(0)
        expect(xp.get(alice)).toBe(30)
        expect(xp.get(bob)).toBe(45)
        expect(xp.get(carol) ?? 0).toBe(0)
      }),
  )

  it.scopedLive(
    "a member in voice who is given a no-XP role stops earning from that moment; the others go on",
    () =>
      Effect.gen(function* () {
        const stack = yield* startStack({ world: worldWith(), setup })

        yield* stack.injectAll([
          join(dave, voiceChannel),
          join(erin, voiceChannel),
          join(frank, voiceChannel),
        ])
        yield* stack.voice.awaitSettled
        yield* stack.time.advance(Duration.minutes(3))
        yield* stack.voice.tickNow

        yield* stack.injectAll([
          { type: "memberUpdate", guildId, userId: dave, roles: [noXpRole] } as const,
        ])
        yield* stack.voice.awaitSettled
        expect((yield* stack.voice.stats).earning).toBe(2)
        yield* stack.time.advance(Duration.minutes(4))
        yield* stack.injectAll([join(dave, null), join(erin, null), join(frank, null)])
        yield* stack.settle

        const minutes = yield* stack.query(memberColumn("voice_minute_member", guildId))
        expect(minutes.get(dave)).toBe(3)
        expect(minutes.get(erin)).toBe(7)
        expect(minutes.get(frank)).toBe(7)
      }),
  )

  it.scopedLive(
    "members in voice are credited every tick without leaving, and the rest on leave; members in voice at connect are tracked from GUILD_CREATE",
    () =>
      Effect.gen(function* () {
        const stack = yield* startStack({
          // Frank and Gina are in voice when the gateway connects (GUILD_CREATE's voice_states).
          world: worldWith([
            { userId: frank, channelId: otherVoiceChannel },
            { userId: gina, channelId: otherVoiceChannel },
          ]),
          setup,
          voiceTickInterval: Duration.millis(100),
        })
        const minutesOf = Effect.map(
          stack.query(memberColumn("voice_minute_member", guildId)),
          (minutes) => [dave, erin, frank, gina].map((userId) => minutes.get(userId) ?? 0),
        )

        yield* stack.injectAll([join(dave, voiceChannel), join(erin, voiceChannel)])
        yield* stack.voice.awaitSettled
        yield* stack.time.advance(Duration.minutes(4))
        // No leave and no explicit tick: the tracker's own tick credits them.
        for (let tries = 0; (yield* minutesOf).join() !== "4,4,4,4" && tries < 50; tries++) {
          yield* Effect.sleep(Duration.millis(100))
          yield* stack.settle
        }
        expect(yield* minutesOf).toEqual([4, 4, 4, 4])

        // Three more minutes, then Dave leaves (credited on leave); Erin, alone, earns no more.
        yield* stack.time.advance(Duration.minutes(3))
        yield* stack.injectAll([join(dave, null)])
        yield* stack.time.advance(Duration.minutes(3))
        yield* stack.injectAll([join(erin, null)])
        yield* stack.settle
        expect((yield* minutesOf).slice(0, 2)).toEqual([7, 7])
      }),
  )
})
