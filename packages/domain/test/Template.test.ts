import { describe, expect, it } from "@effect/vitest"
import { defaultRoleSettings, defaults } from "../src/GuildSettings"
import { unsafeMake } from "../src/Snowflake"
import { type ChangedRole, fill, levelUpNotice, welcome } from "../src/Template"

const userId = unsafeMake("300000000000000001")
const roleId = unsafeMake("400000000000000001")
const member = { userId, name: "alice", level: 10, serverName: "Tally Test" }
const veteran: ChangedRole = { settings: defaultRoleSettings(roleId), name: "Veteran" }

describe("templates: placeholders (§5.3)", () => {
  it("fills <mention> <name> <level> <servername>", () => {
    expect(fill("<mention> <name> reached <level> on <servername>!", member)).toBe(
      `<@${userId}> alice reached 10 on Tally Test!`,
    )
  })

  it("fills <rolename>, <role> and <rolemention>", () => {
    expect(fill("<rolename>/<role>/<rolemention>", { role: { id: roleId, name: "Veteran" } })).toBe(
      `Veteran/Veteran/<@&${roleId}>`,
    )
  })

  it("replaces every occurrence", () => {
    expect(fill("<level><level> <level>", { level: 3 })).toBe("33 3")
  })

  it("leaves placeholders without a value literal (role placeholders in the level-up message)", () => {
    expect(fill("<name> got <rolename>", { name: "alice" })).toBe("alice got <rolename>")
  })

  it("leaves unknown placeholders and other angle brackets alone", () => {
    expect(fill("<unknown> <#123> <@456> <Level>", member)).toBe("<unknown> <#123> <@456> <Level>")
  })

  it("does not expand placeholders inside filled-in values", () => {
    expect(fill("<name> is level <level>", { name: "<level>", level: 2 })).toBe(
      "<level> is level 2",
    )
  })
})

describe("templates: the level-up notice (§5.3)", () => {
  it("is silent by default: no level-up message and no role messages", () => {
    expect(levelUpNotice({ settings: defaults, member, added: [veteran], removed: [] })).toBeNull()
  })

  it("the guild's level-up message alone when no role changes", () => {
    const settings = { ...defaults, levelupMessage: "GG <mention>, level <level>!" }
    expect(levelUpNotice({ settings, member, added: [], removed: [] })).toBe(
      `GG <@${userId}>, level 10!`,
    )
  })

  it("a role's own assign message wins over the guild's; each line is filled for its role", () => {
    const settings = {
      ...defaults,
      levelupMessage: "GG <name>",
      roleAssignMessage: "You got <rolename>",
      roleDeassignMessage: "You lost <rolemention>",
    }
    const own: ChangedRole = {
      settings: {
        ...defaultRoleSettings(unsafeMake("7")),
        assignMessage: "Welcome to <role>, <name>",
      },
      name: "Elite",
    }
    expect(levelUpNotice({ settings, member, added: [veteran, own], removed: [veteran] })).toBe(
      ["GG alice", "You got Veteran", "Welcome to Elite, alice", `You lost <@&${roleId}>`].join(
        "\n",
      ),
    )
  })

  it("without notifyLevelupWithRole the level-up message is left out when role messages exist", () => {
    const settings = {
      ...defaults,
      levelupMessage: "GG",
      roleAssignMessage: "You got <rolename>",
      notifyLevelupWithRole: false,
    }
    expect(levelUpNotice({ settings, member, added: [veteran], removed: [] })).toBe(
      "You got Veteran",
    )
    expect(levelUpNotice({ settings, member, added: [], removed: [] })).toBe("GG")
  })
})

describe("templates: the welcome message (§5.5)", () => {
  const joined = { userId, name: "alice", serverName: "Tally Test" }

  it("uses the built-in greeting when the guild sets none", () => {
    expect(welcome({ settings: defaults, member: joined })).toBe(
      `Welcome <@${userId}>! We hope you enjoy your stay on Tally Test.`,
    )
  })

  it("puts role messages on their own lines, not comma-joined (§9.26)", () => {
    const settings = { ...defaults, serverJoinMessage: "Hi <name>" }
    expect(welcome({ settings, member: joined, roleMessages: ["You got A", "You got B"] })).toBe(
      "Hi alice\nYou got A\nYou got B",
    )
  })
})
