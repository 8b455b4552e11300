/** Helpers for the end-to-end suites: a stack under a throwaway database prefix, and readbacks. */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import type { TraceCount } from "@tally/discord-sim/TraceCount"
import { Effect } from "effect"
import * as LocalStack from "../../src/LocalStack"

export const serverUrl = process.env.TALLY_TEST_MYSQL_URL ?? LocalStack.defaultServerUrl

export const repoRoot = Path.resolve(import.meta.dirname, "../../../..")
export const tracesDirectory = Path.resolve(repoRoot, "../shared/data/traces")
export const meshcoreTrace = Path.join(tracesDirectory, "meshcore-threads-2025.jsonl")
export const hasMeshcore = Fs.existsSync(meshcoreTrace)

/** Databases `<prefix>_*`, dropped when the scope closes. */
export const throwawayDatabases = (dbShards: number) =>
  Effect.gen(function* () {
    const prefix = LocalStack.randomPrefix("tally_e2e")
    yield* Effect.addFinalizer(() =>
      LocalStack.dropDatabases(serverUrl, prefix).pipe(Effect.ignore),
    )
    return LocalStack.databases(serverUrl, prefix, dbShards)
  })

export const temporaryDirectory = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tally-gateway-"))),
  (directory) => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true })),
)

export interface StoredTotals {
  /** `guildId/userId` → XP all-time and text messages (summed over channels). */
  readonly members: Map<string, { xp: number; textMessages: number }>
  /** `guildId/channelId` → text messages. */
  readonly channels: Map<string, number>
}

/** What the DB shards hold, summed over every shard. */
export const readTotals = (shardUrls: ReadonlyMap<number, string>) =>
  Effect.gen(function* () {
    const members = new Map<string, { xp: number; textMessages: number }>()
    const channels = new Map<string, number>()
    const member = (key: string) => {
      let found = members.get(key)
      if (!found) {
        found = { xp: 0, textMessages: 0 }
        members.set(key, found)
      }
      return found
    }
    for (const url of shardUrls.values()) {
      yield* LocalStack.withDatabase(
        url,
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const xp = yield* sql<{ guildId: string; userId: string; alltime: string }>`
            SELECT guild_id, user_id, alltime FROM guild_member WHERE alltime <> 0`
          for (const row of xp) member(`${row.guildId}/${row.userId}`).xp += Number(row.alltime)
          const text = yield* sql<{
            guildId: string
            userId: string
            channelId: string
            alltime: string
          }>`SELECT guild_id, user_id, channel_id, alltime FROM text_message`
          for (const row of text) {
            member(`${row.guildId}/${row.userId}`).textMessages += Number(row.alltime)
            const key = `${row.guildId}/${row.channelId}`
            channels.set(key, (channels.get(key) ?? 0) + Number(row.alltime))
          }
        }),
      )
    }
    return { members, channels } satisfies StoredTotals
  })

/** The oracle's totals in the same shape, for one `toEqual`. */
export const expectedTotals = (count: TraceCount): StoredTotals => ({
  members: new Map(
    [...count.members].map(([key, value]) => [
      key,
      { xp: value.xp, textMessages: value.textMessages },
    ]),
  ),
  channels: new Map([...count.channels].map(([key, value]) => [key, value.textMessages])),
})

/** Sorted entries, so a mismatch prints readably. */
export const entries = <V>(map: ReadonlyMap<string, V>) =>
  [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
