import { ErrorCodes, RegsyncError } from '../errors.js'
import type { BatchOptions, RangeOptions, StorageAdapter, StorageOperation } from '../ports/StorageAdapter.js'
import { assertBlobName, assertStorageKey as assertKey, assertStorageOperations as assertOperations } from '../ports/storageChecks.js'

/**
 * An in-memory {@link StorageAdapter} for engine tests and seeded fuzzing.
 *
 * Data survives `close()` and a later `open()` on the same instance, which stands in for a restart.
 * Keys sort by Unicode code point, the UTF-8 byte order LevelDB uses, so the fake agrees with the
 * real adapter even on keys beyond ASCII. Values are copied in and out: a caller that mutates a
 * buffer after `batch()` or one it got back cannot change what is stored.
 */
export class MemoryStorageAdapter implements StorageAdapter {
  readonly #values = new Map<string, Uint8Array>()
  readonly #blobs = new Map<string, Uint8Array>()
  /** Keys in code point order, kept sorted on every write so `entries` can binary-search. */
  #keys: string[] = []
  #status: 'open' | 'closed' = 'closed'
  readonly #failNext: unknown[] = []

  /** Opens the store. Idempotent. */
  async open(): Promise<void> {
    this.#status = 'open'
  }

  /** Closes the store, keeping its data for a later `open()`. Idempotent. */
  async close(): Promise<void> {
    this.#status = 'closed'
  }

  /** Closes the store. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** A copy of the value under `key`, or `undefined`. */
  async get(key: string): Promise<Uint8Array | undefined> {
    this.#assertOpen()
    assertKey(key, 'key')
    const value = this.#values.get(key)
    return value === undefined ? undefined : new Uint8Array(value)
  }

  /** Copies of every entry whose key starts with `prefix`, in key order. */
  async *entries(prefix: string, options: RangeOptions = {}): AsyncGenerator<[string, Uint8Array]> {
    this.#assertOpen()
    assertKey(prefix, 'prefix')
    const { gt, lte, limit = Infinity } = options
    if (gt !== undefined) assertKey(gt, 'options.gt')
    if (lte !== undefined) assertKey(lte, 'options.lte')
    assertLimit(limit)
    // Snapshot the range first, like LevelDB's implicit iterator snapshot: writes made while the
    // caller is iterating are not seen.
    const found: [string, Uint8Array][] = []
    const start = gt !== undefined && compareKeys(gt, prefix) >= 0 ? this.#indexAfter(gt) : this.#indexOf(prefix)
    for (let i = start; i < this.#keys.length && found.length < limit; i++) {
      const key = this.#keys[i] as string
      if (!key.startsWith(prefix)) break
      if (lte !== undefined && compareKeys(key, lte) > 0) break
      found.push([key, new Uint8Array(this.#values.get(key) as Uint8Array)])
    }
    for (const entry of found) {
      yield entry
      this.#assertOpen()
    }
  }

  /** Applies every operation or none: all are validated before the first is applied. */
  async batch(operations: readonly StorageOperation[], _options?: BatchOptions): Promise<void> {
    this.#assertOpen()
    assertOperations(operations)
    if (this.#failNext.length > 0) throw this.#failNext.shift()
    for (const operation of operations) {
      if (operation.type === 'put') this.#put(operation.key, new Uint8Array(operation.value))
      else this.#del(operation.key)
    }
  }

  /** The bytes held in keys (as UTF-8), values and blobs; there is no disk to measure. */
  async size(): Promise<number> {
    this.#assertOpen()
    const encoder = new TextEncoder()
    let total = 0
    for (const [key, value] of this.#values) total += encoder.encode(key).byteLength + value.byteLength
    for (const blob of this.#blobs.values()) total += blob.byteLength
    return total
  }

  /** Stores a copy of `bytes` as the blob `name`. */
  async writeBlob(name: string, bytes: Uint8Array): Promise<void> {
    this.#assertOpen()
    assertBlobName(name)
    if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array')
    this.#blobs.set(name, new Uint8Array(bytes))
  }

  /** A copy of the blob `name`, or `undefined`. */
  async readBlob(name: string): Promise<Uint8Array | undefined> {
    this.#assertOpen()
    assertBlobName(name)
    const blob = this.#blobs.get(name)
    return blob === undefined ? undefined : new Uint8Array(blob)
  }

  /** Deletes the blob `name`, if there is one. */
  async deleteBlob(name: string): Promise<void> {
    this.#assertOpen()
    assertBlobName(name)
    this.#blobs.delete(name)
  }

  /** Every blob's name. */
  async blobNames(): Promise<string[]> {
    this.#assertOpen()
    return [...this.#blobs.keys()]
  }

  /** Makes the next `batch()` reject with `error` and write nothing; for tests of error paths. */
  failNextBatch(error: unknown): void {
    this.#failNext.push(error)
  }

  #assertOpen(): void {
    if (this.#status !== 'open') {
      throw new RegsyncError(ErrorCodes.NOT_OPEN, `memory storage is ${this.#status}`)
    }
  }

  #put(key: string, value: Uint8Array): void {
    if (!this.#values.has(key)) this.#keys.splice(this.#indexOf(key), 0, key)
    this.#values.set(key, value)
  }

  #del(key: string): void {
    if (!this.#values.delete(key)) return
    this.#keys.splice(this.#indexOf(key), 1)
  }

  /** Index of the first key `>= key`. */
  #indexOf(key: string): number {
    return this.#search(key, (c) => c < 0)
  }

  /** Index of the first key `> key`. */
  #indexAfter(key: string): number {
    return this.#search(key, (c) => c <= 0)
  }

  #search(key: string, before: (comparison: number) => boolean): number {
    let low = 0
    let high = this.#keys.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (before(compareKeys(this.#keys[middle] as string, key))) low = middle + 1
      else high = middle
    }
    return low
  }
}

/**
 * Compares two well-formed strings by code point, which is the order of their UTF-8 bytes.
 * Plain `<` compares UTF-16 code units and would put U+10000 before U+FFFF.
 */
function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return codePointRank(x) - codePointRank(y)
  }
  return a.length - b.length
}

/** Moves surrogates (U+D800..DFFF, only ever part of a code point above U+FFFF) above U+E000..FFFF. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800
}

function assertLimit(limit: number): void {
  if (limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new TypeError('options.limit must be a non-negative integer')
  }
}
