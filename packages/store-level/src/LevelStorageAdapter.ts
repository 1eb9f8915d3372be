import { randomBytes } from 'node:crypto'
import { mkdir, open as openFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { deflateRaw, inflateRaw } from 'node:zlib'
import { Level } from 'level'
import { ErrorCodes, RegsyncError } from '@regsync/core'
import type { BatchOptions, RangeOptions, StorageAdapter, StorageOperation } from '@regsync/core'
import { assertBlobName, assertStorageKey as assertKey, assertStorageOperations as assertOperations } from '@regsync/core'

/**
 * The folder of blobs inside the LevelDB directory. LevelDB leaves names it did not make alone. A
 * blob is a plain file: reading one takes one copy, in the thread pool, where a LevelDB value takes
 * several on this thread (10,000 definitions: 130 ms for the 38 MB snapshot, against 350 ms).
 */
const BLOBS = 'blobs'
/** Temp files of a blob being written start with this; one left by a crash is removed at open. */
const BLOB_TEMP = '.tmp-'
/**
 * A blob file starts with this, then the blob's length (4 bytes, little-endian), then the blob
 * compressed with raw deflate at level 1. LevelDB compressed what it held (Snappy); a snapshot
 * compresses 7-8 times (the corpus) to 20 times (the bench's definitions), and is compressed and
 * decompressed in the thread pool, about as fast as its raw bytes are read from tmpfs.
 */
const BLOB_MAGIC = [0x72, 0x73, 0x62, 0x31] // "rsb1"
const BLOB_HEADER = BLOB_MAGIC.length + 4
const deflate = promisify(deflateRaw)
const inflate = promisify(inflateRaw)

/** Options for {@link LevelStorageAdapter}. */
export interface LevelStorageAdapterOptions {
  /** The LevelDB directory; created on first open. One process at a time may hold it. */
  readonly path: string
}

type Status = 'opening' | 'open' | 'closing' | 'closed'
type Database = Level<string, Uint8Array>

/**
 * A {@link StorageAdapter} over LevelDB (`level` 10, which is `classic-level` in Node).
 *
 * A resolved batch is in LevelDB's write-ahead log, so it survives `kill -9`; with `sync` (the
 * default) the log is also fsynced, so it survives power loss. Keys are stored as UTF-8, so they sort
 * by code point. Blobs are files in `blobs/` inside the LevelDB directory, written to a temp file,
 * flushed and renamed.
 */
export class LevelStorageAdapter implements StorageAdapter {
  readonly #path: string
  #status: Status = 'closed'
  /**
   * Made in `open()`, not in the constructor: a `Level` opens itself on the next microtask after
   * construction and would take the directory lock before anyone asked for it.
   */
  #db: Database | undefined
  /** Serializes open and close, so that a close during an open waits for it and then closes. */
  #lifecycle: Promise<void> = Promise.resolve()

  constructor(options: LevelStorageAdapterOptions) {
    if (typeof options?.path !== 'string' || options.path === '') {
      throw new TypeError('options.path must be a non-empty string')
    }
    this.#path = options.path
  }

  /** The LevelDB directory. */
  get path(): string {
    return this.#path
  }

  /** Opens the database. Idempotent. Rejects with `REGSYNC_DATA_LOCKED` when another process holds it. */
  open(): Promise<void> {
    return this.#serialize(async () => {
      if (this.#status === 'open') return
      this.#status = 'opening'
      const db: Database = new Level<string, Uint8Array>(this.#path, { keyEncoding: 'utf8', valueEncoding: 'view' })
      try {
        await db.open()
      } catch (error) {
        this.#status = 'closed'
        throw openError(this.#path, error)
      }
      try {
        // The LevelDB lock is held: no other process writes blobs here.
        await mkdir(this.#blobDir, { recursive: true })
        for (const name of await readdir(this.#blobDir)) {
          if (name.startsWith(BLOB_TEMP)) await rm(join(this.#blobDir, name), { force: true })
        }
      } catch (error) {
        await db.close().catch(() => undefined)
        this.#status = 'closed'
        throw storageError(`cannot open data directory ${this.#path}`, error)
      }
      this.#db = db
      this.#status = 'open'
    })
  }

  /** Closes the database, waiting for writes in flight. Idempotent. */
  close(): Promise<void> {
    return this.#serialize(async () => {
      const db = this.#db
      if (this.#status !== 'open' || db === undefined) return
      this.#status = 'closing'
      try {
        await db.close()
      } catch (error) {
        // LevelDB stays open (and locked) when close fails, so the caller may try again.
        this.#status = 'open'
        throw storageError(`cannot close data directory ${this.#path}`, error)
      }
      this.#db = undefined
      this.#status = 'closed'
    })
  }

  /** Closes the database. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** The value under `key`, or `undefined`. */
  async get(key: string): Promise<Uint8Array | undefined> {
    const db = this.#openDb()
    assertKey(key, 'key')
    try {
      const value = await db.get(key)
      return value === undefined ? undefined : plain(value)
    } catch (error) {
      throw this.#operationError('read', error)
    }
  }

  /** Every entry whose key starts with `prefix`, in key order, from a snapshot taken at the first step. */
  async *entries(prefix: string, options: RangeOptions = {}): AsyncGenerator<[string, Uint8Array]> {
    const db = this.#openDb()
    assertKey(prefix, 'prefix')
    const { gt, lte, limit = Infinity } = options
    if (gt !== undefined) assertKey(gt, 'options.gt')
    if (lte !== undefined) assertKey(lte, 'options.lte')
    if (limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 0)) {
      throw new TypeError('options.limit must be a non-negative integer')
    }
    if (limit === 0) return
    // LevelDB lets gte win over gt and lte over lt, so pass only the tighter bound of each pair.
    const upper = prefixEnd(prefix)
    const range: { gt?: string; gte?: string; lt?: string; lte?: string; limit?: number } = {}
    if (gt !== undefined && compareKeys(gt, prefix) >= 0) range.gt = gt
    else range.gte = prefix
    if (lte !== undefined && (upper === undefined || compareKeys(lte, upper) < 0)) range.lte = lte
    else if (upper !== undefined) range.lt = upper
    if (limit !== Infinity) range.limit = limit
    const iterator = db.iterator(range)
    try {
      for (;;) {
        let entry: [string, Uint8Array] | undefined
        try {
          entry = await iterator.next()
        } catch (error) {
          throw this.#operationError('read', error)
        }
        if (entry === undefined) return
        yield [entry[0], plain(entry[1])]
      }
    } finally {
      await iterator.close()
    }
  }

  /**
   * Applies every operation or none, fsynced before it resolves. Built as a chained batch: the
   * array form checks, copies and re-reads each operation by property name on this thread, about
   * 7 µs an operation against under 1 µs (1,000 index records: 7 ms against 0.7 ms).
   */
  async batch(operations: readonly StorageOperation[], options?: BatchOptions): Promise<void> {
    const db = this.#openDb()
    assertOperations(operations)
    if (operations.length === 0) return
    try {
      const batch = db.batch()
      try {
        for (const operation of operations) {
          if (operation.type === 'put') batch.put(operation.key, operation.value)
          else batch.del(operation.key)
        }
      } catch (error) {
        await batch.close()
        throw error
      }
      await batch.write({ sync: options?.sync ?? true })
    } catch (error) {
      throw this.#operationError('write to', error)
    }
  }

  /** Writes the blob `name`: a temp file, flushed, renamed over any blob of that name, and the folder flushed. */
  async writeBlob(name: string, bytes: Uint8Array): Promise<void> {
    this.#openDb()
    assertBlobName(name)
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array')
    const temp = join(this.#blobDir, `${BLOB_TEMP}${name}.${randomBytes(6).toString('hex')}`)
    try {
      const compressed = await deflate(bytes, { level: 1 })
      const header = new Uint8Array(BLOB_HEADER)
      header.set(BLOB_MAGIC)
      new DataView(header.buffer).setUint32(BLOB_MAGIC.length, bytes.byteLength, true)
      const file = await openFile(temp, 'wx', 0o600)
      try {
        await file.writev([header, compressed])
        await file.datasync()
      } finally {
        await file.close()
      }
      await rename(temp, join(this.#blobDir, name))
      const folder = await openFile(this.#blobDir, 'r')
      try {
        await folder.sync()
      } finally {
        await folder.close()
      }
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined)
      throw this.#operationError('write to', error)
    }
  }

  /** The blob `name`, or `undefined`. */
  async readBlob(name: string): Promise<Uint8Array | undefined> {
    this.#openDb()
    assertBlobName(name)
    let stored: Uint8Array
    try {
      stored = await readWhole(join(this.#blobDir, name))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw this.#operationError('read', error)
    }
    const length = stored.byteLength < BLOB_HEADER ? -1 : new DataView(stored.buffer, stored.byteOffset).getUint32(BLOB_MAGIC.length, true)
    if (length < 0 || BLOB_MAGIC.some((byte, i) => stored[i] !== byte)) {
      throw storageError(`cannot read data directory ${this.#path}`, new Error(`blob ${name} is not a regsync blob`))
    }
    try {
      // One output chunk of the blob's size, so that the result is not copied again on this thread.
      const bytes = plain(await inflate(stored.subarray(BLOB_HEADER), { chunkSize: Math.max(length, 64) }))
      if (bytes.byteLength !== length) throw new Error(`blob ${name} holds ${bytes.byteLength} bytes, not ${length}`)
      return bytes
    } catch (error) {
      throw storageError(`cannot read data directory ${this.#path}: blob ${name} is damaged`, error)
    }
  }

  /** Deletes the blob `name`, if there is one. */
  async deleteBlob(name: string): Promise<void> {
    this.#openDb()
    assertBlobName(name)
    try {
      await unlink(join(this.#blobDir, name))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw this.#operationError('write to', error)
    }
  }

  /** Every blob's name (temp files of blobs being written are not blobs). */
  async blobNames(): Promise<string[]> {
    this.#openDb()
    try {
      return (await readdir(this.#blobDir)).filter((name) => !name.startsWith('.'))
    } catch (error) {
      throw this.#operationError('read', error)
    }
  }

  get #blobDir(): string {
    return join(this.#path, BLOBS)
  }

  /**
   * Asks LevelDB to compact its tables now, so that deleted keys stop taking space. LevelDB would do
   * it on its own schedule, which for a small, quiet database can be never.
   */
  async reclaim(): Promise<void> {
    const db = this.#openDb()
    try {
      // `level` types the browser build too; in Node it is classic-level, which has compactRange.
      const native = db as unknown as { compactRange?: (start: string, end: string) => Promise<void> }
      await native.compactRange?.('', '\u{10ffff}')
    } catch (error) {
      throw this.#operationError('write to', error)
    }
  }

  /** The summed size of the files in the LevelDB directory, blobs included. */
  async size(): Promise<number> {
    this.#openDb()
    try {
      return (await folderBytes(this.#path)) + (await folderBytes(this.#blobDir))
    } catch (error) {
      throw storageError(`cannot measure data directory ${this.#path}`, error)
    }
  }

  #serialize(step: () => Promise<void>): Promise<void> {
    const run = this.#lifecycle.then(step)
    // The caller gets the failure through `run`; the chain only has to keep going.
    this.#lifecycle = run.catch(() => undefined)
    return run
  }

  #openDb(): Database {
    if (this.#status !== 'open' || this.#db === undefined) {
      throw new RegsyncError(ErrorCodes.NOT_OPEN, `data directory ${this.#path} is ${this.#status}`)
    }
    return this.#db
  }

  /** A failure during a read or write; one that a concurrent close caused reads as NOT_OPEN. */
  #operationError(verb: 'read' | 'write to', error: unknown): RegsyncError {
    if (this.#status !== 'open') {
      return new RegsyncError(ErrorCodes.NOT_OPEN, `data directory ${this.#path} is ${this.#status}`, {
        cause: error
      })
    }
    return storageError(`cannot ${verb} data directory ${this.#path}`, error)
  }
}

/**
 * Reads a whole file with as few requests to the thread pool as the kernel allows (usually one).
 * `readFile` reads 512 KB a request, and each next request waits for this thread: at start, while the
 * directory is listed on it, that stretched reading a 38 MB snapshot (before blobs were compressed) to
 * 300 ms.
 */
async function readWhole(path: string): Promise<Uint8Array> {
  const file = await openFile(path, 'r')
  try {
    const { size } = await file.stat()
    const bytes = new Uint8Array(size)
    let offset = 0
    while (offset < size) {
      const { bytesRead } = await file.read(bytes, offset, size - offset, offset)
      if (bytesRead === 0) return bytes.subarray(0, offset)
      offset += bytesRead
    }
    return bytes
  } finally {
    await file.close()
  }
}

/** The summed size of the regular files directly in `folder`. */
async function folderBytes(folder: string): Promise<number> {
  const sizes = await Promise.all(
    (await readdir(folder)).map(async (name) => {
      try {
        const info = await stat(join(folder, name))
        return info.isFile() ? info.size : 0
      } catch (error) {
        // Compaction deletes table and log files at any moment; a file gone since readdir takes no space.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0
        throw error
      }
    })
  )
  return sizes.reduce((total, size) => total + size, 0)
}

/** Maps a failed `open()`: LEVEL_LOCKED (another process or instance) to DATA_LOCKED, the rest to STORAGE. */
function openError(path: string, error: unknown): RegsyncError {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause
  if (cause?.code === 'LEVEL_LOCKED') {
    return new RegsyncError(ErrorCodes.DATA_LOCKED, `data directory ${path} is locked by another process`, {
      cause: error
    })
  }
  return storageError(`cannot open data directory ${path}`, error)
}

/** A STORAGE error whose message ends with the innermost reason LevelDB or the OS gave. */
function storageError(message: string, error: unknown): RegsyncError {
  return new RegsyncError(ErrorCodes.STORAGE, `${message}: ${reason(error)}`, { cause: error })
}

function reason(error: unknown): string {
  let innermost = error
  while (innermost instanceof Error && innermost.cause instanceof Error) innermost = innermost.cause
  return innermost instanceof Error ? innermost.message : String(innermost)
}

/**
 * The least string above every string that starts with `prefix`, by code point: the prefix with
 * its last code point incremented. `undefined` when no such string exists (empty prefix, or only
 * U+10FFFF). Appending `'\uffff'` is not enough: UTF-8 puts U+10000 and above after it.
 */
function prefixEnd(prefix: string): string | undefined {
  const codePoints = Array.from(prefix, (char) => char.codePointAt(0) as number)
  while (codePoints.length > 0) {
    const last = codePoints.pop() as number
    if (last < 0x10ffff) {
      // Skip the surrogate block: those are not code points a key can hold.
      codePoints.push(last === 0xd7ff ? 0xe000 : last + 1)
      return String.fromCodePoint(...codePoints)
    }
  }
  return undefined
}

/** Compares well-formed strings by code point, which is LevelDB's UTF-8 byte order. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** A plain Uint8Array view of a Buffer from LevelDB, so callers do not meet Buffer's `slice` semantics. */
function plain(value: Uint8Array): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
}
