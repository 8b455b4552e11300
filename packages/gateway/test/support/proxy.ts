/** A TCP proxy a test controls: forwards to a target, or resets every connection on demand. */
import * as Net from "node:net"
import { type Duration, Effect } from "effect"

export interface Proxy {
  readonly port: number
  /** Resets open connections and refuses (resets) new ones for `duration`. */
  readonly refuse: (duration: Duration.DurationInput) => Effect.Effect<void>
  /** Connections reset so far. */
  readonly resets: () => number
}

export const makeProxy = (targetPort: number, targetHost = "127.0.0.1") =>
  Effect.acquireRelease(
    Effect.async<{ server: Net.Server; proxy: Proxy }>((resume) => {
      const open = new Set<Net.Socket>()
      let refusing = false
      let resets = 0
      const reset = (socket: Net.Socket) => {
        resets++
        socket.resetAndDestroy()
      }
      const server = Net.createServer((client) => {
        if (refusing) return reset(client)
        const upstream = Net.connect(targetPort, targetHost)
        open.add(client)
        open.add(upstream)
        const close = () => {
          open.delete(client)
          open.delete(upstream)
          client.destroy()
          upstream.destroy()
        }
        client.on("error", close).on("close", close)
        upstream.on("error", close).on("close", close)
        client.pipe(upstream)
        upstream.pipe(client)
      })
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as Net.AddressInfo).port
        resume(
          Effect.succeed({
            server,
            proxy: {
              port,
              resets: () => resets,
              refuse: (duration) =>
                Effect.acquireUseRelease(
                  Effect.sync(() => {
                    refusing = true
                    for (const socket of open) reset(socket)
                    open.clear()
                  }),
                  () => Effect.sleep(duration),
                  () =>
                    Effect.sync(() => {
                      refusing = false
                    }),
                ),
            },
          }),
        )
      })
    }),
    ({ server }) => Effect.sync(() => server.close()),
  ).pipe(Effect.map(({ proxy }) => proxy))

/** The same database URLs with the proxy's port, so a client goes through it. */
export const throughProxy = (urls: ReadonlyMap<number, string>, proxy: Proxy) =>
  new Map(
    [...urls].map(([id, url]) => {
      const target = new URL(url)
      target.port = String(proxy.port)
      return [id, target.toString()] as const
    }),
  )
