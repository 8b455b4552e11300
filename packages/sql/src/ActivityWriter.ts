import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import {
  type ActivityBatch,
  type ActivityDelta,
  type DeltaKind,
  merge,
} from "@tally/domain/ActivityDelta"
import type { Snowflake } from "@tally/domain/Snowflake"
import { Clock, Data, Duration, Effect } from "effect"

/**
 * A flush that did not commit. `retryable` failures (deadlock, lock wait, lost connection,
 * timeout) may succeed when the same batch is applied again; the ledger makes that safe.
 */
export class FlushFailed extends Data.TaggedError("FlushFailed")<{
  readonly reason: string
  readonly retryable: boolean
  readonly cause?: unknown
}> {
  override get message() {
    return this.reason
  }
}

/** `applied`: the batch was written now; `duplicate`: its id was in the ledger already. */
export type ApplyResult = "applied" | "duplicate"

/** One table a flush writes: its id columns and how a delta names its row there. */
export interface Target {
  readonly table: string
  readonly kind: DeltaKind
  readonly idColumns: ReadonlyArray<string>
  readonly ids: (delta: ActivityDelta) => ReadonlyArray<Snowflake>
}

const member = (delta: ActivityDelta) => [delta.guildId, delta.userId]
const memberChannel = (delta: ActivityDelta) => [
  delta.guildId,
  delta.userId,
  delta.channelId ?? ("0" as Snowflake),
]
const channel = (delta: ActivityDelta) => [delta.guildId, delta.channelId ?? ("0" as Snowflake)]

const perMember = (table: string, kind: DeltaKind): Target => ({
  table,
  kind,
  idColumns: ["guild_id", "user_id"],
  ids: member,
})

/**
 * Tables in the order every flush writes them (one order everywhere, fewer deadlocks). Text
 * messages and voice minutes also go to their totals per member and per channel.
 */
export const targets: ReadonlyArray<Target> = [
  perMember("guild_member", "xp"),
  ...(
    [
      ["text_message", "textMessages"],
      ["voice_minute", "voiceMinutes"],
    ] as const
  ).flatMap(
    ([table, kind]): Array<Target> => [
      { table, kind, idColumns: ["guild_id", "user_id", "channel_id"], ids: memberChannel },
      perMember(`${table}_member`, kind),
      { table: `${table}_channel`, kind, idColumns: ["guild_id", "channel_id"], ids: channel },
    ],
  ),
  perMember("invite", "invites"),
  perMember("vote", "votes"),
  perMember("bonus", "bonus"),
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

const statements = new Map<string, string>()

/** The statement for `rowCount` rows: a handful of texts, since the chunk size is fixed. */
export const upsertStatement = (target: Target, rowCount: number): string => {
  const cacheKey = `${target.table}/${rowCount}`
  const cached = statements.get(cacheKey)
  if (cached !== undefined) return cached
  if (statements.size > 64) statements.clear()
  const columns = [
    ...target.idColumns,
    "alltime",
    ...periods.flatMap((period) => [period, `${period}_key`]),
  ]
  const row = `(${columns.map(() => "?").join(", ")})`
  const text =
    `INSERT INTO ${target.table} (${columns.join(", ")}) VALUES\n` +
    Array.from({ length: rowCount }, () => row).join(",\n") +
    `\nON DUPLICATE KEY UPDATE\n  ${onDuplicateAssignments}`
  statements.set(cacheKey, text)
  return text
}

interface Row {
  readonly ids: ReadonlyArray<Snowflake>
  readonly delta: ActivityDelta
}

const pushValues = (values: Array<string | number>, row: Row) => {
  for (const id of row.ids) values.push(id)
  const delta = row.delta
  values.push(
    delta.alltime,
    delta.year.amount,
    delta.year.key,
    delta.month.amount,
    delta.month.key,
    delta.week.amount,
    delta.week.key,
    delta.day.amount,
    delta.day.key,
  )
}

const valuesOf = (rows: ReadonlyArray<Row>) => {
  const values: Array<string | number> = []
  for (const row of rows) pushValues(values, row)
  return values
}

/** Snowflakes as numbers: shorter is smaller, then by digits. */
const compareSnowflakes = (a: string, b: string) =>
  a.length !== b.length ? (a.length < b.length ? -1 : 1) : a < b ? -1 : a > b ? 1 : 0

const byPrimaryKey = (a: Row, b: Row) => {
  for (let i = 0; i < a.ids.length; i++) {
    const order = compareSnowflakes(a.ids[i]!, b.ids[i]!)
    if (order !== 0) return order
  }
  return 0
}

/** The target's rows for a batch: deltas naming the same row merged, in primary-key order. */
export const rowsOf = (target: Target, deltas: ReadonlyArray<ActivityDelta>): Array<Row> => {
  const rows: Array<Row> = []
  let ascending = true
  for (const delta of deltas) {
    if (delta.kind !== target.kind) continue
    const row = { ids: target.ids(delta), delta }
    const previous = rows[rows.length - 1]
    if (ascending && previous !== undefined && byPrimaryKey(previous, row) >= 0) ascending = false
    rows.push(row)
  }
  // Strictly ascending already: sorted, and no two deltas name the same row.
  if (ascending) return rows
  const merged = new Map<string, Row>()
  for (const row of rows) {
    const key = row.ids.join("/")
    const existing = merged.get(key)
    merged.set(
      key,
      existing === undefined ? row : { ids: row.ids, delta: merge(existing.delta, row.delta) },
    )
  }
  return Array.from(merged.values()).sort(byPrimaryKey)
}

/** Consecutive slices of at most `size` (Effect's `chunksOf` copies the rest at every step). */
const chunksOf = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  for (let offset = 0; offset < items.length; offset += size) {
    chunks.push(items.slice(offset, offset + size))
  }
  return chunks
}

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

    const appliedAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)

    const write = Effect.gen(function* () {
      const ledger = yield* limited(
        sql.unsafe(
          `${prefix}INSERT IGNORE INTO flush_ledger (batch_id, applied_at) VALUES (?, ?)`,
          [batch.batchId, appliedAt],
        ).raw,
      )
      if ((ledger as { affectedRows?: number }).affectedRows === 0) return "duplicate" as const
      const byKind = new Map<DeltaKind, Array<ActivityDelta>>()
      for (const delta of batch.deltas) {
        const same = byKind.get(delta.kind)
        if (same === undefined) byKind.set(delta.kind, [delta])
        else same.push(delta)
      }
      for (const target of targets) {
        const deltas = byKind.get(target.kind)
        if (deltas === undefined) continue
        for (const chunk of chunksOf(rowsOf(target, deltas), chunkSize)) {
          yield* limited(
            sql.unsafe(prefix + upsertStatement(target, chunk.length), valuesOf(chunk)).unprepared,
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
