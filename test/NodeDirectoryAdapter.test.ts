import { lstat, mkdir, readFile, readdir, symlink, utimes, writeFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { NodeDirectoryAdapter } from 'regsync'
import type { FileStat, WriteRequest, WriteResult } from '@regsync/core'
import { removeDir, tempDir as makeTempDir } from './helpers/fs.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir))
})

async function tempDir(): Promise<string> {
  const dir = await makeTempDir()
  dirs.push(dir)
  return dir
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

/** `write` called once per request, or `writeMany` with all of them: the same results are expected of both. */
const ways: Array<[string, (adapter: NodeDirectoryAdapter, writes: WriteRequest[]) => Promise<WriteResult[]>]> = [
  [
    'write',
    (adapter, writes) =>
      Promise.all(
        writes.map((write) =>
          adapter.write(write.path, write.bytes, write.expect).then(
            (stat) => (stat === undefined ? {} : { stat }),
            (error: unknown) => ({ error })
          )
        )
      )
  ],
  ['writeMany', (adapter, writes) => adapter.writeMany(writes)]
]

async function statOf(path: string): Promise<FileStat> {
  const stats = await lstat(path)
  return { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino }
}

describe.each(ways)('NodeDirectoryAdapter.%s', (_name, writeAll) => {
  it('writes every file in place, in folders it creates, and returns each new stat', async () => {
    const dir = await tempDir()
    const adapter = new NodeDirectoryAdapter({ path: dir })
    // More than two of writeMany's chunks, so that one chunk syncs while the next is written.
    const writes = Array.from({ length: 100 }, (_, i) => ({ path: i % 2 === 0 ? `App-${i}.json` : `team/App-${i}.json`, bytes: bytes(`{ "id": ${i} }\n`), expect: null }))
    const results = await writeAll(adapter, writes)
    for (const [i, write] of writes.entries()) {
      expect(await readFile(join(dir, write.path), 'utf8')).toBe(`{ "id": ${i} }\n`)
      expect(results[i]).toEqual({ stat: await statOf(join(dir, write.path)) })
    }
    // No temp file is left behind.
    const names = [...(await readdir(dir)), ...(await readdir(join(dir, 'team')))]
    expect(names.filter((name) => name.startsWith('.'))).toEqual([])
  })

  it('writes nothing where the file is no longer what the caller expected, and says so', async () => {
    const dir = await tempDir()
    const adapter = new NodeDirectoryAdapter({ path: dir })
    await writeFile(join(dir, 'Edited-1.json'), 'edited locally')
    await writeFile(join(dir, 'Known-2.json'), 'as read')
    const known = await statOf(join(dir, 'Known-2.json'))
    await writeFile(join(dir, 'Moved-3.json'), 'as read, then edited')
    const moved = { ...(await statOf(join(dir, 'Moved-3.json'))), size: 1 }
    const results = await writeAll(adapter, [
      // Expected to be absent, but a local edit created it.
      { path: 'Edited-1.json', bytes: bytes('from the cluster'), expect: null },
      { path: 'Known-2.json', bytes: bytes('from the cluster'), expect: known },
      { path: 'Moved-3.json', bytes: bytes('from the cluster'), expect: moved }
    ])
    expect(results[0]).toEqual({})
    expect(results[1]?.stat?.size).toBe('from the cluster'.length)
    expect(results[2]).toEqual({})
    expect(await readFile(join(dir, 'Edited-1.json'), 'utf8')).toBe('edited locally')
    expect(await readFile(join(dir, 'Known-2.json'), 'utf8')).toBe('from the cluster')
    expect(await readFile(join(dir, 'Moved-3.json'), 'utf8')).toBe('as read, then edited')
    expect((await readdir(dir)).filter((name) => name.startsWith('.'))).toEqual([])
  })

  it('refuses to write through a symbolic link or under a file, and still writes the others', async () => {
    const dir = await tempDir()
    const outside = await tempDir()
    const adapter = new NodeDirectoryAdapter({ path: dir })
    await writeFile(join(outside, 'target.json'), 'outside')
    await symlink(join(outside, 'target.json'), join(dir, 'Link-1.json'))
    await symlink(outside, join(dir, 'linked'))
    await writeFile(join(dir, 'plain'), 'a file where a folder would be')
    const results = await writeAll(adapter, [
      { path: 'Link-1.json', bytes: bytes('through the link'), expect: await statOf(join(dir, 'Link-1.json')) },
      { path: 'linked/App-2.json', bytes: bytes('under the link'), expect: null },
      { path: 'plain/App-3.json', bytes: bytes('under a file'), expect: null },
      { path: 'App-4.json', bytes: bytes('fine'), expect: null }
    ])
    for (const result of results.slice(0, 3)) expect(result.error).toMatchObject({ code: 'REGSYNC_BAD_PATH' })
    expect(results[3]?.stat?.size).toBe(4)
    expect(await readFile(join(outside, 'target.json'), 'utf8')).toBe('outside')
    expect(await readdir(outside)).toEqual(['target.json'])
    expect(await readFile(join(dir, 'App-4.json'), 'utf8')).toBe('fine')
  })

  it('keeps the mode of the file it replaces', async () => {
    const dir = await tempDir()
    const adapter = new NodeDirectoryAdapter({ path: dir })
    await mkdir(join(dir, 'team'))
    await writeFile(join(dir, 'team', 'App-1.json'), 'old', { mode: 0o600 })
    const [result] = await writeAll(adapter, [{ path: 'team/App-1.json', bytes: bytes('new'), expect: await statOf(join(dir, 'team', 'App-1.json')) }])
    expect(result?.stat?.size).toBe(3)
    expect((await lstat(join(dir, 'team', 'App-1.json'))).mode & 0o777).toBe(0o600)
  })
})

describe('NodeDirectoryAdapter.list', () => {
  it('removes temp files of interrupted writes once they are a minute old, and nothing else', async () => {
    const dir = await tempDir()
    const removed: string[] = []
    const adapter = new NodeDirectoryAdapter({ path: dir, onLeftoverRemoved: (path) => removed.push(path) })
    await mkdir(join(dir, 'team'))
    const old = new Date(Date.now() - 120_000)
    const files = ['App-1.json', '.App-1.json.9f2c01a3.regsync-tmp', 'team/.App-2.json.77aa00b1.regsync-tmp', '.App-3.json.1234abcd5.regsync-tmp', '.notes.regsync-tmp.bak', '.keep']
    for (const file of files) await writeFile(join(dir, file), 'x')
    // All but the third temp file were written two minutes ago.
    for (const file of files.filter((name) => !name.startsWith('.App-3'))) await utimes(join(dir, file), old, old)
    expect((await adapter.list()).map((file) => file.path)).toEqual(['App-1.json'])
    expect(removed.sort()).toEqual(['.App-1.json.9f2c01a3.regsync-tmp', 'team/.App-2.json.77aa00b1.regsync-tmp'])
    expect((await readdir(dir)).sort()).toEqual(['.App-3.json.1234abcd5.regsync-tmp', '.keep', '.notes.regsync-tmp.bak', 'App-1.json', 'team'])
    expect(await readdir(join(dir, 'team'))).toEqual([])
  })
})

describe('NodeDirectoryAdapter without its write worker', () => {
  it('writes on the calling thread when the worker cannot start, and an opened replica says so once', async () => {
    const root = await tempDir()
    // A fresh process, whose worker_threads cannot start a thread: the shared worker is per process.
    const script = `
      import { createRequire, syncBuiltinESMExports } from 'node:module'
      import { readdirSync } from 'node:fs'
      createRequire(import.meta.url)('node:worker_threads').Worker = class { constructor() { throw new Error('no threads here') } }
      syncBuiltinESMExports()
      const { openReplica } = await import(process.argv[1])
      const [dir, data] = process.argv.slice(2)
      const warnings = []
      const quiet = () => {}
      const logger = { debug: quiet, info: quiet, error: quiet, warn: (fields, message) => warnings.push(message) }
      const replica = await openReplica({ dir, data, rescanIntervalMs: 0, logger })
      const definition = (id) => JSON.stringify({ '@class': 'org.apereo.cas.services.CasRegisteredService', serviceId: 'https://app' + id, name: 'App' + id, id })
      // Operations queued together make one round, whose writes go through writeMany.
      for (const ids of [[1, 2, 3], [4, 5, 6]]) await Promise.all(ids.map((id) => replica.put('App-' + id + '.json', definition(id))))
      await replica.close()
      console.log(JSON.stringify({ files: readdirSync(dir).sort(), warnings }))
    `
    await mkdir(join(root, 'services'))
    const regsync = fileURLToPath(new URL('../packages/regsync/dist/index.js', import.meta.url))
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, regsync, join(root, 'services'), join(root, 'data')], { encoding: 'utf8', timeout: 60_000 })
    expect(child.status, child.stderr).toBe(0)
    const { files, warnings } = JSON.parse(child.stdout) as { files: string[]; warnings: string[] }
    expect(files).toEqual(['App-1.json', 'App-2.json', 'App-3.json', 'App-4.json', 'App-5.json', 'App-6.json'])
    expect(warnings).toEqual([
      'the write worker could not start: no threads here; files are flushed and renamed on the main thread from now on, which is slower in bursts'
    ])
  })
})
