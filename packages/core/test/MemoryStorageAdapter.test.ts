import { describe, expect, it } from 'vitest'
import { ErrorCodes, RegsyncError } from '../src/errors.js'
import { MemoryStorageAdapter } from '../src/testing/MemoryStorageAdapter.js'
import { runStorageAdapterTests } from '../src/testing/storageAdapterTests.js'

runStorageAdapterTests('MemoryStorageAdapter', async () => {
  const adapter = new MemoryStorageAdapter()
  return { adapter, reopen: async () => adapter, teardown: async () => {} }
})

describe('MemoryStorageAdapter.failNextBatch', () => {
  it('fails the next batch only, writing none of it', async () => {
    const adapter = new MemoryStorageAdapter()
    await adapter.open()
    const failure = new RegsyncError(ErrorCodes.STORAGE, 'disk full')
    adapter.failNextBatch(failure)
    const batch = [{ type: 'put', key: 'k', value: new Uint8Array([1]) }] as const
    await expect(adapter.batch(batch)).rejects.toBe(failure)
    expect(await adapter.get('k')).toBeUndefined()
    await adapter.batch(batch)
    expect(await adapter.get('k')).toEqual(new Uint8Array([1]))
  })
})
