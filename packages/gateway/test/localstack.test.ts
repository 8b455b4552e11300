import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LocalStack from "../src/LocalStack"
import { serverUrl as url } from "./support/stack"

describe("LocalStack", () => {
  it.scopedLive(
    "a server lock is held by one scope at a time and freed when that scope closes",
    () =>
      Effect.gen(function* () {
        const name = LocalStack.randomPrefix("tally_test_lock")
        yield* Effect.scoped(
          Effect.gen(function* () {
            expect(yield* LocalStack.holdServerLock(url, name)).toBe(true)
            expect(yield* Effect.scoped(LocalStack.holdServerLock(url, name))).toBe(false)
          }),
        )
        expect(yield* Effect.scoped(LocalStack.holdServerLock(url, name))).toBe(true)
      }),
  )
})
