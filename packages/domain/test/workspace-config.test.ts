/**
 * A repo-level check kept with the domain tests: the CI workflow and docker-compose.yml parse, and
 * every environment variable they set for Tally is one the code reads.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { parse } from "yaml"

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))
const workflowPath = path.join(repoRoot, ".github/workflows/ci.yml")
const composePath = path.join(repoRoot, "docker-compose.yml")

/** The configuration table of ARCHITECTURE.md. */
const documentedNames = [
  "DISCORD_TOKEN",
  "DISCORD_APPLICATION_ID",
  "DISCORD_API_URL",
  "DISCORD_SHARD_IDS",
  "DISCORD_SHARD_COUNT",
  "GATEWAY_INSTANCE_ID",
  "MANAGER_URL",
  "MANAGER_TOKEN",
  "MANAGER_HOST",
  "MANAGER_PORT",
  "MANAGER_DATABASE_URL",
  "SHARD_DATABASE_URLS",
  "FLUSH_INTERVAL",
  "LOG_LEVEL",
  "GATEWAY_HTTP_PORT",
]

/** Names read through Effect `Config.<kind>("NAME")` (string, redacted, integer, …). */
const configNamesIn = (source: string): Array<string> =>
  [...source.matchAll(/\bConfig\.\w+\(\s*["'`]([A-Z][A-Z0-9_]*)["'`]/g)].map((match) => match[1]!)

const sourceFiles = (): Array<string> =>
  readdirSync(path.join(repoRoot, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => path.join(repoRoot, "packages", entry.name, "src"))
    .filter((dir) => existsSync(dir))
    .flatMap((dir) =>
      readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((file) => file.endsWith(".ts"))
        .map((file) => path.join(dir, file)),
    )

const knownNames = (): Set<string> =>
  new Set([
    ...documentedNames,
    ...sourceFiles().flatMap((file) => configNamesIn(readFileSync(file, "utf8"))),
  ])

type Env = Record<string, unknown> | ReadonlyArray<string> | undefined

/** Names set by an `env:` map or a compose `environment:` map or `NAME=value` list. */
const namesOf = (env: Env): Array<string> =>
  env === undefined || env === null
    ? []
    : Array.isArray(env)
      ? env.map((entry: string) => entry.split("=")[0]!.trim())
      : Object.keys(env)

interface Step {
  readonly run?: string
  readonly env?: Env
}
interface Job {
  readonly env?: Env
  readonly container?: { readonly env?: Env }
  readonly services?: Record<string, { readonly image?: string; readonly env?: Env }>
  readonly steps?: ReadonlyArray<Step>
}
interface Workflow {
  readonly env?: Env
  readonly jobs?: Record<string, Job>
}

const readYaml = (file: string): unknown => parse(readFileSync(file, "utf8"))

/** Images of third-party services whose environment is theirs, not Tally's. */
const isThirdPartyImage = (image: string | undefined): boolean =>
  image !== undefined && /^(docker\.io\/)?(library\/)?(mariadb|mysql)(:|$)/.test(image)

/** Names the workflow sets for Tally's processes that no code reads. */
const unknownWorkflowKeys = (workflow: Workflow, known: ReadonlySet<string>): Array<string> => {
  const jobs = Object.values(workflow.jobs ?? {})
  const names = [
    ...namesOf(workflow.env),
    ...jobs.flatMap((job) => [
      ...namesOf(job.env),
      ...namesOf(job.container?.env),
      ...(job.steps ?? []).flatMap((step) => namesOf(step.env)),
      ...Object.values(job.services ?? {})
        .filter((service) => !isThirdPartyImage(service.image))
        .flatMap((service) => namesOf(service.env)),
    ]),
  ]
  return names.filter((name) => !known.has(name))
}

describe("config names in CI and compose", () => {
  it("the scanner finds Config.string/redacted/integer names in source text", () => {
    const sample = `Config.redacted("DISCORD_TOKEN"), Config.integer( "MANAGER_PORT" ), Config.string('X_Y')`
    expect(configNamesIn(sample)).toEqual(["DISCORD_TOKEN", "MANAGER_PORT", "X_Y"])
    expect(configNamesIn(`Config.string(name)`)).toEqual([])
  })

  it("the workflow parses and runs install --frozen-lockfile, check and test", () => {
    const workflow = readYaml(workflowPath) as Workflow
    const runs = Object.values(workflow.jobs ?? {})
      .flatMap((job) => job.steps ?? [])
      .flatMap((step) => (step.run === undefined ? [] : step.run.split("\n")))
      .map((line) => line.trim())
    expect(runs).toContain("pnpm install --frozen-lockfile")
    expect(runs.some((line) => /^pnpm (run )?check(\s|$)/.test(line))).toBe(true)
    expect(runs.some((line) => /^pnpm (run )?test(\s|$)/.test(line))).toBe(true)
  })

  it("the workflow has a MariaDB service on port 3306", () => {
    const workflow = readYaml(workflowPath) as Workflow
    const services = Object.values(workflow.jobs ?? {}).flatMap((job) =>
      Object.values(job.services ?? {}),
    )
    const mariadb = services.find((service) => /^mariadb(:|$)/.test(service.image ?? ""))
    expect(mariadb).toBeDefined()
    expect(JSON.stringify(mariadb)).toContain("3306")
  })

  it("the checker names an unknown key and ignores a database image's own env", () => {
    const workflow = parse(`
env:
  LOG_LEVEL: Debug
jobs:
  test:
    services:
      db:
        image: mariadb:11
        env:
          MARIADB_ROOT_PASSWORD: x
    steps:
      - run: pnpm test
        env:
          DISCORD_TOKEN: t
          DATABSE_URL: typo
`) as Workflow
    expect(unknownWorkflowKeys(workflow, knownNames())).toEqual(["DATABSE_URL"])
  })

  it("every variable the workflow sets for Tally (workflow, job, container, step env) is read by the code; service images' own env is theirs", () => {
    const workflow = readYaml(workflowPath) as Workflow
    expect(unknownWorkflowKeys(workflow, knownNames()), "unknown config keys in ci.yml").toEqual([])
  })

  it.skipIf(!existsSync(composePath))(
    "docker-compose.yml parses and its Tally services set only config keys the code reads (skipped: no docker-compose.yml yet)",
    () => {
      const compose = readYaml(composePath) as {
        readonly services?: Record<string, { readonly image?: string; readonly environment?: Env }>
      }
      expect(compose.services).toBeDefined()
      const known = knownNames()
      const unknown = Object.entries(compose.services ?? {})
        .filter(([, service]) => !isThirdPartyImage(service.image))
        .flatMap(([name, service]) =>
          namesOf(service.environment)
            .filter((key) => !known.has(key))
            .map((key) => `${name}: ${key}`),
        )
      expect(unknown, "unknown config keys in docker-compose.yml").toEqual([])
    },
  )
})
