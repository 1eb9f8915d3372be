import { watch as watchNative } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { FSWatcher as NativeWatcher } from 'node:fs'
import { relative, resolve, sep } from 'node:path'
import type { FSWatcher } from 'chokidar'
import type { Watcher, WatcherHandlers } from '@regsync/core'

/** Options of a {@link ChokidarWatcher}. */
export interface ChokidarWatcherOptions {
  /** The services directory. */
  readonly path: string
  /** Poll instead of using inotify (network file systems). Default false. */
  readonly usePolling?: boolean
}

/**
 * Watches the services directory with chokidar: what `openReplica` uses with `usePolling` (the
 * agent's `--poll`), for network file systems where inotify sees no remote writes. Otherwise
 * {@link NativeWatcher} is the default, because chokidar re-reads and `lstat`s a whole folder on
 * each event in it. Events are hints: the replica re-reads the path
 * and looks again shortly after, because chokidar drops a second `change` within 50 ms and fires
 * while a writer is still writing. Dot-files (our temp files, editors' swap files) are ignored.
 *
 * chokidar can lose every later event of a path that was removed and created again in quick
 * succession (chokidar issues #35 and #1449; seen here when a stale copy is removed and the file is
 * re-created a few ms later). So the top folder is also watched with Node's own `fs.watch`, one
 * inotify watch that keeps no per-file state. Its reports are hints too; a duplicate costs one
 * `lstat`. (Not `recursive`: on Linux, Node 20 implements that by polling every file with `watchFile`,
 * which starves the thread pool. Sub-folders rely on chokidar and the rescan.)
 */
export class ChokidarWatcher implements Watcher {
  /** chokidar drops a second `change` of a path within 50 ms of the first: look again after that. */
  readonly coalesceMs = 60
  readonly #root: string
  readonly #usePolling: boolean
  #watcher: FSWatcher | undefined
  #native: NativeWatcher | undefined

  constructor(options: ChokidarWatcherOptions) {
    this.#root = resolve(options.path)
    this.#usePolling = options.usePolling ?? false
  }

  async start(handlers: WatcherHandlers): Promise<void> {
    if (this.#watcher !== undefined) return
    const root = this.#root
    // Loaded here: most agents use the native watcher and need not load chokidar at start.
    const { watch } = await import('chokidar')
    const watcher = watch(root, {
      ignoreInitial: true,
      followSymlinks: false,
      // Atomic mode holds unlink events back 100 ms; the replica copes with unlink+add itself.
      atomic: false,
      usePolling: this.#usePolling,
      ignored: (path: string) => {
        const rel = relative(root, path)
        return rel !== '' && rel.split(sep).some((segment) => segment.startsWith('.'))
      }
    })
    const report = (path: string): void => {
      const rel = relative(root, path)
      if (rel === '' || rel.startsWith('..')) return
      handlers.onPath(rel.split(sep).join('/'))
    }
    watcher.on('add', report)
    watcher.on('change', report)
    watcher.on('unlink', report)
    watcher.on('error', (error: unknown) => handlers.onError(error instanceof Error ? error : new Error(String(error))))
    this.#watcher = watcher
    if (!this.#usePolling) {
      try {
        this.#native = watchNative(root, { persistent: false }, (_event, name) => {
          if (typeof name !== 'string' || name.length === 0) return
          if (name.split(sep).some((segment) => segment.startsWith('.'))) return
          handlers.onPath(name.split(sep).join('/'))
        })
        this.#native.on('error', (error) => handlers.onError(error))
      } catch (error) {
        // The directory may not exist yet; chokidar waits for it, and rescans catch up.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') handlers.onError(error as Error)
      }
    }
    if (this.#native === undefined) {
      await new Promise<void>((done) => watcher.once('ready', () => done()))
      // A poller's first stat, its baseline, runs in the thread pool after chokidar has read the
      // folder, and 'ready' does not wait for it: a file created in between would never be reported.
      // One more stat through the pool, queued after every baseline, ends that window before the
      // replica's first scan lists the folder.
      await stat(root).catch(() => undefined)
    }
    // Otherwise chokidar's initial walk (an lstat per file, seconds for 10,000 files) goes on in the
    // background: the native watcher already reports changes.
  }

  async close(): Promise<void> {
    const watcher = this.#watcher
    this.#watcher = undefined
    this.#native?.close()
    this.#native = undefined
    await watcher?.close()
  }
}
