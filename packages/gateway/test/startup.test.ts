/**
 * The gateway process started the way a new user starts it, with one thing wrong: each stops at
 * once with exit 1 and one sentence saying what to set, and a sound start reports its Discord
 * shards on /health.
 */
import { createServer, type Server } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { Effect } from "effect"
import * as LocalStack from "../src/LocalStack"
import { eventually, spawnGateway } from "./support/process"
import { temporaryDirectory } from "./support/stack"

/** The settings of a gateway against `sim`, with the manager and DB shards absent. */
const envFor = (sim: DiscordSim.DiscordSim) =>
  LocalStack.gatewayEnv({
    sim,
    manager: { url: "http://127.0.0.1:9", token: "unused" },
    shardUrls: new Map([[0, "mysql://root@127.0.0.1:9/tally_absent"]]),
    discordShardCount: 1,
    stateDirectory: ".tally",
  })

const run = (env: ReadonlyMap<string, string>) =>
  Effect.gen(function* () {
    const gateway = yield* spawnGateway(env, yield* temporaryDirectory)
    const code = yield* gateway.exited.pipe(Effect.timeout("60 seconds"))
    return { code, output: gateway.output() }
  })

/** A port someone else listens on, for the scope. */
const takenPort = Effect.acquireRelease(
  Effect.async<{ readonly server: Server; readonly port: number }>((resume) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({ server, port: typeof address === "object" ? address!.port : 0 }))
    })
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void))),
)

describe("a gateway started with a setting wrong", () => {
  it.scopedLive(
    "without DISCORD_TOKEN it says the variable is not set",
    () =>
      Effect.gen(function* () {
        const env = envFor(yield* DiscordSim.make({ discordShards: 1 }))
        env.delete("DISCORD_TOKEN")
        const { code, output } = yield* run(env)
        expect(code).toBe(1)
        expect(output).toMatch(/gateway stopped: DISCORD_TOKEN is not set/)
        expect(output).not.toMatch(/redacted|\n\s+at /)
      }),
    90_000,
  )

  it.scopedLive(
    "with a DISCORD_API_URL that is not a URL it stops at once instead of retrying",
    () =>
      Effect.gen(function* () {
        const env = envFor(yield* DiscordSim.make({ discordShards: 1 }))
        env.set("DISCORD_API_URL", "notaurl")
        // Without a shard count it would ask Discord for one, over and over.
        env.delete("DISCORD_SHARD_COUNT")
        const { code, output } = yield* run(env)
        expect(code).toBe(1)
        expect(output).toMatch(/gateway stopped: DISCORD_API_URL is not valid: must be an http/)
        expect(output).not.toMatch(/retrying/)
      }),
    90_000,
  )

  it.scopedLive(
    "with its HTTP port taken it names the port and GATEWAY_HTTP_PORT",
    () =>
      Effect.gen(function* () {
        const { port } = yield* takenPort
        const env = envFor(yield* DiscordSim.make({ discordShards: 1 }))
        env.set("GATEWAY_HTTP_PORT", String(port))
        const { code, output } = yield* run(env)
        expect(code).toBe(1)
        expect(output).toContain(
          `gateway stopped: cannot listen on 127.0.0.1:${port} (address in use): set GATEWAY_HTTP_PORT`,
        )
      }),
    90_000,
  )
})

describe("a running gateway's /health", () => {
  it.scopedLive(
    "shows each Discord shard's connection state",
    () =>
      Effect.gen(function* () {
        const sim = yield* DiscordSim.make({ discordShards: 1 })
        const gateway = yield* spawnGateway(envFor(sim), yield* temporaryDirectory)
        const port = yield* gateway.port
        const health = Effect.promise(() =>
          fetch(`http://127.0.0.1:${port}/health`).then(
            async (response) =>
              [
                response.status,
                (await response.json()) as { readonly discordShards?: Record<string, string> },
              ] as const,
          ),
        )
        yield* eventually(
          Effect.map(health, ([, body]) => body.discordShards?.["0"] === "connected"),
          "30 seconds",
          1,
        )
        const [status, body] = yield* health
        expect(status).toBe(200)
        expect(body).toMatchObject({ status: "alive", discordShards: { "0": "connected" } })
      }),
    90_000,
  )
})
