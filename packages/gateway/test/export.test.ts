import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import * as LevelCurve from "@tally/domain/LevelCurve"
import * as PeriodKey from "@tally/domain/PeriodKey"
import { unsafeMake } from "@tally/domain/Snowflake"
import * as Testing from "@tally/sql/testing"
import { Context, Effect, Layer, Metric, MetricBoundaries, TestClock } from "effect"
import * as GuildExport from "../src/GuildExport"
import * as LocalStack from "../src/LocalStack"
import * as Prometheus from "../src/Prometheus"
import { repoRoot, temporaryDirectory, throwawayDatabases } from "./support/stack"

const GUILD = unsafeMake("260730761364171728")
const NOW = Date.UTC(2026, 11, 3, 10, 0, 0)

layer(Testing.layerShard())("GuildExport.read on a DB shard", (it) => {
  it.effect(
    "gives the issue's JSON shape: members by all-time XP desc then user id asc, period XP only for current periods",
    () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(NOW)
        const sql = yield* SqlClient.SqlClient
        const current = PeriodKey.periodKeys(NOW, "UTC", 0)
        yield* sql`INSERT INTO guild (guild_id, level_factor) VALUES (${GUILD}, 50)`
        const member = (userId: string, alltime: number, fresh: boolean) => ({
          guildId: GUILD,
          userId,
          alltime,
          year: alltime,
          yearKey: current.year,
          month: alltime,
          monthKey: current.month,
          week: alltime,
          weekKey: fresh ? current.week : 20200105,
          day: alltime,
          dayKey: fresh ? current.day : 20200105,
        })
        yield* sql`INSERT INTO guild_member ${sql.insert([
          member("18446744073709551615", 600, true),
          member("9", 600, false),
          member("100", 1200, true),
        ])}`
        const text = (userId: string, channelId: string, alltime: number) => ({
          guildId: GUILD,
          userId,
          channelId,
          alltime,
        })
        yield* sql`INSERT INTO text_message ${sql.insert([
          text("100", "7", 150),
          text("100", "8", 50),
          text("9", "7", 100),
          text("18446744073709551615", "8", 100),
        ])}`
        yield* sql`INSERT INTO vote ${sql.insert({ guildId: GUILD, userId: "9", alltime: 3 })}`

        const document = yield* GuildExport.read(GUILD)
        expect(Object.keys(document)).toEqual([
          "guildId",
          "exportedAt",
          "levelFactor",
          "members",
          "channels",
        ])
        expect(document.guildId).toBe(GUILD)
        expect(document.exportedAt).toBe("2026-12-03T10:00:00.000Z")
        expect(document.levelFactor).toBe(50)
        expect(document.members.map((entry) => entry.userId)).toEqual([
          "100",
          "9",
          "18446744073709551615",
        ])
        expect(document.members[0]).toEqual({
          userId: "100",
          xp: { alltime: 1200, year: 1200, month: 1200, week: 1200, day: 1200 },
          level: LevelCurve.level(1200, 50),
          textMessages: 200,
          voiceMinutes: 0,
          invites: 0,
          votes: 0,
          bonus: 0,
        })
        expect(document.members[1]!.xp).toEqual({
          alltime: 600,
          year: 600,
          month: 600,
          week: 0,
          day: 0,
        })
        expect(document.members[1]!.votes).toBe(3)
        expect(document.channels).toEqual([
          { channelId: "7", textMessages: 250, voiceMinutes: 0 },
          { channelId: "8", textMessages: 150, voiceMinutes: 0 },
        ])

        const csv = GuildExport.toCsv(document).trim().split("\n")
        expect(csv[0]).toBe(
          "userId,xpAlltime,xpYear,xpMonth,xpWeek,xpDay,level,textMessages,voiceMinutes,invites,votes,bonus",
        )
        expect(csv[2]).toBe(`9,600,600,600,0,0,${LevelCurve.level(600, 50)},100,0,0,3,0`)
        expect(csv).toHaveLength(4)
      }),
  )

  it.effect(
    "a guild without a settings row exports with the default level factor, and no row is created",
    () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const other = unsafeMake("260730761364171999")
        const document = yield* GuildExport.read(other)
        expect(document.levelFactor).toBe(100)
        expect(document.members).toEqual([])
        const rows = yield* sql`SELECT guild_id FROM guild WHERE guild_id = ${other}`
        expect(rows).toHaveLength(0)
      }),
  )
})

describe("Prometheus text of the metric registry", () => {
  it.effect("renders tagged counters, gauges and histograms with cumulative buckets", () =>
    Effect.gen(function* () {
      const counter = Metric.counter("test_render_total", {
        description: "things",
        incremental: true,
      })
      yield* Metric.incrementBy(Metric.tagged(counter, "reason", 'a "quoted" one'), 3)
      yield* Metric.set(Metric.gauge("test_render_gauge"), 7)
      const histogram = Metric.histogram(
        "test_render_milliseconds",
        MetricBoundaries.fromIterable([10, 100]),
      )
      yield* Metric.update(histogram, 5)
      yield* Metric.update(histogram, 50)
      yield* Metric.update(histogram, 500)
      const text = Prometheus.render()
      expect(text).toContain("# HELP test_render_total things\n# TYPE test_render_total counter")
      expect(text).toContain('test_render_total{reason="a \\"quoted\\" one"} 3')
      expect(text).toContain("# TYPE test_render_gauge gauge\ntest_render_gauge 7")
      expect(text).toContain('test_render_milliseconds_bucket{le="10"} 1')
      expect(text).toContain('test_render_milliseconds_bucket{le="100"} 2')
      expect(text).toContain('test_render_milliseconds_bucket{le="+Inf"} 3')
      // Every series once.
      const series = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"))
      const names = series.map((line) => line.slice(0, line.lastIndexOf(" ")))
      expect(new Set(names).size).toBe(names.length)
      expect(text).toContain("test_render_milliseconds_sum 555")
      expect(text).toContain("test_render_milliseconds_count 3")
    }),
  )
})

class Stack extends Context.Tag("test/export/Stack")<
  Stack,
  {
    readonly manager: LocalStack.ManagerHandle
    readonly dbs: LocalStack.Databases
    readonly folder: string
  }
>() {}

/** One manager over one DB shard, where GUILD has a route (and so data, if only none). */
const StackLive = Layer.scoped(
  Stack,
  Effect.gen(function* () {
    const dbs = yield* throwawayDatabases(1)
    const manager = yield* LocalStack.startManager(dbs)
    const folder = yield* temporaryDirectory
    const routed = yield* managerRequest(manager, `/v1/routes/guilds/${GUILD}`)
    expect(routed.status).toBe(200)
    return { manager, dbs, folder }
  }),
)

const managerRequest = (manager: LocalStack.ManagerHandle, route: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${manager.url}${route}`, {
      headers: { authorization: `Bearer ${manager.token}` },
    })
    return { status: response.status, body: await response.json() }
  })

/** Runs `src/export.ts` as `pnpm … export` does; `env` overrides the stack's settings. */
const runExport = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.flatMap(Stack, ({ manager, dbs, folder }) =>
    Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
      execFile(
        process.execPath,
        ["--import", "tsx", "src/export.ts", ...args],
        {
          cwd: Path.join(repoRoot, "packages/gateway"),
          env: {
            ...process.env,
            INIT_CWD: folder,
            MANAGER_URL: manager.url,
            MANAGER_TOKEN: manager.token,
            SHARD_DATABASE_URLS: LocalStack.shardUrlsText(dbs.shardUrls),
            ...env,
          },
        },
        (error, stdout, stderr) =>
          resume(Effect.succeed({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })),
      )
    }),
  )

/** A failure as the user sees it: exit 1 and one sentence on stderr, no log line or stack. */
const expectOneSentence = (result: { code: number; stdout: string; stderr: string }) => {
  expect(result.code).toBe(1)
  expect(result.stdout).toBe("")
  expect(result.stderr).toMatch(/^export failed: [^\n]+\n$/)
  return result.stderr
}

layer(StackLive, { timeout: 90_000, excludeTestServices: true })("the export command", (it) => {
  it.effect(
    "--out writes the document to the file; stdout stays empty and the log line goes to stderr",
    () =>
      Effect.gen(function* () {
        const { folder } = yield* Stack
        const out = Path.join(folder, "guild.json")
        const { code, stdout, stderr } = yield* runExport(["--guild", GUILD, "--out", "guild.json"])
        expect(code).toBe(0)
        expect(stdout).toBe("")
        expect(stderr).toContain(`wrote 0 members to ${out}`)
        expect(stderr).not.toContain("undefined")
        expect(JSON.parse(Fs.readFileSync(out, "utf8"))).toMatchObject({
          guildId: GUILD,
          members: [],
        })
      }),
  )

  it.effect("a guild Tally has never seen is an error, and the export gives it no route", () =>
    Effect.gen(function* () {
      const { manager } = yield* Stack
      const unknown = "260730761364171000"
      const before = yield* managerRequest(manager, "/v1/shards")
      const stderr = expectOneSentence(yield* runExport(["--guild", unknown]))
      expect(stderr).toBe(`export failed: guild ${unknown} has no data in Tally (no route)\n`)
      expect(yield* managerRequest(manager, "/v1/shards")).toEqual(before)
      const lookup = yield* managerRequest(manager, `/v1/routes/guilds/${unknown}/existing`)
      expect(lookup).toEqual({ status: 404, body: { _tag: "GuildNotRouted", guildId: unknown } })
    }),
  )

  it.effect("--guild takes what deploy-commands takes: 17 to 20 digits", () =>
    Effect.gen(function* () {
      for (const wrong of ["123", "abc"]) {
        const stderr = expectOneSentence(yield* runExport(["--guild", wrong]))
        expect(stderr).toBe(`export failed: "${wrong}" is not a guild id\n`)
      }
    }),
  )

  it.effect("--out in a folder that does not exist: one sentence naming the file", () =>
    Effect.gen(function* () {
      const stderr = expectOneSentence(
        yield* runExport(["--guild", GUILD, "--out", "/nonexistent/dir/x.json"]),
      )
      expect(stderr).toBe("export failed: cannot write /nonexistent/dir/x.json: no such folder\n")
    }),
  )

  it.effect("a DB shard that does not answer: SHARD_DATABASE_URLS named, no warning first", () =>
    Effect.gen(function* () {
      const stderr = expectOneSentence(
        yield* runExport(["--guild", GUILD], {
          SHARD_DATABASE_URLS: "0=mysql://root@127.0.0.1:1/tally_nowhere",
        }),
      )
      expect(stderr).toContain("DB shard 0 (127.0.0.1:1) cannot be reached (ECONNREFUSED)")
      expect(stderr).toContain("SHARD_DATABASE_URLS")
    }),
  )

  it.effect("a DB shard that refuses the login says so, without the password", () =>
    Effect.gen(function* () {
      const { dbs } = yield* Stack
      const url = new URL(dbs.shardUrls.get(0)!)
      url.password = "a-secret-password"
      const stderr = expectOneSentence(
        yield* runExport(["--guild", GUILD], { SHARD_DATABASE_URLS: `0=${url}` }),
      )
      expect(stderr).toContain('refused the login of user "root"')
      expect(stderr).toContain("SHARD_DATABASE_URLS")
      expect(stderr).not.toContain("a-secret-password")
    }),
  )

  it.effect("SHARD_DATABASE_URLS that cannot be read: the setting and the reason", () =>
    Effect.gen(function* () {
      const stderr = expectOneSentence(
        yield* runExport(["--guild", GUILD], { SHARD_DATABASE_URLS: "0=nonsense" }),
      )
      expect(stderr).toBe(
        "export failed: SHARD_DATABASE_URLS is not valid: DB shard 0: not a URL\n",
      )
    }),
  )
})
