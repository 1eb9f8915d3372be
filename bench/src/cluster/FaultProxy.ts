/**
 * A TCP proxy on one directed link between two nodes (node i dials node j through it), so that a
 * scenario can cut the link, heal it, add latency, and count the bytes each way. It listens on
 * 127.0.0.1 on a port from the OS. With a latency set, each chunk waits that long and chunks keep
 * their order.
 */
import { connect, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'

/** One forwarded connection. */
interface Pair {
  readonly client: Socket
  readonly upstream: Socket
}

/** A cuttable, slowable TCP link. `close()` is idempotent. */
export class FaultProxy {
  /** Bytes from the dialing side to the target. */
  bytesToTarget = 0
  /** Bytes from the target back to the dialing side. */
  bytesToClient = 0

  readonly #targetPort: number
  readonly #pairs = new Set<Pair>()
  #server: Server | undefined
  #port = 0
  #cut = false
  #latencyMs = 0
  #closed = false

  constructor(targetPort: number) {
    this.#targetPort = targetPort
  }

  /** The listening port; valid after `start()`. */
  get port(): number {
    return this.#port
  }

  /** True between `cut()` and `heal()`. */
  get isCut(): boolean {
    return this.#cut
  }

  /** Listens on 127.0.0.1 and resolves with the port. */
  async start(): Promise<number> {
    const server = createServer({ pauseOnConnect: true }, (socket) => this.#accept(socket))
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address')
    this.#port = address.port
    return this.#port
  }

  /** Drops every connection and refuses new ones until `heal()`. */
  cut(): void {
    this.#cut = true
    for (const pair of this.#pairs) destroy(pair)
    this.#pairs.clear()
  }

  /** Lets new connections through again; the nodes must redial. */
  heal(): void {
    this.#cut = false
  }

  /** Delays each chunk by `ms` in each direction from now on. */
  setLatency(ms: number): void {
    this.#latencyMs = Math.max(0, ms)
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.cut()
    const server = this.#server
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #accept(client: Socket): void {
    client.on('error', () => {})
    if (this.#cut || this.#closed) {
      client.destroy()
      return
    }
    const upstream = connect({ host: '127.0.0.1', port: this.#targetPort })
    upstream.on('error', () => {})
    const pair: Pair = { client, upstream }
    this.#pairs.add(pair)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    this.#pipe(client, upstream, (n) => (this.bytesToTarget += n))
    this.#pipe(upstream, client, (n) => (this.bytesToClient += n))
    const gone = (): void => {
      this.#pairs.delete(pair)
      destroy(pair)
    }
    client.on('close', gone)
    upstream.on('close', gone)
    client.resume()
  }

  #pipe(from: Socket, to: Socket, count: (bytes: number) => void): void {
    let lastDue = 0
    from.on('data', (chunk: Buffer) => {
      const write = (): void => {
        if (to.destroyed) return
        count(chunk.length)
        if (!to.write(chunk)) {
          from.pause()
          to.once('drain', () => from.resume())
        }
      }
      if (this.#latencyMs === 0 && lastDue <= performance.now()) return write()
      // Never before the chunk ahead of it: bytes keep their order when the latency changes.
      const due = Math.max(performance.now() + this.#latencyMs, lastDue)
      lastDue = due
      setTimeout(write, due - performance.now())
    })
  }
}

function destroy(pair: Pair): void {
  pair.client.destroy()
  pair.upstream.destroy()
}
