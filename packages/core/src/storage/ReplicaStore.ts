/**
 * The engine's storage policy over a {@link StorageAdapter}: key layout, what goes in one batch,
 * and compaction. Key layout (ASCII prefixes, so string order is byte order):
 *
 * - `meta!version`, `meta!node`: format version and the node's stable id;
 * - `snap!<seq>`: the document state up to update `<seq>` (only the newest counts);
 * - `upd!<seq>`: one document update, `<seq>` a 16-digit hex counter;
 * - `snap!<seq>!b`, `upd!<seq>!b`: instead of the above, for a value over {@link BLOB_BYTES} when the
 *   adapter keeps blobs: the name of the blob that holds it (`snap-<seq>`, `upd-<seq>`), written and
 *   flushed before the batch that names it;
 * - `idx!<path>`: the reconcile index record of a path;
 * - `jrn!<id>`: a conflict journal entry.
 *
 * Every update is written in one batch with the index and journal changes it implies, before it is
 * sent on or a file is written, so a crash at any instant loses nothing that was acknowledged.
 */
import { ErrorCodes, RegsyncError } from '../errors.js'
import type { JournalEntry } from '../journal/JournalEntry.js'
import type { StorageAdapter, StorageOperation } from '../ports/StorageAdapter.js'

/** The reconcile index record of one path. */
export interface IndexRecord {
  /** Hash of the bytes last known to be on disk and to match the document. */
  readonly base?: string
  /** Stat of the file when `base` was recorded, to skip reading unchanged files. */
  readonly stat?: { readonly size: number; readonly mtimeMs: number; readonly ino: number }
  /**
   * When `stat` was taken (ms since the epoch). A stat taken within 2 s of the file's mtime does not
   * vouch for the file (see reconcile/readDisk.ts); records from before this field vouch by age.
   */
  readonly seenAt?: number
  /** Hash of the bytes about to be written; set before the write, cleared after it. */
  readonly pending?: string
  /**
   * The document moved since `base` was recorded, and the path's plan is still to come (it waits
   * for a later round, or for a file that parses). Read at the start as a changed document, which
   * must still be written.
   */
  readonly moved?: true
  /** Hash of the last bytes of a deleted path. */
  readonly deleted?: string
}

/** What {@link ReplicaStore.load} returns. */
export interface LoadedState {
  readonly snapshot: Uint8Array | undefined
  readonly updates: readonly Uint8Array[]
  readonly index: Map<string, IndexRecord>
  readonly nodeId: string | undefined
}

/** What {@link ReplicaStore.readState} returns: a snapshot (if any) and the updates after it, in order. */
export interface StoredState {
  readonly snapshot: Uint8Array | undefined
  readonly updates: readonly Uint8Array[]
}

/** One atomic write of the engine. */
export interface Commit {
  readonly updates?: readonly Uint8Array[]
  readonly index?: ReadonlyMap<string, IndexRecord | undefined>
  readonly journal?: readonly JournalEntry[]
}

/**
 * The data directory's format. 2: the document keeps each body as a base and field overrides
 * (`registry`); 1 kept it as nested maps (`files`). A node does not read another format's data.
 */
const FORMAT_VERSION = '2'
/** Deletes per batch while compacting, so one step never holds a huge batch in memory. */
const COMPACT_STEP = 1000
/**
 * A snapshot or update over this size goes to a blob, where the adapter keeps blobs. LevelDB copies a
 * value several times on its way in and out, each copy into fresh memory, and glibc keeps the memory
 * of the larger ones: the 38 MB snapshot of 10,000 definitions took 350 ms to read from LevelDB (130 ms
 * from a file) and left 37 MB resident.
 */
const BLOB_BYTES = 1024 * 1024
/** The suffix of a key whose value is the name of the blob that holds it. */
const BLOB_SUFFIX = '!b'
/** Appended to a key, sorts after the key with {@link BLOB_SUFFIX}, and before the next sequence number's key. */
const AFTER_BLOB = '~'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function seqKey(prefix: string, seq: number): string {
  return prefix + seq.toString(16).padStart(16, '0')
}

/** The blob a large value under `key` goes to: `snap!00…1a` becomes `snap-00…1a`. */
function blobNameOf(key: string): string {
  return key.replace('!', '-')
}

/** The key of the record that names a blob this store made (`snap-00…1a`: `snap!00…1a!b`), or `undefined`. */
function recordOfBlob(name: string): string | undefined {
  return /^(snap|upd)-[0-9a-f]{16}$/.test(name) ? name.replace('-', '!') + BLOB_SUFFIX : undefined
}

function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T
}

/** The engine's view of its storage. */
export class ReplicaStore {
  readonly #adapter: StorageAdapter
  #seq = 0
  #snapshotSeq = 0
  #updatesSinceSnapshot = 0
  #bytesSinceSnapshot = 0
  #snapshotBytes = 0
  #compaction: Promise<void> | undefined
  #pruning: Promise<number> | undefined
  /** Journal entries stored; undefined until first counted. */
  #journalSize: number | undefined
  /** While counting: entries added (or removed, negative) since the count's snapshot. */
  #journalDelta: number | undefined
  #counting: Promise<number> | undefined
  /** Batches that add or remove journal entries and have not landed yet. */
  readonly #journalWrites = new Set<Promise<void>>()

  constructor(adapter: StorageAdapter) {
    this.#adapter = adapter
  }

  /** Updates written since the last snapshot. */
  get updatesSinceSnapshot(): number {
    return this.#updatesSinceSnapshot
  }

  /** Bytes of updates written since the last snapshot. */
  get bytesSinceSnapshot(): number {
    return this.#bytesSinceSnapshot
  }

  /** Whether a compaction, or a read of the log queued with them, is running: {@link shouldCompact} says no meanwhile. */
  get compacting(): boolean {
    return this.#compaction !== undefined
  }

  /**
   * Whether the log is worth compacting: many updates (each costs a read at start-up), or more
   * update bytes than the snapshot itself (times `snapshotFactor`). One big update, such as a first
   * import, is left alone.
   */
  shouldCompact(maxUpdates: number, minBytes: number, snapshotFactor = 1): boolean {
    if (this.#updatesSinceSnapshot < 2 || this.#compaction !== undefined) return false
    return this.#updatesSinceSnapshot > maxUpdates || this.#bytesSinceSnapshot > Math.max(minBytes, this.#snapshotBytes * snapshotFactor)
  }

  /** Opens the adapter and reads everything the engine needs to start. */
  async load(): Promise<LoadedState> {
    await this.#adapter.open()
    const version = await this.#adapter.get('meta!version')
    if (version !== undefined && decoder.decode(version) !== FORMAT_VERSION) {
      throw new RegsyncError(
        ErrorCodes.DATA_VERSION,
        `the data directory has format version ${decoder.decode(version)}, and this regsync reads version ${FORMAT_VERSION}. ` +
          'Stop the agent, move the data directory aside, and start it again with an empty one: it syncs the registry from its peers, ' +
          'or, on a node without peers, imports its services directory (docs/operations.md, "Upgrading")'
      )
    }
    const nodeBytes = await this.#adapter.get('meta!node')
    await this.#deleteUnnamedBlobs()
    // The index is read and parsed on this thread while the snapshot's blob is read in the pool.
    const [{ snapshot, snapshotSeq, updates, lastSeq }, index] = await Promise.all([this.#readLog(), this.#readIndex()])
    this.#snapshotBytes = snapshot?.byteLength ?? 0
    this.#snapshotSeq = snapshotSeq
    this.#seq = lastSeq
    this.#bytesSinceSnapshot = updates.reduce((sum, update) => sum + update.byteLength, 0)
    this.#updatesSinceSnapshot = updates.length
    return { snapshot, updates, index, nodeId: nodeBytes === undefined ? undefined : decoder.decode(nodeBytes) }
  }

  async #readIndex(): Promise<Map<string, IndexRecord>> {
    const index = new Map<string, IndexRecord>()
    for await (const [key, value] of this.#adapter.entries('idx!')) {
      index.set(key.slice('idx!'.length), decodeJson<IndexRecord>(value))
    }
    return index
  }

  /**
   * The committed document state as stored: the newest snapshot and the updates logged after it.
   * Together they hold every update committed before the call. It runs in the compactions' queue,
   * so that no compaction deletes the log while it is read.
   */
  readState(): Promise<StoredState> {
    return this.#inCompactionQueue(async () => {
      const { snapshot, updates } = await this.#readLog()
      return { snapshot, updates }
    })
  }

  async #readLog(): Promise<StoredState & { snapshotSeq: number; lastSeq: number }> {
    // Only the newest snapshot counts; an older one is left only by a compaction cut short.
    let newest: [string, Uint8Array] | undefined
    for await (const entry of this.#adapter.entries('snap!')) newest = entry
    let snapshot: Uint8Array | undefined
    let snapshotSeq = 0
    if (newest !== undefined) {
      snapshot = await this.#resolve(newest[0], newest[1])
      snapshotSeq = parseInt(newest[0].slice('snap!'.length), 16)
    }
    const updates: Uint8Array[] = []
    let lastSeq = snapshotSeq
    for await (const [key, value] of this.#adapter.entries('upd!', { gt: seqKey('upd!', snapshotSeq) + AFTER_BLOB })) {
      updates.push(await this.#resolve(key, value))
      lastSeq = parseInt(key.slice('upd!'.length), 16)
    }
    return { snapshot, updates, snapshotSeq, lastSeq }
  }

  /** The value stored under `key`: `value` itself, or the blob it names. */
  async #resolve(key: string, value: Uint8Array): Promise<Uint8Array> {
    if (!key.endsWith(BLOB_SUFFIX)) return value
    const name = decoder.decode(value)
    const blob = await this.#adapter.readBlob?.(name)
    if (blob === undefined) {
      throw new RegsyncError(ErrorCodes.STORAGE, `the data directory is damaged: ${key} names the blob ${name}, which is missing`)
    }
    return blob
  }

  /**
   * Stores `value` under `key` in `operations`: in it, or, when it is large and the adapter keeps
   * blobs, in a blob written now, with its name under `key!b`.
   */
  async #putValue(operations: StorageOperation[], key: string, value: Uint8Array): Promise<void> {
    if (value.byteLength <= BLOB_BYTES || this.#adapter.writeBlob === undefined) {
      operations.push({ type: 'put', key, value })
      return
    }
    const name = blobNameOf(key)
    await this.#adapter.writeBlob(name, value)
    operations.push({ type: 'put', key: key + BLOB_SUFFIX, value: encoder.encode(name) })
  }

  /**
   * Deletes the blobs that no key names: left by a crash between a blob's write and the batch that
   * names it, or between the batch that stops naming it and its deletion.
   */
  async #deleteUnnamedBlobs(): Promise<void> {
    if (this.#adapter.blobNames === undefined) return
    for (const name of await this.#adapter.blobNames()) {
      // Only blobs of this store's making; anything else in the adapter's place is not ours to delete.
      const record = recordOfBlob(name)
      if (record !== undefined && (await this.#adapter.get(record)) === undefined) await this.#adapter.deleteBlob!(name)
    }
  }

  /** Records the format version and the node id; done once, on first start. */
  async initialize(nodeId: string): Promise<void> {
    await this.#adapter.batch([
      { type: 'put', key: 'meta!version', value: encoder.encode(FORMAT_VERSION) },
      { type: 'put', key: 'meta!node', value: encoder.encode(nodeId) }
    ])
  }

  /**
   * Writes updates, index changes and journal entries in one atomic batch. It always survives a
   * crash of the process (I8). It is flushed to stable storage only when it holds journal entries:
   * after a power cut, a lost update is sent again by the peers that got it, and a lost local edit
   * is still in its file, which then differs from its base and is imported again; a journal entry
   * may exist nowhere else. Skipping the flush takes ~0.3 ms (idle) to ~10 ms (busy disk) off every
   * hop of an edit.
   */
  async commit(commit: Commit): Promise<void> {
    const operations: StorageOperation[] = []
    for (const update of commit.updates ?? []) {
      this.#seq++
      await this.#putValue(operations, seqKey('upd!', this.#seq), update)
      this.#updatesSinceSnapshot++
      this.#bytesSinceSnapshot += update.byteLength
    }
    for (const [path, record] of commit.index ?? []) {
      operations.push(
        record === undefined
          ? { type: 'del', key: 'idx!' + path }
          : { type: 'put', key: 'idx!' + path, value: encodeJson(record) }
      )
    }
    for (const entry of commit.journal ?? []) {
      operations.push({ type: 'put', key: 'jrn!' + entry.id, value: encodeJson(entry) })
    }
    if (operations.length === 0) return
    const journaled = commit.journal?.length ?? 0
    const write = this.#adapter.batch(operations, { sync: journaled > 0 })
    await (journaled > 0 ? this.#landJournal(write, journaled) : write)
  }

  /**
   * Replaces the update log with one snapshot of the document state, in bounded steps: the
   * snapshot is written first (loading ignores updates it covers), then old keys go in chunks.
   *
   * `state` must cover every update committed so far, and nothing else: the snapshot is keyed by
   * the sequence number at the call. Commits may go on while it runs, and compactions run one at a
   * time, in call order.
   */
  compact(state: Uint8Array): Promise<void> {
    const seq = this.#seq
    this.#snapshotBytes = state.byteLength
    this.#updatesSinceSnapshot = 0
    this.#bytesSinceSnapshot = 0
    return this.#inCompactionQueue(() => this.#writeSnapshot(seq, state))
  }

  /**
   * Runs `work` after every compaction (or read of the log) queued before it, and before any queued
   * after it; while it runs, {@link shouldCompact} says no.
   */
  #inCompactionQueue<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.#compaction ?? Promise.resolve()
    const run = previous.catch(() => {}).then(work)
    const tracked: Promise<void> = run
      .then(
        () => {},
        () => {}
      )
      .finally(() => {
        if (this.#compaction === tracked) this.#compaction = undefined
      })
    this.#compaction = tracked
    return run
  }

  /** Resolves once no compaction is running. */
  async whenCompacted(): Promise<void> {
    while (this.#compaction !== undefined) await this.#compaction.catch(() => {})
  }

  async #writeSnapshot(seq: number, state: Uint8Array): Promise<void> {
    const previous = this.#snapshotSeq
    const operations: StorageOperation[] = []
    await this.#putValue(operations, seqKey('snap!', seq), state)
    await this.#adapter.batch(operations)
    this.#snapshotSeq = seq
    if (previous !== seq) await this.#deleteRange('snap!', seqKey('snap!', seq - 1) + AFTER_BLOB)
    await this.#deleteRange('upd!', seqKey('upd!', seq) + AFTER_BLOB)
    await this.#adapter.reclaim?.()
  }

  /**
   * Deletes the keys under `prefix` up to `lte` in batches of {@link COMPACT_STEP}, each written by
   * `write` (the adapter's batch by default). Returns how many went.
   */
  async #deleteRange(
    prefix: string,
    lte: string,
    write: (operations: StorageOperation[]) => Promise<void> = (operations) => this.#adapter.batch(operations)
  ): Promise<number> {
    let deleted = 0
    for (;;) {
      const operations: StorageOperation[] = []
      const blobs: string[] = []
      for await (const [key, value] of this.#adapter.entries(prefix, { lte, limit: COMPACT_STEP })) {
        operations.push({ type: 'del', key })
        if (key.endsWith(BLOB_SUFFIX)) blobs.push(decoder.decode(value))
      }
      if (operations.length === 0) return deleted
      await write(operations)
      // Once no key names them; a crash before this leaves them to the next start.
      for (const name of blobs) await this.#adapter.deleteBlob?.(name)
      deleted += operations.length
      if (operations.length < COMPACT_STEP) return deleted
    }
  }

  /**
   * Removes the journal entries journaled before `before` (ms since the epoch), in bounded batches.
   * Entry ids start with their time, so this is one range of keys. Returns how many went.
   */
  pruneJournal(before: number): Promise<number> {
    const pruning = (this.#pruning ?? Promise.resolve(0)).catch(() => 0).then(() => this.#prune(before))
    this.#pruning = pruning
    return pruning
  }

  async #prune(before: number): Promise<number> {
    if (!Number.isSafeInteger(before) || before <= 0) return 0
    // Every id of a time below `before` sorts at or below `<time - 1>` followed by DEL.
    const lte = `jrn!${String(before - 1).padStart(13, '0')}\u007f`
    return this.#deleteRange('jrn!', lte, (operations) => this.#landJournal(this.#adapter.batch(operations), -operations.length))
  }

  /**
   * How many journal entries there are, for status pages and metrics. Counted once (reading the
   * journal), then kept up to date by every commit and removal.
   */
  async journalSize(): Promise<number> {
    this.#counting ??= this.#countJournal()
    return this.#journalSize ?? (await this.#counting)
  }

  async #countJournal(): Promise<number> {
    // The count reads a snapshot of the store. No journal write may straddle it: wait until none is
    // in flight, then reset the tally of later ones and take the snapshot in the same tick.
    while (this.#journalWrites.size > 0) await Promise.allSettled([...this.#journalWrites])
    this.#journalDelta = 0
    let counted = 0
    try {
      for await (const _entry of this.#adapter.entries('jrn!')) counted++
    } catch (error) {
      // Counted again on the next call.
      this.#counting = undefined
      this.#journalDelta = undefined
      throw error
    }
    this.#journalSize = counted + this.#journalDelta
    this.#journalDelta = undefined
    return this.#journalSize
  }

  /** Awaits a batch that adds or removes `change` journal entries, and tallies it once it landed. */
  async #landJournal(write: Promise<void>, change: number): Promise<void> {
    this.#journalWrites.add(write)
    try {
      await write
      if (this.#journalSize !== undefined) this.#journalSize += change
      else if (this.#journalDelta !== undefined) this.#journalDelta += change
    } finally {
      this.#journalWrites.delete(write)
    }
  }

  /** Every journal entry, oldest first. */
  async journal(): Promise<JournalEntry[]> {
    const entries: JournalEntry[] = []
    for await (const [, value] of this.#adapter.entries('jrn!')) entries.push(decodeJson<JournalEntry>(value))
    return entries
  }

  /** One journal entry. */
  async journalEntry(id: string): Promise<JournalEntry | undefined> {
    const value = await this.#adapter.get('jrn!' + id)
    return value === undefined ? undefined : decodeJson<JournalEntry>(value)
  }

  /** Bytes on disk, where the adapter can tell. */
  async size(): Promise<number | undefined> {
    return this.#adapter.size?.()
  }

  /** Closes the adapter. */
  async close(): Promise<void> {
    await this.whenCompacted()
    await this.#pruning?.catch(() => undefined)
    await this.#adapter.close()
  }
}
