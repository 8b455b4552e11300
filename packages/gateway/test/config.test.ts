import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect, Option } from "effect"
import { DiscordApiUrl, describeConfigError, GatewayConfig } from "../src/Config"

/** Reads `config` from `env` alone; the sentence it fails with, or the value. */
const read = <A>(config: Config.Config<A>, env: Record<string, string>) =>
  config.pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    Effect.mapError(describeConfigError),
    Effect.either,
  )

const complete = { DISCORD_TOKEN: "a-token", DISCORD_SHARD_COUNT: "1" }

describe("a setting that cannot be read is one sentence naming it", () => {
  it.effect("a missing token is not set, and no placeholder suggests a value", () =>
    Effect.gen(function* () {
      const outcome = yield* read(GatewayConfig, { DISCORD_SHARD_COUNT: "1" })
      expect(outcome).toMatchObject({ _tag: "Left", left: "DISCORD_TOKEN is not set" })
      // Blank, as a copied .env.example leaves it.
      const blank = yield* read(GatewayConfig, { DISCORD_TOKEN: "", DISCORD_SHARD_COUNT: "1" })
      expect(blank).toMatchObject({ _tag: "Left", left: "DISCORD_TOKEN is not set" })
    }),
  )

  it.effect("every setting that is wrong is named, each once", () =>
    Effect.gen(function* () {
      const outcome = yield* read(GatewayConfig, {
        DISCORD_SHARD_IDS: "0,x",
        GATEWAY_HTTP_PORT: "70000",
      })
      expect(outcome).toMatchObject({
        _tag: "Left",
        left:
          "DISCORD_TOKEN is not set; " +
          'DISCORD_SHARD_IDS is not valid: "x" is neither a shard id nor a range like 0-3; ' +
          "GATEWAY_HTTP_PORT is not valid: must be a port (0 picks a free one)",
      })
    }),
  )

  it.effect("Effect's own wording is kept after the name", () =>
    Effect.gen(function* () {
      const outcome = yield* read(Config.logLevel("LOG_LEVEL"), { LOG_LEVEL: "loud" })
      expect(outcome).toMatchObject({
        _tag: "Left",
        left: 'LOG_LEVEL is not valid: expected a log level but received "loud"',
      })
    }),
  )
})

describe("DISCORD_API_URL and MANAGER_URL are http(s) URLs", () => {
  it.effect("a value that is not one is refused at once, without echoing it", () =>
    Effect.gen(function* () {
      for (const value of ["notaurl", "ftp://127.0.0.1/api", "127.0.0.1:3005"]) {
        const outcome = yield* read(GatewayConfig, { ...complete, DISCORD_API_URL: value })
        expect(outcome).toMatchObject({
          _tag: "Left",
          left: "DISCORD_API_URL is not valid: must be an http(s) URL, like https://discord.com/api",
        })
      }
      const manager = yield* read(GatewayConfig, { ...complete, MANAGER_URL: "notaurl" })
      expect(manager).toMatchObject({ _tag: "Left", left: expect.stringMatching(/^MANAGER_URL/) })
    }),
  )

  it.effect("one is taken without its trailing slashes", () =>
    Effect.gen(function* () {
      const outcome = yield* read(DiscordApiUrl, { DISCORD_API_URL: "http://127.0.0.1:3000/api//" })
      expect(outcome).toMatchObject({
        _tag: "Right",
        right: Option.some("http://127.0.0.1:3000/api"),
      })
    }),
  )
})
