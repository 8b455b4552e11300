import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import * as ManagerApi from "@tally/domain/ManagerApi"
import * as Testing from "@tally/sql/testing"
import { ConfigProvider, Effect, Layer, Redacted, TestClock, TestContext } from "effect"
import * as Gateways from "../src/Gateways"
import * as Manager from "../src/Manager"
import * as Settings from "../src/Settings"
import { ask, environment, makeDatabases, startManager } from "./fixtures"

class Server extends Effect.Tag("test/Server")<Server, { readonly url: string }>() {}

const ServerLive = Layer.scoped(
  Server,
  Effect.flatMap(makeDatabases(2), (databases) => startManager(environment(databases))),
)

/** Every endpoint the manager issue names. */
const endpoints = [
  ["get", "/health"],
  ["get", "/health/ready"],
  ["get", "/v1/routes/guilds/{guildId}"],
  ["get", "/v1/routes/guilds/{guildId}/existing"],
  ["post", "/v1/routes/guilds/batch"],
  ["get", "/v1/routes/users/{userId}"],
  ["post", "/v1/routes/users/batch"],
  ["get", "/v1/shards"],
  ["put", "/v1/gateways/{instanceId}/heartbeat"],
  ["get", "/v1/gateways"],
] as const

const protectedRequests = [
  ["GET", "/v1/routes/guilds/1"],
  ["GET", "/v1/routes/guilds/1/existing"],
  ["POST", "/v1/routes/guilds/batch"],
  ["GET", "/v1/routes/users/1"],
  ["POST", "/v1/routes/users/batch"],
  ["GET", "/v1/shards"],
  ["PUT", "/v1/gateways/gw-0/heartbeat"],
  ["GET", "/v1/gateways"],
] as const

const heartbeat = {
  discordShardIds: [0, 1],
  guildCount: 12,
  eventsPerSecond: 3.5,
  bufferedRows: 40,
  oldestBufferedAt: 1_796_000_000_000,
  lastFlushAt: null,
}

layer(ServerLive, { timeout: 60_000, excludeTestServices: true })(
  "the manager's HTTP API",
  (it) => {
    describe("everything under /v1 needs the bearer token", () => {
      it.effect("without a token every /v1 endpoint answers 401 with a JSON body saying so", () =>
        Effect.gen(function* () {
          const { url } = yield* Server
          for (const [method, route] of protectedRequests) {
            const response = yield* Effect.promise(() =>
              fetch(`${url}${route}`, { method, headers: { "content-type": "application/json" } }),
            )
            expect([method, route, response.status]).toEqual([method, route, 401])
            expect(response.headers.get("content-type")).toContain("application/json")
            expect(yield* Effect.promise(() => response.json())).toEqual({
              _tag: "Unauthorized",
              reason: "missing bearer token",
            })
          }
        }),
      )

      it.effect("a wrong token, or one that only starts like the right one, gets 401", () =>
        Effect.gen(function* () {
          const { url } = yield* Server
          for (const wrong of ["nope", "test-", "Bearer"]) {
            const answer = yield* ask(url, "/v1/shards", {}, wrong)
            expect(answer.status).toBe(401)
            expect(answer.body).toEqual({ _tag: "Unauthorized", reason: "wrong bearer token" })
          }
          const basic = yield* Effect.promise(() =>
            fetch(`${url}/v1/shards`, { headers: { authorization: "Basic dXNlcjpwYXNz" } }),
          )
          expect(basic.status).toBe(401)
        }),
      )

      it.effect("health, readiness, the OpenAPI document and the docs are public", () =>
        Effect.gen(function* () {
          const { url } = yield* Server
          for (const route of ["/health", "/health/ready", "/openapi.json", "/docs"]) {
            const response = yield* Effect.promise(() => fetch(`${url}${route}`))
            expect([route, response.status]).toEqual([route, 200])
          }
          const docs = yield* Effect.promise(() => fetch(`${url}/docs`).then((r) => r.text()))
          expect(docs).toContain("swagger-ui")
        }),
      )
    })

    it.effect("the OpenAPI document lists every endpoint, with bearer security on /v1", () =>
      Effect.gen(function* () {
        const { url } = yield* Server
        const { body } = yield* ask(url, "/openapi.json", {}, "")
        const listed = Object.entries(
          body.paths as Record<string, Record<string, unknown>>,
        ).flatMap(([route, methods]) => Object.keys(methods).map((method) => [method, route]))
        expect(listed.sort()).toEqual(endpoints.map(([method, route]) => [method, route]).sort())
        for (const [method, route] of endpoints) {
          const operation = body.paths[route][method]
          expect([route, operation.security ?? []]).toEqual(
            route.startsWith("/v1") ? [route, [{ bearer: [] }]] : [route, []],
          )
        }
        expect(body.components.securitySchemes.bearer).toEqual({ type: "http", scheme: "bearer" })
      }),
    )

    describe("the read-only guild lookup", () => {
      it.effect("a guild never asked for is 404 GuildNotRouted, and still has no route after", () =>
        Effect.gen(function* () {
          const { url } = yield* Server
          const guildId = "300000000000000001"
          const before = yield* ask(url, "/v1/shards")
          for (let attempt = 0; attempt < 2; attempt++) {
            const answer = yield* ask(url, `/v1/routes/guilds/${guildId}/existing`)
            expect(answer).toMatchObject({ status: 404, body: { _tag: "GuildNotRouted", guildId } })
          }
          expect(yield* ask(url, "/v1/shards")).toEqual(before)
        }),
      )

      it.effect("a routed guild gets the route it was given", () =>
        Effect.gen(function* () {
          const { url } = yield* Server
          const guildId = "300000000000000002"
          const given = yield* ask(url, `/v1/routes/guilds/${guildId}`)
          const found = yield* ask(url, `/v1/routes/guilds/${guildId}/existing`)
          expect(found).toEqual({ ...given, status: 200 })
          expect(found.body).toEqual({ guildId, dbShardId: expect.any(Number) })
        }),
      )
    })

    describe("a body that is not JSON", () => {
      const unreadable = [
        ["POST", "/v1/routes/guilds/batch"],
        ["POST", "/v1/routes/users/batch"],
        ["PUT", "/v1/gateways/gw-c/heartbeat"],
      ] as const

      it.effect("is 400 on every endpoint that takes a body, with a JSON body saying so", () =>
        Effect.gen(function* () {
          const { url } = yield* Server
          for (const [method, route] of unreadable) {
            const answer = yield* ask(url, route, { method, body: '{"guildIds": [' })
            expect([method, route, answer.status]).toEqual([method, route, 400])
            expect(answer.contentType).toContain("application/json")
            expect(answer.body).toEqual({
              _tag: "HttpApiDecodeError",
              issues: [],
              message: "the body is not valid JSON",
            })
          }
        }),
      )
    })

    describe("gateway heartbeats", () => {
      it.effect("a heartbeat is stored and listed with its age; a later one replaces it", () =>
        Effect.gen(function* () {
          const { url } = yield* Server
          const put = (body: object) =>
            ask(url, "/v1/gateways/gw-a/heartbeat", { method: "PUT", body: JSON.stringify(body) })
          expect((yield* put(heartbeat)).status).toBe(204)
          yield* Effect.sleep("50 millis")
          const first = yield* ask(url, "/v1/gateways")
          expect(first.body.gateways).toHaveLength(1)
          expect(first.body.gateways[0]).toMatchObject({ instanceId: "gw-a", ...heartbeat })
          expect(first.body.gateways[0].ageMillis).toBeGreaterThanOrEqual(40)

          yield* put({ ...heartbeat, guildCount: 13, lastFlushAt: 1_796_000_000_500 })
          const second = yield* ask(url, "/v1/gateways")
          expect(second.body.gateways).toHaveLength(1)
          expect(second.body.gateways[0]).toMatchObject({
            guildCount: 13,
            lastFlushAt: 1_796_000_000_500,
          })
          expect(second.body.gateways[0].ageMillis).toBeLessThan(first.body.gateways[0].ageMillis)
        }),
      )

      it.effect("a heartbeat with a missing field is refused with 400", () =>
        Effect.gen(function* () {
          const { url } = yield* Server
          const { guildCount: _, ...partial } = heartbeat
          const answer = yield* ask(url, "/v1/gateways/gw-b/heartbeat", {
            method: "PUT",
            body: JSON.stringify(partial),
          })
          expect(answer.status).toBe(400)
        }),
      )
    })
  },
)

describe("a gateway that stops sending heartbeats", () => {
  it.scoped(
    "is forgotten after MANAGER_GATEWAY_RETENTION: left out of the list, then deleted",
    () =>
      Effect.gen(function* () {
        const databases = yield* makeDatabases(1)
        // The manager creates and migrates its database; the service is then driven directly,
        // on the test's clock.
        yield* startManager(environment(databases))
        const sql = yield* Testing.client(Redacted.make(databases.managerUrl), {
          maxConnections: 1,
        })
        const stored = Effect.map(
          sql<{ instanceId: string }>`SELECT instance_id FROM gateway_heartbeat`,
          (rows) => rows.map((row) => row.instanceId).sort(),
        )
        yield* Effect.gen(function* () {
          const gateways = yield* Gateways.Gateways
          const listed = Effect.map(gateways.list, (list) => list.map((g) => g.instanceId))
          const beat = (instanceId: string) =>
            gateways.heartbeat(instanceId, new ManagerApi.Heartbeat(heartbeat))

          yield* beat("gw-stopped")
          yield* TestClock.adjust("59 seconds")
          expect(yield* listed).toEqual(["gw-stopped"])
          yield* TestClock.adjust("2 seconds")
          // Silent past the retention: no longer listed; its row waits for the next heartbeat.
          expect(yield* listed).toEqual([])
          expect(yield* stored).toEqual(["gw-stopped"])
          yield* beat("gw-running")
          expect(yield* listed).toEqual(["gw-running"])
          expect(yield* stored).toEqual(["gw-running"])
        }).pipe(
          Effect.provide(Gateways.Gateways.Default),
          Effect.provideService(SqlClient.SqlClient, sql),
          Effect.withConfigProvider(
            ConfigProvider.fromMap(new Map([["MANAGER_GATEWAY_RETENTION", "1 minute"]])),
          ),
          Effect.provide(TestContext.TestContext),
        )
      }),
  )

  it.effect(
    "a retention that is no duration, or shorter than two heartbeats, stops the start naming the setting",
    () =>
      Effect.gen(function* () {
        for (const value of ["soon", "0 seconds", "10 seconds"]) {
          const error = yield* Effect.flip(
            Settings.check(Manager.settingsConfig).pipe(
              Effect.withConfigProvider(
                ConfigProvider.fromMap(new Map([["MANAGER_GATEWAY_RETENTION", value]])),
              ),
            ),
          )
          expect([value, error.reason]).toEqual([
            value,
            expect.stringContaining("MANAGER_GATEWAY_RETENTION is not valid"),
          ])
        }
      }),
  )
})
