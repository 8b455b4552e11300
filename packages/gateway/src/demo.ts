/**
 * `pnpm demo [--trace FILE|DIR] [--generate N] [--discord-shards N] [--db-shards N] [--export DIR]`
 *
 * Tally end to end on this machine: empties the `tally_demo_*` databases on the local MySQL/MariaDB,
 * starts the simulator, the manager and the gateway (over real sockets, in this process), replays
 * the input as fast as it goes (default: a generated trace), flushes, prints the busiest guild's
 * leaderboard and a summary, and exits 0. Relative paths are resolved against the directory the
 * command was run from.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import * as DiscordSim from "@tally/discord-sim/DiscordSim"
import { loadTrace, type Trace } from "@tally/discord-sim/Trace"
import { generateTrace } from "@tally/discord-sim/TraceGenerator"
import { worldFromTrace } from "@tally/discord-sim/TraceWorld"
import { unsafeMake } from "@tally/domain/Snowflake"
import { stopOnlyOnce } from "@tally/manager/Signals"
import { Data, Effect, Logger, LogLevel, Metric } from "effect"
import * as GuildExport from "./GuildExport"
import * as LocalStack from "./LocalStack"
import * as Spill from "./Spill"

class UsageError extends Data.TaggedError("UsageError")<{ readonly reason: string }> {}

const usage =
  "usage: pnpm demo [--trace FILE|DIR] [--generate N] [--discord-shards N] [--db-shards N] [--export DIR]"

const PREFIX = "tally_demo"
const DEFAULT_GENERATED = 20_000

const invocationDirectory = () => process.env.INIT_CWD ?? process.cwd()

const wholeNumber = (name: string, text: string | undefined, fallback: number, max: number) => {
  if (text === undefined) return Effect.succeed(fallback)
  const value = Number(text)
  return Number.isInteger(value) && value >= 1 && value <= max
    ? Effect.succeed(value)
    : Effect.fail(
        new UsageError({ reason: `--${name} expects a whole number from 1 to ${max}\n${usage}` }),
      )
}

// Node's parseArgs reads `--generate -5` as two options; joining makes the value reach the check.
const joinNegativeValues = (args: ReadonlyArray<string>): Array<string> => {
  const joined: Array<string> = []
  for (const arg of args) {
    const previous = joined.at(-1)
    if (/^-\d/.test(arg) && previous?.startsWith("--") && !previous.includes("=")) {
      joined[joined.length - 1] = `${previous}=${arg}`
    } else joined.push(arg)
  }
  return joined
}

const parse = Effect.gen(function* () {
  const { values } = yield* Effect.try({
    try: () =>
      parseArgs({
        args: joinNegativeValues(process.argv.slice(2).filter((arg) => arg !== "--")),
        options: {
          trace: { type: "string" },
          generate: { type: "string" },
          "discord-shards": { type: "string" },
          "db-shards": { type: "string" },
          export: { type: "string" },
          help: { type: "boolean" },
        },
        strict: true,
      }),
    catch: (error) => new UsageError({ reason: `${(error as Error).message}\n${usage}` }),
  })
  const resolve = (path: string | undefined) =>
    path === undefined ? null : Path.resolve(invocationDirectory(), path)
  if (values.help === true) return null
  const trace = resolve(values.trace)
  if (trace !== null && !Fs.existsSync(trace)) {
    return yield* Effect.fail(new UsageError({ reason: `--trace: ${trace} does not exist` }))
  }
  const exportDirectory = resolve(values.export)
  if (exportDirectory !== null && Fs.existsSync(exportDirectory)) {
    if (!Fs.statSync(exportDirectory).isDirectory()) {
      return yield* Effect.fail(
        new UsageError({ reason: `--export: ${exportDirectory} exists and is not a folder` }),
      )
    }
  }
  return {
    trace,
    generate: yield* wholeNumber("generate", values.generate, DEFAULT_GENERATED, 10_000_000),
    discordShards: yield* wholeNumber("discord-shards", values["discord-shards"], 2, 64),
    dbShards: yield* wholeNumber("db-shards", values["db-shards"], 2, 16),
    exportDirectory,
  }
})

/** A counter's value per tag value, from the metric registry. */
const countsByTag = (name: string, tag: string): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const { metricKey, metricState } of Metric.unsafeSnapshot()) {
    if (metricKey.name !== name || !("count" in metricState)) continue
    const value = metricKey.tags.find((pair) => pair.key === tag)?.value ?? "(none)"
    counts.set(value, (counts.get(value) ?? 0) + Number(metricState.count))
  }
  return counts
}

const total = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0)

const line = (text = "") => Effect.sync(() => process.stdout.write(`${text}\n`))

const program = Effect.gen(function* () {
  const args = yield* parse
  if (args === null) return yield* line(usage)
  // The local server by default; TALLY_DEMO_MYSQL_URL points the demo elsewhere.
  const serverUrl = process.env.TALLY_DEMO_MYSQL_URL ?? LocalStack.defaultServerUrl

  const shown = LocalStack.displayUrl(serverUrl)

  yield* LocalStack.checkServer(
    serverUrl,
    process.env.TALLY_DEMO_MYSQL_URL === undefined ? undefined : "TALLY_DEMO_MYSQL_URL",
  )
  // Two demos on one server would empty each other's databases.
  if (!(yield* LocalStack.holdServerLock(serverUrl, PREFIX))) {
    return yield* new UsageError({
      reason: `another demo is running against ${shown} (it uses the ${PREFIX}_* databases): let it end first`,
    })
  }
  // Read before anything is emptied: a trace that cannot be read leaves the last run's data.
  const trace: Trace =
    args.trace === null
      ? generateTrace({ seed: 1, messages: args.generate, guilds: 3 })
      : yield* loadTrace(args.trace)
  // Nothing would ever be caught up with: the demo would wait for its time limit.
  if (trace.events.length === 0) {
    return yield* new UsageError({ reason: `--trace: ${args.trace} holds no messages to replay` })
  }
  const dropped = yield* LocalStack.dropDatabases(serverUrl, PREFIX)
  yield* line(`databases: ${shown}/${PREFIX}_* (emptied ${dropped} from the last run)`)
  const world = worldFromTrace(trace)
  yield* line(
    `input: ${args.trace ?? `generated trace (${args.generate} messages)`} — ${world.messages.length} messages in ${world.guilds.length} guild${world.guilds.length === 1 ? "" : "s"}`,
  )

  const dbs = LocalStack.databases(serverUrl, PREFIX, args.dbShards)
  const manager = yield* LocalStack.startManager(dbs)
  const sim = yield* DiscordSim.make({
    world,
    discordShards: args.discordShards,
    heartbeatIntervalMillis: 2000,
  })
  const stateDirectory = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tally-demo-"))),
    (directory) =>
      Effect.sync(() => {
        // What a stop left "for the next start" (its log says so): a demo never resumes.
        const left = Object.values(Spill.fileNames).filter((name) => {
          try {
            return Fs.statSync(Path.join(directory, name)).size > 0
          } catch {
            return false
          }
        })
        Fs.rmSync(directory, { recursive: true, force: true })
        return left
      }).pipe(
        Effect.flatMap((left) =>
          left.length === 0
            ? Effect.void
            : Effect.logWarning(
                "the demo does not resume: what its stop saved for a next start is dropped",
              ).pipe(Effect.annotateLogs({ files: left.join(", ") })),
        ),
      ),
  )
  yield* line(
    `simulator ${sim.apiUrl} (${args.discordShards} Discord shards), manager ${manager.url}, ${args.dbShards} DB shards`,
  )

  const startedAt = Date.now()
  const gateway = yield* LocalStack.startGateway({
    sim,
    manager,
    shardUrls: dbs.shardUrls,
    discordShardCount: args.discordShards,
    stateDirectory,
    instanceId: "demo-gateway",
  })
  const stats = yield* LocalStack.awaitCaughtUp(sim, gateway, "30 minutes")
  const seconds = (Date.now() - startedAt) / 1000

  const perGuild = new Map<string, number>()
  for (const message of world.messages) {
    perGuild.set(message.guild_id, (perGuild.get(message.guild_id) ?? 0) + 1)
  }
  const readGuild = (guildId: string) =>
    Effect.forEach([...dbs.shardUrls.values()], (url) =>
      LocalStack.withDatabase(url, GuildExport.read(unsafeMake(guildId))),
    ).pipe(
      Effect.map(
        (documents) => documents.find((document) => document.members.length > 0) ?? documents[0]!,
      ),
    )

  const busiest = [...perGuild].sort((a, b) => b[1] - a[1])[0]
  if (busiest !== undefined) {
    const document = yield* readGuild(busiest[0])
    const name = world.guilds.find((guild) => guild.id === busiest[0])?.name ?? busiest[0]
    yield* line()
    yield* line(`leaderboard of ${name} (${busiest[0]}), ${busiest[1]} messages:`)
    yield* line("  #  user                  level        xp  messages")
    for (const [index, member] of document.members.slice(0, 10).entries()) {
      yield* line(
        `${String(index + 1).padStart(3)}  ${member.userId.padEnd(20)}  ${String(member.level).padStart(5)}  ${String(member.xp.alltime).padStart(8)}  ${String(member.textMessages).padStart(8)}`,
      )
    }
  }

  if (args.exportDirectory !== null) {
    const directory = args.exportDirectory
    Fs.mkdirSync(directory, { recursive: true })
    for (const guildId of perGuild.keys()) {
      const document = yield* readGuild(guildId)
      Fs.writeFileSync(Path.join(directory, `${guildId}.json`), GuildExport.toJson(document))
    }
    yield* line()
    yield* line(`exported ${perGuild.size} guilds to ${directory}`)
  }

  const received = countsByTag("tally_gateway_dispatch_events_total", "event")
  const messages = received.get("MESSAGE_CREATE") ?? 0
  const counted = total(countsByTag("tally_gateway_messages_counted_total", "reason"))
  const skipped = new Map([
    ...countsByTag("tally_gateway_messages_skipped_total", "reason"),
    ...[...countsByTag("tally_gateway_dispatch_skipped_total", "reason")].map(
      ([reason, count]) => [`dispatch:${reason}`, count] as const,
    ),
  ])
  yield* line()
  yield* line("summary:")
  yield* line(`  events received   ${total(received)} (${messages} messages)`)
  yield* line(`  counted           ${counted}`)
  yield* line(
    `  skipped           ${total(skipped)}${skipped.size === 0 ? "" : ` (${[...skipped].map(([reason, count]) => `${reason} ${count}`).join(", ")})`}`,
  )
  yield* line(`  flushes           ${stats.flushes}`)
  yield* line(`  rows written      ${stats.rows}`)
  yield* line(
    `  events/s          ${Math.round(messages / Math.max(seconds, 0.001))} (${seconds.toFixed(1)} s from connect to last flush)`,
  )
})

// Ctrl-C stops the demo and removes what it made; a relayed second signal must not cut that short.
stopOnlyOnce()
program.pipe(
  Effect.scoped,
  // After the stop (the scope's close) has flushed what it could.
  Effect.onInterrupt(() =>
    line(
      `demo stopped before the replay ended: ${total(countsByTag("tally_gateway_messages_counted_total", "reason"))} messages counted; what was written stays in the ${PREFIX}_* databases until the next demo`,
    ),
  ),
  Effect.catchAll((error) =>
    Effect.sync(() => {
      const reason =
        (error instanceof Error && error.message) ||
        ("reason" in error ? String(error.reason) : String(error))
      process.stderr.write(`demo failed: ${reason}\n`)
      process.exitCode = 1
    }),
  ),
  Logger.withMinimumLogLevel(LogLevel.Warning),
  NodeRuntime.runMain,
)
