import { describe, expect, it } from "@effect/vitest"
import {
  base,
  canSend,
  inChannel,
  type Member,
  type Overwrite,
  Permission,
} from "../src/Permissions"
import { unsafeMake } from "../src/Snowflake"

const guildId = unsafeMake("100000000000000000")
const bot = unsafeMake("200000000000000001")
const owner = unsafeMake("200000000000000002")
const helper = unsafeMake("500000000000000001")
const muted = unsafeMake("500000000000000002")
const admins = unsafeMake("500000000000000003")

const view = Permission.ViewChannel
const send = Permission.SendMessages
const inThreads = Permission.SendMessagesInThreads
const text = (value: bigint) => String(value)

const roles = new Map<string, bigint>([
  [guildId, view | send],
  [helper, inThreads],
  [muted, 0n],
  [admins, Permission.Administrator],
])

const member = (roleIds: ReadonlyArray<string>, userId = bot): Member => ({
  guildId,
  ownerId: owner,
  userId,
  roleIds: roleIds.map(unsafeMake),
  rolePermissions: (roleId) => {
    const value = roles.get(roleId)
    return value === undefined ? undefined : text(value)
  },
})

const overwrite = (id: string, type: 0 | 1, allow: bigint, deny: bigint): Overwrite => ({
  id: unsafeMake(id),
  type,
  allow: text(allow),
  deny: text(deny),
})

describe("Permissions", () => {
  it("base: @everyone and every role of the member; roles not known add nothing", () => {
    expect(base(member([]))).toBe(view | send)
    expect(base(member([helper, "500000000000000099"]))).toBe(view | send | inThreads)
  })

  it("the owner and an administrator hold everything, whatever the overwrites", () => {
    const denyAll = [overwrite(guildId, 0, 0n, view | send)]
    expect(canSend(inChannel(member([], owner), denyAll), false)).toBe(true)
    expect(canSend(inChannel(member([admins]), denyAll), true)).toBe(true)
  })

  it("@everyone's overwrite, then the roles' denies and allows together, then the member's own", () => {
    const everyoneDenies = overwrite(guildId, 0, 0n, send)
    expect(canSend(inChannel(member([]), [everyoneDenies]), false)).toBe(false)
    // A role's allow beats another role's deny, and @everyone's deny.
    const helperAllows = overwrite(helper, 0, send, 0n)
    const mutedDenies = overwrite(muted, 0, 0n, send)
    expect(
      canSend(
        inChannel(member([helper, muted]), [everyoneDenies, mutedDenies, helperAllows]),
        false,
      ),
    ).toBe(true)
    expect(canSend(inChannel(member([muted]), [mutedDenies]), false)).toBe(false)
    // The member's own overwrite comes last.
    const botDenied = overwrite(bot, 1, 0n, send)
    expect(canSend(inChannel(member([helper]), [helperAllows, botDenied]), false)).toBe(false)
    const botAllowed = overwrite(bot, 1, send, 0n)
    expect(canSend(inChannel(member([muted]), [mutedDenies, botAllowed]), false)).toBe(true)
    // Another member's overwrite and a role the member lacks change nothing.
    const otherDenied = overwrite("200000000000000003", 1, 0n, send)
    expect(canSend(inChannel(member([]), [otherDenied, mutedDenies]), false)).toBe(true)
  })

  it("posting needs the channel in view, and in a thread the thread permission", () => {
    const hidden = overwrite(guildId, 0, 0n, view)
    expect(canSend(inChannel(member([]), [hidden]), false)).toBe(false)
    expect(canSend(inChannel(member([]), []), true)).toBe(false)
    expect(canSend(inChannel(member([helper]), []), true)).toBe(true)
  })

  it("malformed bits count as none", () => {
    const weird: Member = { ...member([]), rolePermissions: () => "-1" }
    expect(base(weird)).toBe(0n)
    const broken = { ...overwrite(guildId, 0, 0n, 0n), deny: "x" }
    expect(canSend(inChannel(member([]), [broken]), false)).toBe(true)
  })
})
