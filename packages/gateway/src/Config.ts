/**
 * Everything the gateway process reads from its environment, through Effect `Config`. Names are
 * the ones the README lists; the token is `Redacted` and never logged.
 */
import * as Os from "node:os"
import { Config, ConfigError, Duration, Either, Option, type Redacted } from "effect"

/** Parses `0,1`, `0-3` or a mix (`0-2,5`) into sorted, distinct Discord shard ids. */
export const parseShardIds = (text: string): Either.Either<ReadonlyArray<number>, string> => {
  const ids = new Set<number>()
  for (const part of text.split(",").map((piece) => piece.trim())) {
    if (part === "") continue
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(part)
    if (range) {
      const start = Number(range[1])
      const end = Number(range[2])
      if (end < start) return Either.left(`range "${part}" ends before it starts`)
      for (let id = start; id <= end; id++) ids.add(id)
    } else if (/^\d+$/.test(part)) {
      ids.add(Number(part))
    } else {
      return Either.left(`"${part}" is neither a shard id nor a range like 0-3`)
    }
  }
  if (ids.size === 0) return Either.left("no shard ids")
  return Either.right([...ids].sort((a, b) => a - b))
}

/**
 * An http(s) URL without its trailing slashes. The value is not echoed in the error: a URL can
 * carry a password.
 */
export const httpUrl = (name: string, example: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((text) => {
      const url = URL.canParse(text) ? new URL(text) : undefined
      return url !== undefined && (url.protocol === "http:" || url.protocol === "https:")
        ? Either.right(text.replace(/\/+$/, ""))
        : Either.left(ConfigError.InvalidData([], `must be an http(s) URL, like ${example}`))
    }),
  )

/** REST base without version (`http://127.0.0.1:PORT/api`); none means Discord's. */
export const DiscordApiUrl = Config.option(httpUrl("DISCORD_API_URL", "https://discord.com/api"))

const ShardIds = Config.string("DISCORD_SHARD_IDS").pipe(
  Config.mapOrFail((text) =>
    Either.mapLeft(parseShardIds(text), (message) => ConfigError.InvalidData([], message)),
  ),
)

export interface GatewayConfig {
  readonly discordToken: Redacted.Redacted
  readonly discordApplicationId: Option.Option<string>
  /** REST base without version (`http://127.0.0.1:PORT/api`); none means Discord's. */
  readonly discordApiUrl: Option.Option<string>
  /** None: all shards of the count. */
  readonly discordShardIds: Option.Option<ReadonlyArray<number>>
  /** None: the count Discord recommends (or one more than the highest configured id). */
  readonly discordShardCount: Option.Option<number>
  readonly instanceId: string
  readonly managerUrl: string
  readonly flushInterval: Duration.Duration
  /** 0 picks a free port. */
  readonly httpPort: number
}

export const GatewayConfig: Config.Config<GatewayConfig> = Config.all({
  discordToken: Config.redacted(Config.nonEmptyString("DISCORD_TOKEN")),
  discordApplicationId: Config.option(Config.string("DISCORD_APPLICATION_ID")),
  discordApiUrl: DiscordApiUrl,
  discordShardIds: Config.option(ShardIds),
  discordShardCount: Config.option(
    Config.integer("DISCORD_SHARD_COUNT").pipe(
      Config.validate({ message: "must be at least 1", validation: (count) => count >= 1 }),
    ),
  ),
  instanceId: Config.string("GATEWAY_INSTANCE_ID").pipe(
    Config.withDefault(`${Os.hostname()}-${process.pid}`),
  ),
  managerUrl: httpUrl("MANAGER_URL", "http://127.0.0.1:3005").pipe(
    Config.withDefault("http://127.0.0.1:3005"),
  ),
  flushInterval: Config.duration("FLUSH_INTERVAL").pipe(Config.withDefault(Duration.seconds(5))),
  httpPort: Config.integer("GATEWAY_HTTP_PORT").pipe(
    Config.validate({
      message: "must be a port (0 picks a free one)",
      validation: (port) => port >= 0 && port <= 65535,
    }),
    Config.withDefault(3006),
  ),
})

/**
 * The Discord shard count to use when none is configured: one more than the highest configured
 * id, or none (ask Discord).
 */
export const shardCountOf = (config: GatewayConfig): Option.Option<number> =>
  Option.orElse(config.discordShardCount, () =>
    Option.map(config.discordShardIds, (ids) => Math.max(...ids) + 1),
  )

/**
 * A setting that cannot be read as one sentence per setting, by its environment name: "X is not
 * set" or "X is not valid: why" (Effect's own wording shows the redaction placeholder of a
 * missing token as if it were the value given). The manager words its settings the same way.
 */
export { describe as describeConfigError } from "@tally/manager/Settings"
