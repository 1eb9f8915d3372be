/** Free TCP ports on 127.0.0.1. */
import { createServer } from 'node:net'

/** A port held open until `release()`, so that nothing in this process (a proxy on port 0) gets it meanwhile. */
export interface ReservedPort {
  readonly port: number
  release(): Promise<void>
}

/** Reserves a free port on 127.0.0.1; release it just before the process that needs it binds it. */
export async function reservePort(): Promise<ReservedPort> {
  // Peers may dial the port before its owner starts: drop them, or close() would wait for them.
  const server = createServer((socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return {
    port: address.port,
    release: () =>
      new Promise<void>((resolve) => {
        if (!server.listening) return resolve()
        server.close(() => resolve())
      })
  }
}
