import { randomBytes } from "node:crypto"
import { FileSystem, Path } from "@effect/platform"
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"

/** Where a generated token is kept, relative to the current directory; the gateway reads it there. */
export const TOKEN_FILE = ".tally/manager.token"

/**
 * The token file's absolute path. "The current directory" is where the command was typed: pnpm
 * runs a package's script in the package's folder but names the caller's folder in INIT_CWD, so
 * `pnpm --filter @tally/manager start` and `pnpm --filter @tally/gateway start` from one folder
 * agree on one file.
 */
export const tokenPath = (path: Path.Path) => path.resolve(process.env.INIT_CWD ?? ".", TOKEN_FILE)

/** The bearer token every /v1 request must carry. */
export class ManagerToken extends Context.Tag("@tally/manager/ManagerToken")<
  ManagerToken,
  Redacted.Redacted<string>
>() {}

/** Reads the token file; fails when it is missing or empty. */
export const readTokenFile = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const text = yield* fs.readFileString(tokenPath(path))
  const token = text.trim()
  if (token.length === 0) {
    return yield* Effect.fail(new Error(`${TOKEN_FILE} is empty`))
  }
  return Redacted.make(token)
})

/**
 * Keeps the token of an earlier start if the file exists (gateways that read it stay valid),
 * otherwise writes a new one. `wx` makes two managers starting together agree on one file.
 */
const tokenFromFile = Effect.gen(function* () {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const file = tokenPath(path)

  yield* fs.makeDirectory(path.dirname(file), { recursive: true })
  const written = yield* fs
    .writeFileString(file, `${randomBytes(32).toString("base64url")}\n`, {
      flag: "wx",
      mode: 0o600,
    })
    .pipe(
      Effect.as(true),
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "AlreadyExists",
        () => Effect.succeed(false),
      ),
    )
  yield* fs.chmod(file, 0o600)
  const token = yield* readTokenFile
  yield* Effect.logInfo(
    written ? "generated a manager token" : "using the existing manager token",
  ).pipe(Effect.annotateLogs({ tokenFile: file }))
  return token
})

/** MANAGER_TOKEN when set; otherwise the token in `.tally/manager.token`, created if missing. */
export const layer = Layer.effect(
  ManagerToken,
  Effect.gen(function* () {
    const configured = yield* Config.option(Config.redacted("MANAGER_TOKEN"))
    if (Option.isSome(configured) && Redacted.value(configured.value).length > 0) {
      return configured.value
    }
    return yield* tokenFromFile
  }),
)
