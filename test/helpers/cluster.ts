/**
 * Multi-process clusters of `regsync agent` on 127.0.0.1, for convergence and fault tests.
 *
 * Each node gets its own services and data directories under one temp root, and a listen port chosen
 * by the OS. Ports are picked by binding port 0 and releasing it, since the agents need each other's
 * port before they start; if another process takes a port in between, that node is started again on a
 * new one (and, without proxies, so are the nodes whose `--peer` named the old one).
 *
 * With `viaProxy`, every directed peer link `i → j` (node i dials node j) goes through its own
 * {@link FaultProxy}, so that a test can cut any set of links: `partition([0], [1, 2])` cuts every link
 * between the two groups in both directions, whoever dials. A proxy per node could not do that: it
 * would cut a node's inbound links from its own side of the partition as well.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { dirname, isAbsolute, join, normalize, sep } from 'node:path'
import { randomBytes } from 'node:crypto'
import { runRegsync } from './agent.js'
import type { AgentProcess } from './agent.js'
import { FaultProxy } from './FaultProxy.js'
import { compareDirectories, formatDifferences } from './directories.js'
import type { DirectoryComparison, DirectorySnapshot } from './directories.js'
import { removeDir, sleep, tempDir } from './fs.js'

/** How the nodes dial each other. */
export type Topology = 'mesh' | 'line'

/** Replication mode of one agent. */
export type AgentMode = 'active' | 'passive'

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** How many agents. At least 1. */
  readonly nodes: number
  /** `mesh` (default): every node lists every other node as `--peer`, so each pair has two links. `line`: node i dials only i+1. */
  readonly topology?: Topology
  /** Route every peer link through its own {@link FaultProxy}. Default false. */
  readonly viaProxy?: boolean
  /** `--mode` of node i; not passed when absent (the agent's default, active). */
  readonly mode?: (i: number) => AgentMode
  /** Definition files (relative paths, sub-folders allowed) written before the agents start. */
  readonly files?: Readonly<Record<string, string | Buffer>>
  /** Which nodes get `files`: `all` (default: every CAS node already holds the directory) or `first` (node 0 only). */
  readonly seed?: 'all' | 'first'
  /** More arguments for node i, after the generated ones (so a repeated flag overrides), e.g. `['--rescan-interval', '0']`. */
  readonly extraArgs?: (i: number) => readonly string[]
  /** Cluster secret; written to `<root>/secret` and passed as `--secret-file`. None when absent. */
  readonly secret?: string
  /** `--cluster NAME`; not passed when absent (the agent's default, `cas`). */
  readonly clusterName?: string
  /** How long one node may take to log `regsync agent ready` and answer `/healthz`. Default 20 s. */
  readonly startTimeoutMs?: number
}

/** A peer of a node, as `GET /status` reports it. */
export interface PeerStatus {
  readonly url: string
  readonly connected: boolean
  readonly lastSeen: unknown
  readonly [key: string]: unknown
}

/** The body of `GET /status`. Only the fields the brief names are typed; the rest pass through. */
export interface NodeStatus {
  readonly nodeId: string
  readonly mode: AgentMode
  readonly peers: readonly PeerStatus[]
  readonly files: unknown
  readonly journal: unknown
  readonly lastError: unknown
  readonly [key: string]: unknown
}

/** One agent of a cluster. Its dirs and port stay the same across restarts. */
export interface ClusterNode {
  readonly index: number
  /** The services directory. */
  readonly dir: string
  /** The data directory (LevelDB). */
  readonly data: string
  /** The port its listener is bound to. */
  readonly port: number
  /**
   * Its own sync URL, `ws://127.0.0.1:PORT`, direct (never through a proxy): what a test client would
   * dial. What another node dials is `cluster.link(from, index).url`.
   */
  readonly url: string
  /** `http://127.0.0.1:PORT`, for the admin endpoints. */
  readonly httpUrl: string
  /** The current (or last) agent process. */
  readonly proc: AgentProcess
  /** The arguments the current process was started with. */
  readonly args: readonly string[]
  /** True while the process has not exited. */
  readonly running: boolean
  /** SIGTERM, then waits for the exit (SIGKILL and an error after `timeoutMs`, default 10 s). Resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | string>
  /** SIGKILL, and waits for the exit. Resolves with the exit code or signal. */
  kill(): Promise<number | string>
  /**
   * Starts the agent again on the same dirs and port (stopping it first with SIGTERM if it runs), and
   * waits until it is ready. `extraArgs` go last, for this start only.
   */
  restart(extraArgs?: readonly string[]): Promise<void>
  /** `GET /status` with the cluster secret; throws on anything but 2xx. */
  status(): Promise<NodeStatus>
  /** True when `GET /readyz` answers 200; false on any other answer or no answer. */
  ready(): Promise<boolean>
  /** Polls {@link ready} until true; throws after `timeoutMs` (default 20 s). */
  waitReady(timeoutMs?: number): Promise<void>
  /** `GET /metrics` text. */
  metrics(): Promise<string>
  /** Any request to the listener, with the secret as a bearer token unless `init.headers` sets one. */
  request(path: string, init?: RequestInit): Promise<Response>
}

/** One directed peer link: node `from` dials node `to` at `url`. */
export interface ClusterLink {
  readonly from: number
  readonly to: number
  /** The URL passed to `from` as `--peer`. */
  readonly url: string
  /** The proxy carrying this link, with `viaProxy`. */
  readonly proxy: FaultProxy | undefined
}

/** Options of {@link Cluster.waitConverged}. */
export interface ConvergeOptions {
  /** Only these nodes (default all), e.g. while one is stopped. */
  readonly nodes?: readonly number[]
  /** The directories must stay identical this long (default 100 ms), so that two reads at different instants cannot agree by chance. */
  readonly stableMs?: number
  /** An extra condition on the shared snapshot, e.g. `(s) => s.has('App-1.json')`. */
  readonly until?: (snapshot: DirectorySnapshot) => boolean
  /** Named in the timeout error, e.g. `'the delete of App-1.json'`. */
  readonly what?: string
}

/** What {@link Cluster.close} found when stopping the nodes. */
export interface ClusterCloseReport {
  /** Per node: the exit code or signal of its last process, and whether it had to be killed after SIGTERM. */
  readonly exits: ReadonlyArray<{ readonly index: number; readonly exit: number | string; readonly forced: boolean }>
}

/** A running cluster. Always `close()` it, in `afterEach` or a `finally`. */
export interface Cluster {
  /** The temp dir holding every node's dirs and the secret file. */
  readonly root: string
  readonly nodes: readonly ClusterNode[]
  /** Every directed peer link, in `--peer` order. */
  readonly links: readonly ClusterLink[]
  /** The proxies of all links; empty without `viaProxy`. */
  readonly proxies: readonly FaultProxy[]
  readonly secret: string | undefined
  readonly secretFile: string | undefined
  /** The link on which `from` dials `to`; throws if the topology has none. */
  link(from: number, to: number): ClusterLink
  /** Cuts every link between a node of `groupA` and a node of `groupB`, both directions. Needs `viaProxy`. */
  partition(groupA: readonly number[], groupB: readonly number[]): void
  /** Cuts every link of node i. Needs `viaProxy`. */
  isolate(index: number): void
  /** Heals every link. Needs `viaProxy`. The agents redial on their own schedule. */
  heal(): void
  /** Sets the latency of every link. Needs `viaProxy`. */
  setLatency(ms: number): void
  /** Polls until every (running) node answers `/readyz` 200. */
  waitReady(timeoutMs?: number): Promise<void>
  /** Compares the nodes' directories once. */
  compare(nodes?: readonly number[]): Promise<DirectoryComparison>
  /**
   * Polls until every node's directory holds the same files with the same bytes (recursive, dot-files
   * ignored), and resolves with that snapshot. Throws after `timeoutMs` (default 20 s) with the
   * differences and the state of each process.
   */
  waitConverged(timeoutMs?: number, options?: ConvergeOptions): Promise<DirectorySnapshot>
  /** Stops every agent (SIGTERM, then SIGKILL), closes every proxy, removes the temp dir. Idempotent; never throws on a stuck agent. */
  close(): Promise<ClusterCloseReport>
  [Symbol.asyncDispose](): Promise<void>
}

/** A free TCP port on 127.0.0.1, from the OS. Free when returned; nothing holds it afterwards. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve())
  })
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no TCP address from a port-0 listen')
  return address.port
}

/** 20 ms: fast enough to see a change land, slow enough not to load a two-core machine. */
const POLL_MS = 20
const DEFAULT_START_TIMEOUT_MS = 20_000
const DEFAULT_STOP_TIMEOUT_MS = 10_000
/** A port taken between the pick and the agent's listen is rare: a few new picks are plenty. */
const PORT_ATTEMPTS = 5
const READY_LOG = 'regsync agent ready'

/** Agents still running in this process, killed if the test process exits without closing them. */
const liveAgents = new Set<AgentProcess>()
let exitHookInstalled = false

function register(proc: AgentProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const agent of liveAgents) agent.child.kill('SIGKILL')
    })
  }
  liveAgents.add(proc)
  void proc.exited.then(() => liveAgents.delete(proc))
}

function isRunning(proc: AgentProcess | undefined): boolean {
  return proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null
}

/** Thrown when an agent exits before it is ready. */
class EarlyExit extends Error {
  constructor(
    message: string,
    readonly addressInUse: boolean
  ) {
    super(message)
  }
}

/** The tail of an agent's output, for error messages. */
function outputTail(proc: AgentProcess, chars = 1500): string {
  const stderr = proc.output.stderr.trim()
  return `${stderr === '' ? '' : `stderr: ${stderr.slice(-chars)}\n`}stdout: ${proc.output.stdout.trim().slice(-chars)}`
}

function validateIndexes(what: string, indexes: readonly number[], count: number): void {
  for (const index of indexes) {
    if (!Number.isInteger(index) || index < 0 || index >= count) throw new TypeError(`${what}: no node ${String(index)} in a cluster of ${count}`)
  }
}

function safeRelative(path: string): string {
  const normal = normalize(path)
  if (path === '' || isAbsolute(path) || normal === '..' || normal.startsWith(`..${sep}`)) throw new TypeError(`seed file name must be a relative path inside the directory, not ${JSON.stringify(path)}`)
  return normal
}

/** Starts a cluster of agents and waits until each has logged `regsync agent ready` and answers `/healthz`. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const count = options.nodes
  if (!Number.isInteger(count) || count < 1) throw new TypeError(`nodes must be a positive integer, not ${String(count)}`)
  const topology = options.topology ?? 'mesh'
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS
  const root = await tempDir('regsync-cluster-')
  const secretFile = options.secret === undefined ? undefined : join(root, 'secret')

  interface NodeState {
    readonly index: number
    readonly dir: string
    readonly data: string
    port: number
    proc: AgentProcess | undefined
    args: readonly string[]
  }
  const states: NodeState[] = []
  const links: ClusterLink[] = []
  const proxies: FaultProxy[] = []
  let closing: Promise<ClusterCloseReport> | undefined

  const node = (index: number): NodeState => {
    const state = states[index]
    if (state === undefined) throw new TypeError(`no node ${index} in a cluster of ${count}`)
    return state
  }
  const directUrl = (state: NodeState): string => `ws://127.0.0.1:${state.port}`

  const argsFor = (state: NodeState, extra: readonly string[]): string[] => {
    const args = ['agent', '--dir', state.dir, '--data', state.data, '--listen', `127.0.0.1:${state.port}`, '--log-format', 'json']
    if (options.clusterName !== undefined) args.push('--cluster', options.clusterName)
    for (const link of links) if (link.from === state.index) args.push('--peer', link.url)
    if (secretFile !== undefined) args.push('--secret-file', secretFile)
    if (options.mode !== undefined) args.push('--mode', options.mode(state.index))
    args.push(...(options.extraArgs?.(state.index) ?? []), ...extra)
    return args
  }

  const request = (state: NodeState, path: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers)
    if (options.secret !== undefined && !headers.has('authorization')) headers.set('authorization', `Bearer ${options.secret}`)
    return fetch(`http://127.0.0.1:${state.port}${path}`, { signal: AbortSignal.timeout(5_000), ...init, headers }).catch((error: unknown) => {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error)
      throw new Error(`node ${state.index} ${init.method ?? 'GET'} ${path} on port ${state.port}: no answer (${cause}); process ${isRunning(state.proc) ? 'running' : 'not running'}`, { cause: error })
    })
  }

  /** Starts the node's agent and waits for it to be ready; EarlyExit if it exits first. */
  const launch = async (state: NodeState, extra: readonly string[]): Promise<void> => {
    if (closing !== undefined) throw new Error(`node ${state.index}: the cluster is closed`)
    const args = argsFor(state, extra)
    const proc = runRegsync(args)
    register(proc)
    state.proc = proc
    state.args = args
    const deadline = Date.now() + startTimeoutMs
    let logged = false
    for (;;) {
      if (!isRunning(proc)) {
        // `exited` resolves on 'close', after the last output, which holds the reason.
        const exit = await proc.exited
        const output = `${proc.output.stdout}\n${proc.output.stderr}`
        throw new EarlyExit(`node ${state.index} exited with ${exit} before it was ready (port ${state.port}, args ${args.slice(1).join(' ')})\n${outputTail(proc)}`, /EADDRINUSE|address already in use/i.test(output))
      }
      logged ||= proc.lines.some((line) => line.msg === READY_LOG)
      if (logged) {
        const healthy = await request(state, '/healthz').then(
          (response) => {
            void response.body?.cancel()
            return response.status === 200
          },
          () => false
        )
        if (healthy && isRunning(proc)) return
      }
      if (Date.now() > deadline) {
        throw new Error(
          `node ${state.index} was not ready within ${startTimeoutMs} ms: waited for the log line "${READY_LOG}"${logged ? ' (seen)' : ' (not seen)'} and GET /healthz 200 on port ${state.port}\n${outputTail(proc)}`
        )
      }
      await sleep(POLL_MS)
    }
  }

  const stopProcess = async (state: NodeState, timeoutMs: number): Promise<{ exit: number | string; forced: boolean }> => {
    const proc = state.proc
    if (proc === undefined) return { exit: 'never started', forced: false }
    if (!isRunning(proc)) return { exit: await proc.exited, forced: false }
    proc.child.kill('SIGTERM')
    const exit = await Promise.race([proc.exited, sleep(timeoutMs).then(() => undefined)])
    if (exit !== undefined) return { exit, forced: false }
    proc.child.kill('SIGKILL')
    return { exit: await proc.exited, forced: true }
  }

  /** Starts every node that is not running, or runs with stale peer ports; picks new ports for those that found theirs taken. */
  const startAll = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      const stale = states.filter((s) => isRunning(s.proc) && argsFor(s, []).join('\0') !== s.args.join('\0'))
      await Promise.all(stale.map((s) => stopProcess(s, DEFAULT_STOP_TIMEOUT_MS)))
      const pending = states.filter((s) => !isRunning(s.proc))
      const outcomes = await Promise.allSettled(pending.map((s) => launch(s, [])))
      const busy: NodeState[] = []
      const failures: string[] = []
      outcomes.forEach((outcome, i) => {
        if (outcome.status === 'fulfilled') return
        const reason: unknown = outcome.reason
        if (reason instanceof EarlyExit && reason.addressInUse) busy.push(pending[i]!)
        else failures.push(reason instanceof Error ? reason.message : String(reason))
      })
      if (failures.length > 0) throw new Error(`cluster did not start:\n${failures.join('\n')}`)
      if (busy.length === 0) return
      if (attempt >= PORT_ATTEMPTS) throw new Error(`cluster did not start: nodes ${busy.map((s) => s.index).join(', ')} found their port taken ${PORT_ATTEMPTS} times`)
      for (const state of busy) {
        state.port = await freePort()
        for (const link of links) if (link.to === state.index) link.proxy?.setTarget(state.port)
      }
    }
  }

  const requireProxies = (what: string): void => {
    if (!options.viaProxy) throw new TypeError(`${what} needs startCluster({ viaProxy: true })`)
  }

  const compare = (indexes: readonly number[] = states.map((s) => s.index)): Promise<DirectoryComparison> => {
    validateIndexes('compare', indexes, count)
    return compareDirectories(
      indexes.map((i) => node(i).dir),
      indexes.map((i) => `node${i}`)
    )
  }

  const describeProcesses = (): string =>
    states
      .map((s) => {
        const proc = s.proc
        const state = proc === undefined ? 'never started' : isRunning(proc) ? 'running' : `exited with ${String(proc.child.exitCode ?? proc.child.signalCode)}`
        const errors = (proc?.lines ?? [])
          .filter((line) => typeof line.level === 'number' && line.level >= 50)
          .slice(-3)
          .map((line) => `\n    ${JSON.stringify(line).slice(0, 300)}`)
          .join('')
        return `  node${s.index} (port ${s.port}): ${state}${errors}`
      })
      .join('\n')

  const nodes: ClusterNode[] = []
  const cluster: Cluster = {
    root,
    nodes,
    links,
    proxies,
    secret: options.secret,
    secretFile,
    link(from, to) {
      const link = links.find((l) => l.from === from && l.to === to)
      if (link === undefined) throw new TypeError(`no link ${from} -> ${to} in a ${topology} of ${count}`)
      return link
    },
    partition(groupA, groupB) {
      requireProxies('partition()')
      validateIndexes('partition()', [...groupA, ...groupB], count)
      const overlap = groupA.filter((i) => groupB.includes(i))
      if (overlap.length > 0) throw new TypeError(`partition(): node ${overlap.join(', ')} is in both groups`)
      for (const link of links) {
        const across = (groupA.includes(link.from) && groupB.includes(link.to)) || (groupB.includes(link.from) && groupA.includes(link.to))
        if (across) link.proxy!.cut()
      }
    },
    isolate(index) {
      cluster.partition(
        [index],
        states.map((s) => s.index).filter((i) => i !== index)
      )
    },
    heal() {
      requireProxies('heal()')
      for (const proxy of proxies) proxy.heal()
    },
    setLatency(ms) {
      requireProxies('setLatency()')
      for (const proxy of proxies) proxy.setLatency(ms)
    },
    async waitReady(timeoutMs = DEFAULT_START_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const running = nodes.filter((n) => n.running)
        const answers = await Promise.all(running.map((n) => n.ready()))
        if (answers.every(Boolean)) return
        if (Date.now() > deadline) {
          const waiting = running.filter((_, i) => !answers[i]).map((n) => `node${n.index}`)
          throw new Error(`timed out after ${timeoutMs} ms waiting for GET /readyz 200 from ${waiting.join(', ')}\n${describeProcesses()}`)
        }
        await sleep(POLL_MS * 5)
      }
    },
    compare,
    async waitConverged(timeoutMs = 20_000, converge = {}) {
      const indexes = converge.nodes ?? states.map((s) => s.index)
      const stableMs = converge.stableMs ?? 100
      const deadline = Date.now() + timeoutMs
      let agreed: { snapshot: DirectorySnapshot; since: number } | undefined
      let last: DirectoryComparison | undefined
      for (;;) {
        last = await compare(indexes)
        if (last.equal && (converge.until?.(last.snapshot) ?? true)) {
          if (agreed === undefined || !sameSnapshot(agreed.snapshot, last.snapshot)) agreed = { snapshot: last.snapshot, since: Date.now() }
          else if (Date.now() - agreed.since >= stableMs) return last.snapshot
        } else {
          agreed = undefined
        }
        if (Date.now() > deadline) {
          const what = `${converge.what === undefined ? '' : `${converge.what}: `}nodes ${indexes.join(', ')} to hold identical directories${converge.until === undefined ? '' : ' meeting the until() condition'}${stableMs > 0 ? ` for ${stableMs} ms` : ''}`
          const detail = last.equal ? `the directories agree (${[...last.snapshot.keys()].join(', ') || 'empty'}) but ${converge.until === undefined ? 'did not stay stable' : 'until() is false'}` : `they differ:\n${formatDifferences(last)}`
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${detail}\nprocesses:\n${describeProcesses()}`)
        }
        await sleep(POLL_MS)
      }
    },
    close() {
      closing ??= (async () => {
        const exits = await Promise.all(
          states.map(async (s) => {
            const { exit, forced } = await stopProcess(s, DEFAULT_STOP_TIMEOUT_MS)
            return { index: s.index, exit, forced }
          })
        )
        await Promise.all(proxies.map((proxy) => proxy.close()))
        await removeDir(root)
        return { exits }
      })()
      return closing
    },
    async [Symbol.asyncDispose]() {
      await cluster.close()
    }
  }

  try {
    if (options.secret !== undefined && secretFile !== undefined) await writeFile(secretFile, options.secret, { mode: 0o600 })
    for (let index = 0; index < count; index++) {
      const dir = join(root, `node${index}`, 'services')
      const data = join(root, `node${index}`, 'data')
      await mkdir(dir, { recursive: true })
      if (options.seed !== 'first' || index === 0) {
        for (const [name, content] of Object.entries(options.files ?? {})) {
          const path = join(dir, safeRelative(name))
          await mkdir(dirname(path), { recursive: true })
          await writeFile(path, content)
        }
      }
      states.push({ index, dir, data, port: await freePort(), proc: undefined, args: [] })
    }
    for (const from of states) {
      for (const to of states) {
        const dials = topology === 'mesh' ? from !== to : to.index === from.index + 1
        if (!dials) continue
        let proxy: FaultProxy | undefined
        if (options.viaProxy) {
          proxy = new FaultProxy({ targetPort: to.port, name: `link ${from.index}->${to.index}` })
          proxies.push(proxy)
          await proxy.start()
        }
        const carrier = proxy
        links.push({
          from: from.index,
          to: to.index,
          proxy,
          get url() {
            return carrier === undefined ? directUrl(to) : `ws://127.0.0.1:${carrier.port}`
          }
        })
      }
    }
    for (const state of states) {
      const clusterNode: ClusterNode = {
        index: state.index,
        dir: state.dir,
        data: state.data,
        get port() {
          return state.port
        },
        get url() {
          return directUrl(state)
        },
        get httpUrl() {
          return `http://127.0.0.1:${state.port}`
        },
        get proc() {
          if (state.proc === undefined) throw new Error(`node ${state.index} has not been started`)
          return state.proc
        },
        get args() {
          return state.args
        },
        get running() {
          return isRunning(state.proc)
        },
        async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS) {
          const { exit, forced } = await stopProcess(state, timeoutMs)
          if (forced) throw new Error(`node ${state.index} did not exit within ${timeoutMs} ms of SIGTERM and was killed\n${outputTail(clusterNode.proc)}`)
          return exit
        },
        async kill() {
          const proc = clusterNode.proc
          if (isRunning(proc)) proc.child.kill('SIGKILL')
          return proc.exited
        },
        async restart(extraArgs = []) {
          await clusterNode.stop()
          // The port was ours a moment ago; only a stranger that grabbed it in between keeps it.
          for (let attempt = 1; ; attempt++) {
            try {
              await launch(state, extraArgs)
              return
            } catch (error) {
              if (!(error instanceof EarlyExit && error.addressInUse) || attempt >= 3) throw error
              await sleep(250)
            }
          }
        },
        async status() {
          const response = await request(state, '/status')
          const body = await response.text()
          if (!response.ok) throw new Error(`node ${state.index} GET /status answered ${response.status}: ${body.slice(0, 500)}`)
          return JSON.parse(body) as NodeStatus
        },
        async ready() {
          try {
            const response = await request(state, '/readyz')
            void response.body?.cancel()
            return response.status === 200
          } catch {
            return false
          }
        },
        async waitReady(timeoutMs = DEFAULT_START_TIMEOUT_MS) {
          const deadline = Date.now() + timeoutMs
          while (!(await clusterNode.ready())) {
            if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for GET /readyz 200 from node ${state.index}\n${describeProcesses()}`)
            await sleep(POLL_MS * 5)
          }
        },
        async metrics() {
          const response = await request(state, '/metrics')
          const body = await response.text()
          if (!response.ok) throw new Error(`node ${state.index} GET /metrics answered ${response.status}: ${body.slice(0, 500)}`)
          return body
        },
        request(path, init) {
          return request(state, path, init)
        }
      }
      nodes.push(clusterNode)
    }
    await startAll()
    return cluster
  } catch (error) {
    await cluster.close()
    throw error
  }
}

function sameSnapshot(a: DirectorySnapshot, b: DirectorySnapshot): boolean {
  if (a.size !== b.size) return false
  for (const [name, bytes] of a) {
    const other = b.get(name)
    if (other === undefined || !other.equals(bytes)) return false
  }
  return true
}
