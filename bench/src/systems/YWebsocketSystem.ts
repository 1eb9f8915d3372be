/**
 * The plain y-websocket baseline: N Y.Docs in the harness process, each holding the registry as a
 * Y.Map from path to the whole file text, each with a stock `WebsocketProvider` to one
 * {@link YRelay}. No files and no persistence: a write is `map.set`, and a node "has" a file when
 * its map does. A partition disconnects the providers of every group but the largest.
 */
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { WebSocket } from 'ws'
import { ClusterView } from '../workload/ClusterView.js'
import { peakRssMiB } from '../cluster/procStats.js'
import { YRelay } from './YRelay.js'
import type { NodeCost, SyncSystem, SystemSetup } from './SyncSystem.js'

interface YNode {
  readonly doc: Y.Doc
  readonly map: Y.Map<string>
  readonly provider: WebsocketProvider
}

/** The y-websocket baseline. */
export class YWebsocketSystem implements SyncSystem {
  readonly name = 'y-websocket'
  readonly mode = 'in-process'
  readonly view: ClusterView
  readonly #relay = new YRelay()
  readonly #nodes: YNode[] = []
  readonly #cpuStart = process.cpuUsage()
  #disconnected: number[] = []
  #closed = false

  private constructor(setup: SystemSetup) {
    this.view = new ClusterView(setup.nodes)
  }

  /** Starts the relay and N providers; node 0 holds `files`. */
  static async start(setup: SystemSetup): Promise<YWebsocketSystem> {
    const system = new YWebsocketSystem(setup)
    await system.#relay.start()
    for (let i = 0; i < setup.nodes; i++) system.#addNode(i)
    const first = system.#nodes[0]!
    first.doc.transact(() => {
      for (const [path, text] of setup.files) first.map.set(path, text)
    })
    await Promise.all(system.#nodes.map((node) => waitSynced(node.provider)))
    const all = system.#nodes.map((_, i) => i)
    await Promise.all([...setup.files].map(([path, text]) => system.view.waitFor(path, text, all, setup.timeoutMs)))
    return system
  }

  get size(): number {
    return this.#nodes.length
  }

  #addNode(index: number): YNode {
    const doc = new Y.Doc()
    const map = doc.getMap<string>('files')
    map.observe((event) => {
      const at = performance.now()
      for (const key of event.keysChanged) this.view.set(index, key, map.get(key), at)
    })
    const provider = new WebsocketProvider(this.#relay.url, 'cas', doc, {
      WebSocketPolyfill: WebSocket as never,
      params: { node: String(index) },
      disableBc: true,
      maxBackoffTime: 1000
    })
    const node = { doc, map, provider }
    this.#nodes[index] = node
    return node
  }

  async write(node: number, path: string, text: string): Promise<void> {
    this.#nodes[node]!.map.set(path, text)
  }

  async remove(node: number, path: string): Promise<void> {
    this.#nodes[node]!.map.delete(path)
  }

  async snapshot(node: number): Promise<Map<string, string>> {
    return new Map([...this.#nodes[node]!.map.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
  }

  async kept(): Promise<string[]> {
    return []
  }

  async costs(): Promise<NodeCost[]> {
    const cpu = process.cpuUsage(this.#cpuStart)
    return [
      { node: -1, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: (await peakRssMiB(process.pid)) ?? 0, bytesSent: this.#relay.bytesOut },
      ...this.#nodes.map((_, i) => ({ node: i, bytesSent: this.#relay.bytesFrom.get(String(i)) ?? 0 }))
    ]
  }

  async partition(groups: ReadonlyArray<readonly number[]>): Promise<void> {
    const largest = [...groups].sort((a, b) => b.length - a.length)[0] ?? []
    this.#disconnected = groups.filter((group) => group !== largest).flat()
    for (const node of this.#disconnected) this.#nodes[node]!.provider.disconnect()
  }

  async heal(): Promise<void> {
    for (const node of this.#disconnected) this.#nodes[node]!.provider.connect()
    this.#disconnected = []
  }

  async join(): Promise<{ node: number; readyMs: number }> {
    const started = performance.now()
    const index = this.view.addNode()
    const node = this.#addNode(index)
    await waitSynced(node.provider)
    return { node: index, readyMs: performance.now() - started }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const node of this.#nodes) {
      node.provider.destroy()
      node.doc.destroy()
    }
    await this.#relay.close()
  }
}

function waitSynced(provider: WebsocketProvider): Promise<void> {
  if (provider.synced) return Promise.resolve()
  return new Promise((resolve) => {
    const onSync = (synced: boolean): void => {
      if (!synced) return
      provider.off('sync', onSync)
      resolve()
    }
    provider.on('sync', onSync)
  })
}
