/**
 * `pnpm --filter @tally/gateway deploy-commands [--guild ID]`: registers every command of the
 * registry with Discord (or the simulator at `DISCORD_API_URL`) in one bulk overwrite, globally
 * or for one guild (guild commands update at once; global ones are meant for production).
 * Reads DISCORD_TOKEN, DISCORD_APPLICATION_ID (asked from `/applications/@me` when unset) and
 * DISCORD_API_URL. Commands that are no longer in the registry are removed by the overwrite.
 */
import { pathToFileURL } from "node:url"
import { REST } from "@discordjs/rest"
import { NodeRuntime } from "@effect/platform-node"
import { isGuildId } from "@tally/domain/SnowflakeCheck"
import { Routes } from "discord-api-types/v10"
import { Config, ConfigError, Data, Effect, Either, Option, Redacted } from "effect"
import { DiscordApiUrl, describeConfigError } from "./Config"
import * as Registry from "./commands/Registry"

export class DeployFailed extends Data.TaggedError("DeployFailed")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return this.reason
  }
}

export const DeployConfig = Config.all({
  token: Config.redacted(Config.nonEmptyString("DISCORD_TOKEN")),
  applicationId: Config.option(Config.string("DISCORD_APPLICATION_ID")),
  apiUrl: DiscordApiUrl,
})

export interface DeployArguments {
  /** None: global commands. */
  readonly guildId: Option.Option<string>
}

/** `--guild ID` (or `--guild=ID`); nothing else is accepted. */
export const parseArguments = (
  argv: ReadonlyArray<string>,
): Either.Either<DeployArguments, string> => {
  let guildId = Option.none<string>()
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!
    if (argument === "--") continue
    const inline = /^--guild=(.*)$/.exec(argument)
    const value = inline ? inline[1] : argument === "--guild" ? argv[++index] : undefined
    if (value === undefined) {
      return Either.left(
        argument === "--guild"
          ? "--guild needs a guild id"
          : `unknown argument "${argument}"; usage: deploy-commands [--guild ID]`,
      )
    }
    if (!isGuildId(value)) return Either.left(`"${value}" is not a guild id`)
    guildId = Option.some(value)
  }
  return Either.right({ guildId })
}

export interface Deployed {
  readonly applicationId: string
  /** "global" or the guild id. */
  readonly scope: string
  readonly names: ReadonlyArray<string>
}

const request = <A>(what: string, run: () => Promise<unknown>) =>
  Effect.tryPromise({
    try: () => run() as Promise<A>,
    catch: (cause) =>
      new DeployFailed({
        reason: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause,
      }),
  })

/** Overwrites the application's commands (global or one guild's) with the registry's. */
export const deploy = (args: DeployArguments, registry: Registry.Registry = Registry.standard) =>
  Effect.gen(function* () {
    const config = yield* DeployConfig
    const rest = new REST({
      version: "10",
      ...Option.match(config.apiUrl, {
        onNone: () => ({}),
        onSome: (api) => ({ api }),
      }),
    }).setToken(Redacted.value(config.token))

    const applicationId = yield* Option.match(config.applicationId, {
      onSome: Effect.succeed,
      onNone: () =>
        request<{ id: string }>("cannot learn the application id from Discord", () =>
          rest.get(Routes.currentApplication()),
        ).pipe(Effect.map((application) => application.id)),
    })
    const route = Option.match(args.guildId, {
      onNone: () => Routes.applicationCommands(applicationId),
      onSome: (guildId) => Routes.applicationGuildCommands(applicationId, guildId),
    })
    const scope = Option.getOrElse(args.guildId, () => "global")
    const saved = yield* request<ReadonlyArray<{ name: string }>>(
      `Discord refused the commands (${scope})`,
      () => rest.put(route, { body: registry.deploymentJson }),
    )
    const names = saved.map((command) => command.name)
    yield* Effect.logInfo("commands deployed").pipe(
      Effect.annotateLogs({ applicationId, scope, commands: names.join(",") }),
    )
    return { applicationId, scope, names } satisfies Deployed
  }).pipe(Effect.withSpan("deployCommands.deploy"))

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href

if (isMain) {
  Effect.gen(function* () {
    const args = yield* Either.match(parseArguments(process.argv.slice(2)), {
      onLeft: (reason) => Effect.fail(new DeployFailed({ reason })),
      onRight: Effect.succeed,
    })
    const { scope, names } = yield* deploy(args)
    yield* Effect.sync(() =>
      console.log(
        `deployed ${names.length} commands (${scope}): ${names.map((name) => `/${name}`).join(" ")}`,
      ),
    )
  }).pipe(
    Effect.tapError((error) =>
      Effect.logError(
        `deploy-commands: ${ConfigError.isConfigError(error) ? describeConfigError(error) : error.reason}`,
      ),
    ),
    NodeRuntime.runMain({ disableErrorReporting: true }),
  )
}
