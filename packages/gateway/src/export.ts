/**
 * `pnpm --filter @tally/gateway export --guild ID [--format json|csv] [--out FILE]`: writes a
 * guild's flushed data (found on its DB shard through the manager) to FILE or stdout. A relative
 * FILE is resolved against the directory the command was run from. Read only: it asks the
 * manager for an existing route and connects to that one DB shard; a guild Tally has never seen
 * is an error, not an empty document.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import * as Reactivity from "@effect/experimental/Reactivity"
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import { isGuildId } from "@tally/domain/SnowflakeCheck"
import * as ManagerClient from "@tally/manager/ManagerClient"
import * as Settings from "@tally/manager/Settings"
import * as DatabaseUrl from "@tally/sql/DatabaseUrl"
import { shardUrlsConfig } from "@tally/sql/ShardClients"
import { Data, Effect, Logger, LogLevel, Option } from "effect"
import * as GuildExport from "./GuildExport"

/** Why the export stopped, as the sentence the user sees. */
export class ExportFailed extends Data.TaggedError("ExportFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const usage = "usage: export --guild ID [--format json|csv] [--out FILE]"

/** The directory the user ran the command from (pnpm sets INIT_CWD; it runs scripts elsewhere). */
export const invocationDirectory = () => process.env.INIT_CWD ?? process.cwd()

const parse = (argv: ReadonlyArray<string>) =>
  Effect.try({
    try: () =>
      parseArgs({
        args: [...argv],
        options: {
          guild: { type: "string" },
          format: { type: "string", default: "json" },
          out: { type: "string" },
        },
        strict: true,
      }).values,
    catch: (error) => new ExportFailed({ reason: `${(error as Error).message}\n${usage}` }),
  }).pipe(
    Effect.flatMap((values) => {
      if (values.guild === undefined) {
        return Effect.fail(new ExportFailed({ reason: `--guild needs a guild id\n${usage}` }))
      }
      if (!isGuildId(values.guild)) {
        return Effect.fail(
          new ExportFailed({ reason: `${JSON.stringify(values.guild)} is not a guild id` }),
        )
      }
      if (values.format !== "json" && values.format !== "csv") {
        return Effect.fail(new ExportFailed({ reason: `--format is json or csv\n${usage}` }))
      }
      return Effect.succeed({
        guildId: values.guild,
        format: values.format as "json" | "csv",
        out: values.out === undefined ? null : Path.resolve(invocationDirectory(), values.out),
      })
    }),
  )

const errorCode = (error: SqlError) =>
  (error.cause as { readonly code?: unknown } | undefined)?.code

/** Names the setting to fix; the error itself may hold the URL, and so the password. */
const connectFailure = (dbShardId: number, config: DatabaseUrl.DatabaseConfig, error: SqlError) => {
  const shard = `DB shard ${dbShardId} (${config.host}:${config.port})`
  const code = errorCode(error)
  switch (code) {
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_ACCESS_DENIED_NO_PASSWORD_ERROR":
    case "ER_DBACCESS_DENIED_ERROR":
      return (
        `${shard} refused the login of user "${config.username}": ` +
        "check the user and password in SHARD_DATABASE_URLS"
      )
    case "ER_BAD_DB_ERROR":
      return `${shard} has no database "${config.database}": check SHARD_DATABASE_URLS`
    default:
      return (
        `${shard} cannot be reached (${String(code ?? error.message)}): ` +
        "check the host and port in SHARD_DATABASE_URLS"
      )
  }
}

/** One connection to the guild's DB shard only: the others are not needed. */
const connect = (dbShardId: number, config: DatabaseUrl.DatabaseConfig) =>
  MysqlClient.make(DatabaseUrl.clientConfig(config, { maxConnections: 1 })).pipe(
    Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make),
    Effect.mapError(
      (error) => new ExportFailed({ reason: connectFailure(dbShardId, config, error) }),
    ),
  )

const fileProblems: Readonly<Record<string, string>> = {
  ENOENT: "no such folder",
  ENOTDIR: "a part of the path is not a folder",
  EISDIR: "it is a folder",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "the file system is read-only",
  ENOSPC: "the disk is full",
}

const writeFile = (file: string, text: string) =>
  Effect.tryPromise({
    try: () => Fs.writeFile(file, text),
    catch: (error) => {
      const code = String((error as { readonly code?: unknown }).code)
      return new ExportFailed({ reason: `cannot write ${file}: ${fileProblems[code] ?? code}` })
    },
  })

const managerFailure = (error: ManagerClient.ManagerError) =>
  new ExportFailed({
    reason:
      error._tag === "ManagerUnavailable"
        ? `${error.reason}: check MANAGER_URL`
        : `the manager refused the request (${error.reason}): check MANAGER_TOKEN`,
  })

const program = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const args = yield* parse(argv)
    const dbShards = yield* Settings.check(shardUrlsConfig)
    const options = yield* ManagerClient.config.pipe(
      Effect.catchTag(
        "ConfigError",
        (error) => new ExportFailed({ reason: Settings.describe(error) }),
      ),
    )
    const manager = yield* ManagerClient.make(options)

    const route = yield* manager
      .existingGuildRoute(args.guildId)
      .pipe(Effect.mapError(managerFailure))
    if (Option.isNone(route)) {
      return yield* new ExportFailed({
        reason: `guild ${args.guildId} has no data in Tally (no route)`,
      })
    }
    const dbShardId = route.value
    const config = dbShards.get(dbShardId)
    if (config === undefined) {
      return yield* new ExportFailed({
        reason:
          `guild ${args.guildId} is on DB shard ${dbShardId}, ` +
          "which SHARD_DATABASE_URLS does not name",
      })
    }
    const sql = yield* connect(dbShardId, config)
    const document = yield* GuildExport.read(args.guildId).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.mapError(
        (error) =>
          new ExportFailed({
            reason:
              `cannot read guild ${args.guildId} from DB shard ${dbShardId} ` +
              `(${String(errorCode(error) ?? error.message)})`,
          }),
      ),
    )

    const text = args.format === "json" ? GuildExport.toJson(document) : GuildExport.toCsv(document)
    if (args.out === null) {
      yield* Effect.sync(() => process.stdout.write(text))
    } else {
      yield* writeFile(args.out, text)
      yield* Effect.logInfo(`wrote ${document.members.length} members to ${args.out}`)
    }
  }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

/** Logs go to stderr: stdout may carry the document. */
const stderrLogger = Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))

const report = (error: { readonly reason: string }) =>
  Effect.sync(() => {
    process.stderr.write(`export failed: ${error.reason}\n`)
    process.exitCode = 1
  })

program(process.argv.slice(2).filter((arg) => arg !== "--")).pipe(
  Effect.catchTags({ ExportFailed: report, SettingsInvalid: report }),
  Logger.withMinimumLogLevel(LogLevel.Info),
  Effect.provide(stderrLogger),
  NodeRuntime.runMain({ disablePrettyLogger: true }),
)
