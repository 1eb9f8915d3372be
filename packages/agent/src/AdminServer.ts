/**
 * The agent's one listener (HTTP, or HTTPS with TLS): websocket upgrades go to the
 * {@link SyncNode}, which answers 404 or 401 itself; plain requests get the admin endpoints.
 *
 * - `GET /healthz`: 200 `ok` while the process serves. No secret: a liveness probe must not need one.
 * - `GET /readyz`: 200 `ready` once the replica is open, the directory imported and the node
 *   synced; otherwise 503 with the reason. No secret, for load balancer and Kubernetes probes.
 * - `GET /status`: JSON (see `statusReport.ts`). Needs the secret.
 * - `GET /metrics`: Prometheus text. Needs the secret.
 *
 * The secret is checked before the path is looked at, so an unauthenticated client learns nothing
 * about which paths exist. Other paths get 404, other methods 405 (GET and HEAD are allowed).
 */
import { createServer as createHttpServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Registry } from 'prom-client'
import { silentLogger } from '@regsync/core'
import type { Logger, Replica } from '@regsync/core'
import { isAuthorized } from '@regsync/net-ws'
import type { SyncNode } from '@regsync/net-ws'
import { createAgentMetrics } from './agentMetrics.js'
import { advertiseUrl, formatHostPort } from './hostPort.js'
import type { HostPort } from './hostPort.js'
import { buildStatusReport } from './statusReport.js'
import type { AgentInfo } from './statusReport.js'

/** TLS material of the listener, already read. */
export interface ListenerTls {
  readonly cert: string | Buffer
  readonly key: string | Buffer
  /** Present: mutual TLS. Clients must present a certificate signed by it. */
  readonly ca?: string | Buffer | undefined
}

/** Options of an {@link AdminServer}. */
export interface AdminServerOptions {
  readonly replica: Replica
  readonly syncNode: SyncNode
  /** The cluster secret; without one every request is allowed (the agent warns). */
  readonly secret: string | undefined
  readonly tls?: ListenerTls | undefined
  /** Version, mode, cluster and directory for `/status`; listen and advertise are filled in on {@link AdminServer.listen}. */
  readonly info: Omit<AgentInfo, 'listen' | 'advertise'> & { readonly advertise?: string | undefined }
  /** Why the agent is not ready beyond the replica and the node (the initial import); undefined when nothing is pending. */
  readonly pending?: (() => string | undefined) | undefined
  /** The DNS discovery's last error, for `/status`. */
  readonly dnsError?: (() => string | undefined) | undefined
  readonly logger?: Logger | undefined
  readonly now?: (() => number) | undefined
}

/** The HTTP(S) listener of the agent. */
export class AdminServer {
  readonly #options: AdminServerOptions
  readonly #server: Server
  readonly #log: Logger
  readonly #now: () => number
  readonly #metrics: Registry
  #address: HostPort | undefined
  #advertise: string | undefined
  #closing: Promise<void> | undefined

  constructor(options: AdminServerOptions) {
    this.#options = options
    this.#log = options.logger ?? silentLogger
    this.#now = options.now ?? Date.now
    this.#advertise = options.info.advertise
    const tls = options.tls
    this.#server =
      tls === undefined
        ? createHttpServer(this.#onRequest)
        : createHttpsServer(
            {
              cert: tls.cert,
              key: tls.key,
              ...(tls.ca !== undefined ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {})
            },
            this.#onRequest
          )
    this.#server.on('upgrade', this.#onUpgrade)
    this.#server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
      this.#log.debug({ err: error.message, code: error.code }, 'bad request on the listener')
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      socket.destroy()
    })
    this.#metrics = createAgentMetrics({
      replica: options.replica,
      syncNode: options.syncNode,
      info: this.#info(),
      ready: () => this.notReady() === undefined
    })
  }

  /**
   * Binds. Resolves with the bound address (port 0 asks for a free port); rejects with the
   * system error (`EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`) when the address cannot be bound.
   */
  async listen(address: HostPort): Promise<HostPort> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error)
      this.#server.once('error', onError)
      this.#server.listen({ host: address.host, port: address.port }, () => {
        this.#server.off('error', onError)
        resolve()
      })
    })
    this.#server.on('error', (error) => this.#log.error({ err: error }, `listener failed: ${error.message}`))
    const bound = this.#server.address() as AddressInfo
    this.#address = { host: address.host, port: bound.port }
    this.#advertise ??= advertiseUrl(this.#address, this.#options.tls !== undefined)
    return this.#address
  }

  /** The bound address as `host:port`; undefined before {@link listen}. */
  get address(): string | undefined {
    return this.#address === undefined ? undefined : formatHostPort(this.#address)
  }

  /** The bound port. */
  get port(): number | undefined {
    return this.#address?.port
  }

  /** The URL peers are told to reach this node at: `--advertise`, or derived from the bound address. */
  get advertise(): string | undefined {
    return this.#advertise
  }

  /** Why `/readyz` answers 503; undefined when it answers 200. */
  notReady(): string | undefined {
    if (this.#closing !== undefined) return 'shutting down'
    const status = this.#options.replica.status
    if (status !== 'open') return `the replica is ${status}`
    const pending = this.#options.pending?.()
    if (pending !== undefined) return pending
    if (!this.#options.syncNode.synced) return 'not yet synced with any peer'
    return undefined
  }

  /**
   * Stops accepting connections and closes idle keep-alive ones at once. Resolves when every
   * connection is gone: upgraded peer links count, so close the {@link SyncNode} meanwhile.
   * Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) return resolve()
      this.#server.close(() => resolve())
      this.#server.closeIdleConnections()
      // Requests in flight get a moment to finish; then their sockets go too.
      setTimeout(() => this.#server.closeAllConnections(), 2000).unref()
    })
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  #info(): AgentInfo {
    const self = this
    const base = this.#options.info
    return {
      version: base.version,
      mode: base.mode,
      cluster: base.cluster,
      dir: base.dir,
      startedAt: base.startedAt,
      get listen() {
        return self.address ?? ''
      },
      get advertise() {
        return self.#advertise ?? ''
      }
    }
  }

  readonly #onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', (error) => this.#log.debug({ err: error.message }, 'socket error during an upgrade'))
    this.#options.syncNode.handleUpgrade(request, socket, head)
  }

  readonly #onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    this.#route(request, response).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error)
      this.#log.error({ err: error, path: request.url }, `answering ${request.method ?? '?'} ${request.url ?? '?'} failed: ${message}`)
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', `internal error: ${message}\n`)
      else response.destroy()
    })
  }

  async #route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname
    const method = request.method ?? 'GET'
    const isRead = method === 'GET' || method === 'HEAD'
    if (path === '/healthz' || path === '/readyz') {
      if (!isRead) return methodNotAllowed(response)
      if (path === '/healthz') {
        return this.#closing === undefined
          ? send(response, 200, 'text/plain; charset=utf-8', 'ok\n')
          : send(response, 503, 'text/plain; charset=utf-8', 'shutting down\n')
      }
      const reason = this.notReady()
      return reason === undefined
        ? send(response, 200, 'text/plain; charset=utf-8', 'ready\n')
        : send(response, 503, 'text/plain; charset=utf-8', `not ready: ${reason}\n`)
    }
    if (!isAuthorized(request, this.#options.secret)) {
      response.setHeader('WWW-Authenticate', 'Bearer realm="regsync"')
      return send(response, 401, 'text/plain; charset=utf-8', 'wrong or missing secret\n')
    }
    if (path === '/status') {
      if (!isRead) return methodNotAllowed(response)
      const report = await buildStatusReport({
        replica: this.#options.replica,
        syncNode: this.#options.syncNode,
        info: this.#info(),
        notReady: this.notReady(),
        dnsError: this.#options.dnsError?.(),
        now: this.#now()
      })
      return send(response, 200, 'application/json; charset=utf-8', JSON.stringify(report, null, 2) + '\n')
    }
    if (path === '/journal') {
      if (!isRead) return methodNotAllowed(response)
      const only = new URL(request.url ?? '/', 'http://localhost').searchParams.get('path')
      const entries = (await this.#options.replica.journal()).filter((entry) => only === null || entry.path === only)
      return send(response, 200, 'application/json; charset=utf-8', JSON.stringify({ entries }, null, 2) + '\n')
    }
    const restore = /^\/journal\/([^/]+)\/restore$/.exec(path)
    if (restore !== null) {
      if (method !== 'POST') {
        response.setHeader('Allow', 'POST')
        return send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n')
      }
      const id = decodeURIComponent(restore[1]!)
      try {
        await this.#options.replica.restore(id)
      } catch (error) {
        const code = (error as { code?: string }).code
        const message = error instanceof Error ? error.message : String(error)
        if (code === 'REGSYNC_JOURNAL_NOT_FOUND') return send(response, 404, 'text/plain; charset=utf-8', `${message}\n`)
        if (code === 'REGSYNC_PASSIVE' || code === 'REGSYNC_NOT_FOUND' || code === 'REGSYNC_PARSE') {
          return send(response, 409, 'text/plain; charset=utf-8', `${message}\n`)
        }
        throw error
      }
      this.#log.info({ journalId: id }, `restored journal entry ${id}`)
      return send(response, 200, 'application/json; charset=utf-8', JSON.stringify({ restored: id }) + '\n')
    }
    if (path === '/metrics') {
      if (!isRead) return methodNotAllowed(response)
      return send(response, 200, this.#metrics.contentType, await this.#metrics.metrics())
    }
    if (this.#options.syncNode.isSyncPath(request.url)) {
      response.setHeader('Upgrade', 'websocket')
      return send(response, 426, 'text/plain; charset=utf-8', 'this path takes websocket links only\n')
    }
    return send(response, 404, 'text/plain; charset=utf-8', 'not found\n')
  }
}

function send(response: ServerResponse, status: number, type: string, body: string): void {
  response.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' })
  response.end(body)
}

function methodNotAllowed(response: ServerResponse): void {
  response.setHeader('Allow', 'GET, HEAD')
  send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n')
}
