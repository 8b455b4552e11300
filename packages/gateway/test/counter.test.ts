import { describe, expect, it } from "@effect/vitest"
import * as GuildSettings from "@tally/domain/GuildSettings"
import * as Snowflakes from "@tally/domain/Snowflake"
import { ManagerClient } from "@tally/manager/ManagerClient"
import * as Settings from "@tally/sql/Settings"
import * as ShardClients from "@tally/sql/ShardClients"
import * as Testing from "@tally/sql/testing"
import { Context, Effect, Layer, Option, PubSub, Queue, Redacted } from "effect"
import { Accrual } from "../src/Accrual"
import { ActivityBuffer } from "../src/ActivityBuffer"
import { Counter, LastMessageChannels } from "../src/Counter"
import { Flusher } from "../src/Flusher"
import {
  coreLayer,
  databaseUrl,
  eventually,
  id,
  makeDatabases,
  makeProxy,
  makeStateDirectory,
  message,
  query,
  startManager,
} from "./counterFixtures"

const at = Date.UTC(2026, 11, 3, 9, 0, 0)
const guildA = id(100_000_000_000_000_001n)
const guildB = id(100_000_000_000_000_002n)
const guildC = id(100_000_000_000_000_003n)
const member = (n: number) => id(200_000_000_000_000_000n + BigInt(n))

/** Two DB shards, a manager over them, and the counting core; everything dropped afterwards. */
const setup = Effect.gen(function* () {
  const databases = yield* makeDatabases(2)
  const manager = yield* startManager(databases)
  const directory = yield* makeStateDirectory
  const shardUrls = new Map(
    databases.shardNames.map((name, dbShardId) => [dbShardId, databaseUrl(name)]),
  )
  const context = yield* Layer.build(coreLayer({ managerUrl: manager.url, shardUrls, directory }))
  const counter = context.unsafeMap.get(Counter.key) as Counter["Type"]
  const flusher = context.unsafeMap.get(Flusher.key) as Flusher["Type"]
  const routes = context.unsafeMap.get(ManagerClient.key) as ManagerClient["Type"]
  const shardOf = (guildId: Snowflakes.Snowflake) =>
    Effect.map(
      Effect.orDie(routes.guildRoute(guildId)),
      (dbShardId) => databases.shardNames[dbShardId]!,
    )
  return { databases, manager, directory, counter, flusher, routes, shardOf, context }
})

const xpOf = (shardName: string, guildId: Snowflakes.Snowflake) =>
  Effect.map(
    query<{ userId: string; alltime: number }>(
      shardName,
      "SELECT user_id, alltime FROM guild_member WHERE guild_id = ? ORDER BY user_id",
      [guildId],
    ),
    (rows) => new Map(rows.map((row) => [String(row.userId), Number(row.alltime)])),
  )

const textMessagesOf = (shardName: string, guildId: Snowflakes.Snowflake) =>
  Effect.map(
    query<{ userId: string; channelId: string; alltime: number }>(
      shardName,
      "SELECT user_id, channel_id, alltime FROM text_message WHERE guild_id = ?",
      [guildId],
    ),
    (rows) => rows.map((row) => ({ ...row, alltime: Number(row.alltime) })),
  )

describe("counting messages gives exact totals in the guild's DB shard", () => {
  it.scopedLive(
    "N messages from several members in three guilds: 6 XP each, one text message each",
    () =>
      Effect.gen(function* () {
        const { counter, flusher, shardOf } = yield* setup
        const expected = new Map<string, number>()
        for (let index = 0; index < 300; index++) {
          const guildId = [guildA, guildB, guildC][index % 3]!
          const authorId = member(index % 7)
          yield* counter.countMessage(
            message({
              guildId,
              authorId,
              messageId: Snowflakes.fromTimestamp(at + index * 1000, index),
            }),
          )
          const key = `${guildId}/${authorId}`
          expected.set(key, (expected.get(key) ?? 0) + 6)
        }
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
        const summary = yield* flusher.flushNow
        expect(summary.failedBatches).toBe(0)

        for (const guildId of [guildA, guildB, guildC]) {
          const xp = yield* xpOf(yield* shardOf(guildId), guildId)
          for (const [key, amount] of expected) {
            if (key.startsWith(`${guildId}/`)) expect(xp.get(key.split("/")[1]!)).toBe(amount)
          }
          const messages = yield* textMessagesOf(yield* shardOf(guildId), guildId)
          expect(messages.reduce((sum, row) => sum + row.alltime, 0)).toBe(100)
        }
      }),
  )

  it.scopedLive("the same message id twice (a replay after a resume) counts once", () =>
    Effect.gen(function* () {
      const { counter, flusher, shardOf } = yield* setup
      const event = message({
        guildId: guildA,
        authorId: member(1),
        messageId: Snowflakes.fromTimestamp(at, 1),
      })
      yield* counter.countMessage(event)
      yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
      yield* counter.countMessage(event)
      yield* counter.countMessage({ ...event })
      yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
      yield* flusher.flushNow
      const xp = yield* xpOf(yield* shardOf(guildA), guildA)
      expect(xp.get(member(1))).toBe(6)
    }),
  )

  it.scopedLive(
    "cooldown: within textMessageCooldownSeconds of the last counted message (by message time) nothing counts",
    () =>
      Effect.gen(function* () {
        const { counter, flusher, shardOf } = yield* setup
        const shard = yield* shardOf(guildA)
        yield* Effect.scoped(
          Effect.flatMap(
            ShardClients.layerFromUrls(new Map([[0, databaseUrl(shard)]])).pipe(
              Layer.build,
              Effect.orDie,
            ),
            (context) =>
              ShardClients.use(
                0,
                Settings.updateGuild(guildA, { textMessageCooldownSeconds: 60 }),
              ).pipe(Effect.provide(context), Effect.orDie),
          ),
        )
        // Sent at 0 s (counts), 30 s (cooldown), 59.999 s (cooldown), 60 s (counts), 90 s (cooldown),
        // 120 s (counts); the 30 s one arriving late, after the 60 s one, is still within cooldown.
        const times = [0, 30_000, 59_999, 60_000, 90_000, 120_000]
        const events = times.map((offset, index) =>
          message({
            guildId: guildA,
            authorId: member(2),
            messageId: Snowflakes.fromTimestamp(at + offset, index),
          }),
        )
        for (const event of [
          events[0]!,
          events[2]!,
          events[3]!,
          events[1]!,
          events[4]!,
          events[5]!,
        ]) {
          yield* counter.countMessage(event)
        }
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
        yield* flusher.flushNow
        const xp = yield* xpOf(shard, guildA)
        expect(xp.get(member(2))).toBe(18)
      }),
  )
})

describe("the accrual publishes level changes and remembers where members wrote", () => {
  it.scopedLive(
    "the message that reaches 200 XP (level 2 at factor 100) publishes one level change",
    () =>
      Effect.gen(function* () {
        const { counter, context } = yield* setup
        const accrual = Context.get(context, Accrual)
        const channels = Context.get(context, LastMessageChannels)
        const changes = yield* PubSub.subscribe(accrual.levelChanges)
        const thread = id(900_000_000_000_000_777n)
        const parent = id(900_000_000_000_000_001n)
        for (let index = 0; index < 34; index++) {
          yield* counter.countMessage(
            message({
              guildId: guildC,
              authorId: member(9),
              channelId: thread,
              channelType: 11,
              parentId: parent,
              messageId: Snowflakes.fromTimestamp(at + index * 1000, index),
            }),
          )
        }
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
        const published = yield* Queue.takeAll(changes)
        expect([...published]).toMatchObject([
          {
            guildId: guildC,
            userId: member(9),
            oldXp: 198,
            newXp: 204,
            oldLevel: 1,
            newLevel: 2,
            noticeChannelId: thread,
          },
        ])
        expect(yield* channels.of(guildC, member(9))).toEqual(Option.some(thread))
        expect(yield* channels.of(guildC, member(8))).toEqual(Option.none())
      }),
  )
})

describe("a guild's queue that is only behind (loading new members' totals) never drops", () => {
  it.scopedLive(
    "1,200 messages from 400 new authors with room for 50 waiting events: all counted",
    () =>
      Effect.gen(function* () {
        const databases = yield* makeDatabases(2)
        const manager = yield* startManager(databases)
        const directory = yield* makeStateDirectory
        const shardUrls = new Map(
          databases.shardNames.map((name, dbShardId) => [dbShardId, databaseUrl(name)]),
        )
        const context = yield* Layer.build(
          coreLayer({
            managerUrl: manager.url,
            shardUrls,
            directory,
            core: { counter: { queueCapacity: 50 } },
          }),
        )
        const counter = Context.get(context, Counter)
        const flusher = Context.get(context, Flusher)
        const routes = Context.get(context, ManagerClient)
        // The guild's context is known first (one message), then the flood of first sights.
        yield* counter.countMessage(message({ guildId: guildA, authorId: member(10_000) }))
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
        for (let index = 0; index < 1200; index++) {
          yield* counter.countMessage(
            message({
              guildId: guildA,
              authorId: member(index % 400),
              messageId: Snowflakes.fromTimestamp(at + 60_000 + index, index),
            }),
          )
          expect((yield* counter.stats).waitingEvents).toBeLessThanOrEqual(50)
        }
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
        yield* flusher.flushNow
        const dbShardId = yield* Effect.orDie(routes.guildRoute(guildA))
        const xp = yield* xpOf(databases.shardNames[dbShardId]!, guildA)
        expect(xp.size).toBe(401)
        expect([...xp.values()].reduce((a, b) => a + b, 0)).toBe(1201 * 6)
      }),
  )
})

describe("a member whose total cannot load yet holds back only its own events", () => {
  it.scopedLive(
    "with guild_member locked, a known member still counts; the new member's events count after, in order",
    () =>
      Effect.gen(function* () {
        const { counter, flusher, shardOf, routes, context } = yield* setup
        const buffer = Context.get(context as Context.Context<ActivityBuffer>, ActivityBuffer)
        const lastChannels = Context.get(
          context as Context.Context<LastMessageChannels>,
          LastMessageChannels,
        )
        const shard = yield* shardOf(guildA)
        const dbShardId = yield* Effect.orDie(routes.guildRoute(guildA))
        const channelX = id(900_000_000_000_000_010n)
        const channelY = id(900_000_000_000_000_011n)
        const sent = (authorId: Snowflakes.Snowflake, offset: number, channelId = channelX) =>
          message({
            guildId: guildA,
            authorId,
            channelId,
            messageId: Snowflakes.fromTimestamp(at + offset, offset),
          })
        // The guild's context and member 1's total are loaded first.
        yield* counter.countMessage(sent(member(1), 0))
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)

        yield* Effect.scoped(
          Effect.gen(function* () {
            // Reads of guild_member wait while another session holds a write lock on it.
            const sql = yield* Testing.client(Redacted.make(databaseUrl(shard)), {
              maxConnections: 1,
            })
            const connection = yield* Effect.orDie(sql.reserve)
            yield* Effect.orDie(connection.executeRaw("LOCK TABLES guild_member WRITE", []))
            yield* counter.countMessage(sent(member(9), 1_000, channelX))
            yield* counter.countMessage(sent(member(9), 2_000, channelY))
            yield* counter.countMessage(sent(member(1), 3_000))
            // Member 1 counted at once; member 9's two events wait for its total.
            const total = yield* buffer.totalOf(dbShardId, guildA, member(1))
            expect(Option.getOrNull(total)).toBe(12)
            expect((yield* counter.stats).waitingEvents).toBe(2)
            yield* Effect.sleep("200 millis")
            expect((yield* counter.stats).waitingEvents).toBe(2)
            yield* Effect.orDie(connection.executeRaw("UNLOCK TABLES", []))
          }),
        )
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
        // Counted in their order: the last channel is the second message's.
        expect(Option.getOrNull(yield* lastChannels.of(guildA, member(9)))).toBe(channelY)
        yield* flusher.flushNow
        const xp = yield* xpOf(shard, guildA)
        expect(xp.get(member(1))).toBe(12)
        expect(xp.get(member(9))).toBe(12)
      }),
  )
})

describe("a deleted role stops mattering at once and its settings row goes", () => {
  it.scopedLive(
    "a no-XP role blocks XP; after roleDeleted the row is gone and the same role id no longer blocks",
    () =>
      Effect.gen(function* () {
        const { counter, flusher, shardOf, context } = yield* setup
        const shards = Context.get(context, ShardClients.ShardClients)
        const shard = yield* shardOf(guildB)
        const dbShardId = Number(shard.slice(-1))
        const role = id(700_000_000_000_000_123n)
        yield* ShardClients.use(
          dbShardId,
          Settings.putRole(guildB, { ...GuildSettings.defaultRoleSettings(role), noXp: true }),
        ).pipe(Effect.provideService(ShardClients.ShardClients, shards), Effect.orDie)

        const send = (index: number) =>
          counter.countMessage(
            message({
              guildId: guildB,
              authorId: member(3),
              memberRoleIds: [role],
              messageId: Snowflakes.fromTimestamp(at + index * 1000, index),
            }),
          )
        yield* send(0)
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
        yield* counter.roleDeleted(guildB, role)
        yield* send(1)
        yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
        yield* flusher.flushNow

        const xp = yield* xpOf(shard, guildB)
        expect(xp.get(member(3))).toBe(6)
        yield* eventually(
          query<{ roleId: string }>(shard, "SELECT role_id FROM guild_role WHERE guild_id = ?", [
            guildB,
          ]),
          (rows) => rows.length === 0,
        )
      }),
  )
})

describe("a guild whose route is not known yet waits, then counts", () => {
  it.scopedLive("messages sent while the manager refuses connections count once it answers", () =>
    Effect.gen(function* () {
      const databases = yield* makeDatabases(2)
      const manager = yield* startManager(databases)
      const managerPort = Number(new URL(manager.url).port)
      const proxy = yield* makeProxy(managerPort)
      const directory = yield* makeStateDirectory
      const shardUrls = new Map(
        databases.shardNames.map((name, dbShardId) => [dbShardId, databaseUrl(name)]),
      )
      yield* proxy.refuse
      const context = yield* Layer.build(
        coreLayer({ managerUrl: `http://127.0.0.1:${proxy.port}`, shardUrls, directory }),
      )
      const counter = context.unsafeMap.get(Counter.key) as Counter["Type"]
      const flusher = context.unsafeMap.get(Flusher.key) as Flusher["Type"]
      const routes = context.unsafeMap.get(ManagerClient.key) as ManagerClient["Type"]

      for (let index = 0; index < 20; index++) {
        yield* counter.countMessage(
          message({
            guildId: guildB,
            authorId: member(index % 4),
            messageId: Snowflakes.fromTimestamp(at + index, index),
          }),
        )
      }
      // Nothing is counted with made-up settings: they wait.
      yield* Effect.sleep("300 millis")
      expect((yield* counter.stats).waitingEvents).toBe(20)
      expect(Option.isNone(routes.cachedGuildRoute(guildB))).toBe(true)

      yield* proxy.restore
      yield* eventually(counter.stats, (stats) => stats.waitingEvents === 0)
      yield* flusher.flushNow
      const dbShardId = yield* Effect.orDie(routes.guildRoute(guildB))
      const xp = yield* xpOf(databases.shardNames[dbShardId]!, guildB)
      expect([...xp.values()].reduce((a, b) => a + b, 0)).toBe(20 * 6)
      expect(xp.get(member(0))).toBe(30)
    }),
  )
})
