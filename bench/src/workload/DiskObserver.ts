/**
 * Feeds a {@link ClusterView} from the nodes' directories: an inotify watch per directory, a read
 * of each path an event names, and a rescan of the awaited files whenever waits are pending and
 * nothing was seen for a while (inotify drops events when its queue overflows, as it can during a
 * 10,000-file burst).
 *
 * Dot-files are skipped: every tool under test writes a dot-prefixed temp file and renames it.
 */
import { readFileSync, watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { ClusterView } from './ClusterView.js'

/** 300 ms without any event while someone waits: look at everything again. */
const STALL_MS = 300
/** A rescan that found nothing doubles the wait before the next one, up to this. */
const MAX_STALL_MS = 5000

/** Options of a {@link DiskObserver}. */
export interface DiskObserverOptions {
  /** Names to leave out of the view besides dot-files (Syncthing's conflict copies). */
  readonly ignore?: (name: string) => boolean
}

interface Slot {
  readonly dir: string
  watcher: FSWatcher | undefined
}

/** Watches one directory per node. */
export class DiskObserver {
  readonly #view: ClusterView
  readonly #ignore: (name: string) => boolean
  readonly #slots: Array<Slot | undefined> = []
  readonly #stallTimer: ReturnType<typeof setInterval>
  #stallMs = STALL_MS
  #lastScan = 0
  #scanning = false
  #closed = false
  /** Names each node's events named in this turn, read together at its end (see {@link #touch}). */
  readonly #due: Array<Set<string>> = []
  #flushing = false

  constructor(view: ClusterView, options: DiskObserverOptions = {}) {
    this.#view = view
    this.#ignore = options.ignore ?? (() => false)
    // A slow system (Syncthing's 1 s delay, an rsync period) leaves long quiet stretches: back off
    // so that rescans of 10,000-file directories do not take the CPU the system under test needs.
    this.#stallTimer = setInterval(() => {
      const now = performance.now()
      if (this.#view.pending === 0 || now - this.#view.lastChange < STALL_MS) {
        this.#stallMs = STALL_MS
        return
      }
      if (now - Math.max(this.#view.lastChange, this.#lastScan) < this.#stallMs) return
      const before = this.#view.lastChange
      this.#lastScan = now
      void this.#rescan(true).then(() => {
        this.#stallMs = this.#view.lastChange === before ? Math.min(this.#stallMs * 2, MAX_STALL_MS) : STALL_MS
      })
    }, STALL_MS / 3)
    this.#stallTimer.unref()
  }

  /** Starts watching `dir` as node `node`, and reads what it holds now. */
  async add(node: number, dir: string): Promise<void> {
    const slot: Slot = { dir, watcher: undefined }
    this.#slots[node] = slot
    slot.watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (typeof name === 'string') this.#touch(node, name)
    })
    slot.watcher.on('error', () => {})
    await this.#scan(node)
  }

  /** Reads every node's directory again. */
  rescan(): Promise<void> {
    return this.#rescan(false)
  }

  /**
   * Lists every node's directory again and reads what it holds; with `awaitedOnly`, only the files
   * a wait is pending for (the stall check's rescan, which only needs what a missed event may have
   * hidden from a wait, and must not take the CPU from the nodes while they work).
   */
  async #rescan(awaitedOnly: boolean): Promise<void> {
    if (this.#scanning || this.#closed) return
    this.#scanning = true
    try {
      for (let node = 0; node < this.#slots.length; node++) await this.#scan(node, awaitedOnly)
    } finally {
      this.#scanning = false
    }
  }

  /** Stops watching. */
  close(): void {
    this.#closed = true
    clearInterval(this.#stallTimer)
    for (const slot of this.#slots) slot?.watcher?.close()
  }

  async #scan(node: number, awaitedOnly = false): Promise<void> {
    const slot = this.#slots[node]
    if (slot === undefined) return
    let names: string[]
    try {
      names = (await readdir(slot.dir)).filter((name) => this.#keep(name))
    } catch {
      names = []
    }
    const present = new Set(names)
    for (const path of [...this.#view.entries(node).keys()]) {
      if (!present.has(path)) this.#touch(node, path)
    }
    for (const name of names) {
      if (this.#closed) return
      if (!awaitedOnly || this.#view.awaited(node, name)) this.#read(node, name)
    }
  }

  #keep(name: string): boolean {
    return !name.startsWith('.') && !this.#ignore(name)
  }

  /**
   * Reads the named file once this turn's events are in: a file written in place brings two or three
   * events at once (create, modify), and one read after them sees what they all did.
   */
  #touch(node: number, name: string): void {
    if (this.#closed || !this.#keep(name)) return
    ;(this.#due[node] ??= new Set()).add(name)
    if (this.#flushing) return
    this.#flushing = true
    setImmediate(() => {
      this.#flushing = false
      if (this.#closed) return
      this.#due.forEach((names, dueNode) => {
        for (const dueName of names) this.#read(dueNode, dueName)
        names.clear()
      })
    })
  }

  /**
   * Reads one file into the view. Synchronous: a small file reads in microseconds, while the
   * promise API takes four turns of libuv's thread pool, which the workload's writes then queue
   * behind.
   */
  #read(node: number, name: string): void {
    const slot = this.#slots[node]
    if (slot === undefined) return
    let text: string | undefined
    try {
      text = readFileSync(join(slot.dir, name), 'utf8')
    } catch {
      text = undefined
    }
    this.#view.set(node, name, text)
  }
}
