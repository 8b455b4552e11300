/**
 * Effect's `runMain` stops gracefully on the first SIGINT or SIGTERM and then stops listening, so a
 * second signal ends the process mid-stop, before it has flushed or saved its session. That second
 * signal is common: a terminal's Ctrl-C reaches pnpm, tsx and node at once, and tsx sends it again
 * when node is slow to confirm (under tsx, a process with no listener left then exits at once).
 */

/** Keeps listening after the first signal, so later ones cannot cut the stop short. */
export const stopOnlyOnce = (): void => {
  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1
    // The first is `runMain`'s; a relayed copy may follow unasked. Past that, someone is waiting.
    if (signals === 3) {
      process.stderr.write(
        `${signal} again: still stopping (its steps have time limits); kill -9 ends it at once\n`,
      )
    }
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
}
