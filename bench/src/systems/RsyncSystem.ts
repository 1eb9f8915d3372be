/**
 * The rsync baseline, as the CAS docs suggest it: a periodic job that syncs every pair of nodes
 * both ways with `rsync -a --update` (newer mtime wins). It cannot tell a delete from a file the
 * other side has not got yet, so it never propagates deletes: the next pass brings them back. The
 * period is a parameter (`--rsync-period`); a pass runs the N·(N-1) copies one after another.
 * Bytes sent are rsync's own `--stats` count; CPU is the rsync children's, for the whole cluster.
 */
import { spawn } from 'node:child_process'
import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ClusterView } from '../workload/ClusterView.js'
import { DiskObserver } from '../workload/DiskObserver.js'
import { removeDefinition, snapshotDir, writeDefinition, writeMany } from './fileOps.js'
import { INSTALL_HINT, toolInstalled } from './toolInstalled.js'
import { SystemUnavailable } from './SyncSystem.js'
import type { NodeCost, SyncSystem, SystemSetup } from './SyncSystem.js'

/** The rsync baseline. */
export class RsyncSystem implements SyncSystem {
  readonly name = 'rsync'
  readonly mode: string
  readonly view: ClusterView
  readonly #setup: SystemSetup
  readonly #periodMs: number
  readonly #root: string
  readonly #dirs: string[] = []
  readonly #bytesSent: number[] = []
  readonly #observer: DiskObserver
  readonly #cut = new Set<string>()
  readonly #childCpuStart: Promise<number>
  #timer: ReturnType<typeof setTimeout> | undefined
  #pass: Promise<void> = Promise.resolve()
  #closed = false

  private constructor(setup: SystemSetup, periodMs: number) {
    this.#setup = setup
    this.#periodMs = periodMs
    this.mode = `every ${periodMs} ms`
    this.#root = join(setup.work, 'rsync')
    this.view = new ClusterView(setup.nodes)
    this.#observer = new DiskObserver(this.view)
    this.#childCpuStart = childCpuSeconds()
  }

  /** Starts the periodic job; throws {@link SystemUnavailable} without rsync. */
  static async start(setup: SystemSetup, periodMs: number): Promise<RsyncSystem> {
    if (!toolInstalled('rsync')) throw new SystemUnavailable(`rsync is not installed (${INSTALL_HINT})`)
    const system = new RsyncSystem(setup, periodMs)
    for (let i = 0; i < setup.nodes; i++) await system.#addDir(i)
    await writeMany(system.#dirs[0]!, setup.files)
    await system.#observer.rescan()
    system.#schedule()
    const all = system.#dirs.map((_, i) => i)
    await Promise.all([...setup.files].map(([path, text]) => system.view.waitFor(path, text, all, setup.timeoutMs)))
    // rsync's quick check compares whole seconds: an edit in the same second as the copy it
    // replaces, with the same size, is never sent. Start the workload in a later second, as files
    // on a real server are older than that.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    return system
  }

  get size(): number {
    return this.#dirs.length
  }

  async #addDir(index: number): Promise<void> {
    const dir = join(this.#root, `node${index}`)
    await mkdir(dir, { recursive: true })
    this.#dirs[index] = dir
    this.#bytesSent[index] = 0
    await this.#observer.add(index, dir)
  }

  #schedule(): void {
    if (this.#closed) return
    const started = performance.now()
    this.#pass = this.#runPass()
      .catch((error: unknown) => this.#setup.progress(`rsync pass failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => {
        if (this.#closed) return
        this.#timer = setTimeout(() => this.#schedule(), Math.max(0, this.#periodMs - (performance.now() - started)))
      })
  }

  async #runPass(): Promise<void> {
    for (let to = 0; to < this.#dirs.length; to++) {
      for (let from = 0; from < this.#dirs.length; from++) {
        if (from === to || this.#cut.has(`${from}>${to}`) || this.#closed) continue
        this.#bytesSent[from]! += await rsync(this.#dirs[from]!, this.#dirs[to]!)
      }
    }
  }

  async write(node: number, path: string, text: string): Promise<void> {
    await writeDefinition(this.#dirs[node]!, path, text, this.#setup.writeMode)
  }

  async remove(node: number, path: string): Promise<void> {
    await removeDefinition(this.#dirs[node]!, path)
  }

  async snapshot(node: number): Promise<Map<string, string>> {
    return snapshotDir(this.#dirs[node]!)
  }

  async kept(): Promise<string[]> {
    return []
  }

  async costs(): Promise<NodeCost[]> {
    const cpu = (await childCpuSeconds()) - (await this.#childCpuStart)
    return [{ node: -1, cpuSeconds: cpu }, ...this.#dirs.map((_, node) => ({ node, bytesSent: this.#bytesSent[node] ?? 0 }))]
  }

  async partition(groups: ReadonlyArray<readonly number[]>): Promise<void> {
    for (const a of groups) for (const b of groups) if (a !== b) for (const i of a) for (const j of b) this.#cut.add(`${i}>${j}`)
  }

  async heal(): Promise<void> {
    this.#cut.clear()
  }

  async join(): Promise<{ node: number; readyMs: number }> {
    const index = this.view.addNode()
    await this.#addDir(index)
    return { node: index, readyMs: 0 }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    await this.#pass.catch(() => {})
    this.#observer.close()
    await rm(this.#root, { recursive: true, force: true })
  }
}

/** One `rsync -a --update from/ to/`; resolves with the bytes it sent. */
function rsync(from: string, to: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('rsync', ['-a', '--update', '--stats', '--exclude=.*', `${from}/`, `${to}/`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    child.stderr.resume()
    child.on('error', reject)
    child.on('exit', (code) => {
      // 24: files vanished during the transfer, normal while the workload deletes.
      if (code !== 0 && code !== 24) return reject(new Error(`rsync exited with ${code}`))
      const match = /Total bytes sent: ([\d,.]+)/.exec(out)
      resolve(match === null ? 0 : Number(match[1]!.replace(/[,.]/g, '')))
    })
  })
}

/** CPU seconds of this process's reaped children (cutime + cstime). */
async function childCpuSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[13]) + Number(fields[14])) / 100
}
