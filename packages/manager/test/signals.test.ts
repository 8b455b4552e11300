import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"

const script = fileURLToPath(new URL("./support/slowStop.ts", import.meta.url))

/** Runs the slow-stopping process, sends it SIGINT twice, 100 ms apart; whether its stop ended. */
const interruptTwice = (mode: string) =>
  new Promise<{ readonly stopped: boolean; readonly code: number | null }>((resolve, reject) => {
    const marker = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "tally-signals-")), "stopped")
    const child = spawn(process.execPath, ["--import", "tsx", script, marker, mode], {
      stdio: ["ignore", "pipe", "inherit"],
    })
    child.stdout.on("data", (chunk: Buffer) => {
      if (!chunk.toString().includes("ready")) return
      child.kill("SIGINT")
      setTimeout(() => child.kill("SIGINT"), 100)
    })
    child.once("error", reject)
    child.once("exit", (code) => {
      resolve({ stopped: Fs.existsSync(marker), code })
      Fs.rmSync(Path.dirname(marker), { recursive: true, force: true })
    })
  })

describe("stopOnlyOnce", () => {
  it("a second SIGINT during the stop no longer cuts it short", async () => {
    const without = await interruptTwice("--plain")
    expect(without.stopped).toBe(false)
    const withIt = await interruptTwice("--stop-only-once")
    expect(withIt).toEqual({ stopped: true, code: 0 })
  }, 30_000)
})
