import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ErrorCodes } from '@regsync/core'
import { runStorageAdapterTests } from '@regsync/core/testing'
import { LevelStorageAdapter } from '../src/index.js'

runStorageAdapterTests('LevelStorageAdapter', async () => {
  const path = await mkdtemp(join(tmpdir(), 'regsync-level-'))
  const adapter = new LevelStorageAdapter({ path })
  return {
    adapter,
    reopen: async () => new LevelStorageAdapter({ path }),
    teardown: async () => {
      await adapter.close()
      await rm(path, { recursive: true, force: true })
    }
  }
})

describe('LevelStorageAdapter on disk', () => {
  let dir: string
  const adapters: LevelStorageAdapter[] = []

  function adapterAt(path: string): LevelStorageAdapter {
    const adapter = new LevelStorageAdapter({ path })
    adapters.push(adapter)
    return adapter
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'regsync-level-'))
  })

  afterEach(async () => {
    for (const adapter of adapters.splice(0)) await adapter.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('keeps blobs as compressed files in blobs/, counts them in its size, and removes a blob write cut short at open', async () => {
    const path = join(dir, 'data')
    const adapter = adapterAt(path)
    await adapter.open()
    const before = await adapter.size()
    await adapter.writeBlob('snap-0000000000000001', new Uint8Array(2_000_000).fill(1))
    expect(await readdir(join(path, 'blobs'))).toEqual(['snap-0000000000000001'])
    const file = await stat(join(path, 'blobs', 'snap-0000000000000001'))
    expect(file.size).toBeLessThan(100_000)
    expect((await adapter.size()) - before).toBe(file.size)
    await adapter.close()
    // What a crash during a write leaves: the temp file, never renamed.
    await writeFile(join(path, 'blobs', '.tmp-snap-0000000000000002.0a1b2c'), new Uint8Array(10))
    await adapter.open()
    expect(await readdir(join(path, 'blobs'))).toEqual(['snap-0000000000000001'])
    expect(await adapter.blobNames()).toEqual(['snap-0000000000000001'])
    expect((await adapter.readBlob('snap-0000000000000001'))?.byteLength).toBe(2_000_000)
  })

  it('reports a blob file that is not one, or is cut short, as damaged, naming it', async () => {
    const path = join(dir, 'data')
    const adapter = adapterAt(path)
    await adapter.open()
    await adapter.writeBlob('upd-0000000000000001', new Uint8Array(100_000).map((_, i) => i % 7))
    const blob = join(path, 'blobs', 'upd-0000000000000001')
    const whole = await readFile(blob)
    await writeFile(blob, whole.subarray(0, whole.length - 20))
    await expect(adapter.readBlob('upd-0000000000000001')).rejects.toMatchObject({
      code: ErrorCodes.STORAGE,
      message: expect.stringContaining('blob upd-0000000000000001 is damaged')
    })
    await writeFile(blob, 'not a blob at all')
    await expect(adapter.readBlob('upd-0000000000000001')).rejects.toMatchObject({
      code: ErrorCodes.STORAGE,
      message: expect.stringContaining('blob upd-0000000000000001 is not a regsync blob')
    })
  })

  it('refuses a second adapter on a directory that is open, naming it, and leaves the first intact', async () => {
    const path = join(dir, 'data')
    const first = adapterAt(path)
    await first.open()
    await first.batch([{ type: 'put', key: 'k', value: new Uint8Array([0, 1, 0xff]) }])

    const second = adapterAt(path)
    const failure = await second.open().then(
      () => undefined,
      (error: unknown) => error
    )
    expect(failure).toMatchObject({ name: 'RegsyncError', code: ErrorCodes.DATA_LOCKED })
    expect((failure as Error).message).toBe(`data directory ${path} is locked by another process`)
    expect((failure as Error).cause).toMatchObject({ cause: { code: 'LEVEL_LOCKED' } })
    await expect(second.get('k')).rejects.toMatchObject({ code: ErrorCodes.NOT_OPEN })

    expect(await first.get('k')).toEqual(new Uint8Array([0, 1, 0xff]))
    await first.batch([{ type: 'put', key: 'k2', value: new Uint8Array([2]) }])
    expect(await first.get('k2')).toEqual(new Uint8Array([2]))

    // Once the holder lets go, the same second adapter can open and sees everything.
    await first.close()
    await second.open()
    expect(await second.get('k')).toEqual(new Uint8Array([0, 1, 0xff]))
    expect(await second.get('k2')).toEqual(new Uint8Array([2]))
  })

  it('takes no lock until open(), so constructing one is harmless', async () => {
    const path = join(dir, 'data')
    adapterAt(path)
    await new Promise((resolve) => setTimeout(resolve, 10))
    const holder = adapterAt(path)
    await holder.open()
    expect(await holder.get('k')).toBeUndefined()
  })

  it('reports a directory it cannot open as REGSYNC_STORAGE, naming the path and the reason', async () => {
    const path = join(dir, 'not-a-directory')
    await writeFile(path, 'x')
    const adapter = adapterAt(path)
    const failure = await adapter.open().then(
      () => undefined,
      (error: unknown) => error
    )
    expect(failure).toMatchObject({ name: 'RegsyncError', code: ErrorCodes.STORAGE })
    expect((failure as Error).message).toMatch(new RegExp(`^cannot open data directory ${path}: .*EEXIST`))
  })

  it('creates the directory on first open and sums its files in size()', async () => {
    const path = join(dir, 'nested', 'data')
    const adapter = adapterAt(path)
    await adapter.open()
    expect(await readdir(path)).toContain('LOCK')
    const before = await adapter.size()
    await adapter.batch([{ type: 'put', key: 'big', value: new Uint8Array(100_000).fill(7) }])
    expect(await adapter.size()).toBeGreaterThanOrEqual(before + 100_000)
  })

  it('keeps the opening snapshot while writes land during an iteration', async () => {
    const adapter = adapterAt(join(dir, 'data'))
    await adapter.open()
    await adapter.batch([
      { type: 'put', key: 's/1', value: new Uint8Array([1]) },
      { type: 'put', key: 's/2', value: new Uint8Array([2]) }
    ])
    const seen: string[] = []
    for await (const [key] of adapter.entries('s/')) {
      seen.push(key)
      if (key === 's/1') await adapter.batch([{ type: 'put', key: 's/3', value: new Uint8Array([3]) }])
    }
    expect(seen).toEqual(['s/1', 's/2'])
  })

  it('ends an iteration that close() interrupts with REGSYNC_NOT_OPEN', async () => {
    const adapter = adapterAt(join(dir, 'data'))
    await adapter.open()
    await adapter.batch(
      Array.from({ length: 2000 }, (_, i) => ({
        type: 'put' as const,
        key: `c/${String(i).padStart(5, '0')}`,
        value: new Uint8Array(100)
      }))
    )
    const reading = (async () => {
      for await (const [key] of adapter.entries('c/')) {
        if (key === 'c/00001') await adapter.close()
      }
    })()
    await expect(reading).rejects.toMatchObject({ code: ErrorCodes.NOT_OPEN })
  })
})
