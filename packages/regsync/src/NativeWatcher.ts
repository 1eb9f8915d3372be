import { lstatSync, readFileSync, readdirSync, watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { join, resolve } from 'node:path'
import { formatOf } from '@regsync/core'
import type { Watcher, WatcherHandlers } from '@regsync/core'

/** Options of a {@link NativeWatcher}. */
export interface NativeWatcherOptions {
  /** The services directory. */
  readonly path: string
  /** While the directory is missing, look for it this often. Default 1000 ms. */
  readonly retryMs?: number
  /**
   * How many unread events the kernel keeps for the watches: `fs.inotify.max_queued_events`, read
   * from /proc on Linux. Without it, an overflow is not detected (the periodic rescan still runs).
   */
  readonly queueLimit?: number
}

/**
 * Watches the services directory with Node's own `fs.watch`: one inotify watch per folder and no
 * per-file state, so an event costs the same in a folder of 10 files or 10,000. Sub-folders are
 * watched as they appear (CAS loads them recursively); dot-files and dot-folders are ignored.
 *
 * This is the default watcher. chokidar, which {@link ChokidarWatcher} wraps, re-reads a folder and
 * `lstat`s every entry in it on each event there: creating 1,000 files in one folder cost over a
 * second of CPU per node in `lstat` alone. (Node 20's own `recursive` option is no better on Linux:
 * it polls every file with `watchFile`.)
 *
 * Like chokidar's, the watches keep the process alive until {@link close}.
 *
 * inotify reports every change after it is made: a change that comes while an identical event is
 * still unread is merged into that event, which is read after both. So the engine needs no second
 * look at a reported path (the port's `coalesceMs` is left out).
 *
 * Reports are hints, as the port says. When a watched folder disappears, its files cannot be named
 * (no per-file state), so the watcher reports the folder through `onTree` and the engine re-checks
 * every path it knows under it. If the services directory itself goes missing, the watcher says
 * nothing (an unmounted volume is not a mass delete), looks for it every `retryMs`, and reports the
 * whole tree once it is back.
 *
 * inotify keeps at most `fs.inotify.max_queued_events` unread events (16,384 by default). Past that the
 * kernel drops events and queues an overflow marker, which libuv discards without a word: writing
 * 9,000 files while the event loop was busy left 808 of them unreported here. Node reads the whole
 * queue in one turn of the event loop, so a turn that brings a queue's worth of events may have lost
 * some, and the watcher reports an overflow (`onOverflow`): the engine then scans everything.
 */
export class NativeWatcher implements Watcher {
  readonly #root: string
  readonly #retryMs: number
  /** Watched folders by relative path (`''` is the root). */
  readonly #watches = new Map<string, FSWatcher>()
  #handlers: WatcherHandlers | undefined
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  readonly #queueLimit: number | undefined
  /** Events delivered in this turn of the event loop. */
  #turnEvents = 0

  constructor(options: NativeWatcherOptions) {
    this.#root = resolve(options.path)
    this.#retryMs = options.retryMs ?? 1000
    this.#queueLimit = options.queueLimit ?? inotifyQueueLimit()
  }

  async start(handlers: WatcherHandlers): Promise<void> {
    if (this.#handlers !== undefined) return
    this.#handlers = handlers
    if (!this.#watchTree('', false)) this.#retryRoot()
  }

  async close(): Promise<void> {
    this.#handlers = undefined
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    for (const watcher of this.#watches.values()) watcher.close()
    this.#watches.clear()
  }

  /** Looks for the missing root until it is there again, then reports everything under it. */
  #retryRoot(): void {
    clearTimeout(this.#retryTimer)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      if (this.#handlers === undefined) return
      if (this.#watchTree('', true)) this.#handlers.onTree?.('')
      else this.#retryRoot()
    }, this.#retryMs)
  }

  /**
   * Watches the folder `rel` and every sub-folder below it. With `report`, the files found are
   * reported too: they may have been written before the watch existed. Returns false when the
   * folder is not there.
   */
  #watchTree(rel: string, report: boolean): boolean {
    const handlers = this.#handlers
    if (handlers === undefined) return false
    if (this.#watches.has(rel)) return true
    const full = rel === '' ? this.#root : join(this.#root, rel)
    let watcher: FSWatcher
    try {
      watcher = watch(full, (event, name) => this.#onEvent(rel, event, name))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        // ENOSPC here is the inotify watch limit (fs.inotify.max_user_watches): rescans still work.
        handlers.onError(new Error(`cannot watch ${full}: ${(error as Error).message}`, { cause: error }))
      }
      return false
    }
    watcher.on('error', (error) => {
      this.#unwatch(rel)
      handlers.onError(new Error(`watching ${full} failed: ${error.message}`, { cause: error }))
    })
    this.#watches.set(rel, watcher)
    let entries
    try {
      entries = readdirSync(full, { withFileTypes: true })
    } catch {
      return true
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) this.#watchTree(child, report)
      else if (report) handlers.onPath(child)
    }
    return true
  }

  /** Stops watching `rel` and every folder below it. */
  #unwatch(rel: string): void {
    const prefix = `${rel}/`
    for (const [path, watcher] of this.#watches) {
      if (rel === '' || path === rel || path.startsWith(prefix)) {
        watcher.close()
        this.#watches.delete(path)
      }
    }
  }

  #onEvent(dir: string, event: string, name: string | Buffer | null): void {
    const handlers = this.#handlers
    if (handlers === undefined) return
    this.#countEvent(handlers)
    if (typeof name !== 'string' || name.length === 0) return
    if (name.startsWith('.')) return
    const path = dir === '' ? name : `${dir}/${name}`
    if (event === 'rename') this.#onRename(dir, path)
    handlers.onPath(path)
  }

  /**
   * Counts the events of this turn, each one however it is filtered (the temp files of this node's
   * own writes fill the queue too), and reports an overflow once they come near a queue's worth.
   */
  #countEvent(handlers: WatcherHandlers): void {
    const limit = this.#queueLimit
    if (limit === undefined) return
    if (this.#turnEvents++ === 0) setImmediate(() => (this.#turnEvents = 0))
    if (this.#turnEvents === Math.floor(limit * OVERFLOW_SHARE)) handlers.onOverflow?.(limit)
  }

  /** Something was created, removed or moved at `path`: follow folders that came and went. */
  #onRename(dir: string, path: string): void {
    // A definition's name is taken to be a file: one lstat less per event. (A folder named like
    // `App-1.json` is then found by the next rescan.)
    if (formatOf(path) !== undefined && !this.#watches.has(path)) return
    const kind = this.#kindOf(path)
    if (kind === 'directory') {
      if (!this.#watches.has(path)) this.#watchTree(path, true)
      return
    }
    if (this.#watches.has(path)) {
      this.#unwatch(path)
      this.#handlers?.onTree?.(path)
    }
    if (kind === 'missing' && this.#kindOf(dir) !== 'directory') {
      // The watched folder itself went (inotify names it in its own event). A missing root is not
      // reported: an unmounted volume must not read as every definition deleted. Files really
      // deleted were reported one by one; the rest is reconciled when the root is back.
      this.#unwatch(dir)
      if (dir === '') this.#retryRoot()
      else this.#handlers?.onTree?.(dir)
    }
  }

  #kindOf(rel: string): 'directory' | 'other' | 'missing' {
    try {
      return lstatSync(rel === '' ? this.#root : join(this.#root, rel)).isDirectory() ? 'directory' : 'other'
    } catch {
      return 'missing'
    }
  }
}

/**
 * The share of the queue's size that one turn's events must reach to count as an overflow. An
 * overflow brings a full queue; a little less allows for events the count does not see.
 */
const OVERFLOW_SHARE = 0.9

/** `fs.inotify.max_queued_events`, or `undefined` where there is no such setting. */
function inotifyQueueLimit(): number | undefined {
  if (process.platform !== 'linux') return undefined
  try {
    const limit = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8').trim())
    return Number.isSafeInteger(limit) && limit > 0 ? limit : undefined
  } catch {
    return undefined
  }
}
