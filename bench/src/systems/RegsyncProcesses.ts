/**
 * N real `regsync agent` processes on 127.0.0.1, each with its own services and data directory
 * under a temp root, a listen port picked up front, and (by default) every directed peer link
 * through its own {@link FaultProxy}. Node 0 imports the starting files; the others sync them.
 *
 * The journals are read after the agents stop, straight from each LevelDB (`jrn!` keys): the agent
 * has no endpoint that lists them.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LevelStorageAdapter } from '@regsync/store-level'
import { ClusterView } from '../workload/ClusterView.js'
import { DiskObserver } from '../workload/DiskObserver.js'
import { ProxyMesh } from '../cluster/ProxyMesh.js'
import { AgentProcess } from '../cluster/AgentProcess.js'
import { reservePort } from '../cluster/ports.js'
import type { ReservedPort } from '../cluster/ports.js'
import { peersOf } from '../cluster/topology.js'
import { dirBytes, waitQuiet } from '../cluster/procStats.js'
import { removeDefinition, snapshotDir, writeDefinition, writeMany } from './fileOps.js'
import type { NodeCost, ReadyTimes, SyncSystem, SystemSetup } from './SyncSystem.js'

/** The agent's CLI, from the repository root (the bench is never installed elsewhere). */
export const AGENT_BIN = fileURLToPath(new URL('../../../packages/agent/bin/regsync.js', import.meta.url))

interface ProcessNode {
  readonly index: number
  readonly dir: string
  readonly data: string
  readonly port: number
  /** Held until the agent first starts, so that no proxy of ours gets the port on port 0. */
  reserved: ReservedPort | undefined
  readonly agent: AgentProcess
  peers: string[]
  fresh: boolean
}

/** Options beyond the common setup. */
export interface RegsyncProcessOptions {
  /** `--log-level` the scenario needs: `warn` (the default) keeps logging out of the figures; `info` logs the ready line. */
  readonly logLevel?: 'warn' | 'info'
  /** `--log-level` the user asked for; the more verbose of the two is used. */
  readonly agentLogLevel?: AgentLogLevel
  /** Where each agent's output goes, as `node<index>.log`. */
  readonly logDir?: string
  /** Node options for the agents; `%i` becomes the node index. */
  readonly nodeArgs?: readonly string[]
}

/** The agent's log levels, most verbose first. */
export const AGENT_LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
export type AgentLogLevel = (typeof AGENT_LOG_LEVELS)[number]

/** A cluster of agent processes. */
export class RegsyncProcesses implements SyncSystem {
  readonly name = 'regsync'
  readonly mode = 'processes'
  readonly view: ClusterView
  readonly #setup: SystemSetup
  readonly #options: RegsyncProcessOptions
  readonly #root: string
  readonly #secretFile: string
  readonly #observer: DiskObserver
  readonly #mesh = new ProxyMesh()
  readonly #nodes: ProcessNode[] = []
  #journals: string[] | undefined
  #closed = false

  private constructor(setup: SystemSetup, options: RegsyncProcessOptions) {
    this.#setup = setup
    this.#options = options
    this.#root = join(setup.work, 'regsync')
    this.#secretFile = join(this.#root, 'secret')
    this.view = new ClusterView(setup.nodes)
    this.#observer = new DiskObserver(this.view)
  }

  /** Starts the cluster and waits until every node holds the starting files. */
  static async start(setup: SystemSetup, options: RegsyncProcessOptions = {}): Promise<RegsyncProcesses> {
    const system = new RegsyncProcesses(setup, options)
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
    await mkdir(this.#root, { recursive: true })
    if (this.#options.logDir !== undefined) await mkdir(this.#options.logDir, { recursive: true })
    await writeFile(this.#secretFile, `bench-${Math.random().toString(36).slice(2)}\n`, { mode: 0o600 })
    for (let i = 0; i < nodes; i++) await this.#createNode(i)
    for (const node of this.#nodes) node.peers = await this.#peerUrls(node.index, peersOf(node.index, nodes))
    await writeMany(this.#nodes[0]!.dir, files)
    for (const node of this.#nodes) await this.#observer.add(node.index, node.dir)
    this.#setup.progress(`regsync: starting ${nodes} agents`)
    // /readyz waits for a first sync with a peer, so all start together; node 0 imports at once.
    await Promise.all(this.#nodes.map((node) => this.#spawn(node, node.index === 0 ? ['--initial-import', 'immediate'] : [])))
    const all = this.#nodes.map((node) => node.index)
    await Promise.all([...files].map(([path, text]) => this.view.waitFor(path, text, all, this.#setup.timeoutMs)))
    // The agents still commit, compact and relay for a while after the last file lands: measure
    // from a settled cluster, as a real join or restart would meet it.
    const waited = await this.settle()
    if (waited > 1000) this.#setup.progress(`regsync: the cluster settled ${(waited / 1000).toFixed(1)} s after the last file landed`)
  }

  async #createNode(index: number): Promise<ProcessNode> {
    const dir = join(this.#root, `node${index}`, 'services')
    const data = join(this.#root, `node${index}`, 'data')
    await mkdir(dir, { recursive: true })
    const reserved = await reservePort()
    const node: ProcessNode = { index, dir, data, port: reserved.port, reserved, agent: new AgentProcess(`agent ${index}`), peers: [], fresh: true }
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

  async #spawn(node: ProcessNode, extra: readonly string[] = []): Promise<ReadyTimes> {
    const args = [
      '--dir', node.dir,
      '--data', node.data,
      '--listen', `127.0.0.1:${node.port}`,
      ...node.peers.flatMap((url) => ['--peer', url]),
      '--secret-file', this.#secretFile,
      '--cluster', 'cas',
      '--log-format', 'json',
      '--log-level', this.#logLevel(),
      ...extra
    ]
    await node.reserved?.release()
    node.reserved = undefined
    const nodeArgs = (this.#options.nodeArgs ?? []).map((arg) => arg.replaceAll('%i', String(node.index)))
    const logFile = this.#options.logDir === undefined ? undefined : join(this.#options.logDir, `node${node.index}.log`)
    const readyLine = AGENT_LOG_LEVELS.indexOf(this.#logLevel()) <= AGENT_LOG_LEVELS.indexOf('info')
    const times = await node.agent.start({ bin: AGENT_BIN, args, port: node.port, nodeArgs, readyLine, ...(logFile === undefined ? {} : { logFile }) }, this.#setup.timeoutMs)
    node.fresh = false
    return times
  }

  #logLevel(): AgentLogLevel {
    const needed = AGENT_LOG_LEVELS.indexOf(this.#options.logLevel ?? 'warn')
    const asked = this.#options.agentLogLevel === undefined ? needed : AGENT_LOG_LEVELS.indexOf(this.#options.agentLogLevel)
    return AGENT_LOG_LEVELS[Math.min(needed, asked)]!
  }

  /** Throws if an agent died on its own: the run then fails rather than waiting for a timeout. */
  #assertAlive(): void {
    for (const node of this.#nodes) if (node.agent.unexpectedExit !== undefined) throw new Error(node.agent.unexpectedExit)
  }

  async write(node: number, path: string, text: string): Promise<void> {
    this.#assertAlive()
    await writeDefinition(this.#nodes[node]!.dir, path, text, this.#setup.writeMode)
  }

  async remove(node: number, path: string): Promise<void> {
    this.#assertAlive()
    await removeDefinition(this.#nodes[node]!.dir, path)
  }

  async snapshot(node: number): Promise<Map<string, string>> {
    return snapshotDir(this.#nodes[node]!.dir)
  }

  /** Stops every agent cleanly (their costs are read first) and reads the journals from LevelDB. */
  async kept(): Promise<string[]> {
    if (this.#journals !== undefined) return this.#journals
    this.#assertAlive()
    await Promise.all(this.#nodes.map((node) => node.agent.stop('SIGTERM')))
    const out: string[] = []
    for (const node of this.#nodes) {
      const storage = new LevelStorageAdapter({ path: node.data })
      await storage.open()
      try {
        for await (const [, value] of storage.entries('jrn!')) out.push(Buffer.from(value).toString('utf8'))
      } finally {
        await storage.close()
      }
    }
    this.#journals = out
    return out
  }

  async costs(): Promise<NodeCost[]> {
    const out: NodeCost[] = []
    for (const node of this.#nodes) {
      out.push({
        node: node.index,
        cpuSeconds: await node.agent.cpu(),
        peakRssMiB: await node.agent.rss(),
        bytesSent: this.#mesh.bytesSentBy(node.index),
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

  async kill(index: number): Promise<void> {
    await this.#nodes[index]!.agent.stop('SIGKILL')
  }

  settle(): Promise<number> {
    return waitQuiet(() => this.#nodes.map((node) => node.agent.pid))
  }

  async stop(index: number): Promise<void> {
    await this.#nodes[index]!.agent.stop('SIGTERM')
  }

  async start(index: number): Promise<ReadyTimes> {
    return this.#spawn(this.#nodes[index]!)
  }

  async join(): Promise<{ node: number } & ReadyTimes> {
    const index = this.view.addNode()
    const node = await this.#createNode(index)
    node.peers = await this.#peerUrls(index, this.#nodes.filter((n) => n.index !== index).map((n) => n.index).slice(0, 3))
    await this.#observer.add(index, node.dir)
    return { node: index, ...(await this.#spawn(node)) }
  }

  /** The agents' last log lines, for a failure report. */
  tails(): string[] {
    return this.#nodes.flatMap((node) => node.agent.tail.slice(-5).map((line) => `${node.agent.name}: ${line}`))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#observer.close()
    await Promise.all(this.#nodes.map((node) => node.agent.stop('SIGTERM').catch(() => {})))
    await Promise.all(this.#nodes.map((node) => node.reserved?.release()))
    await this.#mesh.close()
    await rm(this.#root, { recursive: true, force: true })
  }
}
