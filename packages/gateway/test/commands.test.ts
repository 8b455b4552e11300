import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Option, TestClock } from "effect"
import * as Command from "../src/commands/Command"
import { decodeOptions } from "../src/commands/Options"
import * as Registry from "../src/commands/Registry"
import * as StatCooldown from "../src/commands/StatCooldown"
import { describePermissions, hasPermissions } from "../src/Interactions"

const top = Registry.standard.find("top")!.definition
const rank = Registry.standard.find("rank")!.definition

const reset: Command.CommandDefinition = {
  name: "reset",
  description: "Reset things",
  defaultMemberPermissions: 8n,
  options: [
    {
      type: "subcommandGroup",
      name: "server",
      description: "Reset the server",
      options: [{ type: "subcommand", name: "xp", description: "Reset XP" }],
    },
    {
      type: "subcommand",
      name: "member",
      description: "Reset a member",
      options: [{ type: "user", name: "member", description: "Who", required: true }],
    },
  ],
}

const errorOf = <A>(result: Either.Either<A, string>) =>
  Either.match(result, { onLeft: (reason) => reason, onRight: () => "accepted" })

describe("options are checked against the definition", () => {
  it("values inside the limits are accepted and read back by name", () => {
    const options = Either.getOrThrow(
      decodeOptions(top, [
        { name: "period", type: 3, value: "week" },
        { name: "page", type: 4, value: 1000 },
      ]),
    )
    expect(options.string("period")).toBe("week")
    expect(options.number("page")).toBe(1000)
    expect(options.number("missing")).toBeUndefined()
  })

  it("a number outside min..max is refused with the limits and the value", () => {
    expect(errorOf(decodeOptions(top, [{ name: "page", type: 4, value: 0 }]))).toBe(
      "`page` must be from 1 to 1000; got 0.",
    )
    expect(errorOf(decodeOptions(top, [{ name: "page", type: 4, value: 1001 }]))).toBe(
      "`page` must be from 1 to 1000; got 1001.",
    )
    expect(errorOf(decodeOptions(top, [{ name: "page", type: 4, value: 2.5 }]))).toBe(
      "`page` must be a whole number.",
    )
  })

  it("a value outside the choices, an unknown option and a wrong type are refused", () => {
    expect(errorOf(decodeOptions(top, [{ name: "period", type: 3, value: "hour" }]))).toBe(
      "`period` must be one of alltime, year, month, week, day.",
    )
    expect(errorOf(decodeOptions(top, [{ name: "limit", type: 4, value: 3 }]))).toBe(
      "`limit` is not an option here.",
    )
    expect(errorOf(decodeOptions(top, [{ name: "page", type: 3, value: "2" }]))).toBe(
      "`page` has the wrong type.",
    )
  })

  it("a user option resolves the user's names from the interaction", () => {
    const options = Either.getOrThrow(
      decodeOptions(rank, [{ name: "member", type: 6, value: "200000000000000001" }], {
        users: { "200000000000000001": { username: "ada", global_name: "Ada" } },
        members: { "200000000000000001": { nick: "Countess" } },
      }),
    )
    expect(options.user("member")).toEqual({
      id: "200000000000000001",
      username: "ada",
      globalName: "Ada",
      nick: "Countess",
      bot: false,
    })
    expect(errorOf(decodeOptions(rank, [{ name: "member", type: 6, value: "ada" }]))).toBe(
      "`member` must name a user.",
    )
  })

  it("subcommands and groups are walked; required options inside them are enforced", () => {
    const group = Either.getOrThrow(
      decodeOptions(reset, [
        { name: "server", type: 2, options: [{ name: "xp", type: 1, options: [] }] },
      ]),
    )
    expect(group.subcommand).toEqual(["server", "xp"])
    expect(errorOf(decodeOptions(reset, [{ name: "member", type: 1, options: [] }]))).toBe(
      "`member` is required.",
    )
    expect(errorOf(decodeOptions(reset, []))).toBe("Choose one of: server, member.")
  })
})

describe("the registry produces Discord's command JSON", () => {
  it("/rank and /top with their options, limits and choices, usable by everyone in guilds", () => {
    const json = Registry.standard.deploymentJson
    expect(json.map((command) => command.name)).toEqual(["rank", "top"])
    const topJson = json.find((command) => command.name === "top")!
    expect(topJson).toMatchObject({
      type: 1,
      default_member_permissions: null,
      contexts: [0],
      options: [
        {
          name: "period",
          type: 3,
          choices: [
            { name: "All time", value: "alltime" },
            { name: "This year", value: "year" },
            { name: "This month", value: "month" },
            { name: "This week", value: "week" },
            { name: "Today", value: "day" },
          ],
        },
        { name: "page", type: 4, min_value: 1, max_value: 1000 },
      ],
    })
    expect(json.find((command) => command.name === "rank")!.options?.[0]).toEqual({
      name: "member",
      description: "The member to show (default: you)",
      type: 6,
    })
  })

  it("default member permissions are sent as a decimal string; subcommands nest", () => {
    const [json] = Command.deploymentJson([reset])
    expect(json?.default_member_permissions).toBe("8")
    expect(json?.options?.[0]).toMatchObject({
      type: 2,
      name: "server",
      options: [{ type: 1, name: "xp" }],
    })
  })

  it("a duplicate or invalid command name is refused when the registry is built", () => {
    const command = Registry.standard.find("rank")!
    expect(() => Registry.make([command, command])).toThrow("defined twice")
    expect(() =>
      Registry.make([{ ...command, definition: { ...command.definition, name: "Rank" } }]),
    ).toThrow("not a valid Discord command name")
  })
})

describe("permission checks read the interaction's permission bits", () => {
  it("every required bit must be held; Administrator holds all", () => {
    const manageGuild = 32n
    expect(hasPermissions(manageGuild | 1024n, manageGuild)).toBe(true)
    expect(hasPermissions(1024n, manageGuild)).toBe(false)
    expect(hasPermissions(8n, manageGuild | 16n)).toBe(true)
    expect(hasPermissions(32n, manageGuild | 16n)).toBe(false)
  })

  it("refusals name the permissions in Discord's words", () => {
    expect(describePermissions(32n)).toBe("the Manage Server permission")
    expect(describePermissions(6n)).toBe("the Kick Members and Ban Members permissions")
  })
})

describe("the stat-command cooldown is per member and per guild", () => {
  it.effect("a second use within the cooldown is refused with when it ends; after, allowed", () =>
    Effect.gen(function* () {
      const cooldown = StatCooldown.make(Duration.seconds(120))
      expect(yield* cooldown.take("1", "10")).toEqual(Option.none())
      yield* TestClock.adjust(Duration.seconds(119))
      expect(yield* cooldown.take("1", "10")).toEqual(Option.some(120_000))
      expect(yield* cooldown.take("1", "11")).toEqual(Option.none())
      expect(yield* cooldown.take("2", "10")).toEqual(Option.none())
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* cooldown.take("1", "10")).toEqual(Option.none())
    }),
  )

  it.effect("a zero cooldown never refuses", () =>
    Effect.gen(function* () {
      const cooldown = StatCooldown.make(Duration.zero)
      expect(yield* cooldown.take("1", "10")).toEqual(Option.none())
      expect(yield* cooldown.take("1", "10")).toEqual(Option.none())
    }),
  )
})
