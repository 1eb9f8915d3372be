/**
 * The Syncthing baseline: one `syncthing serve` per node on 127.0.0.1, each with its own home and
 * folder, configured through its config.xml before it starts: global and local discovery, relays,
 * NAT traversal, usage and crash reporting and upgrades off; a 1 s filesystem watcher delay (the
 * floor users run with); a static full mesh where every device's address is the fault proxy of that
 * directed link; a 1 s reconnect interval. Costs come from /proc, summed over Syncthing's monitor
 * process and the syncthing it runs (as users run it), bytes from the proxies, storage from its
 * database directory.
 * Conflict copies (`*.sync-conflict-*`) are left out of the view and count as kept values.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { ClusterView } from '../workload/ClusterView.js'
import { DiskObserver } from '../workload/DiskObserver.js'
import { ProxyMesh } from '../cluster/ProxyMesh.js'
import { reservePort } from '../cluster/ports.js'
import type { ReservedPort } from '../cluster/ports.js'
import { cpuSeconds, dirBytes, peakRssMiB, processTree, waitQuiet } from '../cluster/procStats.js'
import { sleep } from '../stats.js'
import { removeDefinition, snapshotDir, writeDefinition, writeMany } from './fileOps.js'
import { INSTALL_HINT, toolInstalled } from './toolInstalled.js'
import { SystemUnavailable } from './SyncSystem.js'
import type { NodeCost, ReadyTimes, SyncSystem, SystemSetup } from './SyncSystem.js'

const isConflictCopy = (name: string): boolean => name.includes('.sync-conflict-')

interface SyncthingNode {
  readonly index: number
  readonly home: string
  readonly dir: string
  readonly deviceId: string
  readonly listenPort: number
  readonly guiPort: number
  readonly apiKey: string
  /** Held until the first start, so that no proxy of ours gets these ports on port 0. */
  reserved: ReservedPort[]
  child: ChildProcess | undefined
  cpuBefore: number
  peakRss: number
  tail: string[]
}

/** The Syncthing baseline. */
export class SyncthingSystem implements SyncSystem {
  readonly name = 'syncthing'
  readonly mode = 'processes'
  readonly view: ClusterView
  readonly #setup: SystemSetup
  readonly #root: string
  readonly #observer: DiskObserver
  readonly #mesh = new ProxyMesh()
  readonly #nodes: SyncthingNode[] = []
  #closed = false

  private constructor(setup: SystemSetup) {
    this.#setup = setup
    this.#root = join(setup.work, 'syncthing')
    this.view = new ClusterView(setup.nodes)
    this.#observer = new DiskObserver(this.view, { ignore: isConflictCopy })
  }

  /**
   * Starts the instances; node 0 holds `files`. `spare` more devices are configured in every
   * config (so that `join` can start one later) but not started.
   */
  static async start(setup: SystemSetup, spare = 0): Promise<SyncthingSystem> {
    if (!toolInstalled('syncthing')) throw new SystemUnavailable(`syncthing is not installed (${INSTALL_HINT})`)
    const system = new SyncthingSystem(setup)
    try {
      await system.#startAll(spare)
    } catch (error) {
      await system.close()
      throw error
    }
    return system
  }

  get size(): number {
    return this.view.size
  }

  async #startAll(spare: number): Promise<void> {
    const { nodes, files } = this.#setup
    const total = nodes + spare
    for (let i = 0; i < total; i++) await this.#createNode(i)
    for (const node of this.#nodes) await this.#writeConfig(node)
    await writeMany(this.#nodes[0]!.dir, files)
    for (let i = 0; i < nodes; i++) await this.#observer.add(i, this.#nodes[i]!.dir)
    this.#setup.progress(`syncthing: starting ${nodes} instances`)
    await Promise.all(this.#nodes.slice(0, nodes).map((node) => this.#spawn(node)))
    const all = Array.from({ length: nodes }, (_, i) => i)
    await Promise.all([...files].map(([path, text]) => this.view.waitFor(path, text, all, this.#setup.timeoutMs)))
  }

  async #createNode(index: number): Promise<void> {
    const home = join(this.#root, `node${index}`, 'home')
    const dir = join(this.#root, `node${index}`, 'services')
    await mkdir(dir, { recursive: true })
    await mkdir(join(dir, '.stfolder'), { recursive: true })
    const generated = spawnSync('syncthing', ['generate', `--home=${home}`, '--no-default-folder'], { encoding: 'utf8' })
    const match = /Device ID: ([A-Z0-9-]+)/.exec(`${generated.stdout}${generated.stderr}`)
    if (match === null) throw new Error(`syncthing generate printed no device id: ${generated.stderr}`)
    const listen = await reservePort()
    const gui = await reservePort()
    this.#nodes[index] = {
      index,
      home,
      dir,
      deviceId: match[1]!,
      listenPort: listen.port,
      guiPort: gui.port,
      apiKey: randomBytes(16).toString('hex'),
      reserved: [listen, gui],
      child: undefined,
      cpuBefore: 0,
      peakRss: 0,
      tail: []
    }
  }

  async #writeConfig(node: SyncthingNode): Promise<void> {
    const devices: string[] = []
    for (const other of this.#nodes) {
      let address = 'dynamic'
      if (other !== node) address = `tcp://127.0.0.1:${(await this.#mesh.link(node.index, other.index, other.listenPort)).port}`
      devices.push(
        `  <device id="${other.deviceId}" name="node${other.index}" compression="never" introducer="false"><address>${address}</address><paused>false</paused><autoAcceptFolders>false</autoAcceptFolders></device>`
      )
    }
    // Every folder setting is written out with the value `syncthing generate` uses: an element left
    // out reads as zero, and a zero maxConflicts silently turns conflict copies off.
    const config = `<configuration version="36">
  <folder id="cas" label="cas" path="${node.dir}" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="1" ignorePerms="false" autoNormalize="true">
    <filesystemType>basic</filesystemType>
${this.#nodes.map((other) => `    <device id="${other.deviceId}" introducedBy=""></device>`).join('\n')}
    <minDiskFree unit="%">1</minDiskFree>
    <versioning><cleanupIntervalS>3600</cleanupIntervalS><fsPath></fsPath><fsType>basic</fsType></versioning>
    <copiers>0</copiers>
    <pullerMaxPendingKiB>0</pullerMaxPendingKiB>
    <hashers>0</hashers>
    <order>random</order>
    <ignoreDelete>false</ignoreDelete>
    <scanProgressIntervalS>0</scanProgressIntervalS>
    <pullerPauseS>0</pullerPauseS>
    <maxConflicts>10</maxConflicts>
    <disableSparseFiles>false</disableSparseFiles>
    <disableTempIndexes>false</disableTempIndexes>
    <paused>false</paused>
    <weakHashThresholdPct>25</weakHashThresholdPct>
    <markerName>.stfolder</markerName>
    <copyOwnershipFromParent>false</copyOwnershipFromParent>
    <modTimeWindowS>0</modTimeWindowS>
    <maxConcurrentWrites>2</maxConcurrentWrites>
    <disableFsync>false</disableFsync>
    <blockPullOrder>standard</blockPullOrder>
    <copyRangeMethod>standard</copyRangeMethod>
    <caseSensitiveFS>false</caseSensitiveFS>
    <junctionsAsDirs>false</junctionsAsDirs>
  </folder>
${devices.join('\n')}
  <gui enabled="true" tls="false" debugging="false"><address>127.0.0.1:${node.guiPort}</address><apikey>${node.apiKey}</apikey></gui>
  <options>
    <listenAddress>tcp://127.0.0.1:${node.listenPort}</listenAddress>
    <globalAnnounceEnabled>false</globalAnnounceEnabled>
    <localAnnounceEnabled>false</localAnnounceEnabled>
    <relaysEnabled>false</relaysEnabled>
    <natEnabled>false</natEnabled>
    <urAccepted>-1</urAccepted>
    <urSeen>3</urSeen>
    <crashReportingEnabled>false</crashReportingEnabled>
    <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
    <startBrowser>false</startBrowser>
    <reconnectionIntervalS>1</reconnectionIntervalS>
    <setLowPriority>false</setLowPriority>
    <announceLANAddresses>false</announceLANAddresses>
    <minHomeDiskFree unit="%">0</minHomeDiskFree>
  </options>
</configuration>
`
    await writeFile(join(node.home, 'config.xml'), config)
  }

  async #spawn(node: SyncthingNode): Promise<ReadyTimes> {
    for (const port of node.reserved.splice(0)) await port.release()
    const started = performance.now()
    const child = spawn('syncthing', ['serve', `--home=${node.home}`, '--no-browser', '--no-restart', '--no-upgrade', '--skip-port-probing'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, STNODEFAULTFOLDER: '1', STNOUPGRADE: '1', STNORESTART: '1' }
    })
    node.child = child
    const onData = (chunk: string): void => {
      for (const line of chunk.split('\n')) if (line.length > 0) node.tail.push(line)
      if (node.tail.length > 40) node.tail.splice(0, node.tail.length - 40)
    }
    child.stdout!.setEncoding('utf8').on('data', onData)
    child.stderr!.setEncoding('utf8').on('data', onData)
    const deadline = started + this.#setup.timeoutMs
    while ((await this.#api(node, '/rest/system/ping')) === undefined) {
      if (child.exitCode !== null) throw new Error(`syncthing ${node.index} exited: ${node.tail.slice(-5).join('\n')}`)
      if (performance.now() > deadline) throw new Error(`syncthing ${node.index} did not answer within ${this.#setup.timeoutMs} ms`)
      await sleep(20)
    }
    const readyMs = performance.now() - started
    return { readyMs }
  }

  /** GET on the node's REST API; the parsed body, or undefined when it does not answer 200. */
  #api(node: SyncthingNode, path: string): Promise<unknown> {
    return new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port: node.guiPort, path, headers: { 'X-API-Key': node.apiKey }, timeout: 2000 }, (response) => {
        let body = ''
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
        response.on('end', () => {
          if (response.statusCode !== 200) return resolve(undefined)
          try {
            resolve(JSON.parse(body))
          } catch {
            resolve(undefined)
          }
        })
      })
      req.on('error', () => resolve(undefined))
      req.on('timeout', () => {
        req.destroy()
        resolve(undefined)
      })
      req.end()
    })
  }

  async write(node: number, path: string, text: string): Promise<void> {
    await writeDefinition(this.#nodes[node]!.dir, path, text, this.#setup.writeMode)
  }

  async remove(node: number, path: string): Promise<void> {
    await removeDefinition(this.#nodes[node]!.dir, path)
  }

  async snapshot(node: number): Promise<Map<string, string>> {
    return snapshotDir(this.#nodes[node]!.dir, isConflictCopy)
  }

  async kept(): Promise<string[]> {
    const out: string[] = []
    for (const node of this.#nodes.slice(0, this.view.size)) {
      for (const name of await readdir(node.dir).catch(() => [] as string[])) {
        if (isConflictCopy(name)) out.push(await readFile(join(node.dir, name), 'utf8').catch(() => ''))
      }
    }
    return out
  }

  async costs(): Promise<NodeCost[]> {
    const out: NodeCost[] = []
    for (const node of this.#nodes.slice(0, this.view.size)) {
      const pid = livePid(node.child)
      if (pid !== undefined) node.peakRss = Math.max(node.peakRss, await treeRss(pid))
      out.push({
        node: node.index,
        cpuSeconds: node.cpuBefore + (pid === undefined ? 0 : await treeCpu(pid)),
        peakRssMiB: node.peakRss,
        bytesSent: this.#mesh.bytesSentBy(node.index),
        storageMiB: (await dirBytes(join(node.home, 'index-v0.14.0.db'))) / 1024 / 1024
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
    await this.#stopNode(this.#nodes[index]!, 'SIGKILL')
  }

  async stop(index: number): Promise<void> {
    await this.#stopNode(this.#nodes[index]!, 'SIGTERM')
  }

  settle(): Promise<number> {
    return waitQuiet(() => this.#nodes.map((node) => livePid(node.child)))
  }

  async start(index: number): Promise<ReadyTimes> {
    return this.#spawn(this.#nodes[index]!)
  }

  async join(): Promise<{ node: number } & ReadyTimes> {
    const index = this.view.addNode()
    const node = this.#nodes[index]
    if (node === undefined) throw new Error('syncthing join needs a spare device configured at start')
    await this.#observer.add(index, node.dir)
    return { node: index, ...(await this.#spawn(node)) }
  }

  async #stopNode(node: SyncthingNode, signal: NodeJS.Signals): Promise<void> {
    const child = node.child
    const pid = livePid(child)
    if (child === undefined || pid === undefined) return
    node.cpuBefore += await treeCpu(pid)
    node.peakRss = Math.max(node.peakRss, await treeRss(pid))
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    // Syncthing runs as a monitor process and its child: a SIGKILL must reach the child too.
    const tree = await processTree(pid)
    if (signal === 'SIGKILL') for (const member of tree.reverse()) process.kill(member, 'SIGKILL')
    else child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#observer.close()
    await Promise.all(this.#nodes.map((node) => this.#stopNode(node, 'SIGTERM').catch(() => {})))
    for (const node of this.#nodes) for (const port of node.reserved.splice(0)) await port.release()
    await this.#mesh.close()
    await rm(this.#root, { recursive: true, force: true })
  }
}

/** CPU seconds of a process and its children (Syncthing's monitor and the syncthing it runs). */
async function treeCpu(pid: number): Promise<number> {
  let total = 0
  for (const member of await processTree(pid)) total += (await cpuSeconds(member)) ?? 0
  return total
}

/** Sum of the peak RSS of a process and its children, MiB. */
async function treeRss(pid: number): Promise<number> {
  let total = 0
  for (const member of await processTree(pid)) total += (await peakRssMiB(member)) ?? 0
  return total
}

function livePid(child: ChildProcess | undefined): number | undefined {
  return child !== undefined && child.exitCode === null && child.signalCode === null ? child.pid : undefined
}
