/**
 * A what-if for the in-process cluster (`--watcher fs.watch`): the services directory watched
 * with one plain `fs.watch` (one inotify watch, no per-file state) instead of regsync's
 * ChokidarWatcher. chokidar re-reads and lstats the whole directory on each directory event, which
 * the profiles show dominating bulk writes and joins on large directories; this watcher measures
 * what regsync would do without that cost. Flat directories only (the bench's workloads are flat);
 * the replica's rescan covers anything missed.
 */
import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import type { Watcher, WatcherHandlers } from '@regsync/core'

/** One `fs.watch` on the directory. */
export class FsWatchWatcher implements Watcher {
  readonly #dir: string
  #watcher: FSWatcher | undefined

  constructor(dir: string) {
    this.#dir = dir
  }

  async start(handlers: WatcherHandlers): Promise<void> {
    if (this.#watcher !== undefined) return
    this.#watcher = watch(this.#dir, { persistent: false }, (_event, name) => {
      if (typeof name === 'string' && name.length > 0 && !name.startsWith('.')) handlers.onPath(name)
    })
    this.#watcher.on('error', (error) => handlers.onError(error))
  }

  async close(): Promise<void> {
    this.#watcher?.close()
    this.#watcher = undefined
  }
}
