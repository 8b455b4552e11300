import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import * as ManagerApi from "@tally/domain/ManagerApi"
import * as Snowflake from "@tally/domain/Snowflake"
import { ConfigProvider, Context, type Duration, Effect, Layer, Option, Redacted } from "effect"
import * as ManagerClient from "../src/ManagerClient"
import { ask, countRequests, environment, makeDatabases, startManager, token } from "./fixtures"

class Server extends Effect.Tag("test/Server")<Server, { readonly url: string }>() {}

const batchCalls = countRequests((url) => url.endsWith("/batch"))
const singleCalls = countRequests((url) => /\/v1\/routes\/(guilds|users)\/\d+$/.test(url))

const ServerLive = Layer.scoped(
  Server,
  Effect.flatMap(makeDatabases(2), (databases) =>
    startManager(environment(databases), Layer.merge(batchCalls.layer, singleCalls.layer)),
  ),
)

const client = (options?: {
  readonly url?: string
  readonly token?: string
  readonly batchWindow?: Duration.DurationInput
}) =>
  Effect.flatMap(Server, (server) =>
    ManagerClient.make({
      url: options?.url ?? server.url,
      token: Redacted.make(options?.token ?? token),
      ...(options?.batchWindow === undefined ? {} : { batchWindow: options.batchWindow }),
    }),
  ).pipe(Effect.provide(FetchHttpClient.layer))

let seed = 0
const freshIds = (count: number) => {
  seed += 1
  return Array.from({ length: count }, (_, index) =>
    Snowflake.fromTimestamp(1_650_000_000_000 + seed * 100_000_000 + index * 1000, index),
  )
}

const serverRoutes = (url: string, guildIds: ReadonlyArray<string>) =>
  Effect.map(
    ask(url, "/v1/routes/guilds/batch", { method: "POST", body: JSON.stringify({ guildIds }) }),
    ({ body }) => body.routes.map((route: ManagerApi.GuildRoute) => route.dbShardId),
  )

layer(ServerLive, { timeout: 60_000, excludeTestServices: true })("ManagerClient", (it) => {
  describe("lookups are batched and cached", () => {
    it.scoped(
      "200 fibers asking at once share one batch call, and the answers are the routes",
      () =>
        Effect.gen(function* () {
          const { url } = yield* Server
          // Forking 200 fibers takes a while on a busy machine; the window must cover all of them.
          const manager = yield* client({ batchWindow: "50 millis" })
          const ids = freshIds(200)
          const before = { batch: batchCalls.counter.count, single: singleCalls.counter.count }

          const dbShardIds = yield* Effect.forEach(ids, manager.guildRoute, {
            concurrency: "unbounded",
          })
          expect(batchCalls.counter.count - before.batch).toBe(1)
          expect(singleCalls.counter.count - before.single).toBe(0)
          expect(dbShardIds).toEqual(yield* serverRoutes(url, ids))
        }),
    )

    it.scoped("a route asked before is answered from the cache without a call", () =>
      Effect.gen(function* () {
        const manager = yield* client()
        const ids = freshIds(50)
        expect(manager.cachedGuildRoute(ids[0]!)).toEqual(Option.none())
        const first = yield* Effect.forEach(ids, manager.guildRoute, { concurrency: "unbounded" })
        const before = batchCalls.counter.count

        const again = yield* Effect.forEach(ids, manager.guildRoute, { concurrency: "unbounded" })
        const oneByOne = yield* Effect.forEach(ids, manager.guildRoute)
        expect(batchCalls.counter.count).toBe(before)
        expect(again).toEqual(first)
        expect(oneByOne).toEqual(first)
        expect(manager.cachedGuildRoute(ids[0]!)).toEqual(Option.some(first[0]))
      }),
    )

    it.scoped(
      "fibers forked a few milliseconds apart, within the batch window, share one call",
      () =>
        Effect.gen(function* () {
          // A wide window: this machine may be busy, and the rule is about the window, not 5 ms.
          const manager = yield* client({ batchWindow: "100 millis" })
          const ids = freshIds(30)
          const before = batchCalls.counter.count
          const fibers = []
          for (const id of ids.slice(0, 3)) {
            fibers.push(yield* Effect.fork(manager.guildRoute(id)))
            yield* Effect.sleep("1 millis")
          }
          for (const fiber of fibers) yield* fiber
          expect(batchCalls.counter.count - before).toBe(1)
        }),
    )

    it.scoped("more than 1,000 lookups at once are split into calls of at most 1,000", () =>
      Effect.gen(function* () {
        const manager = yield* client({ batchWindow: "200 millis" })
        const ids = freshIds(ManagerApi.MAX_BATCH + 200)
        const before = batchCalls.counter.count
        const dbShardIds = yield* Effect.forEach(ids, manager.guildRoute, {
          concurrency: "unbounded",
        })
        expect(batchCalls.counter.count - before).toBe(2)
        expect(new Set(dbShardIds)).toEqual(new Set([0, 1]))
      }),
    )

    it.scoped("user routes are batched the same way", () =>
      Effect.gen(function* () {
        const { url } = yield* Server
        const manager = yield* client()
        const ids = freshIds(20)
        const before = batchCalls.counter.count
        const dbShardIds = yield* Effect.forEach(ids, manager.userRoute, {
          concurrency: "unbounded",
        })
        expect(batchCalls.counter.count - before).toBe(1)
        const single = yield* ask(url, `/v1/routes/users/${ids[3]}`)
        expect(single.body.dbShardId).toBe(dbShardIds[3])
      }),
    )
  })

  describe("errors", () => {
    it.scoped(
      "a manager that is down gives ManagerUnavailable, retryable and without the token",
      () =>
        Effect.gen(function* () {
          const manager = yield* client({ url: "http://127.0.0.1:1" })
          const [id] = freshIds(1)
          const error = yield* Effect.flip(manager.guildRoute(id!))
          expect(error).toBeInstanceOf(ManagerClient.ManagerUnavailable)
          expect(error.retryable).toBe(true)
          expect(`${JSON.stringify(error)} ${String(error)}`).not.toContain(token)
          const heartbeatError = yield* Effect.flip(manager.dbShards)
          expect(heartbeatError._tag).toBe("ManagerUnavailable")
        }),
    )

    it.scoped("a wrong token gives ManagerRejected, not retryable, whose message says why", () =>
      Effect.gen(function* () {
        const manager = yield* client({ token: "not-the-token" })
        const [id] = freshIds(1)
        const error = yield* Effect.flip(manager.guildRoute(id!))
        expect(error).toEqual(new ManagerClient.ManagerRejected({ reason: "wrong bearer token" }))
        expect(error.retryable).toBe(false)
        // What the gateway prints when it stops on this error.
        expect(error.message).toBe("wrong bearer token")
      }),
    )
  })

  it.scoped(
    "the read-only lookup: none for a guild never routed, which stays so; else its route",
    () =>
      Effect.gen(function* () {
        const { url } = yield* Server
        const manager = yield* client()
        const [never, routed] = freshIds(2)
        expect(yield* manager.existingGuildRoute(never!)).toEqual(Option.none())
        expect(yield* manager.existingGuildRoute(never!)).toEqual(Option.none())
        const [dbShardId] = yield* serverRoutes(url, [routed!])
        expect(yield* manager.existingGuildRoute(routed!)).toEqual(Option.some(dbShardId))
        const lookup = yield* ask(url, `/v1/routes/guilds/${never}/existing`)
        expect(lookup.status).toBe(404)
      }),
  )

  it.scoped("heartbeats, DB shards and gateways through the client", () =>
    Effect.gen(function* () {
      const manager = yield* client()
      yield* manager.heartbeat(
        "gw-client",
        new ManagerApi.Heartbeat({
          discordShardIds: [3],
          guildCount: 2,
          eventsPerSecond: 0,
          bufferedRows: 0,
          oldestBufferedAt: null,
          lastFlushAt: null,
        }),
      )
      const gateways = yield* manager.gateways
      expect(gateways.map((gateway) => gateway.instanceId)).toContain("gw-client")
      const dbShards = yield* manager.dbShards
      expect(dbShards.map((dbShard) => dbShard.dbShardId)).toEqual([0, 1])
    }),
  )

  it.scoped(
    "from config: MANAGER_URL, and without MANAGER_TOKEN the token in .tally/manager.token",
    () =>
      Effect.gen(function* () {
        const { url } = yield* Server
        const folder = mkdtempSync(path.join(tmpdir(), "tally-client-"))
        mkdirSync(path.join(folder, ".tally"))
        writeFileSync(path.join(folder, ".tally/manager.token"), `${token}\n`, { mode: 0o600 })
        const previous = process.env.INIT_CWD
        process.env.INIT_CWD = folder
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (previous === undefined) delete process.env.INIT_CWD
            else process.env.INIT_CWD = previous
            rmSync(folder, { recursive: true })
          }),
        )

        const context = yield* Layer.build(ManagerClient.layerConfig).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["MANAGER_URL", url]]))),
        )
        const manager = Context.get(context, ManagerClient.ManagerClient)
        const dbShards = yield* manager.dbShards
        expect(dbShards.map((dbShard) => dbShard.dbShardId)).toEqual([0, 1])
      }),
  )
})
