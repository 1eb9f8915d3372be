/**
 * Binds a {@link Replica} to the network. Every node accepts links on its listener (through
 * {@link SyncNode.handleUpgrade}) and dials every peer it knows. Both kinds of link speak the
 * y-websocket protocol (see `protocol.ts`).
 *
 * Updates from a link go through the replica's queue, so they are persisted (and their files
 * written) before the replica emits them; the replica's `update` event is then relayed to every
 * other link. A line A-B-C therefore converges, and duplicate links between two nodes only cost
 * duplicate frames: applying an update twice is a no-op in Yjs, and a live update that arrives
 * again byte for byte is dropped before it is decoded (see `RecentUpdates.ts`).
 *
 * Outbound links are our own small client rather than y-websocket's `WebsocketProvider`: the
 * provider applies updates straight to the document, before regsync could persist them or route
 * them through the reconcile queue, and it reconnects without jitter. The wire format is the same,
 * and a stock `WebsocketProvider` can connect to the listener.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import { WebSocket, WebSocketServer } from 'ws'
import type { RawData } from 'ws'
import { ObservableV2 } from 'lib0/observable'
import { asOrigin, silentLogger } from '@regsync/core'
import type { Logger, Replica, StoredState, TransactionOrigin } from '@regsync/core'
import { isAuthorized } from './auth.js'
import { readMessage, writeAwareness, writeStep1, writeStep2, writeUpdate } from './protocol.js'
import { RecentUpdates } from './RecentUpdates.js'

/** Options of a {@link SyncNode}. */
export interface SyncNodeOptions {
  readonly replica: Replica
  /** The room: links use `/sync/<cluster>`. Default `cas`. */
  readonly cluster?: string
  /** The cluster secret; without one every connection is accepted (development only). */
  readonly secret?: string | undefined
  readonly mode?: 'active' | 'passive'
  /** Version reported in awareness. */
  readonly version: string
  /** The URL other nodes reach this node at, reported in awareness. */
  readonly address?: string | undefined
  /** Frames larger than this close the link. Default 64 MiB: a full state of 10,000 definitions is about 40 MiB. */
  readonly maxMessageBytes?: number
  /** TLS options for outbound `wss:` links (CA to trust, and a client certificate for mutual TLS). */
  readonly tls?: { readonly ca?: string | Buffer; readonly cert?: string | Buffer; readonly key?: string | Buffer } | undefined
  /** Ping period; a link that misses a pong for a whole period is closed. Default 15 s. */
  readonly heartbeatMs?: number
  /** Reconnect backoff: full jitter between 0 and min(maxMs, initialMs * 2^attempt). Default 200 ms and 5 s. */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number }
  readonly logger?: Logger | undefined
}

/** One link as `/status` shows it. */
export interface PeerStatus {
  /** The peer URL for outbound links; `inbound:<address>:<port>` for inbound ones. */
  readonly url: string
  readonly direction: 'outbound' | 'inbound'
  /** Where the peer came from: `static`, `dns`, or `inbound`. */
  readonly source: string
  readonly connected: boolean
  /** Received the peer's full state at least once on the current connection. */
  readonly synced: boolean
  /** Last frame received, ms since the epoch. */
  readonly lastSeen: number | null
  /** The peer's node id, once known. */
  readonly nodeId: string | null
  readonly lastError: string | null
}

/** Counters for `/metrics`. */
export interface NetStats {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  updatesIn: number
  /** Live updates that arrived again through another peer, dropped before decoding. */
  duplicateUpdates: number
  connectionsAccepted: number
  /** Refused before the upgrade: wrong or missing secret. */
  connectionsUnauthorized: number
  /** Closed because a frame or update did not decode. */
  badFrames: number
  /** Closed because a frame was over the size limit. */
  oversizeFrames: number
}

/** Events of a {@link SyncNode}. */
export type SyncNodeEvents = {
  /** The first time any link is synced. */
  synced: () => void
}

/** The local awareness state every node publishes. */
interface NodeState {
  readonly nodeId: string
  readonly version: string
  readonly mode: 'active' | 'passive'
  readonly address: string | null
  readonly cluster: string
}

const NODE_HEADER = 'x-regsync-node'

class Link {
  synced = false
  /**
   * What the peer is known to hold: the state vector of its sync step 1, raised to ours whenever a
   * large relay has sent it everything it lacked.
   */
  remoteStateVector: Uint8Array | undefined
  /** A ping is out and its pong has not come back. */
  awaitingPong = false
  lastSeen: number | null = null
  nodeId: string | null = null
  /** Awareness clients first heard of through this link. */
  readonly clients = new Set<number>()

  constructor(
    readonly id: string,
    readonly socket: WebSocket,
    readonly direction: 'outbound' | 'inbound',
    readonly label: string
  ) {}

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN
  }
}

class OutboundPeer {
  link: Link | undefined
  attempt = 0
  timer: ReturnType<typeof setTimeout> | undefined
  lastError: string | null = null
  closed = false
  /** The URL reached this very node. */
  self = false

  constructor(
    readonly url: string,
    readonly sources: Set<string>
  ) {}
}

let linkCounter = 0

/** How long one link's initial sync may hold up the next link's. */
const STEP1_TURN_MS = 3000
/** Relayed updates at least this large are trimmed per link by the peer's state vector. */
const TRIM_RELAY_BYTES = 64 * 1024

/**
 * zlib works a chunk at a time, with a hop to the thread pool and back for each: at its default of
 * 16 KB a receiving node of a 1,000-file burst spent 130 ms of its thread on zlib's callbacks.
 */
const ZLIB_CHUNK = 256 * 1024

/**
 * Messages of 64 KB or more are compressed on the wire (permessage-deflate, negotiated, so a client
 * without it still connects); smaller ones, every edit among them, go as they are, with no added
 * latency. A registry compresses 7-20 times: a joining node of 10,000 definitions receives about 1 MB
 * instead of 21 MB, which on a link between data centres is most of a join. No context is kept
 * between messages, so an idle link holds no compressor; ws counts `maxPayload` on the inflated bytes.
 */
const PER_MESSAGE_DEFLATE = {
  threshold: 64 * 1024,
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  zlibDeflateOptions: { level: 1, chunkSize: ZLIB_CHUNK },
  zlibInflateOptions: { chunkSize: ZLIB_CHUNK }
} as const

/** The stored state is sent as it is only if the log after its snapshot is this short. */
const STORED_LOG_MAX_UPDATES = 64
const STORED_LOG_MAX_BYTES = 1024 * 1024

/**
 * A stored state as a sync step 2 and the update to send before it, or `undefined` when the log
 * after the snapshot is too long to merge cheaply (or nothing is stored).
 */
function stepTwoParts(stored: StoredState): { before: Uint8Array | undefined; step2: Uint8Array } | undefined {
  const step2 = stored.snapshot ?? stored.updates[0]
  if (step2 === undefined) return undefined
  const rest = stored.snapshot === undefined ? stored.updates.slice(1) : stored.updates
  if (rest.length > STORED_LOG_MAX_UPDATES) return undefined
  if (rest.reduce((sum, update) => sum + update.byteLength, 0) > STORED_LOG_MAX_BYTES) return undefined
  const before = rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : Y.mergeUpdates([...rest])
  return { before, step2 }
}

/** One node's network side. */
export class SyncNode extends ObservableV2<SyncNodeEvents> {
  readonly stats: NetStats = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    updatesIn: 0,
    duplicateUpdates: 0,
    connectionsAccepted: 0,
    connectionsUnauthorized: 0,
    badFrames: 0,
    oversizeFrames: 0
  }
  readonly awareness: awarenessProtocol.Awareness

  readonly #replica: Replica
  readonly #recent = new RecentUpdates()
  readonly #cluster: string
  readonly #secret: string | undefined
  readonly #mode: 'active' | 'passive'
  readonly #maxMessageBytes: number
  readonly #tls: SyncNodeOptions['tls']
  readonly #initialMs: number
  readonly #maxMs: number
  readonly #log: Logger
  readonly #server: WebSocketServer
  readonly #links = new Map<string, Link>()
  readonly #outbound = new Map<string, OutboundPeer>()
  readonly #clientLinks = new Map<number, Set<Link>>()
  #everSynced = false
  /** Links waiting to send their sync step 1, and the one whose answer is awaited. */
  readonly #step1Queue: Link[] = []
  /**
   * Sync step 2 payloads on their way through the replica, which hands a peer's update on as the
   * same bytes: a large one is relayed trimmed (see #onReplicaUpdate).
   */
  readonly #step2Payloads = new WeakSet<Uint8Array>()
  #step1Turn: Link | undefined
  #step1Timer: ReturnType<typeof setTimeout> | undefined
  #closed = false
  readonly #heartbeat: ReturnType<typeof setInterval>

  constructor(options: SyncNodeOptions) {
    super()
    if (options?.replica === undefined) throw new TypeError('options.replica is required')
    this.#replica = options.replica
    this.#cluster = options.cluster ?? 'cas'
    if (!/^[A-Za-z0-9._-]+$/.test(this.#cluster)) throw new TypeError('options.cluster may hold only letters, digits, ".", "_" and "-"')
    this.#secret = options.secret
    this.#mode = options.mode ?? 'active'
    this.#maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024
    this.#tls = options.tls
    this.#initialMs = options.reconnect?.initialMs ?? 200
    this.#maxMs = options.reconnect?.maxMs ?? 5000
    this.#log = options.logger ?? silentLogger
    this.#server = new WebSocketServer({ noServer: true, maxPayload: this.#maxMessageBytes, perMessageDeflate: PER_MESSAGE_DEFLATE })
    this.#server.on('headers', (headers) => headers.push(`X-Regsync-Node: ${this.#replica.nodeId}`))

    this.awareness = new awarenessProtocol.Awareness(this.#replica.doc)
    this.awareness.setLocalState({
      nodeId: this.#replica.nodeId,
      version: options.version,
      mode: this.#mode,
      address: options.address ?? null,
      cluster: this.#cluster
    } satisfies NodeState)
    this.awareness.on('update', this.#onAwareness)
    this.#replica.on('update', this.#onReplicaUpdate)
    this.#heartbeat = setInterval(() => this.#beat(), options.heartbeatMs ?? 15_000)
    this.#heartbeat.unref()
  }

  /** Changes the address published in awareness, for instance once a port-0 listener is bound. */
  setAddress(address: string): void {
    this.awareness.setLocalStateField('address', address)
  }

  /**
   * Pings every link. A link whose previous ping got no pong is dead (a peer that vanished without
   * closing, or a cut network path) and is terminated, so that outbound links redial. Pongs keep
   * `lastSeen` fresh on idle links.
   */
  #beat(): void {
    for (const link of this.#links.values()) {
      if (!link.open) continue
      if (link.awaitingPong) {
        this.#log.warn({ link: link.label }, `no answer from ${link.label} for a heartbeat; closing the link`)
        link.socket.terminate()
        continue
      }
      link.awaitingPong = true
      link.socket.ping()
    }
  }

  /** The sync path of this cluster. */
  get path(): string {
    return `/sync/${this.#cluster}`
  }

  /** True once a link has synced, or when no peer is configured. */
  get synced(): boolean {
    return this.#everSynced || this.#outbound.size === 0
  }

  /** True when `url` (a request URL) is this node's sync path. */
  isSyncPath(url: string | undefined): boolean {
    const pathname = new URL(url ?? '/', 'http://localhost').pathname
    return pathname === this.path || pathname === this.path + '/'
  }

  /**
   * Takes an HTTP upgrade request. Anything but the sync path gets 404; a missing or wrong secret
   * gets 401, before any websocket data is exchanged.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closed) return refuse(socket, 503, 'Service Unavailable')
    if (!this.isSyncPath(request.url)) return refuse(socket, 404, 'Not Found')
    if (!isAuthorized(request, this.#secret)) {
      this.stats.connectionsUnauthorized++
      this.#log.warn({ remote: request.socket.remoteAddress }, 'refused a sync connection: missing or wrong secret')
      return refuse(socket, 401, 'Unauthorized')
    }
    this.#server.handleUpgrade(request, socket, head, (ws) => {
      this.stats.connectionsAccepted++
      const remote = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`
      const link = new Link(`in-${++linkCounter}`, ws, 'inbound', `inbound:${remote}`)
      const node = new URL(request.url ?? '/', 'http://localhost').searchParams.get('node')
      if (node !== null) link.nodeId = node
      this.#attach(link)
    })
  }

  /**
   * Sets the peers known from one source (`static`, `dns`). Links to URLs no source knows any
   * more are closed; new URLs are dialed.
   */
  setPeers(source: string, urls: readonly string[]): void {
    if (this.#closed) return
    const wanted = new Set(urls.map((url) => this.#normalize(url)))
    for (const [url, peer] of this.#outbound) {
      if (peer.sources.has(source) && !wanted.has(url)) {
        peer.sources.delete(source)
        if (peer.sources.size === 0) this.#dropPeer(url)
      }
    }
    for (const url of wanted) {
      const existing = this.#outbound.get(url)
      if (existing !== undefined) {
        existing.sources.add(source)
        continue
      }
      const peer = new OutboundPeer(url, new Set([source]))
      this.#outbound.set(url, peer)
      this.#log.info({ peer: url, source }, `new peer ${url}`)
      this.#dial(peer)
    }
  }

  /** Every configured peer and every inbound link. */
  peers(): PeerStatus[] {
    const out: PeerStatus[] = []
    for (const peer of this.#outbound.values()) {
      if (peer.self) continue
      const link = peer.link
      out.push({
        url: peer.url,
        direction: 'outbound',
        source: [...peer.sources].sort().join(','),
        connected: link?.open ?? false,
        synced: link?.synced ?? false,
        lastSeen: link?.lastSeen ?? null,
        nodeId: link?.nodeId ?? null,
        lastError: peer.lastError
      })
    }
    for (const link of this.#links.values()) {
      if (link.direction !== 'inbound') continue
      out.push({
        url: link.label,
        direction: 'inbound',
        source: 'inbound',
        connected: link.open,
        synced: link.synced,
        lastSeen: link.lastSeen,
        nodeId: link.nodeId,
        lastError: null
      })
    }
    return out
  }

  /** The awareness states of every node heard of, keyed by node id. */
  nodes(): Map<string, NodeState> {
    const out = new Map<string, NodeState>()
    for (const state of this.awareness.getStates().values()) {
      const node = state as Partial<NodeState>
      if (typeof node.nodeId === 'string') out.set(node.nodeId, node as NodeState)
    }
    return out
  }

  /** Closes every link and stops dialing. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#heartbeat)
    clearTimeout(this.#step1Timer)
    this.#replica.off('update', this.#onReplicaUpdate)
    this.awareness.off('update', this.#onAwareness)
    for (const peer of this.#outbound.values()) {
      peer.closed = true
      if (peer.timer !== undefined) clearTimeout(peer.timer)
    }
    awarenessProtocol.removeAwarenessStates(this.awareness, [this.#replica.doc.clientID], 'close')
    const closing: Array<Promise<void>> = []
    for (const link of this.#links.values()) {
      closing.push(
        new Promise((resolve) => {
          if (link.socket.readyState === WebSocket.CLOSED) return resolve()
          link.socket.once('close', () => resolve())
          link.socket.close(1001, 'node shutting down')
          setTimeout(() => {
            link.socket.terminate()
            resolve()
          }, 1000).unref()
        })
      )
    }
    await Promise.all(closing)
    this.awareness.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #normalize(url: string): string {
    const parsed = new URL(url)
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new TypeError(`peer URL must start with ws:// or wss://, not ${url}`)
    if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = this.path
    parsed.search = ''
    return parsed.toString()
  }

  #dial(peer: OutboundPeer): void {
    if (this.#closed || peer.closed || peer.self) return
    const target = new URL(peer.url)
    target.searchParams.set('node', this.#replica.nodeId)
    const headers: Record<string, string> = {}
    if (this.#secret !== undefined) headers.authorization = `Bearer ${this.#secret}`
    const socket = new WebSocket(target, {
      headers,
      maxPayload: this.#maxMessageBytes,
      perMessageDeflate: PER_MESSAGE_DEFLATE,
      handshakeTimeout: 5000,
      ...(this.#tls?.ca !== undefined ? { ca: this.#tls.ca } : {}),
      ...(this.#tls?.cert !== undefined ? { cert: this.#tls.cert } : {}),
      ...(this.#tls?.key !== undefined ? { key: this.#tls.key } : {})
    })
    const link = new Link(`out-${++linkCounter}`, socket, 'outbound', peer.url)
    peer.link = link
    socket.on('upgrade', (response) => {
      const node = response.headers[NODE_HEADER]
      if (typeof node === 'string') link.nodeId = node
    })
    socket.on('unexpected-response', (_request, response) => {
      peer.lastError = `HTTP ${response.statusCode}${response.statusCode === 401 ? ' (wrong or missing secret)' : ''}`
      this.#log.warn({ peer: peer.url, status: response.statusCode }, `peer ${peer.url} refused the link: ${peer.lastError}`)
      socket.terminate()
    })
    socket.on('open', () => {
      if (link.nodeId === this.#replica.nodeId) {
        // A peer list or DNS answer that names this very node.
        peer.self = true
        this.#log.info({ peer: peer.url }, `peer ${peer.url} is this node; not dialing it`)
        socket.close(1000, 'self')
        return
      }
      peer.attempt = 0
      peer.lastError = null
      this.#log.info({ peer: peer.url, nodeId: link.nodeId }, `connected to ${peer.url}`)
    })
    socket.on('close', () => {
      if (peer.link === link) peer.link = undefined
      this.#schedule(peer)
    })
    socket.on('error', (error) => {
      peer.lastError = error.message
      this.#log.debug({ peer: peer.url, err: error.message }, `link to ${peer.url} failed`)
    })
    this.#attach(link)
  }

  #schedule(peer: OutboundPeer): void {
    if (this.#closed || peer.closed || peer.self || peer.timer !== undefined) return
    const ceiling = Math.min(this.#maxMs, this.#initialMs * 2 ** peer.attempt)
    peer.attempt = Math.min(peer.attempt + 1, 30)
    // Full jitter: nodes that lost a peer together do not all come back in the same millisecond.
    const delay = Math.random() * ceiling
    peer.timer = setTimeout(() => {
      peer.timer = undefined
      this.#dial(peer)
    }, delay)
    peer.timer.unref()
  }

  #dropPeer(url: string): void {
    const peer = this.#outbound.get(url)
    if (peer === undefined) return
    this.#outbound.delete(url)
    peer.closed = true
    if (peer.timer !== undefined) clearTimeout(peer.timer)
    peer.link?.socket.close(1000, 'peer removed')
    this.#log.info({ peer: url }, `peer ${url} removed`)
  }

  #attach(link: Link): void {
    const socket = link.socket
    this.#links.set(link.id, link)
    const start = (): void => {
      this.#queueStep1(link)
      const clients = [...this.awareness.getStates().keys()]
      if (clients.length > 0) this.#send(link, writeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients)))
    }
    if (socket.readyState === WebSocket.OPEN) start()
    else socket.once('open', start)
    socket.on('message', (data: RawData, isBinary: boolean) => this.#onFrame(link, data, isBinary))
    socket.on('pong', () => {
      link.awaitingPong = false
      link.lastSeen = Date.now()
    })
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.stats.oversizeFrames++
        this.#log.warn({ link: link.label }, `closed ${link.label}: a frame was over the ${this.#maxMessageBytes}-byte limit`)
      }
    })
    socket.on('close', () => {
      this.#links.delete(link.id)
      this.#step1Done(link)
      const gone: number[] = []
      for (const client of link.clients) {
        const links = this.#clientLinks.get(client)
        links?.delete(link)
        if (links !== undefined && links.size === 0) {
          this.#clientLinks.delete(client)
          gone.push(client)
        }
      }
      if (gone.length > 0) awarenessProtocol.removeAwarenessStates(this.awareness, gone, link)
    })
  }

  #onFrame(link: Link, data: RawData, isBinary: boolean): void {
    if (this.#closed) return
    const frame = toBytes(data)
    this.stats.framesIn++
    this.stats.bytesIn += frame.byteLength
    link.lastSeen = Date.now()
    link.awaitingPong = false
    if (!isBinary) return this.#badFrame(link, new Error('text frame'))
    let message
    try {
      message = readMessage(frame)
    } catch (error) {
      return this.#badFrame(link, error)
    }
    switch (message.kind) {
      case 'step1': {
        link.remoteStateVector = message.stateVector
        let empty: boolean
        try {
          empty = Y.decodeStateVector(message.stateVector).size === 0
        } catch (error) {
          return this.#badFrame(link, error)
        }
        if (empty) void this.#sendStoredState(link, message.stateVector)
        else this.#sendMissing(link, message.stateVector)
        return
      }
      case 'step2':
      case 'update': {
        this.stats.updatesIn++
        if (message.kind === 'update' && this.#recent.seen(message.update)) {
          this.stats.duplicateUpdates++
          return
        }
        const origin: TransactionOrigin = { source: 'peer', peerId: link.id }
        if (message.kind === 'step2') this.#step2Payloads.add(message.update)
        this.#replica.applyUpdate(message.update, origin).then(
          () => {
            if (message.kind === 'step2') this.#step1Done(link)
            if (message.kind === 'step2' && !link.synced) {
              link.synced = true
              this.#log.info({ link: link.label, nodeId: link.nodeId }, `synced with ${link.label}`)
              if (!this.#everSynced) {
                this.#everSynced = true
                this.emit('synced', [])
              }
            }
          },
          (error: unknown) => this.#badFrame(link, error)
        )
        return
      }
      case 'awareness':
        try {
          const before = new Set(this.awareness.getStates().keys())
          awarenessProtocol.applyAwarenessUpdate(this.awareness, message.update, link)
          for (const client of this.awareness.getStates().keys()) {
            if (before.has(client) || client === this.#replica.doc.clientID) continue
            link.clients.add(client)
            let links = this.#clientLinks.get(client)
            if (links === undefined) this.#clientLinks.set(client, (links = new Set()))
            links.add(link)
          }
        } catch (error) {
          this.#badFrame(link, error)
        }
        return
      case 'queryAwareness':
        this.#send(link, writeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, [...this.awareness.getStates().keys()])))
        return
      case 'auth':
        return
    }
  }

  #badFrame(link: Link, error: unknown): void {
    this.stats.badFrames++
    const reason = error instanceof Error ? error.message : String(error)
    this.#log.warn({ link: link.label, reason }, `closed ${link.label}: malformed frame (${reason})`)
    // 1007: invalid frame payload data.
    link.socket.close(1007, 'malformed frame')
    setTimeout(() => link.socket.terminate(), 1000).unref()
  }

  /**
   * Sends our sync step 1 on a new link, one link at a time. The step 1 carries our state vector,
   * and the peer answers with everything we lack: a fresh node that asked all its peers at once
   * would get the whole registry from each of them (three 40 MB answers for 10,000 definitions,
   * each costing its sender seconds to encode). Asked in turn, the second peer sees our state
   * after the first answer and sends only what is still missing. A peer that does not answer
   * within {@link STEP1_TURN_MS} loses its turn.
   */
  #queueStep1(link: Link): void {
    this.#step1Queue.push(link)
    this.#nextStep1()
  }

  #nextStep1(): void {
    if (this.#step1Turn !== undefined) return
    let link: Link | undefined
    while ((link = this.#step1Queue.shift()) !== undefined && !link.open) {
      // Closed while waiting.
    }
    if (link === undefined) return
    this.#step1Turn = link
    this.#send(link, writeStep1(Y.encodeStateVector(this.#replica.doc)))
    this.#step1Timer = setTimeout(() => this.#step1Done(link), STEP1_TURN_MS)
    this.#step1Timer.unref()
  }

  /** The link's step 2 came back (and was applied), the link closed, or its turn ran out. */
  #step1Done(link: Link): void {
    const queued = this.#step1Queue.indexOf(link)
    if (queued >= 0 && !link.open) this.#step1Queue.splice(queued, 1)
    if (this.#step1Turn !== link) return
    this.#step1Turn = undefined
    clearTimeout(this.#step1Timer)
    this.#step1Timer = undefined
    if (!this.#closed) this.#nextStep1()
  }

  /** Answers a sync step 1: what the document holds beyond the peer's state vector. */
  #sendMissing(link: Link, stateVector: Uint8Array): void {
    let update: Uint8Array
    try {
      update = Y.encodeStateAsUpdate(this.#replica.doc, stateVector)
    } catch (error) {
      return this.#badFrame(link, error)
    }
    this.#send(link, writeStep2(update))
  }

  /**
   * Answers a peer that holds nothing (a fresh node) with the stored state rather than an encoding
   * of the document: for 10,000 definitions, tens of ms to read the bytes against 0.25-0.75 s of
   * this thread to encode them, during which this node serves no one. The updates logged after the
   * snapshot go first, merged into one update, and the snapshot goes last as the step 2; the peer
   * keeps the first until the second arrives, and counts itself synced only once it has applied
   * the step 2. A change committed after the read reaches the peer as a live update, like every
   * change. A long log is not worth merging: then the document is encoded, as for any peer.
   */
  async #sendStoredState(link: Link, stateVector: Uint8Array): Promise<void> {
    let stored: StoredState | undefined
    try {
      stored = await this.#replica.storedState()
    } catch (error) {
      this.#log.debug({ link: link.label, error: (error as Error).message }, 'cannot read the stored state: encoding the document')
    }
    if (!link.open || this.#closed) return
    const parts = stored === undefined ? undefined : stepTwoParts(stored)
    if (parts === undefined) return this.#sendMissing(link, stateVector)
    if (parts.before !== undefined) this.#send(link, writeUpdate(parts.before))
    this.#send(link, writeStep2(parts.step2))
  }

  #send(link: Link, frame: Uint8Array): void {
    if (!link.open) return
    this.stats.framesOut++
    this.stats.bytesOut += frame.byteLength
    link.socket.send(frame, { binary: true })
  }

  readonly #onReplicaUpdate = (update: Uint8Array, origin: TransactionOrigin | undefined): void => {
    const typed = asOrigin(origin)
    // A passive node never publishes its own edits; it only relays the cluster's.
    if (this.#mode === 'passive' && typed?.source !== 'peer') return
    const from = typed?.source === 'peer' ? this.#links.get(typed.peerId) : undefined
    // Local edits and peers' live updates go on as they are: no other peer can hold them yet, or
    // only through the same relays. A large sync step 2 (a peer's registry, when this node joins
    // or comes back) is mostly what the other peers hold already: each link gets only what its
    // peer is not known to hold, encoded from the document (with every deletion, which a state
    // vector does not describe). Decoding the update to trim it would cost as much as applying it.
    // Structs still waiting for their dependencies are not in the document, so then the update
    // goes as it is.
    const doc = this.#replica.doc
    const trim =
      update.byteLength >= TRIM_RELAY_BYTES &&
      this.#step2Payloads.has(update) &&
      doc.store.pendingStructs === null &&
      doc.store.pendingDs === null
    if (!trim) return this.#broadcast(writeUpdate(update), from)
    for (const link of this.#relayTargets(from)) {
      if (link.remoteStateVector === undefined) {
        this.#send(link, writeUpdate(update))
        continue
      }
      this.#send(link, writeUpdate(Y.encodeStateAsUpdate(doc, link.remoteStateVector)))
      // It holds our state now, as far as this link is concerned.
      link.remoteStateVector = Y.encodeStateVector(doc)
    }
  }

  /**
   * Sends a frame on every open link but the one it came from, and at most once per peer node:
   * two nodes that dial each other have two links, and a frame on both would only be applied once.
   * A frame is also not sent back to the node it came from over its other link.
   */
  #broadcast(frame: Uint8Array, from: Link | undefined): void {
    for (const link of this.#relayTargets(from)) this.#send(link, frame)
  }

  /**
   * The open links a frame from `from` goes to: one per peer node, never back to its sender. Of two
   * links to one node, the inbound one is used: on it this node is the websocket server, whose frames
   * are not masked, so neither side spends a pass over the bytes on the mask (ws does it in
   * JavaScript unless its optional native helper is installed).
   */
  #relayTargets(from: Link | undefined): Link[] {
    const targets: Link[] = []
    const byNode = new Map<string, Link>()
    for (const link of this.#links.values()) {
      if (link === from || !link.open) continue
      if (link.nodeId === null) targets.push(link)
      else if (link.nodeId !== from?.nodeId && byNode.get(link.nodeId)?.direction !== 'inbound') byNode.set(link.nodeId, link)
    }
    targets.push(...byNode.values())
    return targets
  }

  readonly #onAwareness = (
    { added, updated, removed }: { added: number[]; updated: number[]; removed: number[] },
    origin: unknown
  ): void => {
    const changed = [...added, ...updated, ...removed]
    if (changed.length === 0) return
    this.#broadcast(writeAwareness(awarenessProtocol.encodeAwarenessUpdate(this.awareness, changed)), origin instanceof Link ? origin : undefined)
  }
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
  socket.destroy()
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data))
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}
