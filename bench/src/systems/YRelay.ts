/**
 * A plain y-websocket relay, written with y-protocols and ws as the y-websocket server does it: one
 * in-memory Y.Doc per room, sync step 1/2 with each client, every update applied and broadcast to
 * the room's other clients, awareness passed on. No persistence, no auth, no files: the floor that
 * regsync's layers add to.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import * as Y from 'yjs'
import { WebSocketServer, WebSocket } from 'ws'
import type { RawData } from 'ws'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

const MESSAGE_SYNC = 0
const MESSAGE_AWARENESS = 1

interface Room {
  readonly doc: Y.Doc
  readonly awareness: awarenessProtocol.Awareness
  readonly clients: Set<WebSocket>
}

/** The relay. */
export class YRelay {
  /** Bytes received from each client, keyed by the `node` query parameter. */
  readonly bytesFrom = new Map<string, number>()
  /** Bytes the relay sent. */
  bytesOut = 0
  readonly #rooms = new Map<string, Room>()
  readonly #server: Server
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  #port = 0

  constructor() {
    this.#server = createServer((_request, response) => {
      response.statusCode = 404
      response.end()
    })
    this.#server.on('upgrade', (request, socket, head) => {
      this.#wss.handleUpgrade(request, socket, head, (ws) => {
        const url = new URL(request.url ?? '/', 'http://localhost')
        this.#attach(ws, url.pathname.slice(1), url.searchParams.get('node') ?? '?')
      })
    })
  }

  /** Listens on 127.0.0.1 and resolves with the port. */
  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    const address = this.#server.address()
    if (address === null || typeof address === 'string') throw new Error('no address')
    this.#port = address.port
    return this.#port
  }

  /** The relay URL for providers. */
  get url(): string {
    return `ws://127.0.0.1:${this.#port}`
  }

  /** Closes every connection and the listener. */
  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate()
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
    for (const room of this.#rooms.values()) room.doc.destroy()
  }

  #room(name: string): Room {
    let room = this.#rooms.get(name)
    if (room !== undefined) return room
    const doc = new Y.Doc({ gc: true })
    const awareness = new awarenessProtocol.Awareness(doc)
    awareness.setLocalState(null)
    room = { doc, awareness, clients: new Set() }
    const current = room
    doc.on('update', (update: Uint8Array, origin: unknown) => {
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, MESSAGE_SYNC)
      syncProtocol.writeUpdate(encoder, update)
      const frame = encoding.toUint8Array(encoder)
      for (const client of current.clients) if (client !== origin) this.#send(client, frame)
    })
    awareness.on('update', ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }, origin: unknown) => {
      const changed = [...added, ...updated, ...removed]
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, MESSAGE_AWARENESS)
      encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(awareness, changed))
      const frame = encoding.toUint8Array(encoder)
      for (const client of current.clients) if (client !== origin) this.#send(client, frame)
    })
    this.#rooms.set(name, room)
    return room
  }

  #attach(ws: WebSocket, roomName: string, node: string): void {
    const room = this.#room(roomName)
    room.clients.add(ws)
    ws.binaryType = 'arraybuffer'
    ws.on('message', (data: RawData) => {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(Buffer.concat(Array.isArray(data) ? data : [data]))
      this.bytesFrom.set(node, (this.bytesFrom.get(node) ?? 0) + bytes.byteLength)
      const decoder = decoding.createDecoder(bytes)
      const encoder = encoding.createEncoder()
      const type = decoding.readVarUint(decoder)
      if (type === MESSAGE_SYNC) {
        encoding.writeVarUint(encoder, MESSAGE_SYNC)
        syncProtocol.readSyncMessage(decoder, encoder, room.doc, ws)
        if (encoding.length(encoder) > 1) this.#send(ws, encoding.toUint8Array(encoder))
      } else if (type === MESSAGE_AWARENESS) {
        awarenessProtocol.applyAwarenessUpdate(room.awareness, decoding.readVarUint8Array(decoder), ws)
      }
    })
    ws.on('close', () => room.clients.delete(ws))
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE_SYNC)
    syncProtocol.writeSyncStep1(encoder, room.doc)
    this.#send(ws, encoding.toUint8Array(encoder))
  }

  #send(ws: WebSocket, frame: Uint8Array): void {
    if (ws.readyState !== WebSocket.OPEN) return
    this.bytesOut += frame.byteLength
    ws.send(frame)
  }
}
