import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { ReplicaStore } from '../src/storage/ReplicaStore.js'
import { MemoryStorageAdapter } from '../src/testing/MemoryStorageAdapter.js'
import type { JournalEntry } from '../src/journal/JournalEntry.js'

/** A document that records its updates, for feeding a store. */
function recordingDoc(): { doc: Y.Doc; updates: Uint8Array[] } {
  const doc = new Y.Doc()
  const updates: Uint8Array[] = []
  doc.on('update', (update: Uint8Array) => updates.push(update))
  return { doc, updates }
}

/** Loads what the store holds into a fresh document. */
async function reload(adapter: MemoryStorageAdapter): Promise<Y.Doc> {
  await adapter.close()
  const store = new ReplicaStore(adapter)
  const loaded = await store.load()
  const doc = new Y.Doc()
  if (loaded.snapshot !== undefined) Y.applyUpdate(doc, loaded.snapshot)
  for (const update of loaded.updates) Y.applyUpdate(doc, update)
  await store.close()
  return doc
}

describe('ReplicaStore compaction', () => {
  it('keeps updates committed while a compaction runs, and a restart loads them all', async () => {
    const adapter = new MemoryStorageAdapter()
    const store = new ReplicaStore(adapter)
    await store.load()
    const { doc, updates } = recordingDoc()
    const files = doc.getMap<string>('files')
    for (let i = 0; i < 5; i++) files.set(`before-${i}.json`, 'x')
    await store.commit({ updates: updates.splice(0) })

    const compaction = store.compact(Y.encodeStateAsUpdate(doc))
    expect(store.shouldCompact(0, 0)).toBe(false)
    // Commits go on while the snapshot is written and the old log is deleted.
    for (let i = 0; i < 5; i++) {
      files.set(`during-${i}.json`, 'y')
      await store.commit({ updates: updates.splice(0) })
    }
    await compaction
    expect(store.updatesSinceSnapshot).toBe(5)
    await store.close()

    const loaded = await reload(adapter)
    expect([...loaded.getMap<string>('files').keys()].sort()).toEqual([...files.keys()].sort())
  })

  it('is due for compaction once the updates outweigh the snapshot, times the factor given', async () => {
    const store = new ReplicaStore(new MemoryStorageAdapter())
    await store.load()
    const { doc, updates } = recordingDoc()
    const files = doc.getMap<string>('files')
    files.set('first.json', 'x'.repeat(10_000))
    await store.commit({ updates: updates.splice(0) })
    await store.compact(Y.encodeStateAsUpdate(doc))
    // Twice the snapshot's bytes in updates: due at factor 1, not at factor 4.
    for (let i = 0; i < 2; i++) {
      files.set(`more-${i}.json`, 'y'.repeat(10_000))
      await store.commit({ updates: updates.splice(0) })
    }
    expect(store.shouldCompact(1000, 0)).toBe(true)
    expect(store.shouldCompact(1000, 0, 4)).toBe(false)
    // The count of updates still counts on its own.
    expect(store.shouldCompact(1, 0, 4)).toBe(true)
    await store.close()
  })

  it('runs compactions one at a time, in call order, and the newest snapshot wins', async () => {
    const adapter = new MemoryStorageAdapter()
    const store = new ReplicaStore(adapter)
    await store.load()
    const { doc, updates } = recordingDoc()
    const files = doc.getMap<string>('files')
    const compactions: Array<Promise<void>> = []
    for (let round = 0; round < 4; round++) {
      files.set(`round-${round}.json`, String(round))
      await store.commit({ updates: updates.splice(0) })
      compactions.push(store.compact(Y.encodeStateAsUpdate(doc)))
    }
    await store.whenCompacted()
    await Promise.all(compactions)
    await store.close()

    const snapshots: string[] = []
    const logged: string[] = []
    await adapter.open()
    for await (const [key] of adapter.entries('snap!')) snapshots.push(key)
    for await (const [key] of adapter.entries('upd!')) logged.push(key)
    expect(snapshots).toHaveLength(1)
    expect(logged).toEqual([])
    const loaded = await reload(adapter)
    expect(loaded.getMap<string>('files').toJSON()).toEqual(files.toJSON())
  })
})

describe('ReplicaStore values over a MiB', () => {
  /** Every key under `prefix`. */
  async function keysOf(adapter: MemoryStorageAdapter, prefix: string): Promise<string[]> {
    const out: string[] = []
    for await (const [key] of adapter.entries(prefix)) out.push(key)
    return out
  }

  /** Random text that does not shrink in an update: about `n` × 10 bytes. */
  const random = (n: number): string => Array.from({ length: n }, () => Math.random().toString(36).slice(2, 12)).join('')

  it('keeps a large update and snapshot in blobs named by their keys, and reads them back', async () => {
    const adapter = new MemoryStorageAdapter()
    const store = new ReplicaStore(adapter)
    await store.load()
    const { doc, updates } = recordingDoc()
    const files = doc.getMap<string>('files')
    doc.transact(() => {
      files.set('big.json', random(260_000))
      files.set('small.json', 'x')
    })
    await store.commit({ updates: updates.splice(0) })
    files.set('after.json', 'y')
    await store.commit({ updates: updates.splice(0) })
    expect(await keysOf(adapter, 'upd!')).toEqual(['upd!0000000000000001!b', 'upd!0000000000000002'])
    expect(await adapter.blobNames()).toEqual(['upd-0000000000000001'])
    const big = (await adapter.readBlob('upd-0000000000000001'))!
    expect(big.byteLength).toBeGreaterThan(2_500_000)
    // Read back: the stored state a fresh peer is sent, and a restart.
    expect((await store.readState()).updates.map((update) => update.byteLength)[0]).toBe(big.byteLength)
    await store.close()
    expect((await reload(adapter)).getMap<string>('files').toJSON()).toEqual(files.toJSON())

    // A compaction keeps the snapshot in a blob and deletes the log's blobs and the older snapshot's.
    const again = new ReplicaStore(adapter)
    await again.load()
    await again.compact(Y.encodeStateAsUpdate(doc))
    files.set('later.json', 'z')
    await again.commit({ updates: updates.splice(0) })
    await again.compact(Y.encodeStateAsUpdate(doc))
    await again.close()
    await adapter.open()
    expect(await keysOf(adapter, 'snap!')).toEqual(['snap!0000000000000003!b'])
    expect(await keysOf(adapter, 'upd!')).toEqual([])
    expect(await adapter.blobNames()).toEqual(['snap-0000000000000003'])
    expect((await reload(adapter)).getMap<string>('files').toJSON()).toEqual(files.toJSON())
  })

  /** An adapter whose store committed one update of about 2 MB (upd-0000000000000001), left open. */
  async function withBigUpdate(): Promise<MemoryStorageAdapter> {
    const adapter = new MemoryStorageAdapter()
    const store = new ReplicaStore(adapter)
    await store.load()
    const { doc, updates } = recordingDoc()
    doc.getMap<string>('files').set('big.json', random(200_000))
    await store.commit({ updates: updates.splice(0) })
    await store.close()
    await adapter.open()
    return adapter
  }

  it('deletes at load the blobs no key names, as a crash leaves them, and no one else\'s', async () => {
    const adapter = await withBigUpdate()
    // A commit cut short after its blob was written, and a file that is not the store's.
    await adapter.writeBlob('upd-0000000000000002', new Uint8Array([1, 2, 3]))
    await adapter.writeBlob('notes.txt', new Uint8Array([4]))
    await adapter.close()
    const restarted = new ReplicaStore(adapter)
    const loaded = await restarted.load()
    expect(loaded.updates).toHaveLength(1)
    expect((await adapter.blobNames()).sort()).toEqual(['notes.txt', 'upd-0000000000000001'])
    await restarted.close()
  })

  it('refuses to load a log whose blob is missing', async () => {
    const adapter = await withBigUpdate()
    await adapter.deleteBlob('upd-0000000000000001')
    await adapter.close()
    await expect(new ReplicaStore(adapter).load()).rejects.toMatchObject({
      code: 'REGSYNC_STORAGE',
      message: expect.stringMatching(/damaged: upd!0000000000000001!b names the blob upd-0000000000000001, which is missing/)
    })
  })
})

describe('ReplicaStore journal', () => {
  const entry = (at: number, n: number): JournalEntry => ({
    id: `${String(at).padStart(13, '0')}-node-${String(n).padStart(4, '0')}`,
    at,
    path: `App-${n}.json`,
    kind: 'delete',
    from: 'peer:x'
  })

  it('keeps its count exact while entries are written and pruned around the first count', async () => {
    const adapter = new MemoryStorageAdapter()
    const store = new ReplicaStore(adapter)
    await store.load()
    for (let i = 0; i < 10; i++) await store.commit({ journal: [entry(1000 + i, i)] })
    const running: Array<Promise<unknown>> = []
    for (let i = 10; i < 30; i++) {
      running.push(store.commit({ journal: [entry(1000 + i, i)] }))
      if (i === 12) running.push(store.journalSize())
      if (i === 20) running.push(store.pruneJournal(1005))
    }
    await Promise.all(running)
    expect((await store.journal()).map((e) => e.at)[0]).toBe(1005)
    expect(await store.journalSize()).toBe(25)
    expect(await store.pruneJournal(1010)).toBe(5)
    expect(await store.journalSize()).toBe(20)
    await store.commit({ journal: [entry(2000, 99)] })
    expect(await store.journalSize()).toBe((await store.journal()).length)
    await store.close()
  })
})
