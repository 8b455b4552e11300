import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import {
  type ActivityBatch,
  type ActivityDelta,
  type DeltaKind,
  type MutableDelta,
  mergeInto,
  mutableCopy,
} from "@tally/domain/ActivityDelta"
import { compare as compareSnowflakes } from "@tally/domain/Snowflake"
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
type IdField = "guildId" | "userId" | "channelId"

/** One table a flush writes: its id columns and the delta fields that fill them. */
export interface Target {
  readonly table: string
  readonly kind: DeltaKind
  readonly idColumns: ReadonlyArray<string>
  readonly idFields: ReadonlyArray<IdField>
}

const perMember = (table: string, kind: DeltaKind): Target => ({
  table,
  kind,
  idColumns: ["guild_id", "user_id"],
  idFields: ["guildId", "userId"],
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
      {
        table,
        kind,
        idColumns: ["guild_id", "user_id", "channel_id"],
        idFields: ["guildId", "userId", "channelId"],
      },
      perMember(`${table}_member`, kind),
      {
        table: `${table}_channel`,
        kind,
        idColumns: ["guild_id", "channel_id"],
        idFields: ["guildId", "channelId"],
      },
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

const idOf = (delta: ActivityDelta, field: IdField): string => delta[field] ?? "0"

const valuesOf = (target: Target, deltas: ReadonlyArray<ActivityDelta>) => {
  const values: Array<string | number> = []
  for (const delta of deltas) {
    for (const field of target.idFields) values.push(idOf(delta, field))
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
  return values
}

type Compare = (a: ActivityDelta, b: ActivityDelta) => number

// One comparator per primary key, each reading its fields directly: a flush compares every row,
// and a generic comparator's field reads (by name, or through closures) showed in its profile.
const byMember: Compare = (a, b) =>
  compareSnowflakes(a.guildId, b.guildId) || compareSnowflakes(a.userId, b.userId)
const byChannel: Compare = (a, b) =>
  compareSnowflakes(a.guildId, b.guildId) ||
  compareSnowflakes(a.channelId ?? "0", b.channelId ?? "0")
const byMemberAndChannel: Compare = (a, b) =>
  byMember(a, b) || compareSnowflakes(a.channelId ?? "0", b.channelId ?? "0")

const byPrimaryKey = (target: Target): Compare => {
  switch (target.idFields.join(",")) {
    case "guildId,userId":
      return byMember
    case "guildId,channelId":
      return byChannel
    case "guildId,userId,channelId":
      return byMemberAndChannel
    default:
      throw new Error(`no order for the id fields ${target.idFields.join(", ")}`)
  }
}

/** Neighbours naming one row merged (into copies: `deltas` is not changed). */
const mergeNeighbours = (
  deltas: ReadonlyArray<ActivityDelta>,
  order: Compare,
): ReadonlyArray<ActivityDelta> => {
  const rows: Array<ActivityDelta> = []
  let merging: MutableDelta | null = null
  for (const delta of deltas) {
    const last = rows.length - 1
    if (last >= 0 && order(rows[last]!, delta) === 0) {
      if (merging === null) {
        merging = mutableCopy(rows[last]!)
        rows[last] = merging
      }
      mergeInto(merging, delta)
    } else {
      rows.push(delta)
      merging = null
    }
  }
  return rows
}

/**
 * The target's rows for a batch (deltas of its kind): deltas naming the same row merged, in
 * primary-key order. A merged row keeps the ids of its first delta in the target's columns.
 *
 * The activity buffer hands its deltas over in member order, channels in order within a member:
 * a member's and a member-and-channel table's rows need no sort then, a member total is merged
 * from neighbours. The per-channel totals (many deltas, few rows) are gathered by key and only
 * their rows sorted. A flush's sorts were most of its row building.
 */
export const rowsOf = (
  target: Target,
  deltas: ReadonlyArray<ActivityDelta>,
): ReadonlyArray<ActivityDelta> => {
  const order = byPrimaryKey(target)
  let ascending = true
  let inOrder = true
  for (let i = 1; i < deltas.length && inOrder; i++) {
    const comparison = order(deltas[i - 1]!, deltas[i]!)
    if (comparison >= 0) ascending = false
    if (comparison > 0) inOrder = false
  }
  // Strictly ascending: sorted, and no two deltas name the same row.
  if (ascending) return deltas
  if (inOrder) return mergeNeighbours(deltas, order)
  // Out of order for a member's table only when swapped by an older version (its spill file):
  // sorted, stably so that the first of equal deltas stays first, then merged as neighbours.
  if (target.idFields.includes("userId")) return mergeNeighbours([...deltas].sort(order), order)
  // Per-channel totals, at every flush.
  const byKey = new Map<string, MutableDelta>()
  for (const delta of deltas) {
    let key = ""
    for (const field of target.idFields) key += `${idOf(delta, field)}/`
    const row = byKey.get(key)
    if (row === undefined) byKey.set(key, mutableCopy(delta))
    else mergeInto(row, delta)
  }
  return [...byKey.values()].sort(order)
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

/** See `apply`: enough to build a statement while the one before runs. */
const STATEMENTS_IN_FLIGHT = 2

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
 * rows in primary-key order, sent in that order (the next built while one runs). Statements are
 * sent unprepared, so their varying texts never pile up in the server's prepared-statement cache.
 */
export const apply = (
  batch: ActivityBatch,
  options?: ApplyOptions,
): Effect.Effect<ApplyResult, FlushFailed, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const chunkSize = options?.chunkSize ?? 1000
    const timeout = Duration.decode(options?.statementTimeout ?? "30 seconds")

    // The rows to write, per table and chunk, before the transaction opens.
    const byKind = new Map<DeltaKind, Array<ActivityDelta>>()
    for (const delta of batch.deltas) {
      const same = byKind.get(delta.kind)
      if (same === undefined) byKind.set(delta.kind, [delta])
      else same.push(delta)
    }
    const statements = targets.flatMap((target) =>
      chunksOf(rowsOf(target, byKind.get(target.kind) ?? []), chunkSize).map(
        (chunk) => [target, chunk] as const,
      ),
    )

    // MariaDB limits each statement itself (`SET STATEMENT max_statement_time`); the fiber's
    // timeout over the whole transaction is only a backstop. MySQL limits only SELECTs, so
    // there every statement gets the fiber's timeout. (A fiber timeout per statement costs
    // measurably on a busy machine, hence not both.)
    const mariaDb = yield* serverIsMariaDb(sql)
    const prefix = mariaDb
      ? `SET STATEMENT max_statement_time = ${Duration.toSeconds(timeout)} FOR `
      : ""
    const timedOut = () => new FlushFailed({ reason: "statement timed out", retryable: true })
    const limited = <A>(statement: Effect.Effect<A, SqlError>) =>
      mariaDb
        ? statement
        : Effect.timeoutFail(statement, { duration: timeout, onTimeout: timedOut })
    const backstop = Duration.sum(
      Duration.times(timeout, statements.length + 1),
      Duration.seconds(2),
    )

    const appliedAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)

    const write = Effect.gen(function* () {
      const ledger = yield* limited(
        sql.unsafe(
          `${prefix}INSERT IGNORE INTO flush_ledger (batch_id, applied_at) VALUES (?, ?)`,
          [batch.batchId, appliedAt],
        ).raw,
      )
      if ((ledger as { affectedRows?: number }).affectedRows === 0) return "duplicate" as const
      // On MariaDB the next statement is built while the server runs the one before, and
      // waits in mysql2's queue: the connection runs one command at a time, and writes it as
      // soon as the answer before is read, so the order holds. Building no longer sits between
      // two chunks on a busy thread. A failure still rolls back all of them: the rollback is
      // queued behind whatever was sent. On MySQL each statement's timeout is this fiber's, and
      // it would count the wait in that queue, so statements go one at a time there.
      yield* Effect.forEach(
        statements,
        ([target, chunk]) =>
          limited(
            sql.unsafe(prefix + upsertStatement(target, chunk.length), valuesOf(target, chunk))
              .unprepared,
          ),
        { concurrency: mariaDb ? STATEMENTS_IN_FLIGHT : 1, discard: true },
      )
      return "applied" as const
    })

    return yield* sql
      .withTransaction(write)
      .pipe(Effect.timeoutFail({ duration: backstop, onTimeout: timedOut }))
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
