/**
 * The gateway's own HTTP endpoints on `GATEWAY_HTTP_PORT`: `GET /health` (alive, with the guild
 * count and each Discord shard's connection state) and `GET /metrics` (Prometheus text of every
 * Effect metric).
 */
import { createServer } from "node:http"
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Data, Effect, Layer } from "effect"
import { GatewayConfig } from "./Config"
import { Discord } from "./Discord"
import { GuildState } from "./GuildState"
import * as Prometheus from "./Prometheus"

/** The port cannot be listened on; nothing else would serve /health and /metrics. */
export class HttpListenFailed extends Data.TaggedError("HttpListenFailed")<{
  readonly reason: string
  readonly cause: unknown
}> {
  override get message() {
    return this.reason
  }
}

const router = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/health",
    Effect.gen(function* () {
      const guildState = yield* GuildState
      const discord = yield* Discord
      // Alive (200) while Discord is away too: the library reconnects on its own, and a restart
      // would not bring Discord back sooner.
      return yield* HttpServerResponse.json({
        status: "alive",
        guilds: yield* guildState.guildCount,
        discordShards: Object.fromEntries(yield* discord.shardStates),
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

const listenReasons: Readonly<Record<string, string>> = {
  EADDRINUSE: "address in use",
  EACCES: "permission denied",
  EADDRNOTAVAIL: "address not available",
}

const listenFailed = (address: string, cause: unknown) => {
  const code = (cause as { readonly code?: unknown } | null)?.code
  const why =
    (typeof code === "string" ? listenReasons[code] : undefined) ??
    (cause instanceof Error ? cause.message : String(cause))
  return new HttpListenFailed({
    reason: `cannot listen on ${address} (${why}): set GATEWAY_HTTP_PORT to a free port (0 picks one)`,
    cause,
  })
}

export const layer = Layer.unwrapEffect(
  Effect.map(GatewayConfig, (config) => {
    const host = "127.0.0.1"
    return layerServe.pipe(
      Layer.provide(
        NodeHttpServer.layer(createServer, { port: config.httpPort, host }).pipe(
          Layer.mapError((error) => listenFailed(`${host}:${config.httpPort}`, error.cause)),
        ),
      ),
    )
  }),
)
