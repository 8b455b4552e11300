import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { unsafeMake } from "@tally/domain/Snowflake"
import { Effect } from "effect"
import * as Session from "../src/Session"
import { temporaryDirectory } from "./support/stack"

const saved: Session.SavedSession = {
  session: {
    sessionId: "abc",
    sequence: 41,
    shardId: 1,
    shardCount: 2,
    resumeURL: "ws://127.0.0.1:1/resume-gateway",
  },
  guilds: [
    {
      id: unsafeMake("1"),
      name: "g",
      ownerId: null,
      afkChannelId: null,
      channels: [{ id: unsafeMake("2"), type: 0, parentId: null }],
      roles: [],
      members: [],
    },
  ],
  pending: [],
  levelUpJobs: [
    {
      dbShardId: 1,
      guildId: unsafeMake("1"),
      userId: unsafeMake("3"),
      fromLevel: 4,
      toLevel: 5,
      noticeChannelId: null,
    },
  ],
  botUserId: unsafeMake("9"),
  savedAt: 1,
}

describe("Session files", () => {
  it.scopedLive("a saved session is restored once for its shard and the file is gone after", () =>
    Effect.gen(function* () {
      const directory = yield* temporaryDirectory
      const first = yield* Session.make(directory)
      yield* first.save(saved)
      expect(Fs.existsSync(Path.join(directory, "session-1.json"))).toBe(true)

      const second = yield* Session.make(directory)
      const restored = yield* second.load([0, 1])
      expect([...restored.keys()]).toEqual([1])
      expect(restored.get(1)).toEqual(saved)
      expect(second.retrieve(1)).toEqual(saved.session)
      expect(second.retrieve(0)).toBeNull()
      expect(Fs.existsSync(Path.join(directory, "session-1.json"))).toBe(false)

      const third = yield* Session.make(directory)
      expect((yield* third.load([0, 1])).size).toBe(0)
    }),
  )

  it.scopedLive(
    "a file from before level-up jobs and the bot's id were saved is read with none",
    () =>
      Effect.gen(function* () {
        const directory = yield* temporaryDirectory
        const { levelUpJobs: _, botUserId: __, ...older } = saved
        Fs.writeFileSync(Path.join(directory, "session-1.json"), JSON.stringify(older))
        const restored = yield* (yield* Session.make(directory)).load([1])
        expect(restored.get(1)).toEqual({ ...older, levelUpJobs: [], botUserId: null })
      }),
  )

  it.scopedLive("a session saved against another DISCORD_API_URL is not resumed", () =>
    Effect.gen(function* () {
      const directory = yield* temporaryDirectory
      const saveAgainst = (apiUrl: string | null) =>
        Effect.gen(function* () {
          const store = yield* Session.make(directory)
          yield* store.load([1], apiUrl)
          yield* store.save(saved)
        })
      const loadAgainst = (apiUrl: string | null) =>
        Effect.gen(function* () {
          const store = yield* Session.make(directory)
          return { restored: yield* store.load([1], apiUrl), store }
        })

      yield* saveAgainst("http://127.0.0.1:3907/api")
      const other = yield* loadAgainst(null)
      expect(other.restored.size).toBe(0)
      expect(other.store.retrieve(1)).toBeNull()
      expect(Fs.existsSync(Path.join(directory, "session-1.json"))).toBe(false)

      yield* saveAgainst("http://127.0.0.1:3907/api")
      const same = yield* loadAgainst("http://127.0.0.1:3907/api")
      expect(same.restored.get(1)).toEqual(saved)
    }),
  )

  it.scopedLive("the same Discord written differently resumes; a file without one is taken", () =>
    Effect.gen(function* () {
      const directory = yield* temporaryDirectory
      const roundTrip = (savedWith: string | null, loadedWith: string | null) =>
        Effect.gen(function* () {
          const before = yield* Session.make(directory)
          yield* before.load([1], savedWith)
          yield* before.save(saved)
          return (yield* (yield* Session.make(directory)).load([1], loadedWith)).size
        })
      expect(yield* roundTrip(null, "https://discord.com/api")).toBe(1)
      expect(yield* roundTrip("https://DISCORD.com:443/api/", null)).toBe(1)
      expect(yield* roundTrip("http://127.0.0.1:3907/api/", "http://127.0.0.1:3907/api")).toBe(1)
      expect(yield* roundTrip("http://127.0.0.1:3907/api", "http://127.0.0.1:3908/api")).toBe(0)

      Fs.writeFileSync(Path.join(directory, "session-1.json"), JSON.stringify(saved))
      const older = yield* (yield* Session.make(directory)).load([1], "http://127.0.0.1:1/api")
      expect(older.get(1)).toEqual(saved)
    }),
  )

  it.scopedLive("an unreadable session file is ignored (fresh IDENTIFY) and removed", () =>
    Effect.gen(function* () {
      const directory = yield* temporaryDirectory
      Fs.writeFileSync(Path.join(directory, "session-0.json"), "{ not json")
      const session = yield* Session.make(directory)
      expect((yield* session.load([0])).size).toBe(0)
      expect(session.retrieve(0)).toBeNull()
      expect(Fs.existsSync(Path.join(directory, "session-0.json"))).toBe(false)
    }),
  )

  it.scopedLive("the library's updates replace and clear a shard's session in memory", () =>
    Effect.gen(function* () {
      const session = yield* Session.make(yield* temporaryDirectory)
      session.update(1, saved.session)
      session.update(1, { ...saved.session, sequence: 42 })
      expect(session.retrieve(1)?.sequence).toBe(42)
      session.update(1, null)
      expect(session.retrieve(1)).toBeNull()
    }),
  )
})
