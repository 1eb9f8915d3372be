import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ErrorCodes } from '../errors.js'
import type { RangeOptions, StorageAdapter } from '../ports/StorageAdapter.js'

/** What a {@link runStorageAdapterTests} setup hands to each test. */
export interface StorageAdapterTestContext {
  /** A fresh, empty adapter that is not open yet; the suite opens it. */
  readonly adapter: StorageAdapter
  /**
   * Another adapter (not open yet) over the same storage, made after the suite closed `adapter`.
   * Without it the persistence test is skipped.
   */
  readonly reopen?: () => Promise<StorageAdapter>
  /** Frees the storage. Runs after the suite has closed every adapter it opened. */
  readonly teardown: () => Promise<void>
}

/**
 * Registers the acceptance suite every {@link StorageAdapter} must pass, after automerge-repo's
 * `runStorageAdapterTests`. `setup` runs before each test and must give a fresh, empty store.
 */
export function runStorageAdapterTests(name: string, setup: () => Promise<StorageAdapterTestContext>): void {
  describe(name, () => {
    let context: StorageAdapterTestContext
    let adapter: StorageAdapter
    let opened: StorageAdapter[]

    async function open(store: StorageAdapter): Promise<StorageAdapter> {
      opened.push(store)
      await store.open()
      return store
    }

    async function put(store: StorageAdapter, entries: Record<string, number[]>): Promise<void> {
      await store.batch(
        Object.entries(entries).map(([key, bytes]) => ({ type: 'put', key, value: new Uint8Array(bytes) }))
      )
    }

    async function keys(prefix: string, options?: RangeOptions): Promise<string[]> {
      return (await collect(adapter.entries(prefix, options))).map(([key]) => key)
    }

    beforeEach(async () => {
      opened = []
      context = await setup()
      adapter = await open(context.adapter)
    })

    afterEach(async () => {
      try {
        for (const store of opened) await store.close()
      } finally {
        await context.teardown()
      }
    })

    it('gets undefined for a missing key', async () => {
      expect(await adapter.get('missing')).toBeUndefined()
    })

    it('round-trips every byte value, and empty values, as plain Uint8Arrays', async () => {
      const every = Uint8Array.from({ length: 256 }, (_, i) => i)
      await adapter.batch([
        { type: 'put', key: 'every', value: every },
        { type: 'put', key: 'edges', value: new Uint8Array([0x00, 0xff, 0x00]) },
        { type: 'put', key: 'empty', value: new Uint8Array(0) }
      ])
      expect(await adapter.get('every')).toEqual(every)
      expect(await adapter.get('edges')).toEqual(new Uint8Array([0x00, 0xff, 0x00]))
      expect(await adapter.get('empty')).toEqual(new Uint8Array(0))
    })

    it('keeps keys beyond ASCII apart', async () => {
      await put(adapter, { 'caf\u00e9': [1], cafe: [2], '\u{1f600}': [3], '': [4] })
      expect(await adapter.get('caf\u00e9')).toEqual(new Uint8Array([1]))
      expect(await adapter.get('cafe')).toEqual(new Uint8Array([2]))
      expect(await adapter.get('\u{1f600}')).toEqual(new Uint8Array([3]))
      expect(await adapter.get('')).toEqual(new Uint8Array([4]))
    })

    it('overwrites a key with a later put', async () => {
      await put(adapter, { k: [1] })
      await put(adapter, { k: [2, 2] })
      expect(await adapter.get('k')).toEqual(new Uint8Array([2, 2]))
    })

    it('applies puts and deletes of one batch together, in order', async () => {
      await put(adapter, { old: [1], kept: [2] })
      await adapter.batch([
        { type: 'put', key: 'new', value: new Uint8Array([3]) },
        { type: 'del', key: 'old' },
        { type: 'put', key: 'gone', value: new Uint8Array([4]) },
        { type: 'del', key: 'gone' },
        { type: 'del', key: 'back' },
        { type: 'put', key: 'back', value: new Uint8Array([5]) }
      ])
      expect(await adapter.get('old')).toBeUndefined()
      expect(await adapter.get('gone')).toBeUndefined()
      expect(await adapter.get('new')).toEqual(new Uint8Array([3]))
      expect(await adapter.get('back')).toEqual(new Uint8Array([5]))
      expect(await adapter.get('kept')).toEqual(new Uint8Array([2]))
    })

    it('accepts an empty batch', async () => {
      await adapter.batch([])
      expect(await keys('')).toEqual([])
    })

    it('rejects a batch with a bad operation with a TypeError and applies none of it', async () => {
      await put(adapter, { a: [1] })
      const bad = [
        { type: 'put', key: 'b', value: new Uint8Array([2]) },
        { type: 'del', key: 'a' },
        { type: 'put', key: 'c', value: 'not bytes' }
      ] as never
      await expect(adapter.batch(bad)).rejects.toBeInstanceOf(TypeError)
      const badKey = [{ type: 'put', key: 'b', value: new Uint8Array([2]) }, { type: 'del', key: 7 }] as never
      await expect(adapter.batch(badKey)).rejects.toBeInstanceOf(TypeError)
      const badType = [{ type: 'put', key: 'b', value: new Uint8Array([2]) }, { type: 'clear', key: 'a' }] as never
      await expect(adapter.batch(badType)).rejects.toBeInstanceOf(TypeError)
      expect(await collect(adapter.entries(''))).toEqual([['a', new Uint8Array([1])]])
    })

    it('rejects keys with a lone surrogate, which UTF-8 storage would corrupt', async () => {
      await expect(
        adapter.batch([{ type: 'put', key: 'a\ud800', value: new Uint8Array([1]) }])
      ).rejects.toBeInstanceOf(TypeError)
      expect(await keys('')).toEqual([])
    })

    it('deletes a missing key without complaint', async () => {
      await adapter.batch([{ type: 'del', key: 'never-written' }])
      expect(await adapter.get('never-written')).toBeUndefined()
    })

    it('lists the entries under a prefix in key order, and nothing else', async () => {
      await put(adapter, { 'doc/c': [3], 'doc.': [9], 'doc/a': [1], doa: [9], 'dod/': [9], 'doc/b': [2], a: [9] })
      expect(await collect(adapter.entries('doc/'))).toEqual([
        ['doc/a', new Uint8Array([1])],
        ['doc/b', new Uint8Array([2])],
        ['doc/c', new Uint8Array([3])]
      ])
      expect(await keys('')).toEqual(['a', 'doa', 'doc.', 'doc/a', 'doc/b', 'doc/c', 'dod/'])
      expect(await keys('nothing/')).toEqual([])
    })

    it('orders keys by code point (UTF-8 byte order)', async () => {
      const written = ['p/\u{10000}', 'p/\uffff', 'p/\u00e9', 'p/z', 'p/\u{1f600}x', 'p/\uffffx']
      await put(adapter, Object.fromEntries(written.map((key) => [key, [1]])))
      expect(await keys('p/')).toEqual(['p/z', 'p/\u00e9', 'p/\uffff', 'p/\uffffx', 'p/\u{10000}', 'p/\u{1f600}x'])
      expect(await keys('p/\uffff')).toEqual(['p/\uffff', 'p/\uffffx'])
    })

    it('treats a key that is a prefix of another as its own entry', async () => {
      await put(adapter, { doc: [1], 'doc/1': [2], doc1: [3], do: [4] })
      expect(await adapter.get('doc')).toEqual(new Uint8Array([1]))
      expect(await keys('doc')).toEqual(['doc', 'doc/1', 'doc1'])
      expect(await keys('doc/')).toEqual(['doc/1'])
      await adapter.batch([{ type: 'del', key: 'doc' }])
      expect(await adapter.get('doc/1')).toEqual(new Uint8Array([2]))
      expect(await keys('doc')).toEqual(['doc/1', 'doc1'])
    })

    it('honours gt, lte and limit within the prefix', async () => {
      await put(adapter, { 'a/0': [0], 'a/1': [1], 'a/2': [2], 'a/3': [3], 'a/4': [4], 'b/0': [9], a: [9] })
      expect(await keys('a/', { gt: 'a/1' })).toEqual(['a/2', 'a/3', 'a/4'])
      expect(await keys('a/', { gt: 'a/15' })).toEqual(['a/2', 'a/3', 'a/4'])
      expect(await keys('a/', { lte: 'a/2' })).toEqual(['a/0', 'a/1', 'a/2'])
      expect(await keys('a/', { lte: 'a/25' })).toEqual(['a/0', 'a/1', 'a/2'])
      expect(await keys('a/', { gt: 'a/0', lte: 'a/3' })).toEqual(['a/1', 'a/2', 'a/3'])
      expect(await keys('a/', { limit: 2 })).toEqual(['a/0', 'a/1'])
      expect(await keys('a/', { gt: 'a/1', limit: 2 })).toEqual(['a/2', 'a/3'])
      expect(await keys('a/', { gt: 'a/1', lte: 'a/2', limit: 5 })).toEqual(['a/2'])
      expect(await keys('a/', { limit: 0 })).toEqual([])
      expect(await keys('a/', { limit: Infinity })).toHaveLength(5)
      // Bounds outside the prefix never widen it.
      expect(await keys('a/', { gt: 'a' })).toEqual(['a/0', 'a/1', 'a/2', 'a/3', 'a/4'])
      expect(await keys('a/', { lte: 'z' })).toEqual(['a/0', 'a/1', 'a/2', 'a/3', 'a/4'])
      expect(await keys('a/', { gt: 'a/4' })).toEqual([])
      expect(await keys('a/', { lte: 'a' })).toEqual([])
      expect(await keys('a/', { gt: 'a/3', lte: 'a/1' })).toEqual([])
    })

    it('rejects a negative or fractional limit with a TypeError', async () => {
      await expect(collect(adapter.entries('', { limit: -1 }))).rejects.toBeInstanceOf(TypeError)
      await expect(collect(adapter.entries('', { limit: 1.5 }))).rejects.toBeInstanceOf(TypeError)
    })

    it('pages through a prefix with gt and limit', async () => {
      const written = Array.from({ length: 25 }, (_, i) => `page/${String(i).padStart(3, '0')}`)
      await put(adapter, Object.fromEntries(written.map((key) => [key, [1]])))
      const seen: string[] = []
      let after: string | undefined
      for (;;) {
        const page = await keys('page/', after === undefined ? { limit: 10 } : { gt: after, limit: 10 })
        if (page.length === 0) break
        seen.push(...page)
        after = page.at(-1)
      }
      expect(seen).toEqual(written)
    })

    it('hands out copies: mutating a value given or returned does not change the store', async () => {
      const value = new Uint8Array([1, 2, 3])
      await adapter.batch([{ type: 'put', key: 'k', value }])
      value.fill(9)
      const got = await adapter.get('k')
      expect(got).toEqual(new Uint8Array([1, 2, 3]))
      got?.fill(8)
      const listed = (await collect(adapter.entries('k')))[0]?.[1]
      expect(listed).toEqual(new Uint8Array([1, 2, 3]))
      listed?.fill(7)
      expect(await adapter.get('k')).toEqual(new Uint8Array([1, 2, 3]))
    })

    it('reports its size as a non-negative number, where it can', async () => {
      if (adapter.size === undefined) return
      await put(adapter, { k: Array.from({ length: 1000 }, () => 1) })
      const size = await adapter.size()
      expect(Number.isSafeInteger(size)).toBe(true)
      expect(size).toBeGreaterThanOrEqual(0)
    })

    it('keeps its data across close and reopen', async ({ skip }) => {
      if (context.reopen === undefined) return skip('setup gives no reopen')
      const bytes = Uint8Array.from({ length: 256 }, (_, i) => 255 - i)
      await adapter.batch([
        { type: 'put', key: 'doc/a', value: bytes },
        { type: 'put', key: 'doc/b', value: new Uint8Array([1]) },
        { type: 'put', key: 'doc/c', value: new Uint8Array([2]) }
      ])
      await adapter.batch([{ type: 'del', key: 'doc/c' }])
      await adapter.close()
      const again = await open(await context.reopen())
      expect(await again.get('doc/a')).toEqual(bytes)
      expect((await collect(again.entries('doc/'))).map(([key]) => key)).toEqual(['doc/a', 'doc/b'])
    })

    it('closes idempotently, and then rejects every operation with REGSYNC_NOT_OPEN', async () => {
      await put(adapter, { k: [1] })
      await Promise.all([adapter.close(), adapter.close()])
      await adapter.close()
      const notOpen = { name: 'RegsyncError', code: ErrorCodes.NOT_OPEN }
      await expect(adapter.get('k')).rejects.toMatchObject(notOpen)
      await expect(adapter.batch([{ type: 'del', key: 'k' }])).rejects.toMatchObject(notOpen)
      await expect(collect(adapter.entries(''))).rejects.toMatchObject(notOpen)
      if (adapter.size !== undefined) await expect(adapter.size()).rejects.toMatchObject(notOpen)
    })

    it('rejects operations before open with REGSYNC_NOT_OPEN', async () => {
      const other = await setup()
      try {
        const notOpen = { name: 'RegsyncError', code: ErrorCodes.NOT_OPEN }
        await expect(other.adapter.get('k')).rejects.toMatchObject(notOpen)
        await expect(other.adapter.batch([])).rejects.toMatchObject(notOpen)
        await expect(collect(other.adapter.entries(''))).rejects.toMatchObject(notOpen)
      } finally {
        await other.adapter.close()
        await other.teardown()
      }
    })

    it('opens again after close on the same instance', async () => {
      await put(adapter, { k: [1] })
      await adapter.close()
      await adapter.open()
      expect(await adapter.get('k')).toEqual(new Uint8Array([1]))
    })

    it('ends an iteration cut short by break, leaving the store usable', async () => {
      await put(adapter, { 'i/1': [1], 'i/2': [2], 'i/3': [3] })
      for await (const [key] of adapter.entries('i/')) {
        expect(key).toBe('i/1')
        break
      }
      await adapter.batch([{ type: 'del', key: 'i/2' }])
      expect(await keys('i/')).toEqual(['i/1', 'i/3'])
    })

    describe('blobs, where the adapter keeps them', () => {
      it('has all four blob operations or none', () => {
        const present = [adapter.writeBlob, adapter.readBlob, adapter.deleteBlob, adapter.blobNames].map((op) => op !== undefined)
        expect(new Set(present).size).toBe(1)
      })

      it('writes, replaces, reads, lists and deletes a blob of several MB, and keeps copies', async () => {
        if (adapter.writeBlob === undefined) return
        const big = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251)
        await adapter.writeBlob('snap-1', big)
        big[0] = 99
        const read = await adapter.readBlob!('snap-1')
        expect(read?.byteLength).toBe(3 * 1024 * 1024 + 5)
        expect(read?.[0]).toBe(0)
        expect(read?.[300]).toBe(300 % 251)
        read![1] = 99
        expect((await adapter.readBlob!('snap-1'))?.[1]).toBe(1)
        await adapter.writeBlob('snap-1', new Uint8Array([7]))
        await adapter.writeBlob('upd-2', new Uint8Array(0))
        expect(await adapter.readBlob!('snap-1')).toEqual(new Uint8Array([7]))
        expect(await adapter.readBlob!('upd-2')).toEqual(new Uint8Array(0))
        expect((await adapter.blobNames!()).sort()).toEqual(['snap-1', 'upd-2'])
        await adapter.deleteBlob!('snap-1')
        await adapter.deleteBlob!('snap-1')
        await adapter.deleteBlob!('never-there')
        expect(await adapter.readBlob!('snap-1')).toBeUndefined()
        expect(await adapter.blobNames!()).toEqual(['upd-2'])
        // Blobs are not keys.
        expect(await keys('')).toEqual([])
      })

      it('keeps blobs across close and open, and refuses names that are not safe file names', async () => {
        if (adapter.writeBlob === undefined) return
        await adapter.writeBlob('snap-3', new Uint8Array([1, 2, 3]))
        await adapter.close()
        const again = context.reopen === undefined ? await open(adapter) : await open(await context.reopen())
        expect(await again.readBlob!('snap-3')).toEqual(new Uint8Array([1, 2, 3]))
        for (const name of ['', '../x', 'a/b', '.hidden', 'UPPER', 'x'.repeat(101), 5]) {
          await expect(again.writeBlob!(name as string, new Uint8Array(1))).rejects.toThrow(TypeError)
          await expect(again.readBlob!(name as string)).rejects.toThrow(TypeError)
        }
      })
    })
  })
}

/** Drains an async iterable into an array. */
async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = []
  for await (const item of iterable) items.push(item)
  return items
}
