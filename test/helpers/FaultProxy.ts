/**
 * A TCP proxy that sits on one link between two agents, so that a test can cut the link, heal it and
 * slow it down, the way a network would. It listens on 127.0.0.1 on a port from the OS and forwards
 * each connection to a target port. Each direction of each connection keeps its own queue: with a
 * latency set, every chunk waits that long, and chunks leave in the order they arrived. Half-closes
 * are forwarded after the queued bytes, so a peer that writes and then ends loses nothing.
 */
import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

/** Options of a {@link FaultProxy}. */
export interface FaultProxyOptions {
  /** The port to forward to, on `targetHost`. */
  readonly targetPort: number
  /** Default 127.0.0.1. */
  readonly targetHost?: string
  /** Shown in errors, for example `0->2`. */
  readonly name?: string
  /** Connections beyond this are closed at once and counted as refused. Default 64: a mesh link carries one or two. */
  readonly maxConnections?: number
  /** Initial latency in ms per chunk and direction. Default 0. */
  readonly latencyMs?: number
}

/**
 * 1 MiB queued in one direction pauses the reading side: a latency never makes the proxy buffer
 * without bound.
 */
const HIGH_WATER_BYTES = 1024 * 1024

interface Queued {
  readonly chunk: Buffer
  readonly due: number
}

/** One direction of one connection: reads `source`, writes `sink`, keeps order, honours latency. */
class Direction {
  readonly #queue: Queued[] = []
  #queuedBytes = 0
  #lastDue = 0
  #timer: NodeJS.Timeout | undefined
  #ended = false
  #sinkBlocked = false

  constructor(
    private readonly source: Socket,
    private readonly sink: Socket,
    private readonly latencyMs: () => number,
    private readonly onForwarded: (bytes: number) => void
  ) {
    source.on('data', (chunk: Buffer) => this.#push(chunk))
    source.on('end', () => {
      this.#ended = true
      this.#flush()
    })
  }

  /** Drops whatever is queued; the connection is going away. */
  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#queue.length = 0
    this.#queuedBytes = 0
  }

  #push(chunk: Buffer): void {
    const latency = this.latencyMs()
    if (latency <= 0 && this.#queue.length === 0) {
      this.#write(chunk)
      return
    }
    // Never earlier than the chunk before it: lowering the latency must not reorder bytes.
    const due = Math.max(performance.now() + latency, this.#lastDue)
    this.#lastDue = due
    this.#queue.push({ chunk, due })
    this.#queuedBytes += chunk.length
    this.#updateFlow()
    this.#schedule()
  }

  #schedule(): void {
    if (this.#timer !== undefined) return
    const head = this.#queue[0]
    if (head === undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#flush()
    }, Math.max(0, Math.ceil(head.due - performance.now())))
  }

  #flush(): void {
    const now = performance.now()
    for (let head = this.#queue[0]; head !== undefined && head.due <= now; head = this.#queue[0]) {
      this.#queue.shift()
      this.#queuedBytes -= head.chunk.length
      this.#write(head.chunk)
    }
    if (this.#queue.length > 0) this.#schedule()
    else if (this.#ended && !this.sink.destroyed && !this.sink.writableEnded) this.sink.end()
    this.#updateFlow()
  }

  #write(chunk: Buffer): void {
    if (this.sink.destroyed || this.sink.writableEnded) return
    this.onForwarded(chunk.length)
    if (!this.sink.write(chunk) && !this.#sinkBlocked) {
      this.#sinkBlocked = true
      this.#updateFlow()
      this.sink.once('drain', () => {
        this.#sinkBlocked = false
        this.#updateFlow()
      })
    }
  }

  #updateFlow(): void {
    if (this.source.destroyed) return
    if (this.#sinkBlocked || this.#queuedBytes > HIGH_WATER_BYTES) this.source.pause()
    else this.source.resume()
  }
}

/** One accepted connection and its upstream socket. */
class Connection {
  readonly #directions: Direction[]
  #closed = 0

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    proxy: { latencyMs: () => number; toTarget: (n: number) => void; toClient: (n: number) => void; onError: (error: Error) => void; onGone: (c: Connection) => void }
  ) {
    this.#directions = [new Direction(client, upstream, proxy.latencyMs, proxy.toTarget), new Direction(upstream, client, proxy.latencyMs, proxy.toClient)]
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true)
      // A failure on either side ends both: the far end must see the link drop, as it would on a network.
      socket.on('error', (error: Error) => {
        proxy.onError(error)
        this.destroy()
      })
      socket.on('close', (hadError: boolean) => {
        this.#closed++
        // A clean close has forwarded its end and the other side finishes on its own, after its queue;
        // anything else (a reset, a destroy) drops the other side too.
        if (hadError || !socket.readableEnded) this.destroy()
        if (this.#closed === 2) {
          for (const direction of this.#directions) direction.dispose()
          proxy.onGone(this)
        }
      })
    }
  }

  /** Drops both sockets at once. */
  destroy(): void {
    for (const direction of this.#directions) direction.dispose()
    this.client.destroy()
    this.upstream.destroy()
  }
}

/**
 * A TCP proxy between two agents, for fault injection: `cut()` drops every connection and refuses new
 * ones, `heal()` lets them through again, `setLatency(ms)` delays each chunk in each direction.
 * `close()` is idempotent and leaves no socket or timer behind.
 */
export class FaultProxy {
  readonly #targetHost: string
  #targetPort: number
  readonly #maxConnections: number
  readonly #name: string
  readonly #connections = new Set<Connection>()
  #server: Server | undefined
  #port: number | undefined
  #latencyMs: number
  #cut = false
  #closing: Promise<void> | undefined

  /** Connections accepted and forwarded, over the proxy's life. */
  accepted = 0
  /** Connections closed on arrival, because the link was cut or full. */
  refused = 0
  /** Bytes delivered from clients to the target. */
  bytesToTarget = 0
  /** Bytes delivered from the target back to clients. */
  bytesToClient = 0
  /** The last socket error seen on either side (a refused target, a reset); for diagnostics. */
  lastError: Error | undefined

  constructor(options: FaultProxyOptions) {
    if (!Number.isInteger(options.targetPort) || options.targetPort <= 0 || options.targetPort > 65535) {
      throw new TypeError(`targetPort must be a TCP port, not ${String(options.targetPort)}`)
    }
    this.#targetPort = options.targetPort
    this.#targetHost = options.targetHost ?? '127.0.0.1'
    this.#maxConnections = options.maxConnections ?? 64
    this.#latencyMs = options.latencyMs ?? 0
    this.#name = options.name ?? `proxy->${options.targetPort}`
  }

  /** Starts listening on 127.0.0.1 on a port chosen by the OS, and resolves with it. */
  async start(): Promise<number> {
    if (this.#server !== undefined) throw new Error(`${this.#name}: already started`)
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.#accept(socket))
    this.#server = server
    server.on('error', (error: Error) => {
      this.lastError = error
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: '127.0.0.1', port: 0 }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error(`${this.#name}: no TCP address after listen`)
    this.#port = address.port
    return address.port
  }

  /** The port this proxy listens on. Throws before `start()`. */
  get port(): number {
    if (this.#port === undefined) throw new Error(`${this.#name}: not started`)
    return this.#port
  }

  /** The name given in the options, as used in errors. */
  get name(): string {
    return this.#name
  }

  /** The port connections are forwarded to. */
  get targetPort(): number {
    return this.#targetPort
  }

  /** Forwards new connections to another port; open ones keep theirs. */
  setTarget(port: number): void {
    this.#targetPort = port
  }

  /** Connections open right now. */
  get connections(): number {
    return this.#connections.size
  }

  /** Bytes delivered in both directions. */
  get bytesForwarded(): number {
    return this.bytesToTarget + this.bytesToClient
  }

  /** True between `cut()` and `heal()`. */
  get isCut(): boolean {
    return this.#cut
  }

  /** The latency now applied to each new chunk. */
  get latencyMs(): number {
    return this.#latencyMs
  }

  /** Drops every open connection, and closes new ones on arrival until `heal()`. */
  cut(): void {
    this.#cut = true
    for (const connection of this.#connections) connection.destroy()
    this.#connections.clear()
  }

  /** Lets new connections through again. Dropped ones stay dropped: the agents must redial. */
  heal(): void {
    this.#cut = false
  }

  /** Delays each chunk by `ms` in each direction from now on; chunks already queued keep their time. */
  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`latency must be a non-negative number of ms, not ${String(ms)}`)
    this.#latencyMs = ms
  }

  /** Closes the listener and every connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#cut = true
      for (const connection of this.#connections) connection.destroy()
      this.#connections.clear()
      const server = this.#server
      if (server !== undefined && server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  #accept(client: Socket): void {
    if (this.#cut || this.#closing !== undefined || this.#connections.size >= this.#maxConnections) {
      this.refused++
      client.on('error', () => {})
      client.destroy()
      return
    }
    this.accepted++
    const upstream = connect({ host: this.#targetHost, port: this.#targetPort, allowHalfOpen: true })
    const connection = new Connection(client, upstream, {
      latencyMs: () => this.#latencyMs,
      toTarget: (n) => {
        this.bytesToTarget += n
      },
      toClient: (n) => {
        this.bytesToClient += n
      },
      onError: (error) => {
        this.lastError = error
      },
      onGone: (gone) => {
        this.#connections.delete(gone)
      }
    })
    this.#connections.add(connection)
    client.resume()
  }
}
