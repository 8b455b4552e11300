import { spawn, spawnSync } from "node:child_process"
import * as Net from "node:net"
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

  it("--help prints the usage and exits 0, starting nothing", () => {
    const run = spawnSync(process.execPath, ["--import", "tsx", bin, "--help"], {
      encoding: "utf8",
      timeout: 20_000,
    })
    expect(run.status).toBe(0)
    expect(run.stdout).toMatch(/^usage: pnpm --filter @tally\/discord-sim start /)
  }, 30_000)

  it("a port in use is said in one sentence, without the usage line", async () => {
    const taken = Net.createServer()
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve))
    const port = (taken.address() as Net.AddressInfo).port
    const run = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", bin, "--port", String(port)])
      let stderr = ""
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString()
      })
      child.once("exit", (status) => resolve({ status, stderr }))
    })
    taken.close()
    expect(run).toEqual({
      status: 1,
      stderr: `discord-sim: cannot listen on 127.0.0.1:${port}: the port is in use (choose another, or none for a free one)\n`,
    })
  }, 60_000)
})
