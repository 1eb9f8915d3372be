import { Replica } from '@regsync/core'
import type { Logger, ReplicaOptions, Watcher } from '@regsync/core'
import { LevelStorageAdapter } from '@regsync/store-level'
import { ChokidarWatcher } from './ChokidarWatcher.js'
import { NativeWatcher } from './NativeWatcher.js'
import { NodeDirectoryAdapter } from './NodeDirectoryAdapter.js'

/** Options of {@link openReplica}. */
export interface OpenReplicaOptions {
  /** The services directory, for example `/etc/cas/services`. */
  readonly dir: string
  /** The data directory that holds the LevelDB database. One process at a time may open it. */
  readonly data: string
  /** Watch the directory for changes. Default true. */
  readonly watch?: boolean
  /** Poll with chokidar instead of using inotify, for network file systems. Default false. */
  readonly usePolling?: boolean
  readonly logger?: Logger
  /** Full rescan period in ms, 0 for none. Default 60 000. */
  readonly rescanIntervalMs?: number
  /** Files over this size are not imported. Default 1 MiB. */
  readonly maxFileBytes?: number
  /** Import the directory on open. Default true; `unless-fresh` waits for `allowImport()` on a fresh data dir. */
  readonly importOnOpen?: boolean | 'unless-fresh'
  /** `active` (default) or `passive`: a passive node reverts local edits to the cluster's version. */
  readonly mode?: 'active' | 'passive'
  /** fsync each written file. Default true. */
  readonly fsync?: boolean
}

/**
 * Creates and opens a replica of a services directory, persisted in LevelDB under `data`.
 *
 * ```ts
 * const replica = await openReplica({ dir: '/etc/cas/services', data: '/var/lib/regsync' })
 * replica.on('change', (change) => console.log(change.kind, change.path))
 * await replica.put('App-100.json', '{ "@class": "org.apereo.cas.services.CasRegisteredService", "id": 100 }')
 * await replica.close()
 * ```
 */
export async function openReplica(options: OpenReplicaOptions): Promise<Replica> {
  if (typeof options?.dir !== 'string' || options.dir.length === 0) throw new TypeError('options.dir must be a non-empty string')
  if (typeof options.data !== 'string' || options.data.length === 0) throw new TypeError('options.data must be a non-empty string')
  const replicaOptions: ReplicaOptions = {
    storage: new LevelStorageAdapter({ path: options.data }),
    directory: new NodeDirectoryAdapter({
      path: options.dir,
      fsync: options.fsync ?? true,
      onLeftoverRemoved: (path) => options.logger?.info({ path }, `removed ${path}, a temp file left by an interrupted write`),
      onWriteWorkerFailed: (error) =>
        options.logger?.warn(
          { reason: error.message },
          `${error.message}; files are flushed and renamed on the main thread from now on, which is slower in bursts`
        )
    }),
    watcher: watcherFor(options),
    logger: options.logger,
    rescanIntervalMs: options.rescanIntervalMs,
    maxFileBytes: options.maxFileBytes,
    importOnOpen: options.importOnOpen,
    mode: options.mode
  }
  const replica = new Replica(replicaOptions)
  await replica.open()
  return replica
}

function watcherFor(options: OpenReplicaOptions): Watcher | undefined {
  if (options.watch === false) return undefined
  if (options.usePolling === true) return new ChokidarWatcher({ path: options.dir, usePolling: true })
  return new NativeWatcher({ path: options.dir })
}
