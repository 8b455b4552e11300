/**
 * `pnpm --filter @tally/gateway export --guild ID [--format json|csv] [--out FILE]`: writes a
 * guild's flushed data (found on its DB shard through the manager) to FILE or stdout. A relative
 * FILE is resolved against the directory the command was run from.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { isSnowflake } from "@tally/domain/Snowflake"
import { ManagerClient, layerConfig as managerLayer } from "@tally/manager/ManagerClient"
import { layer as shardClientsLayer, use } from "@tally/sql/ShardClients"
import { Data, Effect, Layer, Logger, LogLevel } from "effect"
import * as GuildExport from "./GuildExport"

class UsageError extends Data.TaggedError("UsageError")<{ readonly reason: string }> {}

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
    catch: (error) => new UsageError({ reason: `${(error as Error).message}\n${usage}` }),
  }).pipe(
    Effect.flatMap((values) => {
      if (values.guild === undefined || !isSnowflake(values.guild)) {
        return Effect.fail(new UsageError({ reason: `--guild needs a guild id\n${usage}` }))
      }
      if (values.format !== "json" && values.format !== "csv") {
        return Effect.fail(new UsageError({ reason: `--format is json or csv\n${usage}` }))
      }
      return Effect.succeed({
        guildId: values.guild,
        format: values.format as "json" | "csv",
        out: values.out === undefined ? null : Path.resolve(invocationDirectory(), values.out),
      })
    }),
  )

const program = Effect.gen(function* () {
  const args = yield* parse(process.argv.slice(2).filter((arg) => arg !== "--"))
  const manager = yield* ManagerClient
  const dbShardId = yield* manager.guildRoute(args.guildId)
  const document = yield* use(dbShardId, GuildExport.read(args.guildId))
  const text = args.format === "json" ? GuildExport.toJson(document) : GuildExport.toCsv(document)
  if (args.out === null) {
    yield* Effect.sync(() => process.stdout.write(text))
  } else {
    const out = args.out
    yield* Effect.promise(() => Fs.writeFile(out, text))
    yield* Effect.logInfo(`wrote ${document.members.length} members to ${out}`)
  }
})

const layer = Layer.mergeAll(managerLayer, shardClientsLayer({ maxConnections: 2 }))

/** Logs go to stderr: stdout may carry the document. */
const stderrLogger = Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))

program.pipe(
  Effect.provide(layer),
  Effect.catchAll((error) =>
    Effect.sync(() => {
      const reason = "reason" in error ? String(error.reason) : String(error)
      process.stderr.write(`export failed: ${reason}\n`)
      process.exitCode = 1
    }),
  ),
  Logger.withMinimumLogLevel(LogLevel.Info),
  Effect.provide(stderrLogger),
  NodeRuntime.runMain({ disablePrettyLogger: true }),
)
