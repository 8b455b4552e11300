import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck } from "effect"
import { defaultRoleSettings, type RoleSettings } from "../src/GuildSettings"
import {
  Assignability,
  applicable,
  assignability,
  changes,
  checkLevels,
  explainSkipped,
  forLevel,
  type GuildRole,
  noChanges,
  Permission,
  type RoleChanges,
} from "../src/LevelRoles"
import { type Snowflake, unsafeMake } from "../src/Snowflake"

const guildId = unsafeMake("100000000000000000")
const moderator = unsafeMake("500000000000000001")
const verified = unsafeMake("500000000000000002")
const roleA = unsafeMake("500000000000000003")
const roleB = unsafeMake("500000000000000004")
const roleC = unsafeMake("500000000000000005")
const roleD = unsafeMake("500000000000000006")

const levelRole = (roleId: Snowflake, assignLevel: number, deassignLevel = 0): RoleSettings => ({
  ...defaultRoleSettings(roleId),
  assignLevel,
  deassignLevel,
})

const apply = (held: ReadonlyArray<Snowflake>, change: RoleChanges): Array<Snowflake> =>
  [...held.filter((id) => !change.remove.includes(id)), ...change.add].sort()

describe("level roles: the target at a level (§5.1)", () => {
  const roles = [levelRole(roleA, 5, 10), levelRole(roleB, 10), levelRole(roleC, 20)]

  it("issue 7: a member with Moderator, Verified and A (5..10) reaching level 10 gets B and loses only A", () => {
    const result = changes({
      from: 9,
      to: 10,
      memberRoleIds: [moderator, verified, roleA],
      roles,
      takeAwayAssignedRolesOnLevelDown: false,
    })
    expect(result).toEqual({ add: [roleB], remove: [roleA] })
    expect(apply([moderator, verified, roleA], result)).toEqual([moderator, verified, roleB].sort())
  })

  it("a role comes at its assign level, not before", () => {
    const input = { memberRoleIds: [], roles, takeAwayAssignedRolesOnLevelDown: false }
    expect(forLevel(4, input)).toEqual(noChanges)
    expect(forLevel(5, input)).toEqual({ add: [roleA], remove: [] })
  })

  it("a jump over several levels applies every threshold crossed: 1 → 25 ends with B and C only", () => {
    const result = changes({
      from: 1,
      to: 25,
      memberRoleIds: [verified],
      roles,
      takeAwayAssignedRolesOnLevelDown: false,
    })
    expect(result).toEqual({ add: [roleB, roleC], remove: [] })
  })

  it("a role with only a deassign level is taken at that level even when given by hand", () => {
    const input = {
      memberRoleIds: [roleD],
      roles: [levelRole(roleD, 0, 3)],
      takeAwayAssignedRolesOnLevelDown: false,
    }
    expect(forLevel(2, input)).toEqual(noChanges)
    expect(forLevel(3, input)).toEqual({ add: [], remove: [roleD] })
  })

  it("on a level down, assigned roles stay unless take-away is on", () => {
    const held = [moderator, roleB, roleC]
    const base = { from: 25, to: 12, memberRoleIds: held, roles }
    expect(changes({ ...base, takeAwayAssignedRolesOnLevelDown: false })).toEqual(noChanges)
    expect(changes({ ...base, takeAwayAssignedRolesOnLevelDown: true })).toEqual({
      add: [],
      remove: [roleC],
    })
  })

  it("an unchanged level changes nothing", () => {
    expect(
      changes({ from: 7, to: 7, memberRoleIds: [], roles, takeAwayAssignedRolesOnLevelDown: true }),
    ).toEqual(noChanges)
  })
})

describe("level roles: laws", () => {
  const levelRoles = FastCheck.array(
    FastCheck.tuple(
      FastCheck.constantFrom(roleA, roleB, roleC, roleD),
      FastCheck.integer({ min: 0, max: 30 }),
      FastCheck.integer({ min: 0, max: 30 }),
    ),
    { maxLength: 4 },
  ).map((list) => {
    const byId = new Map<Snowflake, RoleSettings>()
    for (const [id, assign, deassign] of list) {
      const [low, high] = assign < deassign ? [assign, deassign] : [0, deassign]
      byId.set(id, levelRole(id, low, high))
    }
    return [...byId.values()]
  })
  const held = FastCheck.subarray([moderator, verified, roleA, roleB, roleC, roleD])
  const level = FastCheck.integer({ min: 1, max: 40 })

  it.prop(
    "only level roles change: additions are not held, removals are held, other roles are untouched",
    [levelRoles, held, level, FastCheck.boolean()],
    ([roles, memberRoleIds, at, takeAway]) => {
      const result = forLevel(at, {
        memberRoleIds,
        roles,
        takeAwayAssignedRolesOnLevelDown: takeAway,
      })
      const levelRoleIds = new Set(roles.map((role) => role.roleId))
      for (const id of result.add) {
        expect(levelRoleIds.has(id)).toBe(true)
        expect(memberRoleIds).not.toContain(id)
      }
      for (const id of result.remove) {
        expect(levelRoleIds.has(id)).toBe(true)
        expect(memberRoleIds).toContain(id)
      }
      expect(result.add).not.toContain(moderator)
      expect(result.remove).not.toContain(verified)
    },
  )

  it.prop(
    "applying the changes leaves nothing more to change at that level",
    [levelRoles, held, level, FastCheck.boolean()],
    ([roles, memberRoleIds, at, takeAway]) => {
      const input = { roles, takeAwayAssignedRolesOnLevelDown: takeAway }
      const after = apply(memberRoleIds, forLevel(at, { ...input, memberRoleIds }))
      expect(forLevel(at, { ...input, memberRoleIds: after })).toEqual(noChanges)
    },
  )

  it.prop(
    "rising through a middle level ends where a direct jump ends",
    [levelRoles, held, level, level, FastCheck.boolean()],
    ([roles, memberRoleIds, x, y, takeAway]) => {
      const [middle, end] = x <= y ? [x, y] : [y, x]
      const input = { roles, takeAwayAssignedRolesOnLevelDown: takeAway }
      const viaMiddle = apply(memberRoleIds, forLevel(middle, { ...input, memberRoleIds }))
      const stepped = apply(viaMiddle, forLevel(end, { ...input, memberRoleIds: viaMiddle }))
      const direct = apply(memberRoleIds, forLevel(end, { ...input, memberRoleIds }))
      expect(stepped).toEqual(direct)
    },
  )
})

describe("level roles: what the bot can give (§5.2)", () => {
  const role = (id: Snowflake, position: number, permissions = 0n, managed = false): GuildRole => ({
    id,
    position,
    permissions,
    managed,
  })

  it("a role below the bot's highest role can be given and taken", () => {
    expect(assignability(role(roleA, 3), 5, "add")).toEqual(Assignability.Assignable())
    expect(assignability(role(roleA, 3), 5, "remove")).toEqual(Assignability.Assignable())
  })

  it("a role at or above the bot's highest role is too high", () => {
    expect(assignability(role(roleA, 5), 5, "add")._tag).toBe("TooHigh")
    expect(assignability(role(roleA, 9), 5, "remove")._tag).toBe("TooHigh")
  })

  it("dangerous permissions block giving a role, not taking it", () => {
    for (const permission of [
      Permission.Administrator,
      Permission.BanMembers,
      Permission.KickMembers,
      Permission.ManageGuild,
      Permission.ManageChannels,
      Permission.ManageRoles,
      Permission.ManageWebhooks,
    ]) {
      expect(assignability(role(roleA, 1, permission | (1n << 10n)), 5, "add")._tag).toBe(
        "Dangerous",
      )
      expect(assignability(role(roleA, 1, permission), 5, "remove")._tag).toBe("Assignable")
    }
    expect(assignability(role(roleA, 1, 1n << 10n), 5, "add")._tag).toBe("Assignable")
    expect(
      assignability(role(roleA, 1, Permission.Administrator | Permission.ManageRoles), 5, "add"),
    ).toEqual(Assignability.Dangerous({ permissions: ["Administrator", "ManageRoles"] }))
  })

  it("managed and deleted roles cannot be given", () => {
    expect(assignability(role(roleA, 1, 0n, true), 5, "add")._tag).toBe("Managed")
    expect(assignability(undefined, 5, "add")._tag).toBe("Missing")
  })

  it("a role that cannot be given is skipped without blocking the others", () => {
    const guildRoles = new Map([
      [roleA, role(roleA, 1)],
      [roleB, role(roleB, 9)],
      [roleC, role(roleC, 2, Permission.Administrator)],
      [roleD, role(roleD, 3)],
    ])
    const result = applicable(
      { add: [roleB, roleC, roleD], remove: [roleA] },
      { roles: guildRoles, botHighestPosition: 5 },
    )
    expect(result.add).toEqual([roleD])
    expect(result.remove).toEqual([roleA])
    expect(result.skipped.map((skipped) => [skipped.roleId, skipped.why._tag])).toEqual([
      [roleB, "TooHigh"],
      [roleC, "Dangerous"],
    ])
    expect(explainSkipped(result.skipped[0]!)).toBe(
      `<@&${roleB}> is above my highest role; move my role above it.`,
    )
  })
})

describe("level roles: configuration", () => {
  it("at most three roles may share an assign level", () => {
    const others = [levelRole(roleA, 5), levelRole(roleB, 5), levelRole(roleC, 5)]
    const result = checkLevels(guildId, levelRole(roleD, 5), others)
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) expect(result.left.field).toBe("assignLevel")
    expect(Either.isRight(checkLevels(guildId, levelRole(roleD, 6), others))).toBe(true)
    expect(Either.isRight(checkLevels(guildId, levelRole(roleC, 5), others))).toBe(true)
  })

  it("at most three roles may share a deassign level", () => {
    const others = [levelRole(roleA, 0, 9), levelRole(roleB, 1, 9), levelRole(roleC, 2, 9)]
    expect(Either.isLeft(checkLevels(guildId, levelRole(roleD, 3, 9), others))).toBe(true)
  })

  it("@everyone cannot be a level role", () => {
    expect(Either.isLeft(checkLevels(guildId, levelRole(guildId, 5), []))).toBe(true)
  })
})
