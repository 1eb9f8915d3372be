/**
 * A replica: one node's Yjs document of the registry, kept in step with a services directory
 * and persisted through a storage adapter. It knows no sockets, no argv and no file system: the
 * directory, the watcher and the storage come in as ports.
 *
 * All changes go through one queue (`#drain`). A round of the queue:
 *
 * 1. applies queued peer updates and API operations to the document (the observer marks the paths
 *    they touch and journals values that lost to concurrent writes);
 * 2. reads every marked path from disk (stat first, bytes only when the stat moved) and decides it
 *    with {@link decide};
 * 3. applies all local changes in one transaction;
 * 4. commits the round's updates, index changes and journal entries in one batch;
 * 5. hands the updates on (`update` event), then writes or removes files, then records the new bases.
 *
 * A crash between any two steps is safe: the index keeps the hash of what is on disk, so the next
 * start sees which side moved.
 */
import * as Y from 'yjs'
import { ObservableV2 } from 'lib0/observable'
import { decodeLeaf } from './codec/canonicalJson.js'
import { formatOf, parseDefinition } from './codec/codec.js'
import type { FileFormat } from './codec/codec.js'
import type { Definition } from './document/registryDocument.js'
import {
  applyChange,
  createEntry,
  describeOverride,
  entryAt,
  filesOf,
  isTombstone,
  setField
} from './document/registryDocument.js'
import { materialize } from './document/materialize.js'
import { ErrorCodes, RegsyncError } from './errors.js'
import { decodeText, encodeText, hashText } from './hash.js'
import { concurrentLoser } from './journal/conflicts.js'
import type { JournalEntry, JournalKind } from './journal/JournalEntry.js'
import { JOURNAL_REASONS } from './journal/journalReasons.js'
import { BaseHistory } from './reconcile/BaseHistory.js'
import { STALE_DEPTH, STALE_WINDOW_MS, chooseMergeBase } from './reconcile/staleWrite.js'
import { mapLimit } from './mapLimit.js'
import { asOrigin, describeOrigin } from './origin.js'
import type { TransactionOrigin } from './origin.js'
import { pathProblem, toRelativePath } from './paths.js'
import type { DirectoryAdapter, FileInfo, FileStat, WriteResult } from './ports/DirectoryAdapter.js'
import { sameStat } from './ports/DirectoryAdapter.js'
import type { Logger } from './ports/Logger.js'
import { silentLogger } from './ports/Logger.js'
import type { StorageAdapter } from './ports/StorageAdapter.js'
import type { Watcher } from './ports/Watcher.js'
import { warnOnHazards } from './hazards.js'
import { decide } from './reconcile/decide.js'
import { RACY_MS, racilyRecorded, readDisk, statVouches } from './reconcile/readDisk.js'
import type { DiskRead } from './reconcile/readDisk.js'
import type { Decision, DocState } from './reconcile/decide.js'
import { ReplicaStore } from './storage/ReplicaStore.js'
import type { IndexRecord, StoredState } from './storage/ReplicaStore.js'

/** Options of a {@link Replica}. */
export interface ReplicaOptions {
  readonly storage: StorageAdapter
  readonly directory: DirectoryAdapter
  /** Reports changed paths; without one, only rescans and API calls notice disk changes. */
  readonly watcher?: Watcher | undefined
  readonly logger?: Logger | undefined
  /** Full rescan period in ms; 0 turns it off. Default 60 000, CAS's own reload interval. */
  readonly rescanIntervalMs?: number | undefined
  /** Files larger than this are not imported. Default 1 MiB; the largest real definitions are ~30 KB. */
  readonly maxFileBytes?: number | undefined
  /**
   * Import the directory when the replica opens. Default true. A node that joins a cluster with a
   * fresh data dir sets it false (or `unless-fresh`), syncs first, then calls
   * {@link Replica.allowImport}: otherwise a stale file it imports would be a new set, which beats
   * the cluster's older delete. Until then files the document does not know stay untouched on
   * disk; everything else (writes from peers, stale copies of deleted files) is reconciled.
   */
  readonly importOnOpen?: boolean | 'unless-fresh' | undefined
  /** Wall clock, for journal timestamps and settle checks. */
  readonly now?: (() => number) | undefined
  /**
   * `active` (default) publishes local edits. `passive` applies the cluster's state only: a local
   * edit of the directory is reverted to the cluster's version, journaled and logged, and `put`,
   * `delete` and `restore` are refused.
   */
  readonly mode?: 'active' | 'passive' | undefined
}

/** Lifecycle states, as abstract-level has them. */
export type ReplicaStatus = 'opening' | 'open' | 'closing' | 'closed'

/** A change to a file, reported once the disk shows it. */
export interface FileChange {
  readonly path: string
  readonly kind: 'put' | 'delete'
  /** Where the change came from: `disk` (a local edit), `api`, `peer:<id>`, `restore:<id>`. */
  readonly from: string
}

/** A file that is on disk but not replicated, and why. */
export interface FileProblem {
  readonly path: string
  readonly code: string
  readonly message: string
  readonly since: number
}

/** Events of a {@link Replica}. */
export type ReplicaEvents = {
  /** A file was written, imported or removed. */
  change: (change: FileChange) => void
  /** A document update was persisted and may be sent on. */
  update: (update: Uint8Array, origin: TransactionOrigin | undefined) => void
  /** A file could not be imported (I7), or became importable again (`problem` undefined). */
  problem: (path: string, problem: FileProblem | undefined) => void
  /** Something failed that the replica survives (a directory that cannot be read, a failed write). */
  error: (error: Error) => void
}

/** The document hash of an entry that cannot be materialized: it matches no file. */
const UNREADABLE = 'unreadable'
/** YAML has no end marker, so a torn write can parse: a YAML file is imported once it is this old. */
const YAML_SETTLE_MS = 40
/**
 * After a parse error, look again after each of these delays before calling the file bad: a writer
 * that truncates and then writes (as CAS does) is usually done within a few ms, sometimes not.
 */
const PARSE_RETRY_MS = [5, 25, 100, 300] as const
/**
 * Paths read and decided in one round, at most. A round is committed and sent on as a whole; 10,000
 * new files in one round reached the peers only after all were read here.
 */
const MAX_ROUND_PATHS = 500
/** Reads in flight during a scan. */
const IO_CONCURRENCY = 32
/** How long after the start the base texts are read from the document, unless a round needs them sooner. */
const TEXT_CACHE_DELAY_MS = 1000
/** Compact the update log after this many updates or bytes. */
const COMPACT_UPDATES = 2000
const COMPACT_BYTES = 256 * 1024
/**
 * A long log is compacted once the replica is idle. Right after a commit, it is compacted only once
 * it is this many times past its threshold, which bounds it under sustained load: encoding the
 * state takes the thread for tens of ms (40-65 ms per node in a burst of 1,000 files), and in a burst
 * it would run several times over a growing document.
 */
const COMPACT_BUSY_SLACK = 4
/**
 * ...and holds at least this many bytes: a burst of 1,000 new definitions (2 MB of updates) into a
 * small registry is compacted once it is over, not in the middle of it. Replaying 8 MB of updates
 * at a start takes about 0.1 s.
 */
const COMPACT_BUSY_BYTES = 8 * 1024 * 1024
/** How long after the replica goes idle its log is compacted: a burst's rounds can come with gaps. */
const COMPACT_IDLE_MS = 1000

interface QueuedUpdate {
  readonly update: Uint8Array
  readonly origin: TransactionOrigin
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

interface QueuedOperation {
  readonly run: () => void
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

/** What phase 2 of a round found out about one path. */
interface PathPlan {
  readonly path: string
  readonly decision: Decision
  readonly stat: FileStat | undefined
  readonly diskHash: string | undefined
  readonly text: string | undefined
  readonly parsed: Definition | undefined
  /** The pending bytes of a write cut short after its rename are on disk: they are the base. */
  readonly pendingLanded: boolean
  /** A passive node turned a local change into a revert. */
  readonly reverted?: boolean
}

interface Write {
  readonly path: string
  readonly text: string
  readonly hash: string
  /** The stat the file had when it was read; the write is skipped if it moved since. */
  readonly expect: FileStat | undefined
  readonly from: string
}

interface Removal {
  readonly path: string
  readonly expect: FileStat | undefined
  readonly deletedHash: string | undefined
  readonly from: string
}

/** The disk step of a round: it writes and removes `paths`. */
interface RoundDiskStep {
  readonly paths: ReadonlySet<string>
  readonly run: () => Promise<void>
}

/** Where the disk step of a round puts what it did. */
interface DiskStepResults {
  /** The path's index record once its write or removal is done. */
  readonly setFinal: (path: string, record: IndexRecord | undefined) => void
  /** The round's file changes, emitted when the step ends. */
  readonly changes: FileChange[]
}

/** One node's replica of the registry. */
export class Replica extends ObservableV2<ReplicaEvents> {
  readonly #store: ReplicaStore
  readonly #directory: DirectoryAdapter
  readonly #watcher: Watcher | undefined
  readonly #log: Logger
  readonly #rescanIntervalMs: number
  readonly #maxFileBytes: number
  readonly #importOnOpen: boolean | 'unless-fresh'
  readonly #now: () => number
  readonly #mode: 'active' | 'passive'
  /** Whether files the document does not know may be imported yet. */
  #importAllowed = true
  #fresh = false
  readonly #rejectedPaths = new Set<string>()
  /** Live entries that cannot be materialized, each logged once. */
  readonly #unreadable = new Set<string>()
  #watcherOverflows = 0

  #status: ReplicaStatus | 'new' = 'new'
  #doc: Y.Doc = new Y.Doc()
  #nodeId = ''
  readonly #index = new Map<string, IndexRecord>()
  /** The text whose hash is the path's base, when known: the base of a three-way merge. */
  readonly #texts = new Map<string, string>()
  /** Whether {@link #texts} holds the base texts the stored document had. */
  #textsFilled = false
  #fillTimer: ReturnType<typeof setTimeout> | undefined
  /** A listing of the directory taken while the document loaded, for the first full scan. */
  #listing: Promise<FileInfo[]> | undefined
  /**
   * The paths the last full scan listed, and those the watcher has reported since: a path in
   * neither, with no index record, is not on disk, and is planned without a stat (a joining node
   * plans 10,000 new paths). `undefined` when unknown: no watcher, no listing yet, or a folder or an
   * overflow reported since. A write still checks that its target does not exist just before its
   * rename, so a file the watcher missed is never overwritten, only planned again.
   */
  #listed: ReadonlySet<string> | undefined
  readonly #reported = new Set<string>()
  /** Bases each path had in the last minutes, to tell a write from a stale copy. */
  readonly #history: BaseHistory
  /**
   * Materialized texts of this round: a round materializes a path to decide it and again to write
   * it. Cleared when a round ends (texts of 10,000 files are not kept twice) and per path when its
   * entry changes.
   */
  readonly #materialized = new Map<string, string | undefined>()
  /** Paths whose document state moved since their base was recorded. */
  readonly #docDirty = new Set<string>()
  /**
   * Who deleted each path whose entry the document lost since it was last planned (`api` for this
   * node's own API). A file the cluster deleted is journaled as it is removed, with its bytes as
   * read then: the base text kept in memory is unknown after a restart when the last change came
   * from a peer. A path missing here (after a restart) was deleted by the cluster.
   */
  readonly #deletedBy = new Map<string, string>()
  readonly #problems = new Map<string, FileProblem & { hash: string | undefined }>()
  /** Paths that failed to parse, with how many looks they have had since, before they count as bad. */
  readonly #retrying = new Map<string, number>()

  // The queue.
  readonly #dirty = new Set<string>()
  #fullScan = false
  #remote: QueuedUpdate[] = []
  #operations: QueuedOperation[] = []
  #draining: Promise<void> | undefined
  /**
   * The disk step of the last round (its writes and removals, then their index records) while it
   * runs. The next round is planned meanwhile, and leaves the step's paths for later.
   */
  #landing: { readonly paths: ReadonlySet<string>; readonly done: Promise<void> } | undefined
  #idleWaiters: Array<() => void> = []
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  #rescanTimer: ReturnType<typeof setInterval> | undefined
  /** Paths whose stat was recorded too soon after their mtime to vouch, looked at again once it can. */
  readonly #racy = new Set<string>()
  /**
   * The stat each file this node wrote had after its rename, until the look-again of {@link #racy}
   * reads it: the watcher's report of the write itself is then recognised without a read.
   */
  readonly #written = new Map<string, FileStat>()
  /**
   * Paths this node is writing or has written whose watcher report has not come yet. The first
   * report of such a path is taken for the report of the write and leads to no look: the look-again
   * of {@link #racy} reads the file anyway. (A report that is really of a local edit made before the
   * rename is no loss: that edit failed the write's check, and the failed write marks the path; an
   * edit after the rename brings a report of its own.) Cleared with {@link #written}.
   */
  readonly #unreportedWrites = new Set<string>()
  #racyTimer: ReturnType<typeof setTimeout> | undefined
  #compactTimer: ReturnType<typeof setTimeout> | undefined

  // Collected during a round.
  #roundUpdates: Array<{ update: Uint8Array; origin: TransactionOrigin | undefined }> = []
  #roundJournal: JournalEntry[] = []
  #roundChanges: FileChange[] = []
  #journalCounter = 0
  #lastError: { at: number; message: string } | undefined

  constructor(options: ReplicaOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object')
    if (options.storage === undefined) throw new TypeError('options.storage is required')
    if (options.directory === undefined) throw new TypeError('options.directory is required')
    this.#store = new ReplicaStore(options.storage)
    this.#directory = options.directory
    this.#watcher = options.watcher
    this.#log = options.logger ?? silentLogger
    this.#rescanIntervalMs = options.rescanIntervalMs ?? 60_000
    this.#maxFileBytes = options.maxFileBytes ?? 1024 * 1024
    this.#importOnOpen = options.importOnOpen ?? true
    this.#now = options.now ?? Date.now
    this.#history = new BaseHistory(STALE_WINDOW_MS, STALE_DEPTH, this.#now)
    this.#mode = options.mode ?? 'active'
    if (this.#mode !== 'active' && this.#mode !== 'passive') throw new TypeError("options.mode must be 'active' or 'passive'")
    if (!Number.isInteger(this.#rescanIntervalMs) || this.#rescanIntervalMs < 0) {
      throw new TypeError('options.rescanIntervalMs must be a non-negative integer')
    }
    if (!Number.isInteger(this.#maxFileBytes) || this.#maxFileBytes <= 0) {
      throw new TypeError('options.maxFileBytes must be a positive integer')
    }
  }

  /** `opening`, `open`, `closing` or `closed`. */
  get status(): ReplicaStatus | 'new' {
    return this.#status
  }

  /** The Yjs document. Network adapters read and sync it; edit it only through this class. */
  get doc(): Y.Doc {
    return this.#doc
  }

  /** This node's stable id, kept in the data dir across restarts (unlike the Yjs clientID). */
  get nodeId(): string {
    return this.#nodeId
  }

  /** True when the data dir held no state before this open. */
  get fresh(): boolean {
    return this.#fresh
  }

  /** `active` or `passive`. */
  get mode(): 'active' | 'passive' {
    return this.#mode
  }

  /** Whether the directory has been imported (files unknown to the document may come in). */
  get importAllowed(): boolean {
    return this.#importAllowed
  }

  /** Registry keys from peers that are not safe paths, and were therefore never written. */
  get rejectedPaths(): number {
    return this.#rejectedPaths.size
  }

  /** Times the watcher's event queue overflowed (each one led to a scan of the whole directory). */
  get watcherOverflows(): number {
    return this.#watcherOverflows
  }

  /** The services directory, for logs. */
  get location(): string {
    return this.#directory.location
  }

  /** The last error the replica survived, for status pages. */
  get lastError(): { at: number; message: string } | undefined {
    return this.#lastError
  }

  /** Loads the document and the index, starts the watcher, and imports the directory. */
  async open(): Promise<void> {
    if (this.#status !== 'new') throw new RegsyncError(ErrorCodes.NOT_OPEN, `cannot open a replica that is ${this.#status}`)
    this.#status = 'opening'
    try {
      // The watcher starts before the directory is listed, so that a file changed after its stat
      // was taken is reported. What it reports while the document loads waits for the first round.
      if (this.#watcher !== undefined) {
        await this.#watcher.start({
          onPath: (path) => this.#onWatcherPath(path),
          onTree: (folder) => this.#onWatcherTree(folder),
          onOverflow: (limit) => this.#onWatcherOverflow(limit),
          onError: (error) => this.#reportError('watcher failed', error)
        })
      }
      // The directory is listed while LevelDB reads the stored state, which leaves this thread idle
      // (about 45 ms of a cold start of 10,000 definitions); the first full scan uses the listing.
      const loading = this.#load()
      const listing = this.#directory.list({ stats: true })
      listing.catch(() => {}) // reported by the scan that uses it
      this.#listing = listing
      await loading
      this.#doc.on('update', this.#onUpdate)
      filesOf(this.#doc).observeDeep(this.#onFilesChanged)
      this.#status = 'open'
      if (this.#importAllowed) {
        await this.rescan()
      } else {
        // Not imported yet, but what is on disk is known: the registry a peer sends is planned
        // without a stat for each path that is not.
        const listing = this.#listing
        this.#listing = undefined
        if (listing !== undefined) {
          try {
            this.#rememberListing(await listing)
          } catch {
            // Reported by the scan after the first sync, which lists the directory again.
          }
        }
        this.#log.info({ dir: this.#directory.location }, 'fresh data directory: the directory is imported after the first sync with a peer')
        // Files the document changed while the node was down are still written.
        for (const path of this.#docDirty) this.#dirty.add(path)
        await this.#whenIdle()
      }
      if (this.#rescanIntervalMs > 0) {
        this.#rescanTimer = setInterval(() => {
          this.#fullScan = true
          this.#schedule()
        }, this.#rescanIntervalMs)
        this.#rescanTimer.unref?.()
      }
      this.#log.info({ dir: this.#directory.location, nodeId: this.#nodeId, files: this.size }, 'replica open')
      // Off the path to ready (37 ms for 10,000 definitions): the base texts are read from the
      // document a moment after the start, or by the first round that could change it if sooner.
      this.#fillTimer = setTimeout(() => {
        if (this.#status === 'open') this.#fillTextCache()
      }, TEXT_CACHE_DELAY_MS)
      this.#fillTimer.unref?.()
    } catch (error) {
      this.#status = 'closing'
      await this.#shutdown()
      throw error
    }
  }

  /**
   * Reads the stored state into the document and the index. A method of its own so that nothing
   * the watcher's callbacks close over keeps the stored bytes (tens of MB) alive after the start.
   */
  async #load(): Promise<void> {
    const loaded = await this.#store.load()
    Y.transact(
      this.#doc,
      () => {
        if (loaded.snapshot !== undefined) Y.applyUpdate(this.#doc, loaded.snapshot)
        for (const update of loaded.updates) Y.applyUpdate(this.#doc, update)
      },
      { source: 'storage' } satisfies TransactionOrigin
    )
    // A clientID must never be reused across starts: two lives of one node would write
    // conflicting items under one id. Yjs picks a random one; make sure it is unused here.
    while (this.#doc.store.clients.has(this.#doc.clientID)) this.#doc.clientID = randomClientId()
    const files = filesOf(this.#doc)
    let missing: string | undefined
    let missingCount = 0
    for (const [path, record] of loaded.index) {
      this.#index.set(path, record)
      if (record.pending !== undefined || record.moved === true) this.#docDirty.add(path)
      if (record.base !== undefined && entryAt(files, path) === undefined && !isTombstone(files, path)) {
        missing ??= path
        missingCount++
      }
    }
    if (missing !== undefined) {
      // A base is committed in one batch with the update that put its path in the document, and a
      // deleted path stays a tombstone: a path the index knows and the document never heard of means
      // the stored document lost state. Reconciling would take every such file for deleted.
      throw new RegsyncError(
        ErrorCodes.STORAGE,
        `the data directory is damaged: its document lacks ${missingCount} of the ${loaded.index.size} paths its index records ` +
          `(${missing}${missingCount > 1 ? ', ...' : ''}). Nothing in the services directory was changed. ` +
          'Move the data directory aside and start again with an empty one: the node syncs the registry from its peers, ' +
          'or, without peers, imports its services directory'
      )
    }
    this.#fresh = loaded.nodeId === undefined
    this.#importAllowed = this.#importOnOpen === true || (this.#importOnOpen === 'unless-fresh' && !this.#fresh)
    this.#nodeId = loaded.nodeId ?? randomNodeId()
    if (loaded.nodeId === undefined) await this.#store.initialize(this.#nodeId)
  }

  /**
   * Lets files the document does not know be imported (after a fresh node's first sync), and
   * rescans. Resolves when the directory is imported.
   */
  async allowImport(): Promise<void> {
    this.#assertOpen()
    if (!this.#importAllowed) {
      this.#importAllowed = true
      this.#log.info({ dir: this.#directory.location }, 'importing the directory')
    }
    await this.rescan()
  }

  /** Reads the whole directory again and reconciles every path. Resolves when done. */
  async rescan(): Promise<void> {
    this.#assertOpen()
    this.#fullScan = true
    this.#schedule()
    await this.#whenIdle()
  }

  /**
   * The committed document state as stored: a snapshot (if any) and the updates after it, which
   * together hold every change this replica has committed. A change it applies later is emitted as
   * an `update` event after its own commit. Reading the stored bytes costs a fraction of encoding
   * the document, which for 10,000 definitions takes hundreds of ms of this thread.
   */
  storedState(): Promise<StoredState> {
    this.#assertOpen()
    return this.#store.readState()
  }

  /** How many live paths there are: `list().length`, without building and sorting the list. */
  get size(): number {
    let count = 0
    for (const _ of this.#livePaths()) count++
    return count
  }

  /** Live paths, sorted. */
  list(): string[] {
    return [...this.#livePaths()].sort()
  }

  *#livePaths(): Generator<string> {
    for (const [path, entry] of filesOf(this.#doc).entries()) {
      if (entry instanceof Y.Map && pathProblem(path) === undefined) yield path
    }
  }

  /** The bytes every node writes for `path`, as text, or `undefined` if there is no such file. */
  get(path: string): string | undefined {
    if (pathProblem(path) !== undefined) return undefined
    const entry = entryAt(filesOf(this.#doc), path)
    return entry === undefined ? undefined : materialize(path, entry)
  }

  /**
   * Creates or replaces a definition. The content must parse; only the fields that differ from
   * the current definition are written, so concurrent edits of other fields survive. Resolves once
   * the change is persisted and on disk.
   */
  async put(path: string, content: string | Uint8Array): Promise<void> {
    this.#assertOpen()
    this.#assertActive('put')
    const relative = toRelativePath(path)
    const text = typeof content === 'string' ? content : decodeText(content)
    if (text === undefined) throw new RegsyncError(ErrorCodes.PARSE, `${path}: not UTF-8`)
    if (encodeText(text).byteLength > this.#maxFileBytes) {
      throw new RegsyncError(ErrorCodes.TOO_LARGE, `${path}: larger than the limit of ${this.#maxFileBytes} bytes`)
    }
    const definition = parseDefinitionOf(relative, text)
    await this.#enqueue(() => this.#putDefinition(relative, definition, text, { source: 'api' }))
  }

  /** Deletes a definition everywhere. Resolves `false` if there was no such file. */
  async delete(path: string): Promise<boolean> {
    this.#assertOpen()
    this.#assertActive('delete')
    const relative = toRelativePath(path)
    let existed = false
    await this.#enqueue(() => {
      const files = filesOf(this.#doc)
      existed = entryAt(files, relative) !== undefined
      if (existed) Y.transact(this.#doc, () => files.delete(relative), { source: 'api' } satisfies TransactionOrigin)
    })
    return existed
  }

  /** Every journal entry, oldest first. */
  async journal(): Promise<JournalEntry[]> {
    this.#assertOpen()
    return this.#store.journal()
  }

  /** How many entries the journal holds. Cheap: counted once, then kept up to date. */
  async journalSize(): Promise<number> {
    this.#assertOpen()
    return this.#store.journalSize()
  }

  /**
   * Removes the journal entries journaled before `before` (ms since the epoch) and returns how many
   * went. The agent calls it for `--journal-retention`; nothing else ever removes an entry.
   */
  async pruneJournal(before: number): Promise<number> {
    this.#assertOpen()
    const removed = await this.#store.pruneJournal(before)
    if (removed > 0) {
      this.#log.info({ removed, before: new Date(before).toISOString() }, `removed ${removed} journal entries from before ${new Date(before).toISOString()}`)
    }
    return removed
  }

  /**
   * Puts a journaled value back. A lost field is set again on the current definition; a lost or
   * deleted file is written again. The restore is a new local write, so it replicates.
   */
  async restore(entryId: string): Promise<void> {
    this.#assertOpen()
    this.#assertActive('restore')
    const entry = await this.#store.journalEntry(entryId)
    if (entry === undefined) throw new RegsyncError(ErrorCodes.JOURNAL_NOT_FOUND, `no journal entry ${entryId}`)
    const origin: TransactionOrigin = { source: 'restore', entryId }
    const path = toRelativePath(entry.path)
    if (entry.kind === 'field' && entry.field !== undefined && entry.value !== undefined) {
      const field = entry.field
      const value = decodeLeaf(entry.value)
      const bytes = entry.bytes
      await this.#enqueue(() => {
        const current = entryAt(filesOf(this.#doc), path)
        if (current !== undefined) {
          Y.transact(this.#doc, () => setField(current, formatOfPath(path), field, value), origin)
        } else if (bytes !== undefined) {
          this.#putDefinition(path, parseDefinitionOf(path, bytes), bytes, origin)
        } else {
          throw new RegsyncError(ErrorCodes.NOT_FOUND, `${path} no longer exists and the entry holds no file to restore`)
        }
      })
      return
    }
    if (entry.bytes === undefined) throw new RegsyncError(ErrorCodes.JOURNAL_NOT_FOUND, `journal entry ${entryId} holds no bytes`)
    const text = entry.bytes
    const definition = parseDefinitionOf(path, text)
    await this.#enqueue(() => this.#putDefinition(path, definition, text, origin))
  }

  /** Applies an update from a peer. Resolves once it is persisted and on disk; rejects if it is malformed. */
  applyUpdate(update: Uint8Array, origin: TransactionOrigin): Promise<void> {
    this.#assertOpen()
    return new Promise((resolve, reject) => {
      this.#remote.push({ update, origin, resolve, reject })
      this.#schedule()
    })
  }

  /** Files that are on disk but not replicated, and why. */
  problems(): FileProblem[] {
    return [...this.#problems.values()].map(({ hash: _hash, ...problem }) => problem)
  }

  /** Resolves when the queue is empty: every known change is persisted and on disk. */
  async settled(): Promise<void> {
    this.#assertOpen()
    await this.#whenIdle()
    await this.#store.whenCompacted()
  }

  /** Bytes the storage takes, where the adapter can tell. */
  async storageSize(): Promise<number | undefined> {
    return this.#store.size()
  }

  /** Compacts the update log now. */
  async compact(): Promise<void> {
    this.#assertOpen()
    await this.#enqueue(() => {})
    await this.#store.compact(Y.encodeStateAsUpdate(this.#doc))
  }

  /** Stops the watcher and timers, finishes queued work, and closes the storage. Idempotent. */
  async close(): Promise<void> {
    if (this.#status === 'closed' || this.#status === 'closing') {
      await this.#whenIdle()
      return
    }
    if (this.#status === 'new') {
      this.#status = 'closed'
      return
    }
    this.#status = 'closing'
    await this.#shutdown()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #shutdown(): Promise<void> {
    if (this.#rescanTimer !== undefined) clearInterval(this.#rescanTimer)
    if (this.#racyTimer !== undefined) clearTimeout(this.#racyTimer)
    clearTimeout(this.#compactTimer)
    if (this.#fillTimer !== undefined) clearTimeout(this.#fillTimer)
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#resolveIfIdle()
    try {
      await this.#watcher?.close()
    } catch (error) {
      this.#reportError('closing the watcher failed', error)
    }
    await this.#whenIdle()
    try {
      // Leave a compact log behind: the next start reads one snapshot instead of many updates.
      if (this.#store.updatesSinceSnapshot > 1) await this.#store.compact(Y.encodeStateAsUpdate(this.#doc))
    } catch (error) {
      this.#reportError('compacting the update log failed', error)
    }
    try {
      await this.#store.close()
    } finally {
      this.#doc.off('update', this.#onUpdate)
      this.#doc.destroy()
      this.#status = 'closed'
      this.#log.info({ dir: this.#directory.location }, 'replica closed')
    }
  }

  #assertActive(what: string): void {
    if (this.#mode === 'passive') throw new RegsyncError(ErrorCodes.PASSIVE, `a passive node cannot ${what}: edit on an active node`)
  }

  #assertOpen(): void {
    if (this.#status !== 'open') throw new RegsyncError(ErrorCodes.NOT_OPEN, `replica is ${this.#status}`)
  }

  /**
   * Reads the base texts from the document. Runs once, before anything can change the document.
   * Most entries' own text (the last local write) is their base. Where it is not, the last version
   * was written from the document (a merge, or a peer's change that did not keep the writer's
   * text); the document has not moved since its base was recorded, so it materializes to the base.
   * The check by hash leaves out anything else. Without its base text, a local edit could not be
   * merged field by field.
   */
  #fillTextCache(): void {
    if (this.#textsFilled) return
    this.#textsFilled = true
    const files = filesOf(this.#doc)
    for (const [path, record] of this.#index) {
      if (record.base === undefined || this.#docDirty.has(path) || this.#texts.has(path)) continue
      const entry = entryAt(files, path)
      if (entry === undefined) continue
      const text = entry.get('text')
      const own = text instanceof Y.Text ? text.toString() : undefined
      if (own !== undefined && hashText(own) === record.base) {
        this.#texts.set(path, own)
        continue
      }
      const materialized = materialize(path, entry)
      if (materialized !== undefined && hashText(materialized) === record.base) this.#texts.set(path, materialized)
    }
  }

  // ---- events in -----------------------------------------------------------------------------

  #onWatcherPath(path: string): void {
    this.#reported.add(path)
    if (pathProblem(path) !== undefined) return
    if (this.#status === 'opening') {
      // Looked at by the first round, once the document is loaded.
      this.#dirty.add(path)
      return
    }
    if (this.#status !== 'open') return
    if (this.#unreportedWrites.delete(path)) {
      this.#log.debug({ path }, "watcher reported this node's own write")
      return
    }
    this.#log.debug({ path }, 'watcher reported a change')
    this.#dirty.add(path)
    this.#schedule()
    const coalesceMs = this.#watcher?.coalesceMs
    if (coalesceMs !== undefined) this.#later(coalesceMs, () => this.#dirty.add(path))
  }

  #onWatcherTree(folder: string): void {
    this.#listed = undefined
    // While the document loads, the paths under the folder are not known yet: the first full scan
    // lists the directory again instead of trusting the listing taken before the report.
    if (this.#status === 'opening') this.#listing = undefined
    if (this.#status !== 'open') return
    this.#log.debug({ folder }, 'watcher reported a folder change')
    const prefix = folder === '' ? '' : `${folder}/`
    for (const path of this.#index.keys()) if (path.startsWith(prefix)) this.#dirty.add(path)
    for (const path of this.list()) if (path.startsWith(prefix)) this.#dirty.add(path)
    this.#schedule()
  }

  #onWatcherOverflow(limit: number): void {
    this.#watcherOverflows++
    this.#listed = undefined
    // While the document loads, the first full scan lists the directory again.
    if (this.#status === 'opening') this.#listing = undefined
    if (this.#status !== 'open') return
    if (!this.#fullScan) {
      this.#log.warn(
        { limit },
        `the watcher's queue of ${limit} events overflowed in a burst of changes, so some were missed: scanning the whole directory. If this repeats, raise fs.inotify.max_queued_events`
      )
    }
    this.#fullScan = true
    this.#schedule()
  }

  readonly #onUpdate = (update: Uint8Array, origin: unknown): void => {
    const typed = asOrigin(origin)
    if (typed?.source === 'storage') return
    this.#roundUpdates.push({ update, origin: typed })
  }

  readonly #onFilesChanged = (events: Array<Y.YEvent<Y.AbstractType<unknown>>>, transaction: Y.Transaction): void => {
    const files = filesOf(this.#doc)
    for (const event of events) {
      if (event.target === files) for (const path of event.changes.keys.keys()) this.#materialized.delete(path)
      else if (typeof event.path[0] === 'string') this.#materialized.delete(event.path[0])
    }
    const origin = asOrigin(transaction.origin)
    if (origin?.source === 'storage') return
    const fromDisk = origin?.source === 'disk'
    const from = describeOrigin(origin)
    for (const event of events) {
      if (event.target === files) {
        for (const [path, change] of event.changes.keys) {
          if (!fromDisk) this.#markDocChanged(path, from)
          if (change.action !== 'delete') this.#deletedBy.delete(path)
          else if (!fromDisk) this.#deletedBy.set(path, from)
          if (change.action === 'update' && concurrentLoser(files, path, transaction) !== undefined) {
            // Two nodes that created the same file with the same bytes lost nothing.
            const lost = this.#texts.get(path)
            if (lost === undefined || lost !== this.#materialize(path)) this.#journal('create', path, { bytes: lost, from })
          }
        }
        continue
      }
      const path = event.path[0]
      if (typeof path !== 'string') continue
      if (!fromDisk) this.#markDocChanged(path, from)
      if (!(event.target instanceof Y.Map) || event.path.length !== 1) continue
      for (const [key, change] of event.changes.keys) {
        if (change.action !== 'update') continue
        const old = change.oldValue as unknown
        const lost = describeOverride(key, old)
        if (lost === undefined || concurrentLoser(event.target, key, transaction) === undefined) continue
        if (typeof old === 'string' && old === event.target.get(key)) continue
        this.#journal('field', path, { field: lost.field, value: lost.leaf, bytes: this.#texts.get(path), from })
      }
    }
  }

  #markDocChanged(path: string, from: string): void {
    const problem = pathProblem(path)
    if (problem !== undefined) {
      if (!this.#rejectedPaths.has(path)) {
        this.#rejectedPaths.add(path)
        this.#log.warn({ path, from, reason: problem }, `ignored registry entry ${JSON.stringify(path)} from ${from}: ${problem}; nothing is written for it`)
      }
      return
    }
    this.#docDirty.add(path)
    this.#dirty.add(path)
  }

  #journal(
    kind: JournalKind,
    path: string,
    details: { field?: string[]; value?: string | undefined; bytes?: string | undefined; from: string }
  ): void {
    const at = this.#now()
    const id = `${String(at).padStart(13, '0')}-${this.#nodeId.slice(0, 8)}-${(this.#journalCounter++).toString(36).padStart(4, '0')}`
    const entry: JournalEntry = {
      id,
      at,
      path,
      kind,
      from: details.from,
      ...(details.field !== undefined ? { field: details.field } : {}),
      ...(details.value !== undefined ? { value: details.value } : {}),
      ...(details.bytes !== undefined ? { bytes: details.bytes } : {})
    }
    this.#roundJournal.push(entry)
    const fields = { path, kind, field: details.field?.join('.'), from: details.from, journalId: id }
    if (kind === 'delete') {
      // A peer's delete is routine; the journal keeps the file in case it raced an edit here.
      this.#log.info(fields, `${path} was deleted by ${details.from}; its last version is in the journal`)
    } else {
      this.#log.warn(fields, `${JOURNAL_REASONS[kind]}: the losing version of ${path} went to the journal (${id})`)
    }
  }

  // ---- the queue -----------------------------------------------------------------------------

  #enqueue(run: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#operations.push({ run, resolve, reject })
      this.#schedule()
    })
  }

  /** Runs `action` after `ms`, then a round. Pending timers count as work for {@link settled}. */
  #later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      if (this.#status === 'open') action()
      this.#schedule()
      this.#resolveIfIdle()
    }, ms)
    // Not unref'd: a pending look is work, and `open()` or `settled()` may be waiting for it.
    this.#timers.add(timer)
  }

  #hasWork(): boolean {
    return this.#fullScan || this.#dirty.size > 0 || this.#remote.length > 0 || this.#operations.length > 0
  }

  #schedule(): void {
    // Nothing runs before the document is loaded; `open()` starts the first round.
    if (this.#status === 'opening' || this.#draining !== undefined || !this.#hasWork()) return
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined
      if (this.#hasWork() && this.#status !== 'closed') this.#schedule()
      else this.#resolveIfIdle()
    })
  }

  /** Whether a round is running or due: the document may hold more than is committed. */
  #busy(): boolean {
    return this.#draining !== undefined || this.#landing !== undefined || this.#hasWork()
  }

  #resolveIfIdle(): void {
    if (this.#busy() || this.#timers.size > 0) return
    if (this.#status === 'open') this.#compactWhenQuiet()
    const waiters = this.#idleWaiters
    this.#idleWaiters = []
    for (const resolve of waiters) resolve()
  }

  #whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve)
      this.#schedule()
      this.#resolveIfIdle()
    })
  }

  /**
   * Runs a round up to its disk step, which it leaves running as {@link #landing}: the next round
   * is planned while the files of this one are written. Only one disk step runs at a time. A round
   * that changes the document or scans the whole directory waits for the disk step before it
   * starts, so that what it reads and journals is settled; so does a round with nothing else to do.
   */
  async #drain(): Promise<void> {
    // Yield once so that a burst of events lands in one round.
    await new Promise((resolve) => setImmediate(resolve))
    if (this.#landing !== undefined && (this.#remote.length > 0 || this.#operations.length > 0 || this.#fullScan || !this.#dirtyBesideLanding())) {
      await this.#landing.done
    }
    const remote = this.#remote
    const operations = this.#operations
    this.#remote = []
    this.#operations = []
    const fail = (error: unknown): void => {
      const failure = error instanceof Error ? error : new Error(String(error))
      this.#reportError('a reconcile round failed', failure)
      for (const item of remote) item.reject(failure)
      for (const item of operations) item.reject(failure)
    }
    let diskStep: RoundDiskStep
    try {
      diskStep = await this.#round(remote, operations)
    } catch (error) {
      fail(error)
      return
    }
    if (this.#landing !== undefined) await this.#landing.done
    const done = diskStep
      .run()
      .then(
        () => {
          for (const item of remote) item.resolve()
          for (const item of operations) item.resolve()
        },
        fail
      )
      .finally(() => {
        this.#landing = undefined
        this.#schedule()
        this.#resolveIfIdle()
      })
    this.#landing = { paths: diskStep.paths, done }
  }

  /** Whether a dirty path is not being written by the running disk step. */
  #dirtyBesideLanding(): boolean {
    for (const path of this.#dirty) if (this.#landing?.paths.has(path) !== true) return true
    return false
  }

  async #round(remote: QueuedUpdate[], operations: QueuedOperation[]): Promise<RoundDiskStep> {
    try {
      return await this.#roundSteps(remote, operations)
    } finally {
      this.#materialized.clear()
    }
  }

  async #roundSteps(remote: QueuedUpdate[], operations: QueuedOperation[]): Promise<RoundDiskStep> {
    const started = performance.now()
    this.#roundUpdates = []
    this.#roundJournal = []
    this.#roundChanges = []

    // 1. Peer updates and API operations.
    if (remote.length > 0 || operations.length > 0) this.#fillTextCache()
    for (const item of remote) {
      try {
        this.#applyRemote(item.update, item.origin)
      } catch (error) {
        item.reject(new RegsyncError(ErrorCodes.PARSE, `malformed update from ${describeOrigin(item.origin)}`, { cause: error }))
      }
    }
    for (const item of operations) {
      try {
        item.run()
      } catch (error) {
        item.reject(error instanceof Error ? error : new Error(String(error)))
      }
    }

    // 2. Read and decide every marked path.
    if (this.#fullScan) {
      this.#fullScan = false
      await this.#markEverything()
    }
    // A burst of files goes out in rounds of a bounded size, so that peers receive and write the
    // first files while this node still reads the rest; the remainder waits for the next round.
    // The watcher's reports of this node's own writes are not counted: they cost a stat each, and
    // in a burst received from a peer they would otherwise fill a round ahead of the next writes.
    // Paths the last round is still writing wait for it.
    const paths: string[] = []
    let counted = 0
    for (const path of this.#dirty) {
      if (counted === MAX_ROUND_PATHS) break
      if (this.#landing?.paths.has(path) === true) continue
      paths.push(path)
      if (!this.#written.has(path) || this.#docDirty.has(path)) counted++
    }
    for (const path of paths) this.#dirty.delete(path)
    if (paths.length > 0) this.#fillTextCache()
    const plans = (await mapLimit(paths, IO_CONCURRENCY, (path) => this.#plan(path))).filter(
      (plan): plan is PathPlan => plan !== undefined
    )
    const planned = performance.now()

    // 3. Local changes, in one transaction.
    const files = filesOf(this.#doc)
    const indexChanges = new Map<string, IndexRecord | undefined>()
    const writes: Write[] = []
    const removals: Removal[] = []
    const setIndex = (path: string, record: IndexRecord | undefined): void => {
      if (record === undefined) this.#index.delete(path)
      else this.#index.set(path, record)
      indexChanges.set(path, record)
    }
    /** Paths created from the file's own text: they materialize to it, no need to check. */
    const created = new Set<string>()
    Y.transact(
      this.#doc,
      () => {
        for (const plan of plans) {
          const { path, decision } = plan
          if (decision.kind === 'import' && plan.parsed !== undefined && plan.text !== undefined) {
            const entry = entryAt(files, path)
            if (entry === undefined) {
              createEntry(files, path, plan.text)
              created.add(path)
            } else {
              const base = this.#mergeBase(path, plan.parsed, plan.text)
              if (base === undefined) {
                // No base to tell the edit from what the document changed since: the edit wins
                // whole, and the version it replaces is journaled.
                const replaced = this.#materialize(path)
                if (replaced !== undefined && replaced !== plan.text) this.#journal('unmerged', path, { bytes: replaced, from: 'disk' })
              }
              applyChange(entry, formatOfPath(path), base, plan.parsed, plan.text)
            }
          } else if (decision.kind === 'delete') {
            files.delete(path)
          }
        }
      },
      { source: 'disk' } satisfies TransactionOrigin
    )

    // 4. What each path needs now.
    for (const plan of plans) {
      const { path, decision } = plan
      const record = this.#index.get(path)
      const deletedBy = this.#deletedBy.get(path)
      this.#deletedBy.delete(path)
      switch (decision.kind) {
        case 'none': {
          // A write cut short after its rename (a crash before the new base was recorded) left the
          // pending bytes on disk: they are the base now, and the old one must not come back.
          const base = plan.pendingLanded ? record?.pending : record?.base
          if (
            plan.stat !== undefined &&
            base !== undefined &&
            (!sameStat(plan.stat, record?.stat) ||
              record?.pending !== undefined ||
              record?.moved === true ||
              // The file was read and holds its base: a stat recorded too soon is taken again, once it can vouch.
              (racilyRecorded(record) && this.#now() - plan.stat.mtimeMs >= RACY_MS))
          ) {
            setIndex(path, { base, stat: plan.stat, seenAt: this.#now() })
          }
          if (plan.pendingLanded && plan.text !== undefined) this.#setBaseText(path, plan.text)
          this.#docDirty.delete(path)
          break
        }
        case 'write':
        case 'adopt': {
          const text = this.#materialize(path)
          if (text === undefined) break
          const hash = hashText(text)
          if (decision.kind === 'adopt' && plan.diskHash === hash) {
            this.#recordBase(path, hash, text, plan.stat, setIndex)
            break
          }
          if (decision.kind === 'adopt' && plan.text !== undefined) {
            this.#journal(plan.reverted === true ? 'reverted' : 'adopt', path, { bytes: plan.text, from: 'cluster' })
          }
          writes.push({ path, text, hash, expect: plan.stat, from: describeDocSource(path, this.#docDirty) })
          setIndex(path, { ...baseOnly(record), pending: hash })
          break
        }
        case 'import': {
          if (created.has(path) && plan.text !== undefined && plan.diskHash !== undefined) {
            this.#roundChanges.push({ path, kind: 'put', from: 'disk' })
            this.#recordBase(path, plan.diskHash, plan.text, plan.stat, setIndex)
            this.#clearProblem(path)
            break
          }
          const text = this.#materialize(path)
          if (text === undefined) break
          const hash = hashText(text)
          this.#roundChanges.push({ path, kind: 'put', from: 'disk' })
          if (hash === plan.diskHash) {
            this.#recordBase(path, hash, text, plan.stat, setIndex)
          } else {
            // Merged with changes the disk had not seen: write the merge back.
            writes.push({ path, text, hash, expect: plan.stat, from: 'merge' })
            setIndex(path, { ...baseOnly(record), pending: hash })
          }
          this.#clearProblem(path)
          break
        }
        case 'delete':
          setIndex(path, { deleted: record?.base })
          this.#texts.delete(path)
          this.#history.forget(path)
          this.#docDirty.delete(path)
          this.#roundChanges.push({ path, kind: 'delete', from: 'disk' })
          break
        case 'forget':
          setIndex(path, { deleted: record?.base })
          this.#texts.delete(path)
          this.#history.forget(path)
          this.#docDirty.delete(path)
          break
        case 'remove': {
          // Deleted by this node's API: removed as asked. Deleted by the cluster: journaled first,
          // as the file is now (a local edit since would fail the removal's check and be journaled
          // when planned again).
          const by = deletedBy ?? 'cluster'
          if (by !== 'api') this.#journal('delete', path, { bytes: plan.text, from: by })
          removals.push({ path, expect: plan.stat, deletedHash: record?.base ?? plan.diskHash, from: 'cluster' })
          break
        }
        case 'stale':
          if (!decision.known) this.#journal('stale', path, { bytes: plan.text, from: 'cluster' })
          this.#log.warn({ path }, `${path} was deleted in the cluster: removing the stale copy from disk`)
          removals.push({ path, expect: plan.stat, deletedHash: plan.diskHash, from: 'cluster' })
          break
        case 'deleteWins':
          this.#journal(plan.reverted === true ? 'reverted' : 'deleteWins', path, { bytes: plan.text, from: 'cluster' })
          removals.push({ path, expect: plan.stat, deletedHash: plan.diskHash, from: 'cluster' })
          break
      }
    }

    // 5. Persist, then hand the updates on.
    const updates = this.#roundUpdates
    if (updates.length > 0) this.#markMoved(indexChanges, setIndex)
    const journal = this.#roundJournal
    this.#roundUpdates = []
    this.#roundJournal = []
    const decided = performance.now()
    await this.#store.commit({ updates: updates.map((u) => u.update), index: indexChanges, journal })
    for (const { update, origin } of updates) this.emit('update', [update, origin])
    this.#compactIfDue(COMPACT_BUSY_SLACK)
    const committed = performance.now()

    // 6. Touch the disk: run by the caller, while the next round is planned.
    const changes = this.#roundChanges
    this.#roundChanges = []
    const run = async (): Promise<void> => {
      const landing = performance.now()
      const finalIndex = new Map<string, IndexRecord | undefined>()
      const step: DiskStepResults = {
        changes,
        setFinal: (path, record) => {
          if (record === undefined) this.#index.delete(path)
          else this.#index.set(path, record)
          finalIndex.set(path, record)
        }
      }
      if (this.#watcher !== undefined) for (const write of writes) this.#unreportedWrites.add(write.path)
      if (writes.length > 1 && this.#directory.writeMany !== undefined) await this.#writeMany(writes, step)
      else await mapLimit(writes, IO_CONCURRENCY, (write) => this.#write(write, step))
      // A write that did not land brings no report of its own.
      for (const write of writes) if (!finalIndex.has(write.path)) this.#unreportedWrites.delete(write.path)
      await mapLimit(removals, IO_CONCURRENCY, (removal) => this.#remove(removal, step))
      if (finalIndex.size > 0) await this.#store.commit({ index: finalIndex })
      // Every path written or removed this round was planned in it: `paths` covers them.
      this.#lookAgainWhenVouching(paths)

      for (const change of changes) this.emit('change', [change])
      this.#log.debug(
        {
          remote: remote.length,
          operations: operations.length,
          paths: paths.length,
          writes: writes.length,
          removals: removals.length,
          readMs: round1(planned - started),
          applyMs: round1(decided - planned),
          // Persisting the round, then handing its updates on.
          commitMs: round1(committed - decided),
          waitMs: round1(landing - committed),
          writeMs: round1(performance.now() - landing)
        },
        'reconcile round'
      )
    }
    return { paths: new Set([...writes.map((write) => write.path), ...removals.map((removal) => removal.path)]), run }
  }

  /**
   * Compacts the log, if it is due, {@link COMPACT_IDLE_MS} after the replica went idle. If it is
   * busy then, or the store is reading its log (a peer's sync, `storedState()`), it tries again
   * {@link COMPACT_IDLE_MS} later: a replica that stays idle afterwards has no other moment to.
   */
  #compactWhenQuiet(): void {
    if (this.#compactTimer !== undefined) return
    this.#compactTimer = setTimeout(() => {
      this.#compactTimer = undefined
      if (this.#status !== 'open') return
      if (this.#busy() || this.#store.compacting) {
        this.#compactWhenQuiet()
        return
      }
      // Nothing is planned or written: the document holds exactly what is committed.
      this.#compactIfDue(1)
    }, COMPACT_IDLE_MS)
    this.#compactTimer.unref?.()
  }

  /**
   * Compacts the update log in the background once it is `slack` times past its threshold. Called
   * only where the document holds exactly what is committed: right after a commit, and when idle.
   */
  #compactIfDue(slack: number): void {
    const minBytes = slack === 1 ? COMPACT_BYTES : Math.max(COMPACT_BYTES * slack, COMPACT_BUSY_BYTES)
    if (!this.#store.shouldCompact(COMPACT_UPDATES * slack, minBytes, slack)) return
    // Written in the background, so that the queue does not wait for LevelDB (a compaction took
    // 40-80 ms at 500 edits/s).
    const compacting = performance.now()
    const state = Y.encodeStateAsUpdate(this.#doc)
    const encodeMs = round1(performance.now() - compacting)
    this.#store.compact(state).then(
      () => this.#log.debug({ bytes: state.byteLength, encodeMs, totalMs: round1(performance.now() - compacting) }, 'compacted the update log'),
      (error: unknown) => this.#reportError('compacting the update log failed', error)
    )
  }

  /**
   * Applies a peer's update. What is stored and handed on is the update as received, when it
   * changed anything: Yjs would otherwise encode the transaction again, which for a peer's whole
   * registry (40 MB for 10,000 definitions) costs as much as applying it. An update that brought
   * only structs still waiting for their dependencies is kept as well, or a restart would lose them.
   */
  #applyRemote(update: Uint8Array, origin: TransactionOrigin | undefined): void {
    const store = this.#doc.store
    const pending = [store.pendingStructs, store.pendingDs]
    let changedFrom: Map<number, number> | undefined
    const onTransaction = (transaction: Y.Transaction): void => {
      if (transaction.deleteSet.clients.size > 0 || !sameClocks(transaction.beforeState, transaction.afterState)) {
        changedFrom ??= transaction.beforeState
      }
    }
    this.#doc.off('update', this.#onUpdate)
    this.#doc.on('afterTransaction', onTransaction)
    try {
      Y.applyUpdate(this.#doc, update, origin)
    } catch (error) {
      // Bad bytes part way through: what was applied before them is kept, encoded from the document.
      if (changedFrom !== undefined) {
        this.#roundUpdates.push({ update: Y.encodeStateAsUpdate(this.#doc, Y.encodeStateVector(changedFrom)), origin })
      }
      throw error
    } finally {
      this.#doc.off('afterTransaction', onTransaction)
      this.#doc.on('update', this.#onUpdate)
    }
    if (changedFrom !== undefined || store.pendingStructs !== pending[0] || store.pendingDs !== pending[1]) {
      this.#roundUpdates.push({ update, origin })
    }
  }

  /**
   * Marks every path for a look: the files on disk, the index and the document. A file whose stat
   * still matches its base, with a document entry that has not moved since, is left out: planning
   * it would only confirm that. If it changes after its stat was taken, the watcher reports it.
   */
  async #markEverything(): Promise<void> {
    let listing: FileInfo[]
    const prefetched = this.#listing
    this.#listing = undefined
    // The watcher reports what changes from here on; a prefetched listing started after the watcher.
    if (prefetched === undefined) this.#reported.clear()
    this.#listed = undefined
    try {
      listing = await (prefetched ?? this.#directory.list({ stats: true }))
    } catch (error) {
      this.#reportError(`cannot read the services directory ${this.#directory.location}`, error)
      // Without a listing, a missing file cannot be told from an unreadable one: change nothing.
      return
    }
    this.#rememberListing(listing)
    const files = filesOf(this.#doc)
    const unchanged = new Set<string>()
    for (const file of listing) {
      if (pathProblem(file.path) !== undefined) continue
      if (this.#unchangedSinceBase(files, file.path, file.stat)) unchanged.add(file.path)
      else this.#dirty.add(file.path)
    }
    for (const path of this.#index.keys()) if (!unchanged.has(path)) this.#dirty.add(path)
    for (const [path, entry] of files.entries()) {
      if (entry instanceof Y.Map && !unchanged.has(path) && pathProblem(path) === undefined) this.#dirty.add(path)
    }
  }

  /**
   * Paths whose stat was recorded within 2 s of their mtime (every file this node has just written
   * or imported) are looked at again once that stat could vouch, so that it is recorded again and a
   * restart or rescan need not read them. One timer for all of them; not counted as pending work.
   */
  #lookAgainWhenVouching(paths: Iterable<string>): void {
    for (const path of paths) {
      if (racilyRecorded(this.#index.get(path))) {
        this.#racy.add(path)
      } else {
        this.#forgetOwnWrite(path)
      }
    }
    if (this.#racy.size === 0 || this.#racyTimer !== undefined || this.#status !== 'open') return
    this.#racyTimer = setTimeout(() => {
      this.#racyTimer = undefined
      if (this.#status !== 'open') return
      for (const path of this.#racy) {
        this.#dirty.add(path)
        this.#forgetOwnWrite(path)
      }
      this.#racy.clear()
      this.#schedule()
    }, RACY_MS + 500)
    this.#racyTimer.unref?.()
  }

  /**
   * Records which paths the round's changes moved the document of without planning them: without
   * the mark, a restart would take such a file, still at its base, for being in step.
   */
  #markMoved(planned: ReadonlyMap<string, IndexRecord | undefined>, setIndex: (path: string, record: IndexRecord) => void): void {
    for (const path of this.#docDirty) {
      if (planned.has(path)) continue
      const record = this.#index.get(path)
      if (record?.base !== undefined && record.pending === undefined && record.moved !== true) setIndex(path, { ...record, moved: true })
    }
  }

  /** Ends what this node keeps about its own last write of `path`: its stat, and the report it expects. */
  #forgetOwnWrite(path: string): void {
    this.#written.delete(path)
    this.#unreportedWrites.delete(path)
  }

  /** Whether a path with this stat is known to hold its base, with the document still at that base. */
  #unchangedSinceBase(files: Y.Map<Y.Map<unknown>>, path: string, stat: FileStat | undefined): boolean {
    if (this.#docDirty.has(path) || this.#problems.has(path)) return false
    return statVouches(stat, this.#index.get(path), this.#now()) && entryAt(files, path) !== undefined
  }

  /** Keeps what a full listing found, to plan paths it did not list without a stat (only with a watcher). */
  #rememberListing(listing: readonly FileInfo[]): void {
    if (this.#watcher !== undefined) this.#listed = new Set(listing.map((file) => file.path))
  }

  /** Whether `path` is known not to be on disk: see {@link #listed}. */
  #knownAbsent(path: string, record: IndexRecord | undefined): boolean {
    return record === undefined && this.#listed !== undefined && !this.#listed.has(path) && !this.#reported.has(path)
  }

  /** Phase 2 for one path: read what is needed and decide. */
  async #plan(path: string): Promise<PathPlan | undefined> {
    const record = this.#index.get(path)
    const files = filesOf(this.#doc)
    // The document does not change while a round plans its paths.
    const entry = entryAt(files, path)
    // A file that still holds its base is overwritten if the document moved, and removed (and
    // journaled with its bytes) if the cluster deleted it. Before either, it is not taken for its
    // base on the strength of this node's own last write: an edit in the same clock tick, at the
    // same size, keeps that write's stat. A file the cluster deleted is read in any case.
    const deleted = record?.base !== undefined && entry === undefined
    const written = deleted || this.#docDirty.has(path) ? undefined : this.#written.get(path)
    const read: DiskRead = this.#knownAbsent(path, record)
        ? { kind: 'ok', disk: { kind: 'absent' }, stat: undefined, hash: undefined, text: undefined }
        : await readDisk(this.#directory, path, record, this.#maxFileBytes, this.#now(), written, deleted)
    if (read.kind === 'problem') {
      this.#setProblem(path, read.code, read.message, read.hash)
      return undefined
    }
    const { disk, stat, text, hash: diskHash } = read

    let doc: DocState
    if (entry !== undefined) {
      const known = !this.#docDirty.has(path) && record?.base !== undefined && record.pending === undefined
      const hash = known ? record.base! : hashOrUndefined(this.#materialize(path))
      if (hash === undefined) this.#noteUnreadable(path)
      else this.#unreadable.delete(path)
      // An entry with no body this node can write (a text that no longer parses and no base, or a
      // YAML tag under a .json path) is live but matches no file: the file stays as it is, and a
      // local edit of it is imported, which gives the entry a body again.
      doc = { kind: 'live', hash: hash ?? UNREADABLE }
    } else {
      doc = isTombstone(files, path) ? { kind: 'tombstone' } : { kind: 'unknown' }
    }
    const pendingLanded = record?.pending !== undefined && diskHash === record.pending
    const effective: IndexRecord | undefined = pendingLanded ? { ...record, base: record.pending } : record
    let decision = decide(disk, effective, doc)
    if (decision.kind === 'import' && decision.create && doc.kind !== 'live' && !this.#importAllowed) {
      // A fresh node has no tombstones before its first sync: importing now could resurrect.
      return undefined
    }

    let parsed: Definition | undefined
    if (decision.kind === 'import') {
      if (text === undefined) {
        this.#setProblem(path, ErrorCodes.PARSE, 'not UTF-8 text', diskHash)
        return undefined
      }
      try {
        parsed = parseDefinitionOf(path, text)
      } catch (error) {
        this.#parseFailed(path, error, diskHash)
        return undefined
      }
      if (formatOf(path) === 'yaml' && stat !== undefined && this.#now() - stat.mtimeMs < YAML_SETTLE_MS) {
        // A YAML prefix parses; wait until the writer has been quiet for a moment.
        this.#later(YAML_SETTLE_MS, () => this.#dirty.add(path))
        return undefined
      }
      warnOnHazards(path, parsed, this.#log)
    } else if (stat !== undefined && text !== undefined && (decision.kind === 'stale' || decision.kind === 'deleteWins' || decision.kind === 'adopt')) {
      // Only fully written files are removed or journaled: a torn read would journal half a file.
      try {
        parseDefinitionOf(path, text)
      } catch (error) {
        if (decision.kind !== 'adopt') {
          this.#parseFailed(path, error, diskHash)
          return undefined
        }
      }
    }
    let reverted = false
    if (this.#mode === 'passive') {
      if (decision.kind === 'import') {
        reverted = true
        decision = doc.kind === 'live' ? { kind: 'adopt' } : { kind: 'deleteWins' }
      } else if (decision.kind === 'delete') {
        reverted = true
        decision = { kind: 'write' }
      }
      if (reverted) this.#log.warn({ path }, `passive node: reverted a local change of ${path} to the cluster's version`)
    }
    return { path, decision, stat, diskHash, text, parsed, pendingLanded, reverted }
  }

  #noteUnreadable(path: string): void {
    if (this.#unreadable.has(path)) return
    this.#unreadable.add(path)
    this.#log.warn(
      { path },
      `the registry's entry for ${path} has no definition this node can write (its text does not parse, or it holds what a ${formatOf(path) ?? 'definition'} file cannot); ${path} is left as it is on disk until it is written again`
    )
  }

  #parseFailed(path: string, error: unknown, hash: string | undefined): void {
    const previous = this.#problems.get(path)
    if (previous?.hash === hash && previous !== undefined) return
    const message = messageOf(error)
    const attempt = this.#retrying.get(path) ?? 0
    const delay = PARSE_RETRY_MS[attempt]
    if (delay !== undefined) {
      // A writer may be mid-write (CAS truncates, then writes): look again before calling it bad.
      this.#retrying.set(path, attempt + 1)
      this.#later(delay, () => this.#dirty.add(path))
      this.#log.debug({ path, reason: message, attempt }, `${path} does not parse yet; looking again in ${delay} ms`)
      return
    }
    this.#retrying.delete(path)
    this.#setProblem(path, ErrorCodes.PARSE, message, hash)
  }

  #setProblem(path: string, code: string, message: string, hash: string | undefined): void {
    const previous = this.#problems.get(path)
    if (previous !== undefined && previous.hash === hash && previous.message === message) return
    const problem = { path, code, message, since: this.#now(), hash }
    this.#problems.set(path, problem)
    this.#log.error(
      { path, code, reason: message },
      `${path} is not replicated: ${message}. The cluster keeps the last good version; fix the file and it replicates.`
    )
    this.emit('problem', [path, { path, code, message, since: problem.since }])
  }

  #clearProblem(path: string): void {
    this.#retrying.delete(path)
    if (!this.#problems.delete(path)) return
    this.#log.info({ path }, `${path} parses again and is replicated`)
    this.emit('problem', [path, undefined])
  }

  #baseDefinition(path: string): Definition | undefined {
    const text = this.#texts.get(path)
    if (text === undefined) return undefined
    try {
      return parseDefinitionOf(path, text)
    } catch {
      return undefined
    }
  }

  /** What the path's entry materializes to; remembered within a round until the entry changes. */
  #materialize(path: string): string | undefined {
    if (this.#materialized.has(path)) return this.#materialized.get(path)
    const entry = entryAt(filesOf(this.#doc), path)
    const text = entry === undefined ? undefined : materialize(path, entry)
    this.#materialized.set(path, text)
    return text
  }

  #recordBase(
    path: string,
    hash: string,
    text: string,
    stat: FileStat | undefined,
    setIndex: (path: string, record: IndexRecord | undefined) => void
  ): void {
    setIndex(path, stat === undefined ? { base: hash } : { base: hash, stat, seenAt: this.#now() })
    this.#setBaseText(path, text)
    this.#docDirty.delete(path)
  }

  /** Makes `text` the base text of `path`, remembering the one it replaces for a while. */
  #setBaseText(path: string, text: string): void {
    const previous = this.#texts.get(path)
    if (previous !== undefined && previous !== text) this.#history.retire(path, previous)
    this.#texts.set(path, text)
  }

  /**
   * The base a local write of `path` is merged against: the current base text, or an older one the
   * write is closer to (it was made from a stale copy, see reconcile/staleWrite.ts). A stale write
   * is journaled, and the fields it alone had older keep the document's values.
   */
  #mergeBase(path: string, next: Definition, nextText: string): Definition | undefined {
    const current = this.#baseDefinition(path)
    if (current === undefined) return undefined
    const older = (): Definition[] => {
      const versions: Definition[] = []
      for (const text of this.#history.older(path)) {
        try {
          versions.push(parseDefinitionOf(path, text))
        } catch {
          // A base that no longer parses (a codec change) is no candidate.
        }
      }
      return versions
    }
    const chosen = chooseMergeBase(current, older, next)
    if (chosen.stale) this.#journal('staleWrite', path, { bytes: nextText, from: 'disk' })
    return chosen.base
  }

  async #write(write: Write, step: DiskStepResults): Promise<void> {
    try {
      // The file must still be what was read; checked again by the adapter just before the rename.
      this.#afterWrite(write, await this.#directory.write(write.path, encodeText(write.text), write.expect ?? null), step)
    } catch (error) {
      this.#reportError(`cannot write ${write.path}`, error)
    }
  }

  /** The writes of a round through the adapter's {@link DirectoryAdapter.writeMany}. */
  async #writeMany(writes: Write[], step: DiskStepResults): Promise<void> {
    const requests = writes.map((write) => ({ path: write.path, bytes: encodeText(write.text), expect: write.expect ?? null }))
    let results: WriteResult[]
    try {
      results = await this.#directory.writeMany!(requests)
    } catch (error) {
      for (const write of writes) this.#reportError(`cannot write ${write.path}`, error)
      return
    }
    writes.forEach((write, i) => {
      const result = results[i]
      if (result === undefined) this.#reportError(`cannot write ${write.path}`, new Error('the directory adapter gave no result for it'))
      else if (result.error !== undefined) this.#reportError(`cannot write ${write.path}`, result.error)
      else this.#afterWrite(write, result.stat, step)
    })
  }

  /** What follows one write: `stat` is the file's new stat, or `undefined` if the precondition failed. */
  #afterWrite(write: Write, stat: FileStat | undefined, step: DiskStepResults): void {
    const { path, text, hash } = write
    if (stat === undefined) {
      // A local edit landed since the path was read (or a file the watcher did not report was
      // there): merge it next round. The path's pending record makes that round look at the disk.
      this.#dirty.add(path)
      return
    }
    step.setFinal(path, { base: hash, stat, seenAt: this.#now() })
    this.#written.set(path, stat)
    this.#setBaseText(path, text)
    this.#docDirty.delete(path)
    step.changes.push({ path, kind: 'put', from: write.from })
    this.#log.debug({ path, from: write.from }, `wrote ${path}`)
  }

  async #remove(removal: Removal, step: DiskStepResults): Promise<void> {
    const { path } = removal
    try {
      if (removal.expect !== undefined && !(await this.#directory.remove(path, removal.expect))) {
        this.#dirty.add(path)
        return
      }
      if (removal.expect === undefined && (await this.#directory.stat(path)) !== undefined) {
        // It appeared since it was read as absent: look again.
        this.#dirty.add(path)
        return
      }
      step.setFinal(path, { deleted: removal.deletedHash })
      this.#texts.delete(path)
      this.#history.forget(path)
      this.#docDirty.delete(path)
      step.changes.push({ path, kind: 'delete', from: removal.from })
      this.#log.debug({ path }, `removed ${path}`)
    } catch (error) {
      this.#reportError(`cannot remove ${path}`, error)
    }
  }

  #putDefinition(path: string, definition: Definition, text: string, origin: TransactionOrigin): void {
    const files = filesOf(this.#doc)
    Y.transact(
      this.#doc,
      () => {
        const entry = entryAt(files, path)
        if (entry === undefined) createEntry(files, path, text)
        else applyChange(entry, formatOfPath(path), undefined, definition, text)
      },
      origin
    )
  }

  #reportError(context: string, error: unknown): void {
    const message = `${context}: ${messageOf(error)}`
    this.#lastError = { at: this.#now(), message }
    this.#log.error({ err: error }, message)
    this.emit('error', [new RegsyncError(ErrorCodes.DIRECTORY, message, { cause: error })])
  }
}

/** True when two state vectors (client to clock) are the same. */
function sameClocks(a: Map<number, number>, b: Map<number, number>): boolean {
  if (a.size !== b.size) return false
  for (const [client, clock] of a) if (b.get(client) !== clock) return false
  return true
}

function parseDefinitionOf(path: string, text: string): Definition {
  return parseDefinition(formatOfPath(path), text)
}

function formatOfPath(path: string): FileFormat {
  const format = formatOf(path)
  if (format === undefined) throw new RegsyncError(ErrorCodes.BAD_PATH, `${path}: not a .json, .yml or .yaml file`)
  return format
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10
}

function hashOrUndefined(text: string | undefined): string | undefined {
  return text === undefined ? undefined : hashText(text)
}

function baseOnly(record: IndexRecord | undefined): IndexRecord {
  if (record?.base === undefined) return {}
  return record.stat === undefined ? { base: record.base } : { base: record.base, stat: record.stat, seenAt: record.seenAt }
}

function describeDocSource(path: string, dirty: Set<string>): string {
  return dirty.has(path) ? 'cluster' : 'document'
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function randomClientId(): number {
  return Math.floor(Math.random() * 0xffffffff) >>> 0
}

function randomNodeId(): string {
  const bytes = new Uint8Array(8)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
