/**
 * regsync nodes inside the harness process: a {@link Replica} over temp dirs, a {@link SyncNode}
 * and an HTTP listener on 127.0.0.1 per node, wired as the agent wires them. This is the mode for
 * large N (a process per node costs ~50 MB before it holds anything). CPU and RSS are then figures of
 * the whole process; bytes and LevelDB size stay per node.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ChokidarWatcher, NodeDirectoryAdapter, Replica, openReplica } from 'regsync'
import { LevelStorageAdapter } from '@regsync/store-level'
import { SyncNode } from '@regsync/net-ws'
import { ClusterView } from '../workload/ClusterView.js'
import { DiskObserver } from '../workload/DiskObserver.js'
import { ProxyMesh } from '../cluster/ProxyMesh.js'
import { peersOf } from '../cluster/topology.js'
import { dirBytes, peakRssMiB } from '../cluster/procStats.js'
import { removeDefinition, snapshotDir, writeDefinition, writeMany } from './fileOps.js'
import type { NodeCost, ReadyTimes, SyncSystem, SystemSetup } from './SyncSystem.js'

interface InProcessNode {
  readonly index: number
  readonly dir: string
  readonly data: string
  readonly server: Server
  readonly port: number
  replica: Replica | undefined
  sync: SyncNode | undefined
  /** Peer URLs this node dials. */
  peers: string[]
  /** Bytes sent by earlier lives of this node. */
  bytesBefore: number
}

/** Full rescan period of the in-process nodes: the agent's default. */
const RESCAN_MS = 60_000

/** A cluster of in-process regsync nodes. */
export class RegsyncInProcess implements SyncSystem {
  readonly name = 'regsync'
  readonly mode: string = 'in-process'
  readonly view: ClusterView
  readonly #setup: SystemSetup
  readonly #root: string
  readonly #observer: DiskObserver
  readonly #mesh = new ProxyMesh()
  readonly #nodes: InProcessNode[] = []
  readonly #cpuStart = process.cpuUsage()
  #closed = false

  readonly #watcher: 'native' | 'chokidar'

  private constructor(setup: SystemSetup, watcher: 'native' | 'chokidar') {
    this.#setup = setup
    this.#watcher = watcher
    if (watcher === 'chokidar') this.mode = 'in-process, chokidar watcher'
    this.#root = join(setup.work, 'regsync')
    this.view = new ClusterView(setup.nodes)
    this.#observer = new DiskObserver(this.view)
  }

  /**
   * Starts the cluster: node 0 imports `files`, the others sync them from it. `watcher` picks
   * regsync's default watcher (`native`, what the agent runs) or `chokidar` (what `--poll` wraps,
   * here without polling), to measure what chokidar costs.
   */
  static async start(setup: SystemSetup, watcher: 'native' | 'chokidar' = 'native'): Promise<RegsyncInProcess> {
    const system = new RegsyncInProcess(setup, watcher)
    try {
      await system.#startAll()
    } catch (error) {
      await system.close()
      throw error
    }
    return system
  }

  get size(): number {
    return this.#nodes.length
  }

  async #startAll(): Promise<void> {
    const { nodes, files } = this.#setup
    for (let i = 0; i < nodes; i++) await this.#createNode(i)
    for (const node of this.#nodes) node.peers = await this.#peerUrls(node.index, peersOf(node.index, nodes))
    await writeMany(this.#nodes[0]!.dir, files)
    for (const node of this.#nodes) await this.#observer.add(node.index, node.dir)
    await this.#open(this.#nodes[0]!, true)
    await Promise.all(this.#nodes.slice(1).map((node) => this.#open(node, 'unless-fresh')))
    const text = [...files][files.size - 1]
    if (text !== undefined) await this.view.waitFor(text[0], text[1], this.#nodes.map((n) => n.index), this.#setup.timeoutMs)
    await this.view.waitIdentical(this.#nodes.map((n) => n.index), 200, this.#setup.timeoutMs)
  }

  async #createNode(index: number): Promise<InProcessNode> {
    const dir = join(this.#root, `node${index}`, 'services')
    const data = join(this.#root, `node${index}`, 'data')
    await mkdir(dir, { recursive: true })
    let node: InProcessNode | undefined
    const server = createServer((request, response) => {
      const ready = node?.sync?.synced === true && node.replica?.importAllowed === true
      response.statusCode = request.url === '/readyz' ? (ready ? 200 : 503) : 404
      response.end()
    })
    server.on('upgrade', (request, socket, head) => {
      if (node?.sync === undefined) return socket.destroy()
      node.sync.handleUpgrade(request, socket, head)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no address')
    node = { index, dir, data, server, port: address.port, replica: undefined, sync: undefined, peers: [], bytesBefore: 0 }
    this.#nodes[index] = node
    return node
  }

  async #peerUrls(from: number, to: readonly number[]): Promise<string[]> {
    const urls: string[] = []
    for (const j of to) {
      const target = this.#nodes[j]!
      const port = this.#setup.proxies === false ? target.port : (await this.#mesh.link(from, j, target.port)).port
      urls.push(`ws://127.0.0.1:${port}`)
    }
    return urls
  }

  async #open(node: InProcessNode, importOnOpen: true | 'unless-fresh'): Promise<ReadyTimes> {
    const started = performance.now()
    const replica = await this.#openReplica(node, importOnOpen)
    const readyMs = performance.now() - started
    const sync = new SyncNode({ replica, version: 'bench', address: `ws://127.0.0.1:${node.port}` })
    node.replica = replica
    node.sync = sync
    const imported = replica.importAllowed
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => sync.once('synced', () => void replica.allowImport().then(resolve, reject)))
    sync.setPeers('static', node.peers)
    if (node.peers.length === 0) await replica.allowImport()
    await imported
    return { readyMs, readyzMs: performance.now() - started }
  }

  async #openReplica(node: InProcessNode, importOnOpen: true | 'unless-fresh'): Promise<Replica> {
    if (this.#watcher === 'native') return openReplica({ dir: node.dir, data: node.data, rescanIntervalMs: RESCAN_MS, importOnOpen })
    // What openReplica builds, with chokidar in place of the native watcher.
    const replica = new Replica({
      storage: new LevelStorageAdapter({ path: node.data }),
      directory: new NodeDirectoryAdapter({ path: node.dir, fsync: true }),
      watcher: new ChokidarWatcher({ path: node.dir }),
      rescanIntervalMs: RESCAN_MS,
      importOnOpen
    })
    await replica.open()
    return replica
  }

  async write(node: number, path: string, text: string): Promise<void> {
    await writeDefinition(this.#nodes[node]!.dir, path, text, this.#setup.writeMode)
  }

  async remove(node: number, path: string): Promise<void> {
    await removeDefinition(this.#nodes[node]!.dir, path)
  }

  async snapshot(node: number): Promise<Map<string, string>> {
    return snapshotDir(this.#nodes[node]!.dir)
  }

  async kept(): Promise<string[]> {
    const out: string[] = []
    for (const node of this.#nodes) {
      if (node.replica?.status !== 'open') continue
      for (const entry of await node.replica.journal()) out.push(JSON.stringify(entry))
    }
    return out
  }

  async costs(): Promise<NodeCost[]> {
    const cpu = process.cpuUsage(this.#cpuStart)
    const out: NodeCost[] = [{ node: -1, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: (await peakRssMiB(process.pid)) ?? 0 }]
    for (const node of this.#nodes) {
      out.push({
        node: node.index,
        bytesSent: node.bytesBefore + (node.sync?.stats.bytesOut ?? 0),
        storageMiB: (await dirBytes(node.data)) / 1024 / 1024
      })
    }
    return out
  }

  async partition(groups: ReadonlyArray<readonly number[]>): Promise<void> {
    this.#mesh.partition(groups)
  }

  async heal(): Promise<void> {
    this.#mesh.heal()
  }

  async stop(index: number): Promise<void> {
    const node = this.#nodes[index]!
    node.bytesBefore += node.sync?.stats.bytesOut ?? 0
    await node.sync?.close()
    await node.replica?.close()
    node.sync = undefined
    node.replica = undefined
  }

  async start(index: number): Promise<ReadyTimes> {
    return this.#open(this.#nodes[index]!, 'unless-fresh')
  }

  async join(): Promise<{ node: number } & ReadyTimes> {
    const index = this.view.addNode()
    const node = await this.#createNode(index)
    node.peers = await this.#peerUrls(index, this.#nodes.filter((n) => n.index !== index).map((n) => n.index).slice(0, 3))
    await this.#observer.add(index, node.dir)
    return { node: index, ...(await this.#open(node, 'unless-fresh')) }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#observer.close()
    for (const node of this.#nodes) {
      await node.sync?.close()
      await node.replica?.close().catch(() => {})
      node.server.closeAllConnections()
      await new Promise<void>((resolve) => node.server.close(() => resolve()))
    }
    await this.#mesh.close()
    await rm(this.#root, { recursive: true, force: true })
  }
}
