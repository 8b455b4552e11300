import { execFile } from "node:child_process"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { ConfigProvider, Effect, Either, Option } from "effect"
import * as Registry from "../src/commands/Registry"
import { deploy, parseArguments } from "../src/deployCommands"

const guildId = "100000000000000001"
const repoRoot = Path.resolve(import.meta.dirname, "../../..")

const world = {
  guilds: [
    { id: guildId, name: "Deploy Guild", channels: [{ id: "100000000000000002", type: 0 }] },
  ],
  messages: [],
}

/** The commands the simulator stores for a scope, read back over its REST API. */
const storedCommands = (sim: DiscordSim.DiscordSim, scope: "global" | string) =>
  Effect.promise(async () => {
    const path =
      scope === "global"
        ? `/applications/${sim.applicationId}/commands`
        : `/applications/${sim.applicationId}/guilds/${scope}/commands`
    const response = await fetch(`${sim.apiUrl}/v10${path}`, {
      headers: { authorization: `Bot ${sim.token}` },
    })
    return (await response.json()) as ReadonlyArray<Record<string, unknown>>
  })

/** Runs `pnpm --filter @tally/gateway deploy-commands …` as a user would. */
const runCli = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.async<{ code: number; output: string }>((resume) => {
    execFile(
      "pnpm",
      ["--silent", "--filter", "@tally/gateway", "deploy-commands", ...args],
      { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resume(
          Effect.succeed({
            code: error ? Number(error.code ?? 1) : 0,
            output: `${stdout}${stderr}`,
          }),
        ),
    )
  })

describe("deploy-commands", () => {
  it.scopedLive("bulk-overwrites the global commands with the registry's definitions", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const deployed = yield* deploy({ guildId: Option.none() }).pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(
            new Map([
              ["DISCORD_TOKEN", sim.token],
              ["DISCORD_API_URL", sim.apiUrl],
            ]),
          ),
        ),
      )
      // No DISCORD_APPLICATION_ID: the id is asked from /applications/@me.
      expect(deployed).toEqual({
        applicationId: sim.applicationId,
        scope: "global",
        names: ["rank", "top"],
      })
      const puts = (yield* sim.restCalls).filter((call) => call.method === "PUT")
      expect(puts.map((call) => [call.route, call.status])).toEqual([
        ["PUT /applications/:application/commands", 200],
      ])
      expect(puts[0]?.body).toEqual(Registry.standard.deploymentJson)
      const stored = yield* storedCommands(sim, "global")
      expect(stored.map((command) => command.name)).toEqual(["rank", "top"])
      expect(stored.find((command) => command.name === "top")?.options).toEqual(
        Registry.standard.deploymentJson.find((command) => command.name === "top")?.options,
      )
    }),
  )

  it.scopedLive("the CLI with --guild registers the commands for that guild only", () =>
    Effect.gen(function* () {
      const sim = yield* DiscordSim.make({ world })
      const env = {
        DISCORD_TOKEN: sim.token,
        DISCORD_APPLICATION_ID: sim.applicationId,
        DISCORD_API_URL: sim.apiUrl,
      }
      const result = yield* runCli(["--guild", guildId], env)
      expect(result.output).toContain(`deployed 2 commands (${guildId}): /rank /top`)
      expect(result.code).toBe(0)
      const stored = yield* storedCommands(sim, guildId)
      expect(stored.map((command) => [command.name, command.guild_id])).toEqual([
        ["rank", guildId],
        ["top", guildId],
      ])
      expect(yield* storedCommands(sim, "global")).toEqual([])
    }),
  )

  it.live("the CLI names each setting that is missing or wrong, in one sentence", () =>
    Effect.gen(function* () {
      // Blank, as a copied .env.example leaves it: the same as not set.
      const result = yield* runCli([], { DISCORD_TOKEN: "", DISCORD_API_URL: "notaurl" })
      expect(result.code).toBe(1)
      expect(result.output).toContain(
        "deploy-commands: DISCORD_TOKEN is not set; DISCORD_API_URL is not valid: must be an http(s) URL",
      )
      expect(result.output).not.toMatch(/redacted|\n\s+at /)
    }),
  )

  it("arguments: nothing is global, --guild takes an id, anything else is refused", () => {
    expect(parseArguments([])).toEqual(Either.right({ guildId: Option.none() }))
    expect(parseArguments(["--guild=100000000000000001"])).toMatchObject({
      right: { guildId: Option.some(guildId) },
    })
    expect(parseArguments(["--guild", "general"])).toMatchObject({
      left: '"general" is not a guild id',
    })
    expect(parseArguments(["--guild"])).toMatchObject({ left: "--guild needs a guild id" })
    expect(parseArguments(["--global"])).toMatchObject({
      left: 'unknown argument "--global"; usage: deploy-commands [--guild ID]',
    })
  })
})
