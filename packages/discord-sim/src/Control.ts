/**
 * The simulator's controls over HTTP (JSON), for bots and benchmarks in another process:
 *
 * | method and path | body | answer |
 * | --- | --- | --- |
 * | GET `/_sim/status` | – | urls, token, application id, stats |
 * | GET `/_sim/stats` | – | SimStats |
 * | POST `/_sim/inject` | a SimEvent or an array of them | `{ injected }` |
 * | POST `/_sim/replay/start` · `/pause` · `/resume` | – | ReplayStatus |
 * | POST `/_sim/replay/speed` | `{ speed: "max" \| "real" \| number }` | ReplayStatus |
 * | GET `/_sim/replay` | – | ReplayStatus |
 * | POST `/_sim/replay/await` | `{ timeoutMillis }` | ReplayStatus, or 504 |
 * | POST `/_sim/faults/drop` | `{ kind: "close" \| "reconnect" \| "invalid-session" \| "session-timeout", shard? }` | `{}` |
 * | POST `/_sim/faults/close` | `{ code, shard? }` | `{}` |
 * | POST `/_sim/faults/invalid-session-resumable` | `{ shard? }` | `{}` |
 * | POST `/_sim/faults/heartbeat-acks` | `{ enabled }` | `{}` |
 * | POST `/_sim/faults/delivery` | `{ paused }` | `{}` |
 * | POST `/_sim/faults/rate-limit` | RateLimitFault | `{}` |
 * | POST `/_sim/faults/server-error` | ServerErrorFault | `{}` |
 * | POST `/_sim/faults/clear` | – | `{}` |
 * | GET `/_sim/rest?since=N` | – | `{ calls, next }`: recorded REST calls from index N |
 * | POST `/_sim/interactions` | RunInteraction | InteractionReply, 504 on timeout, 400 for an unknown guild, channel |
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import { Cause, Effect, Exit, Option } from "effect"
import type { DiscordSim, DropKind, RunInteraction } from "./DiscordSim"
import type { SimEvent } from "./Events"
import { parseSpeed } from "./Replay"
import type { RateLimitFault, ServerErrorFault } from "./Rest"

type Body = Record<string, unknown>

const shardOf = (body: Body) => (typeof body.shard === "number" ? body.shard : undefined)

export const makeControl =
  (sim: () => DiscordSim) =>
  (_request: IncomingMessage, response: ServerResponse, rawPath: string, raw: Buffer) => {
    const send = (status: number, value: unknown) => {
      response.writeHead(status, { "Content-Type": "application/json" })
      response.end(JSON.stringify(value))
    }
    const method = _request.method ?? "GET"
    const [path = "", search = ""] = rawPath.split("?")
    let body: Body
    try {
      body = raw.length > 0 ? (JSON.parse(raw.toString("utf8")) as Body) : {}
    } catch {
      return send(400, { error: "the body is not JSON" })
    }
    // A bad request body (e.g. an invalid speed) is answered with 400, never a dead simulator.
    const run = <A, E>(
      effect: Effect.Effect<A, E>,
      errorStatus: number | ((error: E) => number) = 400,
    ) =>
      void Effect.runPromise(Effect.exit(effect)).then((exit) => {
        if (Exit.isSuccess(exit)) return send(200, exit.value ?? {})
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure)) {
          const status = typeof errorStatus === "number" ? errorStatus : errorStatus(failure.value)
          return send(status, { error: failure.value })
        }
        const defect = Cause.squash(exit.cause)
        return send(400, { error: defect instanceof Error ? defect.message : String(defect) })
      })
    const simulator = sim()
    const key = `${method} ${path}`
    switch (key) {
      case "GET /status":
        return run(
          Effect.map(simulator.stats, (stats) => ({
            apiUrl: simulator.apiUrl,
            gatewayUrl: simulator.gatewayUrl,
            controlUrl: simulator.controlUrl,
            token: simulator.token,
            applicationId: simulator.applicationId,
            stats,
          })),
        )
      case "GET /stats":
        return run(simulator.stats)
      case "POST /inject": {
        const events = (Array.isArray(body) ? body : [body]) as Array<SimEvent>
        return run(
          Effect.as(Effect.forEach(events, simulator.inject, { discard: true }), {
            injected: events.length,
          }),
        )
      }
      case "GET /replay":
        return run(simulator.replay.status)
      case "POST /replay/start":
        return run(Effect.zipRight(simulator.replay.start, simulator.replay.status))
      case "POST /replay/pause":
        return run(Effect.zipRight(simulator.replay.pause, simulator.replay.status))
      case "POST /replay/resume":
        return run(Effect.zipRight(simulator.replay.resume, simulator.replay.status))
      case "POST /replay/speed":
        return run(
          Effect.suspend(() =>
            Effect.zipRight(
              simulator.replay.setSpeed(parseSpeed(String(body.speed))),
              simulator.replay.status,
            ),
          ),
        )
      case "POST /replay/await":
        return run(
          simulator.replay.awaitDone(
            typeof body.timeoutMillis === "number" ? body.timeoutMillis : 60_000,
          ),
          504,
        )
      case "POST /faults/drop":
        return run(Effect.as(simulator.faults.drop(body.kind as DropKind, shardOf(body)), {}))
      case "POST /faults/close":
        return run(Effect.as(simulator.faults.close(Number(body.code), shardOf(body)), {}))
      case "POST /faults/invalid-session-resumable":
        return run(Effect.as(simulator.faults.invalidSessionResumable(shardOf(body)), {}))
      case "POST /faults/heartbeat-acks":
        return run(Effect.as(simulator.faults.heartbeatAcks(body.enabled !== false), {}))
      case "POST /faults/delivery":
        return run(
          Effect.as(
            body.paused === true ? simulator.faults.pauseDelivery : simulator.faults.resumeDelivery,
            {},
          ),
        )
      case "POST /faults/rate-limit":
        return run(Effect.as(simulator.faults.rateLimit(body as unknown as RateLimitFault), {}))
      case "POST /faults/server-error":
        return run(Effect.as(simulator.faults.serverError(body as unknown as ServerErrorFault), {}))
      case "POST /faults/clear":
        return run(Effect.as(simulator.faults.clear, {}))
      case "GET /rest": {
        const since = Number(new URLSearchParams(search).get("since") ?? 0)
        return run(
          Effect.map(simulator.restCalls, (calls) => ({
            calls: calls.slice(since),
            next: calls.length,
          })),
        )
      }
      case "POST /interactions":
        // 504: no reply in time; 400: an interaction the world cannot have (unknown guild…).
        return run(simulator.runInteraction(body as unknown as RunInteraction), (error) =>
          error._tag === "InteractionTimeout" ? 504 : 400,
        )
      default:
        return send(404, { error: `no control ${key}` })
    }
  }
