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
  /** Every key under `prefix` with the size of its value. */
  async function stored(adapter: MemoryStorageAdapter, prefix: string): Promise<Array<[string, number]>> {
    const out: Array<[string, number]> = []
    for await (const [key, value] of adapter.entries(prefix)) out.push([key, value.byteLength])
    return out
  }

  it('stores a large update and snapshot in parts of at most a MiB, and reads them back whole', async () => {
    const adapter = new MemoryStorageAdapter()
    const store = new ReplicaStore(adapter)
    await store.load()
    const { doc, updates } = recordingDoc()
    const files = doc.getMap<string>('files')
    // Random text, so that the update does not shrink: 2.5 MiB in one update.
    const random = (n: number): string => Array.from({ length: n }, () => Math.random().toString(36).slice(2, 12)).join('')
    doc.transact(() => {
      files.set('big.json', random(260_000))
      files.set('small.json', 'x')
    })
    await store.commit({ updates: updates.splice(0) })
    files.set('after.json', 'y')
    await store.commit({ updates: updates.splice(0) })
    const log = await stored(adapter, 'upd!')
    expect(log.map(([key]) => key)).toEqual([
      'upd!0000000000000001!0000',
      'upd!0000000000000001!0001',
      'upd!0000000000000001!0002',
      'upd!0000000000000001!~',
      'upd!0000000000000002'
    ])
    expect(log.every(([, size]) => size <= 1024 * 1024)).toBe(true)
    // Read back: a restart and the stored state a fresh peer is sent.
    expect((await store.readState()).updates.map((update) => update.byteLength)).toEqual([
      log.slice(0, 3).reduce((sum, [, size]) => sum + size, 0),
      log[4]![1]
    ])
    await store.close()
    expect((await reload(adapter)).getMap<string>('files').toJSON()).toEqual(files.toJSON())

    // A compaction writes the snapshot in parts and removes every part of the log and of older snapshots.
    const again = new ReplicaStore(adapter)
    await again.load()
    await again.compact(Y.encodeStateAsUpdate(doc))
    files.set('later.json', 'z')
    await again.commit({ updates: updates.splice(0) })
    await again.compact(Y.encodeStateAsUpdate(doc))
    await again.close()
    await adapter.open()
    const snapshot = await stored(adapter, 'snap!')
    expect(snapshot.map(([key]) => key)).toEqual([
      'snap!0000000000000003!0000',
      'snap!0000000000000003!0001',
      'snap!0000000000000003!0002',
      'snap!0000000000000003!~'
    ])
    expect(await stored(adapter, 'upd!')).toEqual([])
    expect((await reload(adapter)).getMap<string>('files').toJSON()).toEqual(files.toJSON())
  })

  it('reads no value whose parts were written without their head, as a crash leaves them', async () => {
    const adapter = new MemoryStorageAdapter()
    const store = new ReplicaStore(adapter)
    await store.load()
    const { doc, updates } = recordingDoc()
    const files = doc.getMap<string>('files')
    files.set('first.json', 'x')
    await store.commit({ updates: updates.splice(0) })
    await store.close()
    // A commit of a large update (seq 2) cut short after three of its parts.
    await adapter.open()
    const part = new Uint8Array(1024 * 1024).fill(7)
    for (let n = 0; n < 3; n++) await adapter.batch([{ type: 'put', key: `upd!0000000000000002!000${n}`, value: part }])
    await adapter.close()
    const restarted = new ReplicaStore(adapter)
    const loaded = await restarted.load()
    expect(loaded.updates).toHaveLength(1)
    // The next update takes seq 2 again, in two parts: the third part left over is not read with it.
    files.set('second.json', Array.from({ length: 400_000 }, (_, i) => i.toString(36)).join(''))
    await restarted.commit({ updates: updates.splice(0) })
    const keys: string[] = []
    for await (const [key] of adapter.entries('upd!0000000000000002')) keys.push(key)
    expect(keys).toEqual(['upd!0000000000000002!0000', 'upd!0000000000000002!0001', 'upd!0000000000000002!0002', 'upd!0000000000000002!~'])
    const state = await restarted.readState()
    expect(state.updates).toHaveLength(2)
    const fresh = new Y.Doc()
    for (const update of state.updates) Y.applyUpdate(fresh, update)
    expect(fresh.getMap<string>('files').toJSON()).toEqual(files.toJSON())
    await restarted.close()
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
