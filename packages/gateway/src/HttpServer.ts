/**
 * The gateway's own HTTP endpoints on `GATEWAY_HTTP_PORT`: `GET /health` (alive, with the Discord
 * shards and guild count) and `GET /metrics` (Prometheus text of every Effect metric).
 */
import { createServer } from "node:http"
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { GatewayConfig } from "./Config"
import { GuildState } from "./GuildState"
import * as Prometheus from "./Prometheus"

const router = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/health",
    Effect.gen(function* () {
      const guildState = yield* GuildState
      return yield* HttpServerResponse.json({
        status: "alive",
        guilds: yield* guildState.guildCount,
      })
    }),
  ),
  HttpRouter.get(
    "/metrics",
    Effect.sync(() =>
      HttpServerResponse.text(Prometheus.render(), {
        contentType: "text/plain; version=0.0.4; charset=utf-8",
      }),
    ),
  ),
)

/** Serves the routes on an existing `HttpServer`. */
export const layerServe = HttpServer.serve(router).pipe(HttpServer.withLogAddress)

export const layer = Layer.unwrapEffect(
  Effect.map(GatewayConfig, (config) =>
    layerServe.pipe(
      Layer.provide(
        NodeHttpServer.layer(createServer, { port: config.httpPort, host: "127.0.0.1" }),
      ),
    ),
  ),
)
