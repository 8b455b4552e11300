import { describe, expect, it } from "@effect/vitest"
import { Either, Redacted } from "effect"
import * as DatabaseUrl from "../src/DatabaseUrl"

describe("DatabaseUrl.parse", () => {
  it("reads user, password, host, port and database, keeping the password redacted", () => {
    const config = Either.getOrThrow(
      DatabaseUrl.parse(Redacted.make("mysql://tally:s%40cret@db.example:3307/tally_shard_4")),
    )
    expect(config.host).toBe("db.example")
    expect(config.port).toBe(3307)
    expect(config.username).toBe("tally")
    expect(config.database).toBe("tally_shard_4")
    expect(Redacted.isRedacted(config.password)).toBe(true)
    expect(Redacted.value(config.password!)).toBe("s@cret")
    expect(String(config.password)).not.toContain("s@cret")
  })

  it("defaults to root without password on port 3306 and no database", () => {
    const config = Either.getOrThrow(DatabaseUrl.parse("mysql://127.0.0.1"))
    expect(config).toMatchObject({ host: "127.0.0.1", port: 3306, username: "root" })
    expect(config.password).toBeUndefined()
    expect(config.database).toBeUndefined()
  })

  it("rejects other schemes without repeating the URL (it may hold a password)", () => {
    const result = DatabaseUrl.parse("postgres://user:hunter2@host/db")
    expect(Either.isLeft(result)).toBe(true)
    expect(JSON.stringify(Either.flip(result))).not.toContain("hunter2")
  })
})
