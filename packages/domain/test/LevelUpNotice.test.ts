import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import { defaultRoleSettings, defaults, type GuildSettings } from "../src/GuildSettings"
import {
  type ChangedRole,
  decide,
  type LevelChange,
  MAX_TEXT_LENGTH,
  targets,
  text,
} from "../src/LevelUpNotice"
import { unsafeMake } from "../src/Snowflake"

const member = unsafeMake("1001")
const general = unsafeMake("2001")
const levelups = unsafeMake("2002")
const deleted = unsafeMake("2003")

const role = (
  roleId: string,
  name: string,
  messages: { assignMessage?: string; deassignMessage?: string } = {},
): ChangedRole => ({ name, settings: { ...defaultRoleSettings(unsafeMake(roleId)), ...messages } })

const roleA = role("3001", "Regular")
const roleB = role("3002", "Veteran")

const change = (
  overrides: Partial<Omit<LevelChange, "settings">> & { settings?: Partial<GuildSettings> } = {},
): LevelChange => ({
  userId: member,
  username: "alice",
  guildName: "Night Owls",
  oldLevel: 4,
  newLevel: 5,
  rolesAdded: [],
  rolesRemoved: [],
  memberNotifyLevelupDm: true,
  lastActiveChannelId: general,
  canPostIn: (channelId) => channelId !== deleted,
  ...overrides,
  settings: {
    ...defaults,
    levelupChannelId: levelups,
    levelupMessage: "<mention> reached level <level>",
    ...overrides.settings,
  },
})

describe("no notice unless the level went up and a message is set", () => {
  it("a level-down gives no notice, even with messages and role changes", () => {
    const down = change({ oldLevel: 10, newLevel: 9, rolesRemoved: [roleB] })
    expect(
      decide({ ...down, settings: { ...down.settings, roleDeassignMessage: "lost <role>" } }),
    ).toEqual(Option.none())
  })

  it("a guild nobody configured has silent level-ups", () => {
    expect(decide({ ...change({ rolesAdded: [roleA] }), settings: defaults })).toEqual(
      Option.none(),
    )
  })

  it("an unchanged level gives no notice", () => {
    expect(decide(change({ oldLevel: 5, newLevel: 5 }))).toEqual(Option.none())
  })

  it("with no level-up message and no role message the level-up is silent", () => {
    expect(decide(change({ settings: { levelupMessage: "" }, rolesAdded: [roleA] }))).toEqual(
      Option.none(),
    )
  })
})

describe("the text", () => {
  it("fills <mention>, <name>, <level> and <servername> in the level-up message", () => {
    const filled = text(
      change({
        newLevel: 12,
        settings: { levelupMessage: "GG <mention>! <name> is level <level> on <servername>" },
      }),
    )
    expect(filled).toEqual(Option.some("GG <@1001>! alice is level 12 on Night Owls"))
  })

  it("a role's own assign message wins over the guild's; each added role gets one", () => {
    const filled = text(
      change({
        settings: { roleAssignMessage: "You got <rolename>" },
        rolesAdded: [
          role("3001", "Regular", { assignMessage: "Welcome to <rolemention>, <name>" }),
          roleB,
        ],
      }),
    )
    expect(filled).toEqual(
      Option.some("<@1001> reached level 5\nWelcome to <@&3001>, alice\nYou got Veteran"),
    )
  })

  it("removed roles get their deassign message, after the added roles' messages", () => {
    const filled = text(
      change({
        newLevel: 10,
        settings: { roleAssignMessage: "+<role>", roleDeassignMessage: "-<role>" },
        rolesAdded: [roleB],
        rolesRemoved: [roleA],
      }),
    )
    expect(filled).toEqual(Option.some("<@1001> reached level 10\n+Veteran\n-Regular"))
  })

  it("roles without any message add no line", () => {
    expect(text(change({ rolesAdded: [roleA], rolesRemoved: [roleB] }))).toEqual(
      Option.some("<@1001> reached level 5"),
    )
  })

  it("with notifyLevelupWithRole off, role messages replace the level-up message", () => {
    const withRoleMessage = change({
      settings: { notifyLevelupWithRole: false, roleAssignMessage: "You got <role>" },
      rolesAdded: [roleA],
    })
    expect(text(withRoleMessage)).toEqual(Option.some("You got Regular"))
  })

  it("with notifyLevelupWithRole off and no role message, the level-up message is posted", () => {
    const noRoleMessage = change({
      settings: { notifyLevelupWithRole: false },
      rolesAdded: [roleA],
    })
    expect(text(noRoleMessage)).toEqual(Option.some("<@1001> reached level 5"))
  })

  it("role tags stay literal in the level-up message", () => {
    const filled = text(change({ settings: { levelupMessage: "<rolename> for <name>" } }))
    expect(filled).toEqual(Option.some("<rolename> for alice"))
  })

  it("a filled-in name that looks like a tag is not filled again", () => {
    const filled = text(
      change({
        username: "<mention>",
        guildName: "<level>",
        settings: { levelupMessage: "<name> on <servername>", roleAssignMessage: "<rolename>" },
        rolesAdded: [role("3001", "<mention>")],
      }),
    )
    expect(filled).toEqual(Option.some("<mention> on <level>\n<mention>"))
  })

  it(`a text longer than ${MAX_TEXT_LENGTH} characters is cut with an ellipsis`, () => {
    const filled = Option.getOrThrow(
      text(change({ settings: { levelupMessage: "x".repeat(5000) } })),
    )
    expect(filled.length).toBe(MAX_TEXT_LENGTH)
    expect(filled.endsWith("…")).toBe(true)
  })
})

describe("where it goes: current channel, then level-up channel, then DM", () => {
  const everywhere = { notifyLevelupCurrentChannel: true, notifyLevelupDm: true }

  it("lists every enabled place in fallback order", () => {
    expect(targets(change({ settings: everywhere }))).toEqual([
      { _tag: "CurrentChannel", channelId: general },
      { _tag: "LevelupChannel", channelId: levelups },
      { _tag: "DirectMessage", userId: member },
    ])
  })

  it("the current channel is used only when switched on and known", () => {
    expect(targets(change())).toEqual([{ _tag: "LevelupChannel", channelId: levelups }])
    expect(targets(change({ settings: everywhere, lastActiveChannelId: null }))[0]).toEqual({
      _tag: "LevelupChannel",
      channelId: levelups,
    })
  })

  it("a deleted or forbidden level-up channel falls back to the DM", () => {
    const notice = decide(
      change({ settings: { levelupChannelId: deleted, notifyLevelupDm: true } }),
    )
    expect(Option.map(notice, (found) => found.targets)).toEqual(
      Option.some([{ _tag: "DirectMessage", userId: member }]),
    )
  })

  it("a deleted last active channel falls back to the level-up channel", () => {
    const fallback = change({ settings: everywhere, lastActiveChannelId: deleted })
    expect(targets(fallback)[0]).toEqual({ _tag: "LevelupChannel", channelId: levelups })
  })

  it("a DM needs both the guild's and the member's consent", () => {
    const guildOnly = change({ settings: { notifyLevelupDm: true }, memberNotifyLevelupDm: false })
    const memberOnly = change({ settings: { notifyLevelupDm: false }, memberNotifyLevelupDm: true })
    const dm = { _tag: "DirectMessage", userId: member }
    expect(targets(guildOnly)).not.toContainEqual(dm)
    expect(targets(memberOnly)).not.toContainEqual(dm)
  })

  it("the level-up channel being the current channel is tried once", () => {
    const same = change({ settings: { ...everywhere, levelupChannelId: general } })
    expect(targets(same)).toEqual([
      { _tag: "CurrentChannel", channelId: general },
      { _tag: "DirectMessage", userId: member },
    ])
  })

  it("nowhere to post gives no notice", () => {
    expect(decide(change({ settings: { levelupChannelId: deleted } }))).toEqual(Option.none())
    expect(decide(change({ settings: { levelupChannelId: null } }))).toEqual(Option.none())
  })
})

describe("the notice", () => {
  it("pings only the member and names the new level", () => {
    const notice = decide(change({ newLevel: 7 }))
    expect(notice).toEqual(
      Option.some({
        userId: member,
        level: 7,
        text: "<@1001> reached level 7",
        targets: [{ _tag: "LevelupChannel", channelId: levelups }],
        allowedMentions: { parse: [], users: [member] },
      }),
    )
  })
})
