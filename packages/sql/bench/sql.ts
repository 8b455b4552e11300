/**
 * `pnpm bench:sql`: the flush's upsert against a plain mysql2 multi-row upsert of the same rows
 * (same run, same server), and leaderboard reads on a DB shard with 1,000,000 members in one
 * guild. Every database it creates is dropped at the end.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as ActivityDelta from "@tally/domain/ActivityDelta"
import { unsafeMake as id } from "@tally/domain/Snowflake"
import { Effect } from "effect"
import mysql from "mysql2/promise"
import * as ActivityWriter from "../src/ActivityWriter"
import * as DatabaseUrl from "../src/DatabaseUrl"
import * as Leaderboard from "../src/Leaderboard"
import * as Migrations from "../src/Migrations"
import * as Testing from "../src/testing"

const upsertRows = 200_000
const members = 1_000_000
const chunkSize = 1000
const keys = { day: 20261203, week: 20261129, month: 202612, year: 2026 }
const bigGuildId = id("1200000000000000002")

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    const result = yield* effect
    return [result, performance.now() - start] as const
  })

const deltasFor = (guild: string, amount: number, rows = upsertRows) =>
  Array.from({ length: rows }, (_, i) =>
    ActivityDelta.make({
      kind: "xp",
      guildId: id(guild),
      userId: id(String(300_000_000_000_000_000n + BigInt(i * 7919))),
      amount,
      keys,
    }),
  )

/** The baseline: the same statement text and rows through mysql2's own pool, no Effect. */
const plainUpsert = async (
  pool: mysql.Pool,
  deltas: ReadonlyArray<ActivityDelta.ActivityDelta>,
) => {
  const connection = await pool.getConnection()
  const target = ActivityWriter.targets[0]!
  try {
    const start = performance.now()
    await connection.beginTransaction()
    for (let offset = 0; offset < deltas.length; offset += chunkSize) {
      const chunk = deltas.slice(offset, offset + chunkSize)
      const values: Array<string | number> = []
      for (const delta of chunk) {
        values.push(delta.guildId, delta.userId, delta.alltime)
        for (const period of ["year", "month", "week", "day"] as const) {
          values.push(delta[period].amount, delta[period].key)
        }
      }
      await connection.query(ActivityWriter.upsertStatement(target, chunk.length), values)
    }
    await connection.commit()
    return performance.now() - start
  } finally {
    connection.release()
  }
}

/**
 * Both sides write the same rows into the same table (each under its own guild id, so both
 * see the same indexes and buffer pool), in rounds that alternate which side goes first.
 */
const upsertBench = Effect.gen(function* () {
  const database = yield* Testing.makeDatabase("tally_bench")
  const sql = yield* Testing.client(database.url, { maxConnections: 2 })
  yield* Effect.provideService(Migrations.runShardMigrations, SqlClient.SqlClient, sql)
  const config = yield* DatabaseUrl.parse(database.url)
  const pool = yield* Effect.acquireRelease(
    Effect.sync(() =>
      mysql.createPool({
        ...DatabaseUrl.poolOptions(2),
        host: config.host,
        port: config.port,
        user: config.username,
        database: config.database ?? "",
        connectionLimit: 2,
      }),
    ),
    (pool) => Effect.promise(() => pool.end()),
  )

  let batches = 0
  const effectSide = (guild: string, amount: number, rows?: number) => {
    const deltas = deltasFor(guild, amount, rows)
    return timed(
      Effect.provideService(
        ActivityWriter.apply({ batchId: `bench-${++batches}`, deltas }, { chunkSize }),
        SqlClient.SqlClient,
        sql,
      ),
    ).pipe(Effect.map(([, millis]) => millis))
  }
  const plainSide = (guild: string, amount: number, rows?: number) => {
    const deltas = deltasFor(guild, amount, rows)
    return Effect.promise(() => plainUpsert(pool, deltas))
  }

  yield* effectSide("9", 1, 5000)
  yield* plainSide("8", 1, 5000)

  const effectGuild = "1100000000000000001"
  const plainGuild = "1100000000000000002"
  const rounds: Array<readonly [string, number, number]> = []
  for (const [round, amount] of [3, 4, 5].entries()) {
    if (round % 2 === 0) {
      const effectMillis = yield* effectSide(effectGuild, amount)
      const plainMillis = yield* plainSide(plainGuild, amount)
      rounds.push([round === 0 ? "insert" : "update", effectMillis, plainMillis])
    } else {
      const plainMillis = yield* plainSide(plainGuild, amount)
      const effectMillis = yield* effectSide(effectGuild, amount)
      rounds.push(["update", effectMillis, plainMillis])
    }
  }
  const effectMillis = rounds.reduce((sum, [, millis]) => sum + millis, 0)
  const plainMillis = rounds.reduce((sum, [, , millis]) => sum + millis, 0)
  yield* Effect.log(
    `upsert ${upsertRows} rows into guild_member (5 ranking indexes), per round effect/plain: ` +
      rounds
        .map(([kind, effect, plain]) => `${kind} ${effect.toFixed(0)}/${plain.toFixed(0)} ms`)
        .join(", "),
  )
  return {
    effectRate: (rounds.length * upsertRows) / (effectMillis / 1000),
    plainRate: (rounds.length * upsertRows) / (plainMillis / 1000),
  }
})

/** Loads 1,000,000 members with secondary indexes dropped, then rebuilds them as migrated. */
const bulkLoad = (sql: SqlClient.SqlClient) =>
  Effect.gen(function* () {
    const indexes = yield* sql.withoutTransforms()<{
      Key_name: string
      Column_name: string
      Collation: string | null
      Seq_in_index: number
    }>`SHOW INDEX FROM guild_member WHERE Key_name <> 'PRIMARY'`
    const byName = new Map<string, Array<{ column: string; seq: number; desc: boolean }>>()
    for (const index of indexes) {
      const columns = byName.get(index.Key_name) ?? []
      columns.push({
        column: index.Column_name,
        seq: Number(index.Seq_in_index),
        desc: index.Collation === "D",
      })
      byName.set(index.Key_name, columns)
    }
    const definitions = [...byName].map(
      ([name, columns]) =>
        `ADD INDEX ${name} (${columns
          .sort((a, b) => a.seq - b.seq)
          .map((column) => `${column.column}${column.desc ? " DESC" : ""}`)
          .join(", ")})`,
    )
    yield* sql.unsafe(
      `ALTER TABLE guild_member ${[...byName.keys()].map((name) => `DROP INDEX ${name}`).join(", ")}`,
    )

    const hasSequences = yield* sql`SELECT 1 FROM seq_1_to_1 LIMIT 1`.pipe(
      Effect.as(true),
      Effect.orElseSucceed(() => false),
    )
    // XP skewed like a real guild: few members far ahead, many with little; a third active today.
    const load = hasSequences
      ? sql`INSERT INTO guild_member (guild_id, user_id, alltime, year, year_key, month, month_key,
            week, week_key, day, day_key)
          SELECT ${bigGuildId}, 400000000000000000 + seq * 13,
            FLOOR(POW(RAND(7) , 4) * 5000000),
            FLOOR(RAND(8) * 100000), 2026, FLOOR(RAND(9) * 20000), 202612,
            FLOOR(RAND(10) * 5000), 20261129,
            IF(seq % 3 = 0, FLOOR(RAND(11) * 800), 0), IF(seq % 3 = 0, 20261203, 20261202)
          FROM seq_1_to_${sql.literal(String(members))}`
      : Effect.forEach(
          Array.from({ length: members / 5000 }, (_, chunk) => chunk),
          (chunk) =>
            sql`INSERT INTO guild_member ${sql.insert(
              Array.from({ length: 5000 }, (_, i) => {
                const n = chunk * 5000 + i + 1
                const random = Math.random()
                return {
                  guildId: bigGuildId,
                  userId: String(400_000_000_000_000_000n + BigInt(n * 13)),
                  alltime: Math.floor(random ** 4 * 5_000_000),
                  day: n % 3 === 0 ? Math.floor(Math.random() * 800) : 0,
                  dayKey: n % 3 === 0 ? keys.day : 20261202,
                }
              }),
            )}`.unprepared,
          { discard: true },
        )
    const [, loadMillis] = yield* timed(load)
    const [, indexMillis] = yield* timed(
      sql.unsafe(`ALTER TABLE guild_member ${definitions.join(", ")}`),
    )
    yield* sql`ANALYZE TABLE guild_member`
    yield* Effect.log(
      `loaded ${members} members in ${(loadMillis / 1000).toFixed(1)} s, indexes in ${(indexMillis / 1000).toFixed(1)} s`,
    )
  })

const readBench = Effect.gen(function* () {
  const shard = yield* Testing.makeDatabase("tally_bench")
  const sql = yield* Testing.client(shard.url, { maxConnections: 2 })
  yield* Effect.provideService(Migrations.runShardMigrations, SqlClient.SqlClient, sql)
  yield* bulkLoad(sql)

  const run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
    Effect.provideService(effect, SqlClient.SqlClient, sql)
  const sample = <A, E>(
    times: number,
    effect: (i: number) => Effect.Effect<A, E, SqlClient.SqlClient>,
  ) =>
    Effect.forEach(
      Array.from({ length: times }, (_, i) => i),
      (i) => run(timed(effect(i))).pipe(Effect.map(([, millis]) => millis)),
    )

  const page = (period: Leaderboard.Period, number: number) =>
    Leaderboard.topMembers({
      guildId: bigGuildId,
      by: "xp",
      period,
      keys,
      page: number,
      pageSize: 12,
    })
  const firstPage = yield* run(page("alltime", 1))
  const topAlltime = median(yield* sample(30, () => page("alltime", 1)))
  const topDay = median(yield* sample(30, () => page("day", 1)))
  const topPage5 = median(yield* sample(10, () => page("alltime", 5)))

  // Members spread over the whole ranking: user n is the n-th loaded member.
  const members_ = (i: number) =>
    id(String(400_000_000_000_000_000n + BigInt((((i * 104729) % members) + 1) * 13)))
  const positions = yield* Leaderboard.makePositions()
  const [, snapshotMillis] = yield* run(
    timed(
      positions.position({
        guildId: bigGuildId,
        by: "xp",
        period: "alltime",
        keys,
        userId: members_(0),
      }),
    ),
  )
  const position = median(
    yield* sample(50, (i) =>
      positions.position({
        guildId: bigGuildId,
        by: "xp",
        period: "alltime",
        keys,
        userId: members_(i + 1),
      }),
    ),
  )
  const exactTop = median(
    yield* sample(10, (i) =>
      Leaderboard.position({
        guildId: bigGuildId,
        by: "xp",
        period: "alltime",
        keys,
        userId: firstPage[i]!.userId,
      }),
    ),
  )
  const exactDeep = median(
    yield* sample(3, (i) =>
      Leaderboard.position({
        guildId: bigGuildId,
        by: "xp",
        period: "alltime",
        keys,
        userId: members_(i + 7),
      }),
    ),
  )
  yield* Effect.log(
    `top page alltime ${topAlltime.toFixed(1)} ms, day ${topDay.toFixed(1)} ms, page 5 ${topPage5.toFixed(1)} ms; ` +
      `position (snapshot, median of 50 members anywhere) ${position.toFixed(1)} ms, ` +
      `first snapshot ${snapshotMillis.toFixed(0)} ms, exact count near the top ${exactTop.toFixed(1)} ms, ` +
      `exact count mid-ranking ${exactDeep.toFixed(0)} ms`,
  )
  return { topAlltime, position }
})

const main = Effect.gen(function* () {
  const { effectRate, plainRate } = yield* Effect.scoped(upsertBench)
  const { topAlltime, position } = yield* Effect.scoped(readBench)
  console.log(
    `sql: upsert ${Math.round(effectRate)} rows/s, plain mysql2 ${Math.round(plainRate)} rows/s, ` +
      `ratio ${(effectRate / plainRate).toFixed(2)}; top page ${topAlltime.toFixed(1)} ms, position ${position.toFixed(1)} ms`,
  )
})

Effect.runPromise(main).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  },
)
