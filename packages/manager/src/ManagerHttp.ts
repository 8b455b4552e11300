import { createServer } from "node:http"
import {
  HttpApiBuilder,
  HttpApiError,
  HttpApiSwagger,
  HttpMiddleware,
  HttpServer,
  HttpServerError,
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import * as ManagerApi from "@tally/domain/ManagerApi"
import { Config, Effect, Layer, Option } from "effect"
import * as Authorization from "./Authorization"
import { DbShards } from "./DbShards"
import { Gateways } from "./Gateways"
import { Routes } from "./Routes"
import * as Settings from "./Settings"

const unavailable = (error: { readonly message: string }) =>
  Effect.logWarning("manager database failed", error.message).pipe(
    Effect.zipRight(new ManagerApi.RoutingUnavailable({ reason: error.message })),
  )

const HealthLive = HttpApiBuilder.group(ManagerApi.Api, "health", (handlers) =>
  Effect.gen(function* () {
    const dbShards = yield* DbShards
    return handlers
      .handle("alive", () => Effect.succeed({ status: "alive" as const }))
      .handle("ready", () => dbShards.ready)
  }),
)

const RoutesLive = HttpApiBuilder.group(ManagerApi.Api, "routes", (handlers) =>
  Effect.gen(function* () {
    const routes = yield* Routes
    return handlers
      .handle("guild", ({ path }) =>
        Effect.flatMap(routes.guilds([path.guildId]), ([route]) =>
          route === undefined ? Effect.die("no route returned") : Effect.succeed(route),
        ),
      )
      .handle("existingGuild", ({ path }) => routes.existingGuild(path.guildId))
      .handle("guilds", ({ payload }) =>
        Effect.map(routes.guilds(payload.guildIds), (found) => ({ routes: found })),
      )
      .handle("user", ({ path }) =>
        Effect.flatMap(routes.users([path.userId]), ([route]) =>
          route === undefined ? Effect.die("no route returned") : Effect.succeed(route),
        ),
      )
      .handle("users", ({ payload }) =>
        Effect.map(routes.users(payload.userIds), (found) => ({ routes: found })),
      )
  }),
)

const ShardsLive = HttpApiBuilder.group(ManagerApi.Api, "shards", (handlers) =>
  Effect.gen(function* () {
    const dbShards = yield* DbShards
    return handlers.handle("list", () =>
      dbShards.list.pipe(
        Effect.map((shards) => ({ shards })),
        Effect.catchTag("SqlError", unavailable),
      ),
    )
  }),
)

const GatewaysLive = HttpApiBuilder.group(ManagerApi.Api, "gateways", (handlers) =>
  Effect.gen(function* () {
    const gateways = yield* Gateways
    return handlers
      .handle("heartbeat", ({ path, payload }) =>
        gateways.heartbeat(path.instanceId, payload).pipe(Effect.catchTag("SqlError", unavailable)),
      )
      .handle("list", () =>
        gateways.list.pipe(
          Effect.map((list) => ({ gateways: list })),
          Effect.catchTags({ SqlError: unavailable, ParseError: unavailable }),
        ),
      )
  }),
)

/** The manager's API with its handlers; needs Routes, DbShards, Gateways and the token. */
export const ApiLive = HttpApiBuilder.api(ManagerApi.Api).pipe(
  Layer.provide([HealthLive, RoutesLive, ShardsLive, GatewaysLive]),
  Layer.provide(Authorization.layer),
)

const unreadableBody = (defect: unknown) => {
  if (!HttpServerError.isServerError(defect) || defect._tag !== "RequestError") return undefined
  if (defect.reason !== "Decode") return undefined
  const contentType = defect.request.headers["content-type"] ?? "application/json"
  return contentType.includes("json")
    ? "the body is not valid JSON"
    : `the body cannot be read as ${contentType}`
}

/**
 * The API reads every body with `orDie`, so a malformed one is a defect: answered 400 with an
 * empty body and logged with a stack. It becomes the API's own decode error instead, which
 * answers with a JSON body that says why and is logged as one request line.
 */
export const layerUnreadableBody = HttpApiBuilder.middleware(ManagerApi.Api, (app) =>
  Effect.catchSomeDefect(app, (defect) =>
    Option.map(
      Option.fromNullable(unreadableBody(defect)),
      (message) => new HttpApiError.HttpApiDecodeError({ issues: [], message }),
    ),
  ),
)

/** Serves the API, `/openapi.json` and Swagger UI at `/docs` on an existing `HttpServer`. */
export const layerServe = HttpApiBuilder.serve(HttpMiddleware.logger).pipe(
  Layer.provide(layerUnreadableBody),
  Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
  Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
  Layer.provide(ApiLive),
  HttpServer.withLogAddress,
)

/** MANAGER_HOST (127.0.0.1) and MANAGER_PORT (3005). */
export const serverConfig = Config.all({
  host: Config.string("MANAGER_HOST").pipe(Config.withDefault("127.0.0.1")),
  port: Settings.port("MANAGER_PORT").pipe(Config.withDefault(3005)),
})

export const layerServer = NodeHttpServer.layerConfig(createServer, serverConfig)

export const layer = layerServe.pipe(Layer.provide(layerServer))
