import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"

const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))

/** The command line's answer to `args`, when it refuses them at once. */
const refusal = (...args: ReadonlyArray<string>) => {
  const run = spawnSync(process.execPath, ["--import", "tsx", bin, ...args], {
    encoding: "utf8",
    timeout: 20_000,
  })
  return { status: run.status, firstLine: run.stderr.split("\n")[0] }
}

describe("the simulator's command line", () => {
  it("refuses values it cannot use with one sentence, and options that would be ignored", () => {
    expect(refusal("--discord-shards", "0")).toEqual({
      status: 1,
      firstLine: "discord-sim: --discord-shards expects a whole number from 1 to 1024",
    })
    expect(refusal("--generate", "100", "--guilds", "0").firstLine).toBe(
      "discord-sim: --guilds expects a whole number from 1 to 1000",
    )
    expect(refusal("--heartbeat-interval", "0").status).toBe(1)
    expect(refusal("--seed", "7").firstLine).toBe("discord-sim: --seed applies to --generate only")
  }, 60_000)
})
