/**
 * The directory watchers on a real file system: what they report for creates, edits, deletes,
 * sub-folders that come and go, and a services directory that is missing at start.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pbkdf2 } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { afterEach, describe, expect, it } from 'vitest'
import { ChokidarWatcher, NativeWatcher, openReplica } from 'regsync'
import type { Replica } from 'regsync'
import type { Watcher } from '@regsync/core'
import { removeDir, tempDir, waitFor } from './helpers/fs.js'
import { CapturingLogger } from './helpers/replicas.js'

const DEFINITION = (id: number): string =>
  JSON.stringify({ '@class': 'org.apereo.cas.services.CasRegisteredService', serviceId: `^https://app${id}/.*`, name: `App${id}`, id })

/** A started watcher and what it reported. */
interface Recording {
  readonly paths: Set<string>
  readonly trees: Set<string>
  readonly errors: Error[]
  overflows: number
}

/** How many unread events inotify keeps (`fs.inotify.max_queued_events`). */
const QUEUE_LIMIT = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'))

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function record(watcher: Watcher): Promise<Recording> {
  const recording: Recording = { paths: new Set(), trees: new Set(), errors: [], overflows: 0 }
  await watcher.start({
    onPath: (path) => recording.paths.add(path),
    onTree: (folder) => recording.trees.add(folder),
    onOverflow: () => recording.overflows++,
    onError: (error) => recording.errors.push(error)
  })
  cleanups.push(() => watcher.close())
  return recording
}

async function services(): Promise<string> {
  const dir = await tempDir('regsync-watch-')
  cleanups.push(() => removeDir(dir))
  return dir
}

describe('NativeWatcher', () => {
  it('reports creates, in-place edits, atomic replacements and deletes, and ignores dot-files', async () => {
    const dir = await services()
    await writeFile(join(dir, 'Old-1.json'), DEFINITION(1))
    const seen = await record(new NativeWatcher({ path: dir }))

    await writeFile(join(dir, 'App-2.json'), DEFINITION(2))
    await writeFile(join(dir, 'Old-1.json'), DEFINITION(11))
    await writeFile(join(dir, '.App-3.json.tmp'), DEFINITION(3))
    await rename(join(dir, '.App-3.json.tmp'), join(dir, 'App-3.json'))
    await writeFile(join(dir, '.hidden.json'), DEFINITION(4))
    await waitFor('the three paths', () => ['App-2.json', 'Old-1.json', 'App-3.json'].every((p) => seen.paths.has(p)))
    seen.paths.clear()
    await rm(join(dir, 'App-2.json'))
    await waitFor('the delete', () => seen.paths.has('App-2.json'))

    expect([...seen.paths].filter((path) => path.includes('.hidden') || path.includes('.tmp'))).toEqual([])
    expect(seen.errors).toEqual([])
  })

  it('follows sub-folders: existing, created with files in them, and removed', async () => {
    const dir = await services()
    await mkdir(join(dir, 'team-a'))
    const seen = await record(new NativeWatcher({ path: dir }))

    await writeFile(join(dir, 'team-a', 'A-1.json'), DEFINITION(1))
    await waitFor('a file in an existing sub-folder', () => seen.paths.has('team-a/A-1.json'))

    // A folder moved in whole, with files already in it: the watch starts after they were written.
    const outside = await tempDir('regsync-watch-outside-')
    cleanups.push(() => removeDir(outside))
    await mkdir(join(outside, 'team-b', 'nested'), { recursive: true })
    await writeFile(join(outside, 'team-b', 'B-2.json'), DEFINITION(2))
    await writeFile(join(outside, 'team-b', 'nested', 'B-3.json'), DEFINITION(3))
    await rename(join(outside, 'team-b'), join(dir, 'team-b'))
    await waitFor('the files of a moved-in folder', () => seen.paths.has('team-b/B-2.json') && seen.paths.has('team-b/nested/B-3.json'))
    await writeFile(join(dir, 'team-b', 'nested', 'B-4.json'), DEFINITION(4))
    await waitFor('a new file in a nested folder', () => seen.paths.has('team-b/nested/B-4.json'))

    await rm(join(dir, 'team-b'), { recursive: true })
    await waitFor('the removed folder', () => seen.trees.has('team-b'))
    expect(seen.errors).toEqual([])
  })

  it('waits for a services directory that does not exist yet, then reports what it holds', async () => {
    const parent = await services()
    const dir = join(parent, 'services')
    const seen = await record(new NativeWatcher({ path: dir, retryMs: 20 }))
    await mkdir(dir)
    await writeFile(join(dir, 'App-1.json'), DEFINITION(1))
    await waitFor('the directory to be found', () => seen.trees.has('') || seen.paths.has('App-1.json'))
    await writeFile(join(dir, 'App-2.json'), DEFINITION(2))
    await waitFor('a later file', () => seen.paths.has('App-2.json'))
    expect(seen.errors).toEqual([])
  })

  it('starts again when the services directory is removed and re-created', async () => {
    const parent = await services()
    const dir = join(parent, 'services')
    await mkdir(dir)
    const seen = await record(new NativeWatcher({ path: dir, retryMs: 20 }))
    await rm(dir, { recursive: true })
    await new Promise((resolve) => setTimeout(resolve, 50))
    // A missing root is not reported as a tree: an unmounted volume is not a mass delete.
    expect(seen.trees.has('')).toBe(false)
    await mkdir(dir)
    await waitFor('the root to be found again', () => seen.trees.has(''))
    await writeFile(join(dir, 'App-5.json'), DEFINITION(5))
    await waitFor('a file in the re-created root', () => seen.paths.has('App-5.json'))
  })

  it('reports no overflow for a burst of files that fits in the event queue', async () => {
    const dir = await services()
    const recording = await record(new NativeWatcher({ path: dir }))
    // Two events a file (create, then write): a quarter of the queue, all read in one turn.
    const count = Math.floor(QUEUE_LIMIT / 8)
    for (let id = 1; id <= count; id++) writeFileSync(join(dir, `App-${id}.json`), DEFINITION(id))
    await waitFor('every file to be reported', () => recording.paths.size === count)
    expect(recording.overflows).toBe(0)
  })
})

describe('ChokidarWatcher with polling (--poll)', () => {
  it('reports a new file, an edit and a delete', async () => {
    const dir = await services()
    const seen = await record(new ChokidarWatcher({ path: dir, usePolling: true }))
    await writeFile(join(dir, 'App-1.json'), DEFINITION(1))
    await waitFor('the create', () => seen.paths.has('App-1.json'))
    seen.paths.clear()
    await rm(join(dir, 'App-1.json'))
    await waitFor('the delete', () => seen.paths.has('App-1.json'))
    expect(seen.errors).toEqual([])
  })

  it('reports a file created as soon as it has started, even when the thread pool is busy', async () => {
    // A poller takes its first stat (its baseline) in the thread pool. Keep the pool busy for a
    // moment whenever a poller starts, as a loaded node does: a file created before that stat
    // would be part of the baseline, and never reported, if start() returned before it.
    const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs')
    const watchFile = fs.watchFile
    const busy: Array<Promise<unknown>> = []
    fs.watchFile = ((...args: Parameters<typeof watchFile>) => {
      for (let i = 0; i < 4; i++) busy.push(new Promise((done) => pbkdf2('x', 'y', 100_000, 32, 'sha256', done)))
      return watchFile(...args)
    }) as typeof watchFile
    syncBuiltinESMExports()
    try {
      const dir = await services()
      const seen = await record(new ChokidarWatcher({ path: dir, usePolling: true }))
      // Written at once, not through the (busy) pool.
      writeFileSync(join(dir, 'App-1.json'), DEFINITION(1))
      await waitFor('the create', () => seen.paths.has('App-1.json'), 3000)
    } finally {
      fs.watchFile = watchFile
      syncBuiltinESMExports()
      await Promise.all(busy)
    }
  })
})

describe('a replica with the default watcher', () => {
  let replica: Replica | undefined
  afterEach(async () => {
    await replica?.close()
    replica = undefined
  })

  it('notices a sub-folder moved away at once, without waiting for a rescan', async () => {
    const dir = await services()
    const data = await services()
    const outside = await services()
    await mkdir(join(dir, 'team-a'))
    await writeFile(join(dir, 'team-a', 'A-1.json'), DEFINITION(1))
    await writeFile(join(dir, 'team-a', 'A-2.json'), DEFINITION(2))
    await writeFile(join(dir, 'Top-3.json'), DEFINITION(3))
    replica = await openReplica({ dir, data, rescanIntervalMs: 0 })
    expect(replica.list()).toEqual(['Top-3.json', 'team-a/A-1.json', 'team-a/A-2.json'])

    // A move sends no event per file: only the folder's own, so its files are found by the replica.
    await rename(join(dir, 'team-a'), join(outside, 'team-a'))
    await waitFor('the folder\'s files to be deleted', () => replica!.list().length === 1)
    expect(replica.list()).toEqual(['Top-3.json'])
  })

  it('keeps every definition when the services directory goes away whole, as an unmounted volume does', async () => {
    const parent = await services()
    const dir = join(parent, 'services')
    const data = await services()
    await mkdir(dir)
    await writeFile(join(dir, 'App-1.json'), DEFINITION(1))
    await writeFile(join(dir, 'App-2.json'), DEFINITION(2))
    replica = await openReplica({ dir, data, rescanIntervalMs: 0 })
    await rename(dir, join(parent, 'services.away'))
    await new Promise((resolve) => setTimeout(resolve, 300))
    await replica.settled()
    expect(replica.list()).toEqual(['App-1.json', 'App-2.json'])
    await rename(join(parent, 'services.away'), dir)
    await writeFile(join(dir, 'App-3.json'), DEFINITION(3))
    await waitFor('the directory to be watched again', () => replica!.list().length === 3)
    expect(replica.list()).toEqual(['App-1.json', 'App-2.json', 'App-3.json'])
  })

  it('imports every file of a burst that overflowed the watcher\'s event queue, without waiting for a rescan', { timeout: 120_000 }, async () => {
    const dir = await services()
    const data = await services()
    const logger = new CapturingLogger()
    replica = await openReplica({ dir, data, rescanIntervalMs: 0, logger })
    // Two events a file, all queued while this thread writes: more than the queue holds, so the
    // kernel drops the rest, and those files are never reported one by one.
    const count = Math.ceil(QUEUE_LIMIT / 2) + 1000
    for (let id = 1; id <= count; id++) writeFileSync(join(dir, `App-${id}.json`), DEFINITION(id))
    await waitFor('every file to be imported', () => replica!.list().length === count, 60_000)
    expect(logger.lines.filter((line) => line.level === 'warn').map((line) => line.message)).toContainEqual(
      expect.stringContaining(`the watcher's queue of ${QUEUE_LIMIT} events overflowed`)
    )
    expect(replica.watcherOverflows).toBeGreaterThan(0)
  })
})
