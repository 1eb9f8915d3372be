/**
 * The watcher port: reports paths that may have changed. A report is only a hint; the engine
 * re-reads the path and decides from what it finds, so duplicate and spurious reports are harmless.
 */
export interface Watcher {
  /** Starts watching. `onPath` gets a relative path; `onError` gets failures of the watcher itself. */
  start(handlers: WatcherHandlers): Promise<void>
  /** Stops watching. Idempotent. */
  close(): Promise<void>
  /**
   * How long after a reported change a further change of the same path may go unreported (a
   * watcher that coalesces events): the engine looks at each reported path again once this has
   * passed. Leave it out for a watcher that reports every change.
   */
  readonly coalesceMs?: number
}

/** Callbacks of a {@link Watcher}. */
export interface WatcherHandlers {
  readonly onPath: (path: string) => void
  /**
   * A folder appeared, went or moved (`''` is the root): every path under it may have changed.
   * For watchers that keep no per-file state and so cannot name the files of a removed folder.
   */
  readonly onTree?: (folder: string) => void
  /**
   * Changes may have been missed anywhere (the watcher's event queue overflowed): the engine scans
   * the whole directory. `limit` is the queue's size, for the log.
   */
  readonly onOverflow?: (limit: number) => void
  readonly onError: (error: Error) => void
}
