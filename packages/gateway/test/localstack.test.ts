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

  it.effect("a server URL is checked with a sentence naming the setting, never the password", () =>
    Effect.gen(function* () {
      const reasonOf = (serverUrl: string) =>
        Effect.flip(LocalStack.checkServer(serverUrl, "SOME_URL")).pipe(
          Effect.map((error) => error.reason),
        )
      const withPassword = new URL(url)
      withPassword.password = "Sup3rSecret"
      const refused = yield* reasonOf(withPassword.toString())
      expect(refused).toContain("refused the login")
      expect(refused).toContain("SOME_URL")
      expect(refused).not.toContain("Sup3rSecret")
      expect(yield* reasonOf(`${url.replace(/\/+$/, "")}/somedb`)).toContain("names a database")
      expect(yield* reasonOf("not a url")).toBe("SOME_URL is not a usable database URL: not a URL")
      expect(LocalStack.displayUrl("mysql://root:pw@h:1")).toBe("mysql://root:***@h:1")
    }),
  )
})
