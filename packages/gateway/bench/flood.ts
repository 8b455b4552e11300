/**
 * `pnpm bench:flood [--messages N,N…]` (default 20000,100000)
 *
 * The scene ActivityRank was measured in: one guild, 2,000 members, 8 roles (0–3 per member),
 * 10 text channels, ~1 KB MESSAGE_CREATE frames with the member's roles and no content, sent as
 * fast as the bot reads. The simulator and the gateway (default settings) run in their own
 * processes, against throwaway `tally_bench_*` databases. For each count: counted per second,
 * lost (sent minus counted in the database after the final flush), gateway CPU per message,
 * MariaDB `Questions` per message (every client of the server, manager included) and the
 * gateway's peak RSS, beside ActivityRank's figures.
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import * as LocalStack from "../src/LocalStack"
import { eventLoopNote, loadNote, questions, runGateway, startSim } from "./harness"

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== "--"),
  options: { messages: { type: "string", default: "20000,100000" } },
  strict: true,
})
const counts = (values.messages ?? "").split(",").map(Number)
if (counts.some((count) => !Number.isInteger(count) || count < 1)) {
  throw new Error("usage: pnpm bench:flood [--messages N,N…] (whole numbers ≥ 1)")
}

const line = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))

const REFERENCE =
  "ActivityRank: paced 1,000 msg/s without loss, 0.56 ms CPU and 2.81 queries per message; " +
  "flood 136 counted/s, 89.5 % lost, 2.5 GB RSS"

/** Text messages counted in a DB shard (the scene has one guild). */
const countedIn = (url: string) =>
  LocalStack.withDatabase(
    url,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ total: string | number | null }>`
        SELECT SUM(alltime) AS total FROM text_message_member`.pipe(Effect.orDie)
      return Number(rows[0]?.total ?? 0)
    }),
  )

const flood = (messages: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sim = yield* startSim(["--flood", String(messages)])
      const { result, before, dbs } = yield* runGateway(sim, questions)
      const after = yield* questions
      const counted = (yield* Effect.forEach([...dbs.shardUrls.values()], countedIn)).reduce(
        (a, b) => a + b,
        0,
      )
      const sent = sim.messages
      const lost = sent - counted
      yield* line(
        `flood ${sent}: ${Math.round(counted / result.seconds)} counted/s (${counted} in ${result.seconds.toFixed(1)} s, to the final flush), lost ${lost} (${((100 * lost) / sent).toFixed(1)} %), ${(result.cpuMicros / 1000 / sent).toFixed(3)} ms CPU/message, ${((after - before) / sent).toFixed(3)} queries/message, peak RSS ${Math.round(result.peakRssBytes / 2 ** 20)} MB; ${eventLoopNote(result)}; ${loadNote()}`,
      )
      yield* line(`  beside ${REFERENCE}`)
    }),
  )

const program = Effect.gen(function* () {
  yield* line(
    "flood: 1 guild, 2,000 members, 8 roles, 10 text channels, ~1 KB frames without content; simulator and gateway in their own processes, default settings",
  )
  for (const messages of counts) yield* flood(messages)
})

NodeRuntime.runMain(program)
