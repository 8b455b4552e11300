import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { Effect } from "effect"
import * as LocalStack from "../src/LocalStack"
import { spawnGateway } from "./support/process"
import { temporaryDirectory, throwawayDatabases } from "./support/stack"

/** A gateway process against `sim`, with nothing else up (the manager and DB shards are absent). */
const runAgainst = (
  sim: DiscordSim.DiscordSim,
  token: string,
  options: {
    readonly askShardCount?: boolean
    readonly logLevel?: string
    readonly manager?: { readonly url: string; readonly token: string }
  } = {},
) =>
  Effect.gen(function* () {
    const env = LocalStack.gatewayEnv({
      sim,
      manager: options.manager ?? { url: "http://127.0.0.1:9", token: "unused" },
      shardUrls: new Map([[0, "mysql://root@127.0.0.1:9/tally_absent"]]),
      discordShardCount: 1,
      stateDirectory: ".tally",
    })
    env.set("DISCORD_TOKEN", token)
    // Without a shard count the gateway asks Discord for it first (GET /gateway/bot).
    if (options.askShardCount) env.delete("DISCORD_SHARD_COUNT")
    if (options.logLevel !== undefined) env.set("LOG_LEVEL", options.logLevel)
    const gateway = yield* spawnGateway(env, yield* temporaryDirectory)
    const code = yield* gateway.exited.pipe(Effect.timeout("60 seconds"))
    return { code, output: gateway.output() }
  })

describe("Discord refuses the bot for good", () => {
  it.scopedLive(
    "a refused token (REST 401) stops the process with exit 1 and a sentence saying so",
    () =>
      Effect.gen(function* () {
        const sim = yield* DiscordSim.make({ token: "the-right-token", discordShards: 1 })
        const { code, output } = yield* runAgainst(sim, "a-wrong-token")
        expect(code).toBe(1)
        expect(output).toMatch(/refused the token|authentication failed/i)
        expect(output).not.toContain("a-wrong-token")
      }),
    90_000,
  )

  it.scopedLive(
    "a refused token while asking for the shard count stops it at once, not after the retries",
    () =>
      Effect.gen(function* () {
        const sim = yield* DiscordSim.make({ token: "the-right-token", discordShards: 1 })
        const { code, output } = yield* runAgainst(sim, "a-wrong-token", { askShardCount: true })
        expect(code).toBe(1)
        expect(output).toMatch(/refused the token/i)
        expect(output).not.toMatch(/set DISCORD_SHARD_COUNT/)
      }),
    90_000,
  )

  it.scopedLive(
    "disallowed intents (close 4014) stop the process with exit 1 and say what to enable",
    () =>
      Effect.gen(function* () {
        const sim = yield* DiscordSim.make({ discordShards: 1, privilegedIntents: 0 })
        const { code, output } = yield* runAgainst(sim, sim.token)
        expect(code).toBe(1)
        expect(output).toMatch(/4014/)
        expect(output).toMatch(/disallowed intents/i)
      }),
    90_000,
  )

  it.scopedLive(
    "a LOG_LEVEL that is not a level stops it with exit 1 and a sentence naming it",
    () =>
      Effect.gen(function* () {
        const sim = yield* DiscordSim.make({ discordShards: 1 })
        const { code, output } = yield* runAgainst(sim, sim.token, { logLevel: "loud" })
        expect(code).toBe(1)
        expect(output).toMatch(/LOG_LEVEL/)
        expect(output).toMatch(/loud/)
      }),
    90_000,
  )

  it.scopedLive(
    "a manager that refuses MANAGER_TOKEN stops it with exit 1 and a sentence naming it",
    () =>
      Effect.gen(function* () {
        const manager = yield* LocalStack.startManager(yield* throwawayDatabases(1))
        const sim = yield* DiscordSim.make({ discordShards: 1 })
        const { code, output } = yield* runAgainst(sim, sim.token, {
          manager: { url: manager.url, token: "a-wrong-manager-token" },
        })
        expect(code).toBe(1)
        expect(output).toMatch(/refused.*MANAGER_TOKEN/)
        expect(output).not.toContain("a-wrong-manager-token")
        expect(output).not.toContain(manager.token)
      }),
    90_000,
  )
})
