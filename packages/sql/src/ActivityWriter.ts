import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import {
  type ActivityBatch,
  type ActivityDelta,
  type DeltaKind,
  mergeAll,
} from "@tally/domain/ActivityDelta"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Array as Arr, Clock, Data, Duration, Effect, Order } from "effect"

/**
 * A flush that did not commit. `retryable` failures (deadlock, lock wait, lost connection,
 * timeout) may succeed when the same batch is applied again; the ledger makes that safe.
 */
export class FlushFailed extends Data.TaggedError("FlushFailed")<{
  readonly reason: string
  readonly retryable: boolean
  readonly cause?: unknown
}> {}

/** `applied`: the batch was written now; `duplicate`: its id was in the ledger already. */
export type ApplyResult = "applied" | "duplicate"

interface Target {
  readonly table: string
  readonly perChannel: boolean
}

/** Tables in the order every flush writes them (one order everywhere, fewer deadlocks). */
const targets: ReadonlyArray<readonly [DeltaKind, Target]> = [
  ["xp", { table: "guild_member", perChannel: false }],
  ["textMessages", { table: "text_message", perChannel: true }],
  ["voiceMinutes", { table: "voice_minute", perChannel: true }],
  ["invites", { table: "invite", perChannel: false }],
  ["votes", { table: "vote", perChannel: false }],
  ["bonus", { table: "bonus", perChannel: false }],
]

const periods = ["year", "month", "week", "day"] as const

/**
 * The upsert's assignments. MySQL evaluates them left to right and a later one sees the result
 * of an earlier one, so each counter is assigned BEFORE its key: the counter must compare the
 * incoming key with the stored (old) key.
 */
export const onDuplicateAssignments: string = [
  "alltime = alltime + VALUES(alltime)",
  ...periods.flatMap((period) => [
    `${period} = IF(VALUES(${period}_key) > ${period}_key, VALUES(${period}), ` +
      `IF(VALUES(${period}_key) = ${period}_key, ${period} + VALUES(${period}), ${period}))`,
    `${period}_key = GREATEST(${period}_key, VALUES(${period}_key))`,
  ]),
].join(",\n  ")

const columnsOf = (target: Target) => [
  "guild_id",
  "user_id",
  ...(target.perChannel ? ["channel_id"] : []),
  "alltime",
  ...periods.flatMap((period) => [period, `${period}_key`]),
]

/** The statement for `rowCount` rows: a handful of texts, since the chunk size is fixed. */
export const upsertStatement = (target: Target, rowCount: number): string => {
  const columns = columnsOf(target)
  const row = `(${columns.map(() => "?").join(", ")})`
  return (
    `INSERT INTO ${target.table} (${columns.join(", ")}) VALUES\n` +
    Array.from({ length: rowCount }, () => row).join(",\n") +
    `\nON DUPLICATE KEY UPDATE\n  ${onDuplicateAssignments}`
  )
}

const rowValues = (delta: ActivityDelta, perChannel: boolean): Array<string | number> => {
  const values: Array<string | number> = [delta.guildId, delta.userId]
  if (perChannel) values.push(delta.channelId ?? "0")
  values.push(delta.alltime)
  for (const period of periods) values.push(delta[period].amount, delta[period].key)
  return values
}

/** Snowflakes as numbers: shorter is smaller, then by digits. */
const bySnowflake: Order.Order<Snowflake> = (a, b) =>
  a.length !== b.length ? (a.length < b.length ? -1 : 1) : a < b ? -1 : a > b ? 1 : 0

const byPrimaryKey: Order.Order<ActivityDelta> = Order.combineAll([
  Order.mapInput(bySnowflake, (delta: ActivityDelta) => delta.guildId),
  Order.mapInput(bySnowflake, (delta: ActivityDelta) => delta.userId),
  Order.mapInput(bySnowflake, (delta: ActivityDelta) => delta.channelId ?? ("0" as Snowflake)),
])

const retryableErrnos = new Set([
  1205, // lock wait timeout
  1213, // deadlock
  1053, // server shutdown in progress
  1927, // connection killed
  1969, // MariaDB max_statement_time exceeded
  3024, // MySQL max_execution_time exceeded
  2006, // server has gone away
  2013, // lost connection during query
])

const retryableCodes = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENOTFOUND",
])

/** Whether a database failure may pass when the same batch is tried again. */
export const classify = (error: unknown): FlushFailed => {
  const cause = (error as { readonly cause?: unknown } | undefined)?.cause ?? error
  const { errno, code, fatal, message } = (cause ?? {}) as {
    readonly errno?: unknown
    readonly code?: unknown
    readonly fatal?: unknown
    readonly message?: unknown
  }
  const retryable =
    (typeof errno === "number" && retryableErrnos.has(errno)) ||
    (typeof code === "string" && retryableCodes.has(code)) ||
    fatal === true
  const reason =
    typeof code === "string"
      ? `${code}${typeof message === "string" ? `: ${message}` : ""}`
      : String(message ?? error)
  return new FlushFailed({ reason, retryable, cause: error })
}

export interface ApplyOptions {
  /** Rows per statement; every statement but a table's last has exactly this many. */
  readonly chunkSize?: number
  /** The limit on each statement (also enforced by the server on MariaDB). */
  readonly statementTimeout?: Duration.DurationInput
}

const isMariaDb = new WeakMap<SqlClient.SqlClient, boolean>()

const serverIsMariaDb = (sql: SqlClient.SqlClient) =>
  Effect.suspend(() => {
    const known = isMariaDb.get(sql)
    if (known !== undefined) return Effect.succeed(known)
    return sql<{ version: string }>`SELECT VERSION() AS version`.pipe(
      Effect.map(([row]) => /mariadb/i.test(row?.version ?? "")),
      Effect.tap((mariaDb) => Effect.sync(() => isMariaDb.set(sql, mariaDb))),
    )
  })

/**
 * Applies a batch to one DB shard in one transaction: the ledger row for `batchId` first (a
 * batch already applied is skipped whole), then one multi-row upsert per chunk of each table,
 * rows in primary-key order. Statements are sent unprepared, so their varying texts never pile
 * up in the server's prepared-statement cache.
 */
export const apply = (
  batch: ActivityBatch,
  options?: ApplyOptions,
): Effect.Effect<ApplyResult, FlushFailed, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const chunkSize = options?.chunkSize ?? 1000
    const timeout = Duration.decode(options?.statementTimeout ?? "30 seconds")

    // MariaDB stops the statement itself; the fiber's timeout is the backstop (and the only
    // limit on MySQL, whose server-side limit covers SELECT only).
    const mariaDb = yield* serverIsMariaDb(sql)
    const prefix = mariaDb
      ? `SET STATEMENT max_statement_time = ${Duration.toSeconds(timeout)} FOR `
      : ""
    const backstop = mariaDb ? Duration.sum(timeout, Duration.seconds(2)) : timeout
    const limited = <A>(statement: Effect.Effect<A, SqlError>) =>
      Effect.timeoutFail(statement, {
        duration: backstop,
        onTimeout: () => new FlushFailed({ reason: "statement timed out", retryable: true }),
      })

    const byKind = Arr.groupBy(mergeAll(batch.deltas), (delta) => delta.kind)
    const appliedAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)

    const write = Effect.gen(function* () {
      const ledger = yield* limited(
        sql.unsafe(
          `${prefix}INSERT IGNORE INTO flush_ledger (batch_id, applied_at) VALUES (?, ?)`,
          [batch.batchId, appliedAt],
        ).raw,
      )
      if ((ledger as { affectedRows?: number }).affectedRows === 0) return "duplicate" as const
      for (const [kind, target] of targets) {
        const deltas = byKind[kind]
        if (deltas === undefined) continue
        for (const chunk of Arr.chunksOf(Arr.sort(deltas, byPrimaryKey), chunkSize)) {
          const values = chunk.flatMap((delta) => rowValues(delta, target.perChannel))
          yield* limited(
            sql.unsafe(prefix + upsertStatement(target, chunk.length), values).unprepared,
          )
        }
      }
      return "applied" as const
    })

    return yield* sql.withTransaction(write)
  }).pipe(
    Effect.catchIf(
      (error): error is SqlError => error._tag === "SqlError",
      (error) => Effect.fail(classify(error)),
    ),
    Effect.tap((result) =>
      Effect.logDebug("batch applied").pipe(
        Effect.annotateLogs({ batchId: batch.batchId, result, deltas: batch.deltas.length }),
      ),
    ),
    Effect.withSpan("ActivityWriter.apply", { attributes: { batchId: batch.batchId } }),
  )

/** Forgets ledger rows older than `olderThan` (a batch is never retried that late). */
export const pruneLedger = (
  olderThan: Duration.DurationInput = "7 days",
): Effect.Effect<number, FlushFailed, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const now = yield* Clock.currentTimeMillis
    const cutoff = Math.floor((now - Duration.toMillis(olderThan)) / 1000)
    let removed = 0
    while (true) {
      const result = (yield* sql`DELETE FROM flush_ledger WHERE applied_at < ${cutoff} LIMIT 10000`
        .raw) as { affectedRows?: number }
      removed += result.affectedRows ?? 0
      if ((result.affectedRows ?? 0) < 10000) return removed
    }
  }).pipe(
    Effect.timeoutFail({
      duration: "5 minutes",
      onTimeout: () => new FlushFailed({ reason: "ledger prune timed out", retryable: true }),
    }),
    Effect.catchTag("SqlError", (error) => Effect.fail(classify(error))),
  )
