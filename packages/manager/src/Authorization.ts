import { createHash, timingSafeEqual } from "node:crypto"
import { HttpServerRequest } from "@effect/platform"
import * as ManagerApi from "@tally/domain/ManagerApi"
import { Effect, Layer, Redacted } from "effect"
import { ManagerToken } from "./ManagerToken"

const digest = (text: string) => createHash("sha256").update(text).digest()

/**
 * Compares digests rather than the tokens, so the comparison takes the same time whatever the
 * length or content of what was sent.
 */
export const layer = Layer.effect(
  ManagerApi.Authorization,
  Effect.gen(function* () {
    const expected = digest(Redacted.value(yield* ManagerToken))

    return {
      bearer: () =>
        Effect.gen(function* () {
          const request = yield* HttpServerRequest.HttpServerRequest
          const sent = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? "")?.[1]
          if (sent === undefined) {
            return yield* new ManagerApi.Unauthorized({ reason: "missing bearer token" })
          }
          if (!timingSafeEqual(digest(sent), expected)) {
            return yield* new ManagerApi.Unauthorized({ reason: "wrong bearer token" })
          }
        }),
    }
  }),
)
