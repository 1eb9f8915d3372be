/**
 * The storage port: a small ordered key-value store with atomic batches.
 *
 * Adapters do plain I/O. Key layout, compaction and what goes in one batch are the engine's policy
 * (see `storage/ReplicaStore.ts`). Keys are strings compared by Unicode code point (UTF-8 byte
 * order), as LevelDB stores them; ASCII keys compare the same either way.
 */
export interface StorageAdapter {
  /** Opens the store. Rejects with `REGSYNC_DATA_LOCKED` when another process holds it. */
  open(): Promise<void>
  /** Closes the store. Idempotent. */
  close(): Promise<void>
  /** The value under `key`, or `undefined`. */
  get(key: string): Promise<Uint8Array | undefined>
  /** Every entry whose key starts with `prefix`, in key order. */
  entries(prefix: string, options?: RangeOptions): AsyncIterable<[string, Uint8Array]>
  /**
   * Applies every operation, or none of them. Resolves once the batch survives a crash of the
   * process; with `sync`, once it survives a crash of the machine too (fsync).
   */
  batch(operations: readonly StorageOperation[], options?: BatchOptions): Promise<void>
  /** Bytes the store takes on disk, where the adapter can tell. */
  size?(): Promise<number>
  /** Reclaims the space of deleted keys now, where the store defers it (LevelDB compaction). */
  reclaim?(): Promise<void>
  /**
   * Large values, kept beside the ordered store where the adapter has a better place for them (files,
   * for LevelDB, which copies a value several times on its way in and out). The engine keeps a
   * snapshot or a large update there, and its name in the store. An adapter has all four or none.
   *
   * `writeBlob` replaces any blob of that name, and resolves once the blob survives a crash of the
   * machine (it is written before the batch that names it, which may not be flushed).
   */
  writeBlob?(name: string, bytes: Uint8Array): Promise<void>
  /** The blob of that name, or `undefined`. */
  readBlob?(name: string): Promise<Uint8Array | undefined>
  /** Deletes the blob of that name; nothing happens when there is none. */
  deleteBlob?(name: string): Promise<void>
  /** The names of every blob, in no particular order. */
  blobNames?(): Promise<string[]>
}

/** Options of {@link StorageAdapter.batch}. */
export interface BatchOptions {
  /** Flush to stable storage before resolving. Default true. */
  readonly sync?: boolean
}

/** Limits for {@link StorageAdapter.entries}. */
export interface RangeOptions {
  /** Only keys strictly greater than this. */
  readonly gt?: string
  /** Only keys less than or equal to this. */
  readonly lte?: string
  /** At most this many entries. */
  readonly limit?: number
}

/** One write in a {@link StorageAdapter.batch}. */
export type StorageOperation =
  | { readonly type: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly key: string }
