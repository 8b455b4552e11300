/**
 * Local files for what could not reach a database: the spill file (batches still unwritten at
 * shutdown, applied first at the next start), the dead-letter file (batches given up on), and the
 * events still waiting for their guild at shutdown. All JSON lines. The spill and waiting files
 * are replaced atomically (written beside, then renamed), the dead-letter file only appended to.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import type { ActivityBatch } from "@tally/domain/ActivityDelta"
import { Context, Data, Effect, Layer } from "effect"

/** A batch and the DB shard it belongs to. */
export interface ShardBatch {
  readonly dbShardId: number
  readonly batch: ActivityBatch
}

export interface DeadLetter extends ShardBatch {
  readonly attempts: number
  readonly reason: string
  /** When it was given up on (epoch ms). */
  readonly at: number
}

export class SpillError extends Data.TaggedError("SpillError")<{
  readonly reason: "read" | "write" | "parse"
  readonly path: string
  readonly cause: unknown
}> {}

export class Spill extends Context.Tag("@tally/gateway/Spill")<
  Spill,
  {
    readonly directory: string
    /** The spill file's batches; none when there is no file. */
    readonly readBatches: Effect.Effect<ReadonlyArray<ShardBatch>, SpillError>
    /** Replaces the spill file with `batches`; removes it when there are none. */
    readonly writeBatches: (batches: ReadonlyArray<ShardBatch>) => Effect.Effect<void, SpillError>
    readonly deadLetter: (letter: DeadLetter) => Effect.Effect<void, SpillError>
    readonly readDeadLetters: Effect.Effect<ReadonlyArray<DeadLetter>, SpillError>
    /** Events saved by `writeWaiting`; none when there is no file. */
    readonly readWaiting: Effect.Effect<ReadonlyArray<unknown>, SpillError>
    readonly writeWaiting: (events: ReadonlyArray<unknown>) => Effect.Effect<void, SpillError>
  }
>() {}

export const defaultDirectory = ".tally"

export const fileNames = {
  spill: "spill.jsonl",
  deadLetter: "dead-letter.jsonl",
  waiting: "waiting.jsonl",
} as const

const isMissing = (cause: unknown) => (cause as { code?: string } | null)?.code === "ENOENT"

export const make = (directory: string = defaultDirectory): Context.Tag.Service<Spill> => {
  const pathOf = (name: string) => Path.join(directory, name)

  const readLines = (path: string) =>
    Effect.tryPromise({
      try: () =>
        Fs.readFile(path, "utf8").catch((cause) => (isMissing(cause) ? "" : Promise.reject(cause))),
      catch: (cause) => new SpillError({ reason: "read", path, cause }),
    }).pipe(
      Effect.flatMap((text) =>
        Effect.try({
          try: () =>
            text
              .split("\n")
              .filter((line) => line.trim() !== "")
              .map((line) => JSON.parse(line) as unknown),
          catch: (cause) => new SpillError({ reason: "parse", path, cause }),
        }),
      ),
    )

  const replace = (path: string, rows: ReadonlyArray<unknown>) =>
    Effect.tryPromise({
      try: async () => {
        if (rows.length === 0) {
          await Fs.rm(path, { force: true })
          return
        }
        await Fs.mkdir(directory, { recursive: true })
        const temporary = `${path}.${process.pid}.tmp`
        const handle = await Fs.open(temporary, "w")
        try {
          await handle.writeFile(rows.map((row) => `${JSON.stringify(row)}\n`).join(""))
          await handle.sync()
        } finally {
          await handle.close()
        }
        await Fs.rename(temporary, path)
      },
      catch: (cause) => new SpillError({ reason: "write", path, cause }),
    })

  const append = (path: string, row: unknown) =>
    Effect.tryPromise({
      try: async () => {
        await Fs.mkdir(directory, { recursive: true })
        await Fs.appendFile(path, `${JSON.stringify(row)}\n`)
      },
      catch: (cause) => new SpillError({ reason: "write", path, cause }),
    })

  return {
    directory,
    readBatches: readLines(pathOf(fileNames.spill)) as Effect.Effect<
      ReadonlyArray<ShardBatch>,
      SpillError
    >,
    writeBatches: (batches) => replace(pathOf(fileNames.spill), batches),
    deadLetter: (letter) => append(pathOf(fileNames.deadLetter), letter),
    readDeadLetters: readLines(pathOf(fileNames.deadLetter)) as Effect.Effect<
      ReadonlyArray<DeadLetter>,
      SpillError
    >,
    readWaiting: readLines(pathOf(fileNames.waiting)),
    writeWaiting: (events) => replace(pathOf(fileNames.waiting), events),
  }
}

/** Files under `directory` (default `.tally`, relative to the working directory). */
export const layer = (directory: string = defaultDirectory): Layer.Layer<Spill> =>
  Layer.sync(Spill, () => make(directory))
