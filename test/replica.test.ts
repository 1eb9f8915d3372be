import { readFile, readdir, writeFile, rm, mkdir, open as openFile, copyFile } from 'node:fs/promises'
import { closeSync, futimesSync, openSync, statSync, utimesSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { parseDefinition, isObjectValue, isNumberValue } from '@regsync/core'
import type { JournalEntry } from '@regsync/core'
import { NativeWatcher, NodeDirectoryAdapter, Replica } from 'regsync'
import type { DirectoryAdapter, FileInfo, FileStat, ListOptions, Watcher } from '@regsync/core'
import { LevelStorageAdapter } from '@regsync/store-level'
import { CORPUS, copyCorpus, corpusManifest, mtimes, snapshotDir, sleep, waitFor } from './helpers/fs.js'
import { CapturingLogger, startNode, syncBoth, syncOneWay } from './helpers/replicas.js'
import type { TestNode } from './helpers/replicas.js'

const nodes: TestNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((node) => node.cleanup()))
})

async function node(...args: Parameters<typeof startNode>): Promise<TestNode> {
  const created = await startNode(...args)
  nodes.push(created)
  return created
}

/** A replica over a node's data and directory through `directory`, an adapter a test made for its case. */
function replicaOver(
  n: TestNode,
  directory: NodeDirectoryAdapter,
  options: { readonly watch?: boolean; readonly now?: () => number } = {}
): Replica {
  return new Replica({
    storage: new LevelStorageAdapter({ path: n.data }),
    directory,
    ...(options.watch === true ? { watcher: new NativeWatcher({ path: n.dir }) } : {}),
    ...(options.now === undefined ? {} : { now: options.now }),
    rescanIntervalMs: 0
  })
}

/**
 * Nodes a, holding App-100.json, and b, synced; then a is opened again over the adapter that
 * `directory` makes for its services directory, with no watcher.
 */
async function syncedPairOver<D extends NodeDirectoryAdapter>(
  directory: (path: string) => D,
  options: { readonly watch?: boolean } = {}
): Promise<{ a: TestNode; b: TestNode; directory: D }> {
  const a = await node(options, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
  const b = await node(options)
  await syncBoth(a.replica, b.replica)
  await a.replica.close()
  const made = directory(a.dir)
  a.replica = replicaOver(a, made)
  await a.replica.open()
  return { a, b, directory: made }
}

/**
 * A directory whose writes rename their bytes into place, then fail while `cut` is set, as a crash
 * before the new base is recorded would: the index still holds the old base, with the new one pending.
 */
class CutAfterRename extends NodeDirectoryAdapter {
  cut = true
  override async write(...args: Parameters<NodeDirectoryAdapter['write']>): ReturnType<NodeDirectoryAdapter['write']> {
    const stat = await super.write(...args)
    if (this.cut) throw new Error('simulated: stopped after the rename')
    return stat
  }
}

/**
 * A directory on a file system that stamps whole seconds: a second write in the same second, at the
 * same size, keeps the stat of the first.
 */
class WholeSeconds extends NodeDirectoryAdapter {
  override async write(path: string, bytes: Uint8Array, expect?: FileStat | null): ReturnType<NodeDirectoryAdapter['write']> {
    const stat = await super.write(path, bytes, expect)
    if (stat === undefined) return stat
    const full = join(this.location, path)
    const second = Math.floor(stat.mtimeMs / 1000)
    utimesSync(full, second, second)
    return { ...stat, mtimeMs: statSync(full).mtimeMs }
  }
}

const APP = `{
  /* a comment that must survive */
  "@class" : "org.apereo.cas.services.CasRegisteredService",
  "serviceId" : "^https://app.example.org/.*",
  "name" : "App",
  "id" : 100,
  "description" : "first",
  "evaluationOrder" : 10
}
`

describe('a single replica over a directory', () => {
  it('imports every corpus file that parses, and a restart rewrites nothing', async () => {
    const manifest = await corpusManifest()
    const parseable = manifest.filter((file) => file.parse !== 'unparseable')
    const unparseable = manifest.filter((file) => file.parse === 'unparseable')
    const n = await node({}, (dir) => copyCorpus(dir, manifest.map((file) => file.file)))
    expect(n.replica.list()).toEqual(parseable.map((file) => file.file).sort())
    expect(n.replica.problems().map((problem) => problem.path).sort()).toEqual(unparseable.map((file) => file.file).sort())

    // Untouched files materialize to their own bytes: comments and layout kept byte for byte.
    for (const file of parseable) {
      const bytes = await readFile(join(CORPUS, 'services', file.file), 'utf8')
      expect(n.replica.get(file.file), file.file).toBe(bytes)
    }

    const before = await snapshotDir(n.dir)
    const timesBefore = await mtimes(n.dir)
    await n.reopen()
    await n.replica.rescan()
    expect(await snapshotDir(n.dir)).toEqual(before)
    expect(await mtimes(n.dir)).toEqual(timesBefore)
    expect(n.replica.list()).toEqual(parseable.map((file) => file.file).sort())
  })

  it('keeps ids above 2^53 digit for digit', async () => {
    const manifest = await corpusManifest()
    const big = manifest.filter((file) => file.notes.some((note) => note.includes('2^53')))
    expect(big.length).toBeGreaterThan(0)
    const n = await node({}, (dir) => copyCorpus(dir, big.map((file) => file.file)))
    for (const file of big) {
      const expected = /id (\d+) > 2\^53/.exec(file.notes.find((note) => note.includes('2^53'))!)![1]!
      const text = n.replica.get(file.file)!
      const body = parseDefinition('json', text)
      const id = isObjectValue(body) ? body.get('id') : undefined
      expect(id !== undefined && id !== null && isNumberValue(id) ? id.text : id, file.file).toBe(expected)
    }
    // Through an edit that forces the canonical form, the id still survives.
    const file = big[0]!.file
    const original = await readFile(join(n.dir, file), 'utf8')
    await n.replica.put(file, original.replace(/"serviceId"\s*:\s*"[^"]*"/, '"serviceId": "^https://changed.example.org/.*"'))
    expect(await readFile(join(n.dir, file), 'utf8')).toContain(/id (\d+) > 2\^53/.exec(big[0]!.notes.join(' '))![1]!)
  })

  it('turns an edit of one field of a 3 KB definition into an update under 1 KB', async () => {
    const manifest = await corpusManifest()
    // The largest strict-JSON definition whose root is an object.
    const candidates = manifest.filter((f) => f.parse === 'strict-json').sort((a, b) => b.bytes - a.bytes)
    let file = candidates[0]!
    for (const candidate of candidates) {
      if ((await readFile(join(CORPUS, 'services', candidate.file), 'utf8')).trimStart().startsWith('{')) {
        file = candidate
        break
      }
    }
    const n = await node({}, (dir) => copyCorpus(dir, [file.file]))
    const updates: Uint8Array[] = []
    n.replica.on('update', (update) => updates.push(update))
    const text = await readFile(join(n.dir, file.file), 'utf8')
    // Grow the definition to about 3 KB first, then edit one top-level field of it.
    const json = JSON.parse(text) as Record<string, unknown>
    json['description'] = 'd'.repeat(Math.max(0, 3100 - text.length))
    const padded = JSON.stringify(json, null, 2) + '\n'
    await writeFile(join(n.dir, file.file), padded)
    await waitFor('the padded file to be imported', () => n.replica.get(file.file) === padded)
    await n.replica.settled()
    updates.length = 0
    json['name'] = `${String(json['name'])}-renamed`
    const edited = JSON.stringify(json, null, 2) + '\n'
    await writeFile(join(n.dir, file.file), edited)
    await waitFor('the edit to be imported', () => n.replica.get(file.file) === edited)
    await n.replica.settled()
    const total = updates.reduce((sum, update) => sum + update.byteLength, 0)
    expect(Buffer.byteLength(edited)).toBeGreaterThanOrEqual(3072)
    expect(total).toBeGreaterThan(0)
    expect(total).toBeLessThan(1024)
  })

  it('does not import a malformed file, keeps the last good version, and imports the fix', async () => {
    const logger = new CapturingLogger()
    const n = await node({ logger }, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    expect(n.replica.get('App-100.json')).toBe(APP)
    const broken = APP.replace('"name" : "App",', '"name" : "App" "broken": ,')
    await writeFile(join(n.dir, 'App-100.json'), broken)
    await waitFor('the problem to be reported', () => n.replica.problems().length === 1)
    const [problem] = n.replica.problems()
    expect(problem!.path).toBe('App-100.json')
    expect(problem!.code).toBe('REGSYNC_PARSE')
    expect(problem!.message).toMatch(/line \d+, column \d+/)
    const line = logger.lines.find((l) => l.level === 'error')!
    expect(line.message).toContain('App-100.json')
    expect(line.message).toMatch(/line \d+, column \d+/)
    expect(n.replica.get('App-100.json')).toBe(APP)

    const fixed = APP.replace('"first"', '"fixed"')
    await writeFile(join(n.dir, 'App-100.json'), fixed)
    await waitFor('the fix to be imported', () => n.replica.get('App-100.json') === fixed)
    expect(n.replica.problems()).toEqual([])
  })

  it('never imports the half of a file that a truncate-then-write writer leaves for 20 ms', async () => {
    const n = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    const seen = new Set<string>()
    n.replica.on('change', (change) => {
      const text = n.replica.get(change.path)
      if (text !== undefined) seen.add(text)
    })
    let current = APP
    for (let round = 0; round < 10; round++) {
      const next = APP.replace('"first"', `"round ${round}"`)
      const cut = Math.floor(next.length / 2) + round
      const handle = await openFile(join(n.dir, 'App-100.json'), 'r+')
      await handle.truncate(0)
      await handle.write(next.slice(0, cut), 0)
      await handle.sync()
      await sleep(20)
      await handle.write(next.slice(cut), Buffer.byteLength(next.slice(0, cut)))
      await handle.close()
      await waitFor(`round ${round} to be imported`, () => n.replica.get('App-100.json') === next)
      current = next
    }
    await n.replica.settled()
    expect(n.replica.get('App-100.json')).toBe(current)
    for (const text of seen) expect(() => parseDefinition('json', text)).not.toThrow()
    expect(n.replica.problems()).toEqual([])
  })

  it('removes a stale copy of a deleted file instead of importing it again', async () => {
    const n = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    await rm(join(n.dir, 'App-100.json'))
    await waitFor('the delete to be imported', () => n.replica.get('App-100.json') === undefined)
    await n.replica.settled()
    // The old bytes come back, as from a backup or an rsync pass: a stale copy.
    await writeFile(join(n.dir, 'App-100.json'), APP)
    await n.replica.rescan()
    await waitFor('the stale copy to be removed', async () => !(await snapshotDir(n.dir)).has('App-100.json'))
    expect(n.replica.get('App-100.json')).toBeUndefined()

    // New bytes at the same path are a deliberate re-creation.
    const recreated = APP.replace('"first"', '"second life"')
    await writeFile(join(n.dir, 'App-100.json'), recreated)
    await waitFor('the re-creation to be imported', () => n.replica.get('App-100.json') === recreated)
  })

  it('removes a stale copy on a fresh node that learned the delete from a peer, and journals it', async () => {
    const a = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    expect(await a.replica.delete('App-100.json')).toBe(true)
    // A fresh node whose directory was restored from an old image.
    const b = await node({ importOnOpen: false }, async (dir) => {
      await writeFile(join(dir, 'App-100.json'), APP)
      await writeFile(join(dir, 'Other-200.json'), APP.replace('100', '200'))
    })
    await syncOneWay(a.replica, b.replica, 'a')
    // Until the first sync, a fresh node leaves files the document does not know alone.
    await b.replica.rescan()
    expect([...(await snapshotDir(b.dir)).keys()]).toEqual(['Other-200.json'])
    expect(b.replica.list()).toEqual([])
    await b.replica.allowImport()
    const files = await snapshotDir(b.dir)
    expect([...files.keys()]).toEqual(['Other-200.json'])
    const journal = await b.replica.journal()
    expect(journal.some((entry) => entry.kind === 'stale' && entry.path === 'App-100.json' && entry.bytes === APP)).toBe(true)
    expect(b.replica.list()).toEqual(['Other-200.json'])
  })

  it('journals the value that lost a concurrent write, and restores it', async () => {
    const a = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    const b = await node()
    await syncBoth(a.replica, b.replica)
    expect(await readFile(join(b.dir, 'App-100.json'), 'utf8')).toBe(APP)

    // Both nodes edit the same field before hearing of each other; a third field merges.
    await writeFile(join(a.dir, 'App-100.json'), APP.replace('"first"', '"from a"'))
    await writeFile(join(b.dir, 'App-100.json'), APP.replace('"first"', '"from b"').replace('"evaluationOrder" : 10', '"evaluationOrder" : 20'))
    await waitFor('a to import', () => a.replica.get('App-100.json')!.includes('from a'))
    await waitFor('b to import', () => b.replica.get('App-100.json')!.includes('from b'))
    await syncBoth(a.replica, b.replica)

    const onA = await readFile(join(a.dir, 'App-100.json'), 'utf8')
    const onB = await readFile(join(b.dir, 'App-100.json'), 'utf8')
    expect(onA).toBe(onB)
    expect(onA).toMatch(/"evaluationOrder"\s*:\s*20/)
    const winner = onA.includes('"from a"') ? 'from a' : 'from b'
    const loser = winner === 'from a' ? 'from b' : 'from a'
    const journal: JournalEntry[] = [...(await a.replica.journal()), ...(await b.replica.journal())]
    const lost = journal.find((entry) => entry.kind === 'field' && entry.value === JSON.stringify(loser))
    expect(lost, JSON.stringify(journal)).toBeDefined()
    expect(lost!.field).toEqual(['description'])

    const holder = (await a.replica.journal()).some((entry) => entry.id === lost!.id) ? a : b
    await holder.replica.restore(lost!.id)
    await syncBoth(a.replica, b.replica)
    expect(await readFile(join(a.dir, 'App-100.json'), 'utf8')).toContain(`"${loser}"`)
    expect(await readFile(join(b.dir, 'App-100.json'), 'utf8')).toBe(await readFile(join(a.dir, 'App-100.json'), 'utf8'))
  })

  it('merges concurrent edits of fields inside one policy, and journals a nested field that lost', async () => {
    const policy = (enabled: boolean, sso: boolean, order: number): string => `{
  "@class" : "org.apereo.cas.services.CasRegisteredService",
  "serviceId" : "^https://app.example.org/.*",
  "name" : "App",
  "id" : 100,
  "accessStrategy" : {
    "@class" : "org.apereo.cas.services.DefaultRegisteredServiceAccessStrategy",
    "enabled" : ${enabled},
    "ssoEnabled" : ${sso},
    "requiredAttributes" : { "@class" : "java.util.HashMap", "order" : ${order} }
  }
}
`
    const a = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), policy(true, true, 1)))
    const b = await node()
    await syncBoth(a.replica, b.replica)
    // a turns the policy off; b turns single sign-on off; both change the same nested order.
    await writeFile(join(a.dir, 'App-100.json'), policy(false, true, 2))
    await writeFile(join(b.dir, 'App-100.json'), policy(true, false, 3))
    await waitFor('a to import', () => a.replica.get('App-100.json')!.includes('"order" : 2'))
    await waitFor('b to import', () => b.replica.get('App-100.json')!.includes('"order" : 3'))
    await syncBoth(a.replica, b.replica)

    const onA = await readFile(join(a.dir, 'App-100.json'), 'utf8')
    expect(await readFile(join(b.dir, 'App-100.json'), 'utf8')).toBe(onA)
    const merged = parseDefinition('json', onA) as Map<string, unknown>
    const strategy = merged.get('accessStrategy') as Map<string, unknown>
    expect(strategy.get('enabled')).toBe(false)
    expect(strategy.get('ssoEnabled')).toBe(false)
    const order = ((strategy.get('requiredAttributes') as Map<string, unknown>).get('order') as { text: string }).text
    const lost = [...(await a.replica.journal()), ...(await b.replica.journal())].find((entry) => entry.kind === 'field')
    expect(lost?.field).toEqual(['accessStrategy', 'requiredAttributes', 'order'])
    expect(lost?.value).toBe(order === '2' ? '3' : '2')
  })

  it('journals the losing file of a concurrent create', async () => {
    const a = await node()
    const b = await node()
    await writeFile(join(a.dir, 'New-1.json'), APP.replace('100', '1'))
    await writeFile(join(b.dir, 'New-1.json'), APP.replace('100', '1').replace('"first"', '"b version"'))
    await waitFor('a to import', () => a.replica.get('New-1.json') !== undefined)
    await waitFor('b to import', () => b.replica.get('New-1.json') !== undefined)
    await syncBoth(a.replica, b.replica)
    const onA = await readFile(join(a.dir, 'New-1.json'), 'utf8')
    expect(await readFile(join(b.dir, 'New-1.json'), 'utf8')).toBe(onA)
    const journal = [...(await a.replica.journal()), ...(await b.replica.journal())]
    const lost = journal.find((entry) => entry.kind === 'create' && entry.path === 'New-1.json')
    expect(lost).toBeDefined()
    expect(lost!.bytes).not.toBe(onA)
  })

  it('lets a delete win over a concurrent edit, with the edit in the journal', async () => {
    const a = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    const b = await node()
    await syncBoth(a.replica, b.replica)
    await a.replica.delete('App-100.json')
    const edited = APP.replace('"first"', '"edited on b"')
    await writeFile(join(b.dir, 'App-100.json'), edited)
    await waitFor('b to import', () => b.replica.get('App-100.json') === edited)
    await syncBoth(a.replica, b.replica)
    expect((await snapshotDir(a.dir)).size).toBe(0)
    expect((await snapshotDir(b.dir)).size).toBe(0)
    const journal = [...(await a.replica.journal()), ...(await b.replica.journal())]
    expect(journal.some((entry) => entry.path === 'App-100.json' && entry.bytes === edited)).toBe(true)
  })

  it('keeps a peer update that waits for an earlier one, across a restart', async () => {
    const a = await node()
    const b = await node()
    const start = Y.encodeStateVector(a.replica.doc)
    await a.replica.put('App-1.json', APP)
    const middle = Y.encodeStateVector(a.replica.doc)
    const create = Y.encodeStateAsUpdate(a.replica.doc, start)
    await a.replica.put('App-1.json', APP.replace('"first"', '"second"'))
    const edit = Y.encodeStateAsUpdate(a.replica.doc, middle)

    // The edit arrives first: it cannot be applied yet, but it must not be lost to a restart.
    await b.replica.applyUpdate(edit, { source: 'peer', peerId: 'a' })
    expect(b.replica.get('App-1.json')).toBeUndefined()
    await b.reopen()
    await b.replica.applyUpdate(create, { source: 'peer', peerId: 'a' })
    await b.replica.settled()
    expect(b.replica.get('App-1.json')).toContain('"second"')
    expect(await readFile(join(b.dir, 'App-1.json'), 'utf8')).toContain('"second"')
  })

  it('keeps what a peer update applied before its bytes went bad, across a restart', async () => {
    const a = await node()
    const b = await node()
    await a.replica.put('App-1.json', APP)
    const whole = Y.encodeStateAsUpdate(a.replica.doc)
    // The structs are whole; the delete set at the end is cut off, so applying fails after them.
    await expect(b.replica.applyUpdate(whole.subarray(0, whole.byteLength - 1), { source: 'peer', peerId: 'a' })).rejects.toThrow(/malformed update/)
    await b.replica.settled()
    expect(b.replica.get('App-1.json')).toBe(APP)
    await b.reopen()
    expect(b.replica.get('App-1.json')).toBe(APP)
    expect(await readFile(join(b.dir, 'App-1.json'), 'utf8')).toBe(APP)
  })

  it('removes a temp file left by an interrupted write when it opens, and logs it', async () => {
    const logger = new CapturingLogger()
    const leftover = '.App-1.json.0badf00d1.regsync-tmp'
    const a = await node({ logger }, async (dir) => {
      await writeFile(join(dir, 'App-1.json'), APP)
      await writeFile(join(dir, leftover), APP.slice(0, 40))
      const old = new Date(Date.now() - 120_000)
      utimesSync(join(dir, leftover), old, old)
    })
    expect(await readdir(a.dir)).toEqual(['App-1.json'])
    expect(logger.lines.filter((line) => line.message.includes(leftover))).toEqual([
      { level: 'info', fields: { path: leftover }, message: `removed ${leftover}, a temp file left by an interrupted write` }
    ])
  })

  it('removes journal entries from before a time, and keeps the rest across a restart', async () => {
    const a = await node({}, async (dir) => {
      for (const id of [1, 2]) await writeFile(join(dir, `App-${id}.json`), APP.replace('100', String(id)))
    })
    const b = await node()
    await syncBoth(a.replica, b.replica)
    await b.replica.delete('App-1.json')
    await syncBoth(a.replica, b.replica)
    await sleep(5)
    const between = Date.now()
    await sleep(5)
    await b.replica.delete('App-2.json')
    await syncBoth(a.replica, b.replica)
    expect((await a.replica.journal()).map((entry) => [entry.path, entry.kind])).toEqual([
      ['App-1.json', 'delete'],
      ['App-2.json', 'delete']
    ])

    expect(await a.replica.journalSize()).toBe(2)
    expect(await a.replica.pruneJournal(between)).toBe(1)
    expect(await a.replica.journalSize()).toBe(1)
    await a.reopen()
    expect((await a.replica.journal()).map((entry) => entry.path)).toEqual(['App-2.json'])
    expect(await a.replica.journalSize()).toBe(1)
    expect(await a.replica.pruneJournal(between)).toBe(0)
  })

  /** A watcher of the test's own, so that its reports arrive exactly when the test says. */
  function reportingWatcher(coalesceMs?: number): { watcher: Watcher; report: (path: string) => void } {
    let onPath: (path: string) => void = () => {}
    const watcher: Watcher = {
      async start(handlers) {
        onPath = handlers.onPath
      },
      async close() {},
      ...(coalesceMs === undefined ? {} : { coalesceMs })
    }
    return { watcher, report: (path) => onPath(path) }
  }

  /** The real directory at `dir`, with every path it stats or reads pushed to `looked`. */
  function lookingDirectory(dir: string, looked: string[]): DirectoryAdapter {
    const real = new NodeDirectoryAdapter({ path: dir })
    return {
      location: real.location,
      list: (options) => real.list(options),
      stat: (path) => {
        looked.push(path)
        return real.stat(path)
      },
      read: (path) => {
        looked.push(path)
        return real.read(path)
      },
      write: (path, bytes, expect) => real.write(path, bytes, expect),
      remove: (path, expect) => real.remove(path, expect),
      writeMany: (writes) => real.writeMany(writes)
    }
  }

  /** Writes `count` definitions into a new node's directory and rescans it; the updates it sent. */
  async function burst(count: number): Promise<{ a: TestNode; updates: Uint8Array[] }> {
    // Without a watcher, the rescan finds all the files at once.
    const a = await node({ watch: false })
    const updates: Uint8Array[] = []
    a.replica.on('update', (update) => updates.push(update))
    for (let id = 1; id <= count; id++) await writeFile(join(a.dir, `App-${id}.json`), APP.replace('100', String(id)))
    await a.replica.rescan()
    return { a, updates }
  }

  it('imports a burst of files in bounded rounds, each sent on as it is committed', async () => {
    const { a, updates } = await burst(1200)
    expect(a.replica.list()).toHaveLength(1200)
    // At most 500 paths a round: three rounds, three updates, the first sent long before the last file is read.
    expect(updates).toHaveLength(3)
  })

  it('does not let reports of its own writes take the place of the next files of a burst in a round', async () => {
    const { updates } = await burst(1000)
    expect(updates).toHaveLength(2)

    const { watcher, report } = reportingWatcher()
    const b = await node({ watch: false })
    await b.replica.close()
    const logger = new CapturingLogger()
    b.replica = new Replica({
      storage: new LevelStorageAdapter({ path: b.data }),
      directory: new NodeDirectoryAdapter({ path: b.dir }),
      watcher,
      logger,
      rescanIntervalMs: 0
    })
    await b.replica.open()
    await b.replica.applyUpdate(updates[0]!, { source: 'peer', peerId: 'a' })
    const first = b.replica.list()
    expect(first).toHaveLength(500)
    // The reports of the 500 writes come in just before the next 500 files: one round writes them all.
    logger.lines.length = 0
    for (const path of first) report(path)
    await b.replica.applyUpdate(updates[1]!, { source: 'peer', peerId: 'a' })
    const rounds = logger.lines.filter((line) => line.message === 'reconcile round').map((line) => line.fields as { writes: number })
    expect(rounds[0]?.writes).toBe(500)
    expect(b.replica.list()).toHaveLength(1000)
  })

  it('writes new paths from a peer without a look at the disk, and overwrites no file the watcher missed', async () => {
    const { a, updates } = await burst(50)
    const { watcher } = reportingWatcher()
    const b = await node({ watch: false })
    await b.replica.close()
    const looked: string[] = []
    const directory = lookingDirectory(b.dir, looked)
    b.replica = new Replica({ storage: new LevelStorageAdapter({ path: b.data }), directory, watcher, rescanIntervalMs: 0 })
    await b.replica.open()
    await b.replica.applyUpdate(Y.mergeUpdates(updates), { source: 'peer', peerId: 'a' })
    await b.replica.settled()
    // Not on disk at the listing, and not reported since: written without a stat.
    expect(looked).toEqual([])
    expect((await readdir(b.dir)).length).toBe(50)
    // A file appears that the watcher does not report; then a peer creates the same path.
    const missed = APP.replace('100', '999').replace('"first"', '"written here, unreported"')
    await writeFile(join(b.dir, 'App-999.json'), missed)
    await a.replica.put('App-999.json', APP.replace('100', '999'))
    await syncOneWay(a.replica, b.replica, 'a')
    await b.replica.settled()
    // The write found the file in its way, looked, and the document won with the file journaled.
    expect(looked).toContain('App-999.json')
    expect(await readFile(join(b.dir, 'App-999.json'), 'utf8')).toBe(APP.replace('100', '999'))
    expect((await b.replica.journal()).find((entry) => entry.path === 'App-999.json')?.bytes).toBe(missed)
  })

  it("takes the watcher's first report of a file it wrote for its own write, and imports an edit after it at once", async () => {
    const { updates } = await burst(20)
    const b = await node({ watch: false })
    await b.replica.close()
    const looked: string[] = []
    b.replica = new Replica({
      storage: new LevelStorageAdapter({ path: b.data }),
      directory: lookingDirectory(b.dir, looked),
      watcher: new NativeWatcher({ path: b.dir }),
      rescanIntervalMs: 0
    })
    await b.replica.open()
    await b.replica.applyUpdate(Y.mergeUpdates(updates), { source: 'peer', peerId: 'a' })
    await b.replica.settled()
    // The reports of the 20 renames come in, and lead to no stat and no read.
    await sleep(300)
    await b.replica.settled()
    expect((await readdir(b.dir)).length).toBe(20)
    expect(looked).toEqual([])
    // An edit after the write brings a report of its own.
    const edited = APP.replace('100', '1').replace('"first"', '"edited here"')
    await writeFile(join(b.dir, 'App-1.json'), edited)
    await waitFor('the edit to be imported', () => b.replica.get('App-1.json') === edited)
    expect(looked).toContain('App-1.json')
  })

  it("looks at a reported path again after the watcher's coalescing window, and only with a watcher that has one", async () => {
    for (const coalesceMs of [undefined, 60]) {
      const n = await node({ watch: false }, async (dir) => {
        await writeFile(join(dir, 'App-100.json'), APP)
        // Old enough for its stat to vouch: a look is one stat.
        const minuteAgo = Date.now() / 1000 - 60
        utimesSync(join(dir, 'App-100.json'), minuteAgo, minuteAgo)
      })
      await n.replica.close()
      const { watcher, report } = reportingWatcher(coalesceMs)
      const looked: string[] = []
      n.replica = new Replica({ storage: new LevelStorageAdapter({ path: n.data }), directory: lookingDirectory(n.dir, looked), watcher, rescanIntervalMs: 0 })
      await n.replica.open()
      await n.replica.settled()
      looked.length = 0
      report('App-100.json')
      // settled() waits for the second look, if one is due.
      await n.replica.settled()
      expect(looked, `coalesceMs ${coalesceMs}`).toEqual(coalesceMs === undefined ? ['App-100.json'] : ['App-100.json', 'App-100.json'])
    }
  })

  it('compacts the log of a burst once the replica has been idle for a second, not between its rounds', async () => {
    // 1,000 new definitions: 2 MB of updates in two rounds.
    const logger = new CapturingLogger()
    const a = await node({ watch: false, logger })
    for (let id = 1; id <= 1000; id++) await writeFile(join(a.dir, `App-${id}.json`), APP.replace('100', String(id)))
    await a.replica.rescan()
    const stored = await a.replica.storedState()
    expect(stored.snapshot).toBeUndefined()
    expect(stored.updates).toHaveLength(2)
    // A read of the log (a peer's sync, storedState()) holds compactions off while it runs. Reads
    // back to back for 4 s cover the first idle second and the look again at the burst's files;
    // the compaction must still come once they stop, with nothing else happening.
    const until = Date.now() + 4000
    while (Date.now() < until) await a.replica.storedState()
    const compacted = (): boolean => logger.lines.some((line) => line.message === 'compacted the update log')
    expect(compacted()).toBe(false)
    await waitFor('the log to be compacted', compacted, 5000)
    const after = await a.replica.storedState()
    expect(after.snapshot).toBeDefined()
    expect(after.updates).toHaveLength(0)
  })

  it('reads the next round while the files of the last are written, and leaves those files to their write', async () => {
    const { updates } = await burst(700)
    const { watcher, report } = reportingWatcher()
    const b = await node({ watch: false })
    await b.replica.close()
    // The real directory, with the first batch of writes held until the test lets it go. The
    // watcher reports each held file as the batch begins (as it would a local edit of it).
    const looked: string[] = []
    let reported = 0
    let held: string[] | undefined
    let release = (): void => {}
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    const real = lookingDirectory(b.dir, looked)
    const directory: DirectoryAdapter = {
      ...real,
      location: real.location,
      async writeMany(writes) {
        if (held === undefined) {
          held = writes.map((write) => write.path)
          reported = looked.length
          for (const path of held) report(path)
          await released
        }
        return real.writeMany!(writes)
      }
    }
    b.replica = new Replica({ storage: new LevelStorageAdapter({ path: b.data }), directory, watcher, rescanIntervalMs: 0 })
    await b.replica.open()
    // A path the listing did not have and no report named is planned without a look at the disk;
    // reported, each of these paths is looked at whenever it is planned.
    const doc = new Y.Doc()
    Y.applyUpdate(doc, Y.mergeUpdates(updates))
    for (const path of doc.getMap('registry').keys()) report(path)
    await b.replica.settled()
    const applied = b.replica.applyUpdate(Y.mergeUpdates(updates), { source: 'peer', peerId: 'a' })
    try {
      await waitFor('the first round to write', () => held !== undefined)
      const first = new Set(held)
      expect(first.size).toBe(500)
      // The next round reads the other 200 files, but none of the held ones: they wait for their write.
      await waitFor('the next round to read its files', () => new Set(looked.slice(reported).filter((path) => !first.has(path))).size === 200)
      await sleep(100)
      expect(looked.slice(reported).filter((path) => first.has(path))).toEqual([])
    } finally {
      release()
    }
    await applied
    await b.replica.settled()
    expect(b.replica.list()).toHaveLength(700)
    for (const path of b.replica.list()) expect(await readFile(join(b.dir, path), 'utf8')).toBe(b.replica.get(path))
  })

  it('merges a write made from a stale copy against that copy, so a peer\'s newer field survives', async () => {
    const a = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    const b = await node()
    await syncBoth(a.replica, b.replica)
    // b changes one field; a writes b's change into its file.
    await writeFile(join(b.dir, 'App-100.json'), APP.replace('"evaluationOrder" : 10', '"evaluationOrder" : 20'))
    await waitFor('b to import', () => b.replica.get('App-100.json')!.includes('20'))
    await syncBoth(a.replica, b.replica)
    expect(await readFile(join(a.dir, 'App-100.json'), 'utf8')).toContain('"evaluationOrder" : 20')

    // A writer on a that loaded the file before b's change saves its own edit of another field.
    const stale = APP.replace('"first"', '"edited from a stale copy"')
    await writeFile(join(a.dir, 'App-100.json'), stale)
    await waitFor('a to import', () => a.replica.get('App-100.json')!.includes('stale copy'))
    await syncBoth(a.replica, b.replica)
    for (const n of [a, b]) {
      const text = await readFile(join(n.dir, 'App-100.json'), 'utf8')
      expect(text).toMatch(/"evaluationOrder"\s*:\s*20/)
      expect(text).toContain('"edited from a stale copy"')
    }
    const journaled = (await a.replica.journal()).find((entry) => entry.kind === 'staleWrite')
    expect(journaled?.bytes).toBe(stale)

    // Writing back an older version exactly is meant (a file restored from a backup): it wins.
    await writeFile(join(a.dir, 'App-100.json'), APP)
    await waitFor('a to import the restored file', () => a.replica.get('App-100.json') === APP)
    await syncBoth(a.replica, b.replica)
    expect(await readFile(join(b.dir, 'App-100.json'), 'utf8')).toBe(APP)
  })

  it('serves the embedded API: put, get, list, delete, change events', async () => {
    const n = await node()
    const changes: string[] = []
    n.replica.on('change', (change) => changes.push(`${change.kind} ${change.path}`))
    await n.replica.put('App-100.json', APP)
    expect(await readFile(join(n.dir, 'App-100.json'), 'utf8')).toBe(APP)
    expect(n.replica.list()).toEqual(['App-100.json'])
    expect(n.replica.size).toBe(1)
    await expect(n.replica.put('../evil.json', APP)).rejects.toMatchObject({ code: 'REGSYNC_BAD_PATH' })
    await expect(n.replica.put('Bad-1.json', '{ "a": ')).rejects.toMatchObject({ code: 'REGSYNC_PARSE' })
    expect(await n.replica.delete('App-100.json')).toBe(true)
    expect(await n.replica.delete('App-100.json')).toBe(false)
    expect((await snapshotDir(n.dir)).size).toBe(0)
    expect(n.replica.size).toBe(0)
    expect(changes).toEqual(['put App-100.json', 'delete App-100.json'])
  })

  it('skips a file over the size limit with an error naming it, and keeps running', async () => {
    const logger = new CapturingLogger()
    const n = await node({ logger, maxFileBytes: 4096 }, async (dir) => {
      await writeFile(join(dir, 'App-100.json'), APP)
      await writeFile(join(dir, 'Huge-1.json'), APP.replace('"first"', JSON.stringify('x'.repeat(5000))))
    })
    expect(n.replica.list()).toEqual(['App-100.json'])
    expect(n.replica.problems()).toMatchObject([{ path: 'Huge-1.json', code: 'REGSYNC_TOO_LARGE' }])
    expect(logger.lines.some((l) => l.level === 'error' && l.message.includes('Huge-1.json') && l.message.includes('4096'))).toBe(true)
  })

  it('refuses a second replica on a locked data dir without touching the first', async () => {
    const n = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    const { openReplica } = await import('regsync')
    await expect(openReplica({ dir: n.dir, data: n.data })).rejects.toMatchObject({ code: 'REGSYNC_DATA_LOCKED' })
    await n.replica.put('App-100.json', APP.replace('"first"', '"still works"'))
    expect(await readFile(join(n.dir, 'App-100.json'), 'utf8')).toContain('still works')
  })

  it('refuses a data dir of an older format, says what to do, and leaves the files alone', async () => {
    const n = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    await n.replica.close()
    // What regsync 0.1 left: format 1, whose document this version does not read.
    const storage = new LevelStorageAdapter({ path: n.data })
    await storage.open()
    await storage.batch([{ type: 'put', key: 'meta!version', value: new TextEncoder().encode('1') }])
    await storage.close()
    const { openReplica } = await import('regsync')
    const failure = await openReplica({ dir: n.dir, data: n.data }).catch((error: unknown) => error)
    expect(failure).toMatchObject({ code: 'REGSYNC_DATA_VERSION' })
    expect((failure as Error).message).toMatch(/format version 1, and this regsync reads version 2\. Stop the agent, move the data directory aside/)
    expect(await readdir(n.dir)).toEqual(['App-100.json'])
    expect(await readFile(join(n.dir, 'App-100.json'), 'utf8')).toBe(APP)
    // Started again on an empty data dir, it imports the directory as it is.
    await rm(n.data, { recursive: true })
    n.replica = await n.reopen()
    expect(n.replica.list()).toEqual(['App-100.json'])
  })

  it('refuses a data dir whose document lost what its index records, and removes no file', async () => {
    const n = await node({}, async (dir) => {
      await writeFile(join(dir, 'App-100.json'), APP)
      await writeFile(join(dir, 'App-101.json'), APP.replace('100', '101'))
    })
    await n.replica.close()
    // The document's log and snapshot are gone; the index still records both files.
    const storage = new LevelStorageAdapter({ path: n.data })
    await storage.open()
    const lost: string[] = []
    for (const prefix of ['upd!', 'snap!']) for await (const [key] of storage.entries(prefix)) lost.push(key)
    expect(lost.length).toBeGreaterThan(0)
    await storage.batch(lost.map((key) => ({ type: 'del' as const, key })))
    await storage.close()
    const { openReplica } = await import('regsync')
    const failure = await openReplica({ dir: n.dir, data: n.data }).catch((error: unknown) => error)
    expect(failure).toMatchObject({ code: 'REGSYNC_STORAGE' })
    expect((failure as Error).message).toMatch(/data directory is damaged: its document lacks 2 of the 2 paths .* Nothing in the services directory was changed/)
    expect((await readdir(n.dir)).sort()).toEqual(['App-100.json', 'App-101.json'])
    await rm(n.data, { recursive: true })
    n.replica = await n.reopen()
    expect(n.replica.list()).toEqual(['App-100.json', 'App-101.json'])
  })

  it('imports at start an edit made just after the start listed the directory', async () => {
    const n = await node({}, async (dir) => {
      await writeFile(join(dir, 'App-100.json'), APP)
      await writeFile(join(dir, 'App-101.json'), APP.replace('100', '101'))
      // A minute old: a stat vouches only for files that have not changed in the last seconds.
      const minuteAgo = Date.now() / 1000 - 60
      for (const name of ['App-100.json', 'App-101.json']) utimesSync(join(dir, name), minuteAgo, minuteAgo)
    })
    await n.replica.close()
    // A start lists the directory with a stat per file and plans only the files those stats do
    // not vouch for. Edit a file once its stat is taken: the watcher must report it.
    const edited = APP.replace('"first"', '"edited after the listing"')
    let edits = 0
    class EditAfterListing extends NodeDirectoryAdapter {
      override async list(options?: ListOptions): Promise<FileInfo[]> {
        const files = await super.list(options)
        if (options?.stats === true && edits++ === 0) {
          await writeFile(join(n.dir, 'App-100.json'), edited)
          await sleep(100)
        }
        return files
      }
    }
    n.replica = replicaOver(n, new EditAfterListing({ path: n.dir }), { watch: true })
    await n.replica.open()
    expect(edits).toBe(1)
    expect(n.replica.get('App-100.json')).toBe(edited)
    expect(n.replica.get('App-101.json')).toBe(APP.replace('100', '101'))
  })

  it('takes a folder removed while the start loads the document as removed, though the listing still had it', async () => {
    const n = await node({}, async (dir) => {
      await mkdir(join(dir, 'team'))
      await writeFile(join(dir, 'App-100.json'), APP)
      await writeFile(join(dir, 'team', 'App-101.json'), APP.replace('100', '101'))
      const minuteAgo = Date.now() / 1000 - 60
      for (const name of ['App-100.json', 'team/App-101.json']) utimesSync(join(dir, name), minuteAgo, minuteAgo)
    })
    await n.replica.close()
    // The start lists the directory while the document loads. A folder removed after the listing
    // is reported as a folder, whose files cannot be named: the listing must not be trusted.
    let lists = 0
    class RemoveAfterListing extends NodeDirectoryAdapter {
      override async list(options?: ListOptions): Promise<FileInfo[]> {
        const files = await super.list(options)
        if (options?.stats === true && lists++ === 0) {
          expect(files.map((file) => file.path).sort()).toEqual(['App-100.json', 'team/App-101.json'])
          await rm(join(n.dir, 'team'), { recursive: true })
          await sleep(100)
        }
        return files
      }
    }
    n.replica = replicaOver(n, new RemoveAfterListing({ path: n.dir }), { watch: true })
    await n.replica.open()
    expect(lists).toBe(2)
    expect(n.replica.list()).toEqual(['App-100.json'])
  })

  it('journals a local edit that a peer deletes while its merge with a peer change is being written', async () => {
    let hold = false
    let held!: () => void
    const writeHeld = new Promise<void>((resolve) => (held = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    class HeldWrite extends NodeDirectoryAdapter {
      override async write(...args: Parameters<NodeDirectoryAdapter['write']>): ReturnType<NodeDirectoryAdapter['write']> {
        if (hold) {
          hold = false
          held()
          await released
        }
        return super.write(...args)
      }
    }
    const { a, b } = await syncedPairOver((path) => new HeldWrite({ path }))

    // b changes one field; a's file is edited in another before a hears of it (no watcher here).
    await b.replica.put('App-100.json', APP.replace('"evaluationOrder" : 10', '"evaluationOrder" : 20'))
    const edited = APP.replace('"first"', '"edited on a"')
    await writeFile(join(a.dir, 'App-100.json'), edited)
    hold = true
    // a imports the edit, merged with b's change, and writes the merge back: held.
    const merging = syncOneWay(b.replica, a.replica, 'b')
    await writeHeld
    expect(a.replica.get('App-100.json')).toContain('"edited on a"')
    // b deletes the file. a's round with the delete waits for the write, so that it journals the
    // merge, not the base from before the edit.
    await b.replica.delete('App-100.json')
    const deleting = syncOneWay(b.replica, a.replica, 'b')
    await sleep(200)
    expect(a.replica.get('App-100.json')).toContain('"edited on a"')
    release()
    await Promise.all([merging, deleting])
    await a.replica.settled()

    expect(await readdir(a.dir)).toEqual([])
    const journal = await a.replica.journal()
    expect(journal.filter((entry) => entry.bytes?.includes('"edited on a"') === true).map((entry) => entry.path)).toContain('App-100.json')
  })

  it('journals the bytes of a file that a peer deletes first thing after a restart', async () => {
    const a = await node({}, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    const b = await node()
    await syncBoth(a.replica, b.replica)
    await b.replica.delete('App-100.json')
    await a.reopen()
    // The base texts are read from the stored document after the start: the delete must find them.
    const update = Y.encodeStateAsUpdate(b.replica.doc, Y.encodeStateVector(a.replica.doc))
    await a.replica.applyUpdate(update, { source: 'peer', peerId: 'b' })
    expect((await snapshotDir(a.dir)).size).toBe(0)
    const deleted = (await a.replica.journal()).find((entry) => entry.kind === 'delete' && entry.path === 'App-100.json')
    expect(deleted?.bytes).toBe(APP)
  })

  describe("a peer's change that met a file that did not parse, after a restart", () => {
    /** a's file is broken when b's change arrives: the change waits in a's document for a good file. Then a stops. */
    async function changeWaitingAtStop(): Promise<{ a: TestNode; changed: string }> {
      const a = await node({ watch: false }, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
      const b = await node({ watch: false })
      await syncBoth(a.replica, b.replica)
      await writeFile(join(a.dir, 'App-100.json'), APP.slice(0, 60))
      await a.replica.rescan()
      expect(a.replica.problems().map((problem) => problem.path)).toEqual(['App-100.json'])
      const changed = APP.replace('"evaluationOrder" : 10', '"evaluationOrder" : 20')
      await b.replica.put('App-100.json', changed)
      await syncOneWay(b.replica, a.replica, 'b')
      await a.replica.settled()
      expect(a.replica.get('App-100.json')).toBe(changed)
      await a.replica.close()
      return { a, changed }
    }

    async function reopen(a: TestNode): Promise<void> {
      a.replica = replicaOver(a, new NodeDirectoryAdapter({ path: a.dir }))
      await a.replica.open()
      await a.replica.settled()
    }

    it('is written once the file is put back as it was', async () => {
      const { a, changed } = await changeWaitingAtStop()
      await writeFile(join(a.dir, 'App-100.json'), APP)
      await reopen(a)
      expect(await readFile(join(a.dir, 'App-100.json'), 'utf8')).toBe(changed)
    })

    it('is journaled if the file is repaired with an edit, which wins whole', async () => {
      const { a, changed } = await changeWaitingAtStop()
      // With no base text to merge against, the edit cannot be told from what the peer changed.
      const repaired = APP.replace('"first"', '"repaired on a"')
      await writeFile(join(a.dir, 'App-100.json'), repaired)
      await reopen(a)
      expect(await readFile(join(a.dir, 'App-100.json'), 'utf8')).toBe(repaired)
      const journal = await a.replica.journal()
      expect(journal.map((entry) => [entry.kind, entry.path, entry.bytes])).toEqual([['unmerged', 'App-100.json', changed]])
    })
  })

  describe("a file whose last version is a merge of two nodes' edits, after a restart", () => {
    /**
     * Concurrent edits of one field and of another: both nodes write the merge, a text that neither
     * node's edit left (the document's copy of the text holds both edits of the one field). Then a
     * restarts, with no watcher: only rounds look at its files.
     */
    async function mergedThenRestarted(): Promise<{ a: TestNode; b: TestNode; merged: string }> {
      const a = await node({ watch: false }, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
      const b = await node({ watch: false })
      await syncBoth(a.replica, b.replica)
      await a.replica.put('App-100.json', APP.replace('"first"', '"edited on a"'))
      await b.replica.put('App-100.json', APP.replace('"first"', '"edited on b"').replace('"evaluationOrder" : 10', '"evaluationOrder" : 20'))
      await syncBoth(a.replica, b.replica)
      const merged = await readFile(join(a.dir, 'App-100.json'), 'utf8')
      expect(merged).toMatch(/"evaluationOrder"\s*:\s*20/)
      await a.reopen()
      return { a, b, merged }
    }

    it('journals its bytes when a peer deletes it', async () => {
      const { a, b, merged } = await mergedThenRestarted()
      await b.replica.delete('App-100.json')
      await syncOneWay(b.replica, a.replica, 'b')
      await a.replica.settled()
      expect((await snapshotDir(a.dir)).size).toBe(0)
      const deleted = (await a.replica.journal()).filter((entry) => entry.path === 'App-100.json' && entry.kind !== 'field')
      expect(deleted.map((entry) => [entry.kind, entry.bytes])).toEqual([['delete', merged]])
    })

    it("merges a local edit field by field with a peer's edit that reaches the node at the same time", async () => {
      const { a, b, merged } = await mergedThenRestarted()
      await b.replica.put('App-100.json', (b.replica.get('App-100.json') ?? '').replace(/("evaluationOrder"\s*:\s*)20/, '$130'))
      await writeFile(join(a.dir, 'App-100.json'), merged.replace(/("name"\s*:\s*)"App"/, '$1"Renamed on a"'))
      // One round applies b's edit and finds a's: the merge needs the base, the merged text.
      await syncOneWay(b.replica, a.replica, 'b')
      await a.replica.settled()
      const text = await readFile(join(a.dir, 'App-100.json'), 'utf8')
      expect(text).toMatch(/"name"\s*:\s*"Renamed on a"/)
      expect(text).toMatch(/"evaluationOrder"\s*:\s*30/)
    })
  })

  /**
   * A node whose App-100.json has a whole-second mtime (set and read back exactly), imported into a
   * fresh data dir by a replica with the given clock and watcher.
   */
  async function nodeWithMtime(second: number, now: () => number, watcher: boolean): Promise<TestNode> {
    const n = await node({}, async (dir) => {
      await writeFile(join(dir, 'App-100.json'), APP)
      utimesSync(join(dir, 'App-100.json'), second, second)
    })
    await n.replica.close()
    await rm(n.data, { recursive: true })
    n.replica = replicaOver(n, new NodeDirectoryAdapter({ path: n.dir }), { watch: watcher, now })
    await n.replica.open()
    return n
  }

  /**
   * Writes App-100.json in place at the same size and puts its mtime back: what a second write within
   * one tick of the file system's clock leaves. Synchronous, so a replica sees only the end state.
   */
  function secondWriteInTheSameTick(n: TestNode, second: number): string {
    const file = join(n.dir, 'App-100.json')
    const first = statSync(file)
    const edited = APP.replace('"first"', '"other"')
    expect(edited.length).toBe(APP.length)
    const fd = openSync(file, 'r+')
    writeSync(fd, edited, 0)
    futimesSync(fd, second, second)
    closeSync(fd)
    const now = statSync(file)
    expect([now.size, now.ino, now.mtimeMs]).toEqual([first.size, first.ino, first.mtimeMs])
    return edited
  }

  it('imports a second write that left the file with the same size, inode and mtime', async () => {
    // The replica's clock reads half a second after the file's mtime, as when both writes happen
    // just before it looks: the stat it records then cannot vouch.
    const second = Math.floor(Date.now() / 1000) - 10
    const n = await nodeWithMtime(second, () => second * 1000 + 500, true)
    const edited = secondWriteInTheSameTick(n, second)
    await waitFor('the second write to be imported', () => n.replica.get('App-100.json') === edited)
  })

  it('reads a file whose stat was recorded too soon after its mtime, even with no report of a second write', async () => {
    // No watcher: only rescans look, as after a lost inotify event.
    const second = Math.floor(Date.now() / 1000) - 60
    let clock = second * 1000 + 500
    const n = await nodeWithMtime(second, () => clock, false)
    const edited = secondWriteInTheSameTick(n, second)
    // A minute later, the stat matches and the mtime is old, but the stat was taken too soon.
    clock = second * 1000 + 60_000
    await n.replica.rescan()
    expect(n.replica.get('App-100.json')).toBe(edited)
  })

  it('looks again at a file just imported once its stat can vouch, so that later scans need not read it', async () => {
    const n = await node({ watch: false }, async (dir) => writeFile(join(dir, 'App-100.json'), APP))
    await n.replica.close()
    await rm(n.data, { recursive: true })
    let reads = 0
    class CountingDirectory extends NodeDirectoryAdapter {
      override async read(path: string): ReturnType<NodeDirectoryAdapter['read']> {
        reads++
        return super.read(path)
      }
    }
    // Imported within a second of its mtime: the stat recorded then cannot vouch for it.
    n.replica = replicaOver(n, new CountingDirectory({ path: n.dir }))
    await n.replica.open()
    expect(n.replica.list()).toEqual(['App-100.json'])
    await sleep(3000)
    await n.replica.settled()
    reads = 0
    await n.replica.rescan()
    expect(reads).toBe(0)
  })

  /** A node over a fresh directory with a watcher, whose directory adapter counts reads per path. */
  async function countingNode(Directory: typeof NodeDirectoryAdapter = NodeDirectoryAdapter): Promise<{ n: TestNode; reads: Map<string, number> }> {
    const n = await node({ watch: false })
    await n.replica.close()
    const reads = new Map<string, number>()
    class CountingDirectory extends Directory {
      override async read(path: string): ReturnType<NodeDirectoryAdapter['read']> {
        reads.set(path, (reads.get(path) ?? 0) + 1)
        return super.read(path)
      }
    }
    n.replica = replicaOver(n, new CountingDirectory({ path: n.dir }), { watch: true })
    await n.replica.open()
    return { n, reads }
  }

  it('does not read back a file it has just written when the watcher reports the write', async () => {
    const { n, reads } = await countingNode()
    await n.replica.put('App-100.json', APP)
    expect(await readFile(join(n.dir, 'App-100.json'), 'utf8')).toBe(APP)
    // The watcher's report of the rename comes and goes.
    await sleep(400)
    await n.replica.settled()
    expect(reads.get('App-100.json') ?? 0).toBe(0)
  })

  it('finds a second write in the same tick as its own write once it looks again', async () => {
    // Whole seconds: the in-place write below keeps the stat of the node's own write, so only the
    // look-again, once that stat is old enough, can find it.
    const { n, reads } = await countingNode(WholeSeconds)
    await n.replica.put('App-100.json', APP)
    const second = Math.floor(statSync(join(n.dir, 'App-100.json')).mtimeMs / 1000)
    const edited = secondWriteInTheSameTick(n, second)
    await waitFor('the second write to be imported', () => n.replica.get('App-100.json') === edited, 8000)
    expect(reads.get('App-100.json')).toBeGreaterThan(0)
  })

  describe('an edit in the same tick as its own write, at the same size, met by a peer change before the look-again', () => {
    /** Node a writes App-100.json through a file system that stamps whole seconds, then the file is edited in place, keeping that stat. */
    async function editedInTheSameTick(): Promise<{ a: TestNode; b: TestNode; edited: string }> {
      const a = await node({ watch: false })
      const b = await node({ watch: false })
      await a.replica.close()
      a.replica = replicaOver(a, new WholeSeconds({ path: a.dir }))
      await a.replica.open()
      await b.replica.put('App-100.json', APP)
      await syncOneWay(b.replica, a.replica, 'b')
      const second = Math.floor(statSync(join(a.dir, 'App-100.json')).mtimeMs / 1000)
      return { a, b, edited: secondWriteInTheSameTick(a, second) }
    }

    it('journals the edit when a peer deletes the file', async () => {
      const { a, b, edited } = await editedInTheSameTick()
      await b.replica.delete('App-100.json')
      await syncOneWay(b.replica, a.replica, 'b')
      await a.replica.settled()
      expect(await readdir(a.dir)).toEqual([])
      const journal = await a.replica.journal()
      expect(journal.filter((entry) => entry.bytes === edited).map((entry) => entry.kind)).toEqual(['deleteWins'])
    })

    it('merges the edit with a peer edit of another field', async () => {
      const { a, b } = await editedInTheSameTick()
      await b.replica.put('App-100.json', APP.replace('"evaluationOrder" : 10', '"evaluationOrder" : 20'))
      await syncOneWay(b.replica, a.replica, 'b')
      await a.replica.settled()
      const text = await readFile(join(a.dir, 'App-100.json'), 'utf8')
      expect(text).toContain('"other"')
      expect(text).toMatch(/"evaluationOrder"\s*:\s*20/)
    })
  })

  it('takes the bytes of a write cut short after its rename as the base, so that they never come back', async () => {
    // A's next write is cut short after its rename.
    const { a, b, directory } = await syncedPairOver((path) => new CutAfterRename({ path }), { watch: false })
    await b.replica.put('App-100.json', APP.replace('"first"', '"second"'))
    await syncOneWay(b.replica, a.replica, 'b')
    await a.replica.settled()
    directory.cut = false
    expect(await readFile(join(a.dir, 'App-100.json'), 'utf8')).toContain('"second"')
    await a.reopen()
    // A later change from the peer must land on disk, not meet the second version as a local edit.
    await b.replica.put('App-100.json', APP.replace('"first"', '"third"'))
    await syncOneWay(b.replica, a.replica, 'b')
    await a.replica.settled()
    expect(a.replica.get('App-100.json')).toContain('"third"')
    expect(await readFile(join(a.dir, 'App-100.json'), 'utf8')).toContain('"third"')
  })

  it('journals a merged local edit that a peer deletes after a stop between its write and the record of it', async () => {
    // A's write of the merge is cut short after its rename.
    const { a, b } = await syncedPairOver((path) => new CutAfterRename({ path }))
    await b.replica.put('App-100.json', APP.replace('"evaluationOrder" : 10', '"evaluationOrder" : 20'))
    const edited = APP.replace('"first"', '"edited on a"')
    await writeFile(join(a.dir, 'App-100.json'), edited)
    // a imports the edit merged with b's change, and writes the merge: cut short.
    await syncOneWay(b.replica, a.replica, 'b')
    await a.replica.settled()
    const merged = await readFile(join(a.dir, 'App-100.json'), 'utf8')
    expect(merged).toContain('"edited on a"')
    expect(merged).toMatch(/"evaluationOrder"\s*:\s*20/)
    await a.replica.close()

    // b deletes the file, and a hears of it first thing after its restart.
    await b.replica.delete('App-100.json')
    a.replica = replicaOver(a, new NodeDirectoryAdapter({ path: a.dir }))
    await a.replica.open()
    await syncOneWay(b.replica, a.replica, 'b')
    await a.replica.settled()
    expect(await readdir(a.dir)).toEqual([])
    const journal = await a.replica.journal()
    expect(journal.filter((entry) => entry.bytes === merged).map((entry) => entry.path)).toContain('App-100.json')
  })

  it('removes at start a file whose delete was committed but not yet carried out when it stopped', async () => {
    // A's disk refuses the removal: the delete is in its document, the file still on disk, and
    // its index still vouches for the file's stat, as after a crash between the two.
    class StuckDirectory extends NodeDirectoryAdapter {
      override async remove(): Promise<boolean> {
        throw new Error('simulated: the node stopped before the removal')
      }
    }
    const { a, b } = await syncedPairOver((path) => new StuckDirectory({ path }))
    await b.replica.delete('App-100.json')
    await syncOneWay(b.replica, a.replica, 'b')
    await a.replica.settled()
    expect(a.replica.list()).toEqual([])
    expect([...(await snapshotDir(a.dir)).keys()]).toEqual(['App-100.json'])
    await a.reopen()
    expect([...(await snapshotDir(a.dir)).keys()]).toEqual([])
  })

  it('survives a services directory that cannot be read, and catches up when it can', async () => {
    const n = await node()
    const dir = n.dir
    await rm(dir, { recursive: true })
    await n.replica.rescan()
    expect(n.replica.lastError?.message).toContain(dir)
    const { mkdir } = await import('node:fs/promises')
    await mkdir(dir)
    await copyFile(join(CORPUS, 'services', 'OIDC-4.json'), join(dir, 'OIDC-4.json'))
    await n.replica.rescan()
    expect(n.replica.list()).toEqual(['OIDC-4.json'])
  })
})
