import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as GuildSettings from "../src/GuildSettings"
import { unsafeMake } from "../src/Snowflake"
import {
  type Applied,
  apply,
  empty,
  MINUTE_MILLIS,
  makeContext,
  sync,
  tick,
  type VoiceContext,
  type VoiceCredit,
  VoiceEvent,
  type VoiceSettings,
  type VoiceState,
  type VoiceStateUpdate,
  whyNotEarning,
} from "../src/VoiceAccounting"

const alice = unsafeMake("1001")
const bob = unsafeMake("1002")
const carol = unsafeMake("1003")
const robot = unsafeMake("1009")
const lounge = unsafeMake("2001")
const studio = unsafeMake("2002")
const afk = unsafeMake("2003")
const quiet = unsafeMake("2004")
const archiveCategory = unsafeMake("2005")
const archived = unsafeMake("2006")
const verified = unsafeMake("3001")
const noXpRole = unsafeMake("3002")

const defaults: VoiceSettings = {
  voiceXp: true,
  allowMutedXp: false,
  allowDeafenedXp: false,
  allowSoloXp: false,
}

const contextWith = (settings: Partial<VoiceSettings> = {}): VoiceContext =>
  makeContext({
    settings: { ...defaults, ...settings },
    afkChannelId: afk,
    noXpChannelIds: [quiet, archiveCategory],
    noXpRoleIds: [noXpRole],
    parentIds: new Map([[archived, archiveCategory]]),
  })

const soloAllowed = contextWith({ allowSoloXp: true })
const soloForbidden = contextWith()

/** "mm:ss" from the start of the test's hour, in epoch milliseconds. */
const at = (clock: string): number => {
  const [minutes, seconds] = clock.split(":").map(Number)
  return ((minutes ?? 0) * 60 + (seconds ?? 0)) * 1000
}

const voice = (
  userId: VoiceStateUpdate["userId"],
  channelId: VoiceStateUpdate["channelId"],
  flags: Partial<Omit<VoiceStateUpdate, "userId" | "channelId">> = {},
): VoiceEvent =>
  VoiceEvent.VoiceStateUpdated({
    userId,
    channelId,
    bot: false,
    roleIds: [verified],
    selfMute: false,
    selfDeaf: false,
    serverMute: false,
    serverDeaf: false,
    suppress: false,
    ...flags,
  })

type Step = readonly [clock: string, event: VoiceEvent | "tick"]

const run = (context: VoiceContext, steps: ReadonlyArray<Step>, start: VoiceState = empty) => {
  let state = start
  const credits: Array<VoiceCredit> = []
  for (const [clock, event] of steps) {
    const applied: Applied =
      event === "tick" ? tick(state, at(clock), context) : apply(state, event, at(clock), context)
    state = applied.state
    credits.push(...applied.credits)
  }
  const minutesOf = (userId: string, channelId?: string) =>
    credits
      .filter((credit) => credit.userId === userId)
      .filter((credit) => channelId === undefined || credit.channelId === channelId)
      .reduce((sum, credit) => sum + credit.minutes, 0)
  return { state, credits, minutesOf }
}

describe("whole minutes from exact sessions, remainder carried per member", () => {
  it("present 00:00–30:00 earns 30 minutes", () => {
    const { minutesOf, state } = run(soloAllowed, [
      ["00:00", voice(alice, lounge)],
      ["30:00", voice(alice, null)],
    ])
    expect(minutesOf(alice, lounge)).toBe(30)
    expect(state.carriedMillis.get(alice)).toBeUndefined()
  })

  it("05:50–06:10 earns 0 and keeps 20 s", () => {
    const { credits, state } = run(soloAllowed, [
      ["05:50", voice(alice, lounge)],
      ["06:10", voice(alice, null)],
    ])
    expect(credits).toEqual([])
    expect(state.carriedMillis.get(alice)).toBe(20_000)
  })

  it("00:10–05:50 earns 5 and keeps 40 s", () => {
    const { minutesOf, state } = run(soloAllowed, [
      ["00:10", voice(alice, lounge)],
      ["05:50", voice(alice, null)],
    ])
    expect(minutesOf(alice)).toBe(5)
    expect(state.carriedMillis.get(alice)).toBe(40_000)
  })

  it("the 20 s of 05:50–06:10 and the 40 s of 10:00–10:40 make one minute", () => {
    const { credits, state } = run(soloAllowed, [
      ["05:50", voice(alice, lounge)],
      ["06:10", voice(alice, null)],
      ["10:00", voice(alice, lounge)],
      ["10:40", voice(alice, null)],
    ])
    expect(credits).toEqual([{ userId: alice, channelId: lounge, minutes: 1 }])
    expect(state.carriedMillis.get(alice)).toBeUndefined()
  })

  it("ticks credit each whole minute while the member stays", () => {
    const { credits } = run(soloAllowed, [
      ["00:30", voice(alice, lounge)],
      ["01:00", "tick"],
      ["02:00", "tick"],
      ["03:00", "tick"],
      ["03:40", voice(alice, null)],
    ])
    expect(credits.map((credit) => credit.minutes)).toEqual([1, 1, 1])
  })

  it("a clock that steps back credits nothing for the gap", () => {
    const { minutesOf } = run(soloAllowed, [
      ["10:00", voice(alice, lounge)],
      ["09:00", "tick"],
      ["12:00", voice(alice, null)],
    ])
    expect(minutesOf(alice)).toBe(2)
  })
})

describe("one ineligible member never stops the others earning", () => {
  it("a member with a no-XP role does not stop the others earning and earns nothing", () => {
    const { minutesOf } = run(soloForbidden, [
      ["00:00", voice(alice, lounge)],
      ["00:00", voice(carol, lounge, { roleIds: [verified, noXpRole] })],
      ["10:00", voice(alice, null)],
      ["10:00", voice(carol, null)],
    ])
    expect(minutesOf(alice)).toBe(10)
    expect(minutesOf(carol)).toBe(0)
  })

  it("a server-muted member earns nothing while muted and resumes after unmute", () => {
    const { minutesOf } = run(soloForbidden, [
      ["00:00", voice(alice, lounge)],
      ["00:00", voice(bob, lounge)],
      ["02:00", voice(bob, lounge, { serverMute: true })],
      ["05:00", voice(bob, lounge)],
      ["10:00", voice(alice, null)],
      ["10:00", voice(bob, null)],
    ])
    expect(minutesOf(bob)).toBe(7)
    expect(minutesOf(alice)).toBe(10)
  })

  it("self-muted, suppressed and deafened members earn nothing when the settings forbid it", () => {
    for (const flags of [{ selfMute: true }, { suppress: true }, { serverDeaf: true }]) {
      const { minutesOf } = run(soloForbidden, [
        ["00:00", voice(alice, lounge)],
        ["00:00", voice(bob, lounge, flags)],
        ["10:00", "tick"],
      ])
      expect(minutesOf(bob)).toBe(0)
      expect(minutesOf(alice)).toBe(10)
    }
  })

  it("with a guild's default settings a muted, deafened member alone earns", () => {
    const { minutesOf } = run(makeContext({ settings: GuildSettings.defaults }), [
      ["00:00", voice(alice, lounge, { selfMute: true, selfDeaf: true, serverMute: true })],
      ["10:00", "tick"],
    ])
    expect(minutesOf(alice)).toBe(10)
  })

  it("muted and deafened members earn when the settings allow it", () => {
    const lenient = contextWith({ allowMutedXp: true, allowDeafenedXp: true })
    const { minutesOf } = run(lenient, [
      ["00:00", voice(alice, lounge, { selfMute: true, selfDeaf: true })],
      ["00:00", voice(bob, lounge, { serverMute: true, serverDeaf: true })],
      ["10:00", "tick"],
    ])
    expect(minutesOf(alice)).toBe(10)
    expect(minutesOf(bob)).toBe(10)
  })
})

describe("alone earns nothing unless solo XP is allowed", () => {
  it("a member alone with a bot earns nothing when solo XP is off", () => {
    const { minutesOf } = run(soloForbidden, [
      ["00:00", voice(alice, lounge)],
      ["00:00", voice(robot, lounge, { bot: true })],
      ["10:00", "tick"],
    ])
    expect(minutesOf(alice)).toBe(0)
    expect(minutesOf(robot)).toBe(0)
  })

  it("a member alone earns when solo XP is on; a bot never does", () => {
    const { minutesOf } = run(soloAllowed, [
      ["00:00", voice(alice, lounge)],
      ["00:00", voice(robot, lounge, { bot: true })],
      ["10:00", "tick"],
    ])
    expect(minutesOf(alice)).toBe(10)
    expect(minutesOf(robot)).toBe(0)
  })

  it("a member earns only while someone else is there", () => {
    const { minutesOf } = run(soloForbidden, [
      ["00:00", voice(alice, lounge)],
      ["05:00", voice(bob, lounge)],
      ["08:00", voice(bob, null)],
      ["20:00", voice(alice, null)],
    ])
    expect(minutesOf(alice)).toBe(3)
    expect(minutesOf(bob)).toBe(3)
  })
})

describe("credits go to the channel where the time was spent", () => {
  it("moving channels splits the time per channel; the remainder follows the member", () => {
    const { minutesOf } = run(soloAllowed, [
      ["00:00", voice(alice, lounge)],
      ["03:30", voice(alice, studio)],
      ["06:00", voice(alice, null)],
    ])
    expect(minutesOf(alice, lounge)).toBe(3)
    expect(minutesOf(alice, studio)).toBe(3)
  })

  it("leaving a channel ends the company of the one who stays", () => {
    const { minutesOf } = run(soloForbidden, [
      ["00:00", voice(alice, lounge)],
      ["00:00", voice(bob, lounge)],
      ["04:00", voice(bob, studio)],
      ["10:00", "tick"],
    ])
    expect(minutesOf(alice)).toBe(4)
    expect(minutesOf(bob, lounge)).toBe(4)
    expect(minutesOf(bob, studio)).toBe(0)
  })
})

describe("channels that give no XP", () => {
  for (const [name, channelId] of [
    ["the AFK channel", afk],
    ["a no-XP channel", quiet],
    ["a channel in a no-XP category", archived],
  ] as const) {
    it(`${name} earns nothing`, () => {
      const { minutesOf } = run(soloAllowed, [
        ["00:00", voice(alice, channelId)],
        ["00:00", voice(bob, channelId)],
        ["10:00", voice(alice, null)],
      ])
      expect(minutesOf(alice)).toBe(0)
    })
  }

  it("nothing earns while voice XP is off", () => {
    const { credits } = run(contextWith({ voiceXp: false, allowSoloXp: true }), [
      ["00:00", voice(alice, lounge)],
      ["10:00", "tick"],
    ])
    expect(credits).toEqual([])
  })
})

describe("settings and roles changing mid-session count from the instant they change", () => {
  it("allowing muted XP at 05:00 credits a muted member from then on", () => {
    const before = run(soloAllowed, [["00:00", voice(alice, lounge, { selfMute: true })]])
    const lenient = contextWith({ allowSoloXp: true, allowMutedXp: true })
    const after = run(
      lenient,
      [
        ["05:00", "tick"],
        ["12:00", "tick"],
      ],
      before.state,
    )
    expect(after.minutesOf(alice)).toBe(7)
  })

  it("gaining a no-XP role at 04:00 stops the member earning then", () => {
    const { minutesOf } = run(soloAllowed, [
      ["00:00", voice(alice, lounge)],
      ["04:00", VoiceEvent.MemberRolesUpdated({ userId: alice, roleIds: [noXpRole] })],
      ["10:00", voice(alice, null)],
    ])
    expect(minutesOf(alice)).toBe(4)
  })

  it("a snapshot without a member ends that member's session", () => {
    const joined = run(soloAllowed, [
      ["00:00", voice(alice, lounge)],
      ["00:00", voice(bob, lounge)],
    ])
    const bobState: VoiceStateUpdate = {
      userId: bob,
      channelId: lounge,
      bot: false,
      roleIds: [],
      selfMute: false,
      selfDeaf: false,
      serverMute: false,
      serverDeaf: false,
      suppress: false,
    }
    const synced = sync(joined.state, [bobState], at("06:00"), soloAllowed)
    expect(synced.credits).toEqual([
      { userId: alice, channelId: lounge, minutes: 6 },
      { userId: bob, channelId: lounge, minutes: 6 },
    ])
    expect([...synced.state.sessions.keys()]).toEqual([bob])
  })
})

describe("eligibility reasons", () => {
  it("names the first rule that keeps a member from earning", () => {
    const member = {
      bot: false,
      roleIds: [],
      selfMute: true,
      selfDeaf: true,
      serverMute: false,
      serverDeaf: false,
      suppress: false,
    }
    expect(whyNotEarning(member, lounge, 2, soloForbidden)).toBe("muted")
    expect(whyNotEarning({ ...member, selfMute: false }, lounge, 2, soloForbidden)).toBe("deafened")
    expect(
      whyNotEarning({ ...member, selfMute: false, selfDeaf: false }, lounge, 1, soloForbidden),
    ).toBe("alone")
    expect(whyNotEarning(member, afk, 2, soloForbidden)).toBe("afkChannel")
    expect(whyNotEarning({ ...member, bot: true }, lounge, 2, soloForbidden)).toBe("bot")
  })
})

// ---- properties, against an independent model that walks the same events interval by interval

const users = [alice, bob, carol, robot] as const
const channels = [lounge, studio, afk, quiet, archived] as const

type Action =
  | { readonly _tag: "voice"; readonly event: VoiceEvent }
  | { readonly _tag: "settings"; readonly settings: VoiceSettings }

/** True once in `times` draws. */
const onceIn = (times: number) => fc.integer({ min: 1, max: times }).map((draw) => draw === 1)

const settingsArbitrary: fc.Arbitrary<VoiceSettings> = fc.record({
  voiceXp: onceIn(10).map((off) => !off),
  allowMutedXp: fc.boolean(),
  allowDeafenedXp: fc.boolean(),
  allowSoloXp: fc.boolean(),
})

const voiceArbitrary: fc.Arbitrary<VoiceEvent> = fc
  .record({
    user: fc.integer({ min: 0, max: users.length - 1 }),
    channel: fc.option(fc.constantFrom(...channels), { freq: 4, nil: null }),
    noXp: onceIn(5),
    selfMute: onceIn(4),
    selfDeaf: onceIn(5),
    serverMute: onceIn(5),
    serverDeaf: onceIn(5),
    suppress: onceIn(7),
  })
  .map(({ user, channel, noXp, ...flags }) => {
    const userId = users[user] ?? alice
    return voice(userId, channel, {
      ...flags,
      bot: userId === robot,
      roleIds: noXp ? [noXpRole] : [verified],
    })
  })

const rolesArbitrary: fc.Arbitrary<VoiceEvent> = fc
  .record({ user: fc.integer({ min: 0, max: users.length - 2 }), noXp: fc.boolean() })
  .map(({ user, noXp }) =>
    VoiceEvent.MemberRolesUpdated({
      userId: users[user] ?? alice,
      roleIds: noXp ? [noXpRole] : [verified],
    }),
  )

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: voiceArbitrary.map((event) => ({ _tag: "voice" as const, event })) },
  { weight: 2, arbitrary: rolesArbitrary.map((event) => ({ _tag: "voice" as const, event })) },
  {
    weight: 1,
    arbitrary: settingsArbitrary.map((settings) => ({ _tag: "settings" as const, settings })),
  },
)

const timedActions = fc.array(
  fc.record({
    afterMillis: fc.integer({ min: 0, max: 4 * MINUTE_MILLIS }),
    action: actionArbitrary,
  }),
  { maxLength: 40 },
)

/** Eligible milliseconds per member, computed directly from who is where between two events. */
const modelEligibleMillis = (
  settings: VoiceSettings,
  steps: ReadonlyArray<{ afterMillis: number; action: Action }>,
): Map<string, number> => {
  const present = new Map<string, VoiceStateUpdate & { channelId: string }>()
  const eligibleMillis = new Map<string, number>()
  let current = settings
  for (const { afterMillis, action } of steps) {
    for (const member of present.values()) {
      const humans = [...present.values()].filter(
        (other) => other.channelId === member.channelId && !other.bot,
      ).length
      const channelGivesXp =
        member.channelId !== afk && member.channelId !== quiet && member.channelId !== archived
      const earns =
        current.voiceXp &&
        !member.bot &&
        channelGivesXp &&
        !member.roleIds.includes(noXpRole) &&
        (current.allowMutedXp || !(member.selfMute || member.serverMute || member.suppress)) &&
        (current.allowDeafenedXp || !(member.selfDeaf || member.serverDeaf)) &&
        (current.allowSoloXp || humans >= 2)
      if (earns) {
        eligibleMillis.set(member.userId, (eligibleMillis.get(member.userId) ?? 0) + afterMillis)
      }
    }
    if (action._tag === "settings") current = action.settings
    else if (action.event._tag === "MemberRolesUpdated") {
      const member = present.get(action.event.userId)
      if (member) present.set(member.userId, { ...member, roleIds: action.event.roleIds })
    } else if (action.event.channelId === null) present.delete(action.event.userId)
    else present.set(action.event.userId, { ...action.event, channelId: action.event.channelId })
  }
  return eligibleMillis
}

/** Runs the accounting over the steps, ticking where `ticks` says, then ends every session. */
const account = (
  settings: VoiceSettings,
  steps: ReadonlyArray<{ afterMillis: number; action: Action }>,
  ticks: ReadonlyArray<number> = [],
): ReadonlyArray<VoiceCredit> => {
  let context = contextWith(settings)
  let state = empty
  let now = 0
  const credits: Array<VoiceCredit> = []
  const record = (applied: Applied) => {
    state = applied.state
    credits.push(...applied.credits)
  }
  steps.forEach(({ afterMillis, action }, index) => {
    const tickAt = ticks[index]
    if (tickAt !== undefined) record(tick(state, now + (tickAt % (afterMillis + 1)), context))
    now += afterMillis
    if (action._tag === "settings") {
      context = contextWith(action.settings)
      record(tick(state, now, context))
    } else record(apply(state, action.event, now, context))
  })
  record(sync(state, [], now, context))
  return credits
}

const totalsBy = (credits: ReadonlyArray<VoiceCredit>, key: (credit: VoiceCredit) => string) => {
  const totals = new Map<string, number>()
  for (const credit of credits)
    totals.set(key(credit), (totals.get(key(credit)) ?? 0) + credit.minutes)
  return totals
}

describe("laws of voice accounting", () => {
  it.prop(
    "credited minutes never exceed eligible wall time, and fall short by less than a minute",
    { settings: settingsArbitrary, steps: timedActions },
    ({ settings, steps }) => {
      const eligible = modelEligibleMillis(settings, steps)
      const credited = totalsBy(account(settings, steps), (credit) => credit.userId)
      for (const userId of users) {
        const eligibleMillis = eligible.get(userId) ?? 0
        const creditedMillis = (credited.get(userId) ?? 0) * MINUTE_MILLIS
        expect(creditedMillis).toBeLessThanOrEqual(eligibleMillis)
        expect(eligibleMillis - creditedMillis).toBeLessThan(MINUTE_MILLIS)
      }
    },
  )

  it.prop(
    "crediting on frequent ticks gives the same minutes per member and channel as crediting at leave",
    {
      settings: settingsArbitrary,
      steps: timedActions,
      ticks: fc.array(fc.nat(), { maxLength: 40 }),
    },
    ({ settings, steps, ticks }) => {
      const byMemberAndChannel = (credit: VoiceCredit) => `${credit.userId}/${credit.channelId}`
      expect(totalsBy(account(settings, steps, ticks), byMemberAndChannel)).toEqual(
        totalsBy(account(settings, steps), byMemberAndChannel),
      )
    },
  )

  it.prop(
    "leaving and rejoining at any instant of a session does not change the total",
    {
      sessions: fc.array(
        fc.record({
          lengthMillis: fc.integer({ min: 0, max: 10 * MINUTE_MILLIS }),
          gapMillis: fc.integer({ min: 0, max: MINUTE_MILLIS }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      split: fc.double({ min: 0, max: 1, noNaN: true }),
    },
    ({ sessions, split }) => {
      const steps: Array<{ afterMillis: number; action: Action }> = []
      for (const { lengthMillis, gapMillis } of sessions) {
        steps.push({
          afterMillis: gapMillis,
          action: { _tag: "voice", event: voice(alice, lounge) },
        })
        steps.push({
          afterMillis: lengthMillis,
          action: { _tag: "voice", event: voice(alice, null) },
        })
      }
      const total = (credits: ReadonlyArray<VoiceCredit>) =>
        credits.reduce((sum, credit) => sum + credit.minutes, 0)
      const whole = total(account({ ...defaults, allowSoloXp: true }, steps))

      const index = 2 * Math.floor(split * sessions.length * 0.999) + 1
      const leaving = steps[index]!
      const firstPart = Math.round(leaving.afterMillis * split)
      const splitSteps = [
        ...steps.slice(0, index),
        { afterMillis: firstPart, action: { _tag: "voice", event: voice(alice, null) } } as const,
        { afterMillis: 0, action: { _tag: "voice", event: voice(alice, lounge) } } as const,
        { ...leaving, afterMillis: leaving.afterMillis - firstPart },
        ...steps.slice(index + 1),
      ]
      expect(total(account({ ...defaults, allowSoloXp: true }, splitSteps))).toBe(whole)
      expect(whole).toBe(
        Math.floor(sessions.reduce((sum, s) => sum + s.lengthMillis, 0) / MINUTE_MILLIS),
      )
    },
  )
})
