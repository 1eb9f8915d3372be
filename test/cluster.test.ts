/**
 * Cluster invariants across real agent processes on 127.0.0.1 (DESIGN.md I1-I9). Partitions cut the
 * links in TCP proxies between the agents.
 */
import { readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startCluster } from './helpers/cluster.js'
import type { Cluster, ClusterOptions } from './helpers/cluster.js'
import { editFile, snapshotDir, sleep, waitFor } from './helpers/fs.js'
import { allJournals, journaled } from './helpers/offline.js'
import { runRegsync } from './helpers/agent.js'

const SECRET = 'cluster-test-secret'
const clusters: Cluster[] = []
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((cluster) => cluster.close()))
})

async function cluster(options: Omit<ClusterOptions, 'secret'>): Promise<Cluster> {
  const created = await startCluster({ secret: SECRET, ...options })
  clusters.push(created)
  return created
}

function definition(id: number, fields: { description?: string; theme?: string; evaluationOrder?: number } = {}): string {
  return `{
  /* service ${id}, kept with its comments */
  "@class" : "org.apereo.cas.services.CasRegisteredService",
  "serviceId" : "^https://app${id}.example.org/.*",
  "name" : "App",
  "id" : ${id},
  "description" : ${JSON.stringify(fields.description ?? 'first')},
  "theme" : ${JSON.stringify(fields.theme ?? 'plain')},
  "evaluationOrder" : ${fields.evaluationOrder ?? 10}
}
`
}

async function stopAll(c: Cluster): Promise<void> {
  for (const node of c.nodes) if (node.running) await node.stop()
}

describe('regsync cluster (separate processes)', () => {
  it('copies a file written on one node to every node of a 3-node mesh, byte for byte', async () => {
    const c = await cluster({ nodes: 3, topology: 'mesh' })
    const text = definition(1, { description: 'written on node 0' })
    await writeFile(join(c.nodes[0]!.dir, 'App-1.json'), text)
    const snapshot = await c.waitConverged(20_000, { until: (files) => files.has('App-1.json'), what: 'App-1.json from node 0' })
    expect(snapshot.get('App-1.json')?.toString('utf8')).toBe(text)
  })

  it('1. a delete is not brought back by a node that rescans every 10 ms', async () => {
    const files = { 'App-100.json': definition(100), 'App-101.json': definition(101) }
    const c = await cluster({ nodes: 3, files, extraArgs: (i) => (i === 0 ? ['--rescan-interval', '10'] : []) })
    await c.waitReady()
    await c.waitConverged(20_000, { until: (s) => s.size === 2, what: 'the initial import' })
    await unlink(join(c.nodes[1]!.dir, 'App-100.json'))
    await c.waitConverged(10_000, { until: (s) => !s.has('App-100.json'), what: 'the delete to reach every node' })
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      for (const node of c.nodes) {
        expect((await snapshotDir(node.dir)).has('App-100.json'), `App-100.json came back on node ${node.index}`).toBe(false)
      }
      await sleep(5)
    }
  })

  it('2. a node that was stopped while a file was deleted removes it when it comes back', async () => {
    const files = { 'App-1.json': definition(1), 'App-2.json': definition(2) }
    const c = await cluster({ nodes: 3, files })
    await c.waitConverged(20_000, { until: (s) => s.size === 2, what: 'the initial import' })
    await c.nodes[2]!.stop()
    await unlink(join(c.nodes[0]!.dir, 'App-2.json'))
    await c.waitConverged(10_000, { nodes: [0, 1], until: (s) => !s.has('App-2.json'), what: 'the delete on the running nodes' })
    await c.nodes[2]!.restart()
    const snapshot = await c.waitConverged(20_000, { until: (s) => !s.has('App-2.json'), what: 'node 2 to remove App-2.json' })
    expect([...snapshot.keys()]).toEqual(['App-1.json'])
  })

  it('3. a fresh node with a stale image removes what the cluster deleted and imports what it never knew', async () => {
    const files = { 'App-1.json': definition(1), 'App-2.json': definition(2), 'App-3.json': definition(3) }
    const c = await cluster({ nodes: 3, files })
    await c.waitConverged(20_000, { until: (s) => s.size === 3, what: 'the initial import' })
    await c.nodes[2]!.stop()
    await unlink(join(c.nodes[0]!.dir, 'App-2.json'))
    await c.waitConverged(10_000, { nodes: [0, 1], until: (s) => !s.has('App-2.json'), what: 'the delete' })
    // Node 2 comes back as a new machine: empty data dir, a directory restored from an old image.
    await rm(c.nodes[2]!.data, { recursive: true, force: true })
    await writeFile(join(c.nodes[2]!.dir, 'New-9.json'), definition(9))
    await c.nodes[2]!.restart()
    const snapshot = await c.waitConverged(20_000, { until: (s) => s.has('New-9.json') && !s.has('App-2.json'), what: 'the stale image to be reconciled' })
    expect([...snapshot.keys()].sort()).toEqual(['App-1.json', 'App-3.json', 'New-9.json'])
    await sleep(300)
    for (const node of c.nodes) expect((await snapshotDir(node.dir)).has('App-2.json')).toBe(false)
  })

  it('4. across a partition, a delete beats an edit of the same file, and the edit is journaled', async () => {
    const c = await cluster({ nodes: 3, viaProxy: true, files: { 'App-1.json': definition(1) } })
    await c.waitConverged(20_000, { until: (s) => s.size === 1, what: 'the initial import' })
    c.partition([0], [1, 2])
    await unlink(join(c.nodes[0]!.dir, 'App-1.json'))
    const edited = definition(1, { description: 'edited during the partition' })
    await writeFile(join(c.nodes[1]!.dir, 'App-1.json'), edited)
    await c.waitConverged(10_000, { nodes: [1, 2], until: (s) => s.get('App-1.json')?.toString() === edited, what: 'the edit on the majority side' })
    c.heal()
    await c.waitConverged(20_000, { until: (s) => !s.has('App-1.json'), what: 'the delete to win everywhere' })
    await sleep(200)
    await stopAll(c)
    expect(journaled(await allJournals(c.nodes), 'edited during the partition')).toBe(true)
  })

  it('5. across a partition, edits of two different fields both survive, byte-identical', async () => {
    const c = await cluster({ nodes: 3, viaProxy: true, files: { 'App-1.json': definition(1) } })
    await c.waitConverged(20_000, { until: (s) => s.size === 1, what: 'the initial import' })
    c.partition([0], [1, 2])
    await writeFile(join(c.nodes[0]!.dir, 'App-1.json'), definition(1, { description: 'side A' }))
    await writeFile(join(c.nodes[2]!.dir, 'App-1.json'), definition(1, { theme: 'side B' }))
    await waitFor('both sides to import', async () => {
      const a = await readOffDisk(c, 0)
      const b = await readOffDisk(c, 1)
      return a.includes('side A') && b.includes('side B')
    })
    c.heal()
    const snapshot = await c.waitConverged(20_000, {
      until: (s) => String(s.get('App-1.json')).includes('side A') && String(s.get('App-1.json')).includes('side B'),
      what: 'both fields on every node'
    })
    expect(String(snapshot.get('App-1.json'))).toMatch(/"description"\s*:\s*"side A"/)
    expect(String(snapshot.get('App-1.json'))).toMatch(/"theme"\s*:\s*"side B"/)
  })

  it('6. across a partition, the same field and the same new file give one winner everywhere; losers are journaled', async () => {
    const c = await cluster({ nodes: 3, viaProxy: true, files: { 'App-1.json': definition(1) } })
    await c.waitConverged(20_000, { until: (s) => s.size === 1, what: 'the initial import' })
    c.partition([0], [1, 2])
    await writeFile(join(c.nodes[0]!.dir, 'App-1.json'), definition(1, { description: 'A wrote this' }))
    await writeFile(join(c.nodes[1]!.dir, 'App-1.json'), definition(1, { description: 'B wrote this' }))
    await writeFile(join(c.nodes[0]!.dir, 'New-5.json'), definition(5, { description: 'A created this' }))
    await writeFile(join(c.nodes[2]!.dir, 'New-5.json'), definition(5, { description: 'C created this' }))
    await c.waitConverged(10_000, { nodes: [1, 2], until: (s) => s.has('New-5.json') && String(s.get('App-1.json')).includes('B wrote'), what: 'the majority side' })
    await waitFor('node 0 to import', async () => (await readOffDisk(c, 0)).includes('A wrote'))
    c.heal()
    const snapshot = await c.waitConverged(20_000, { until: (s) => s.has('New-5.json'), what: 'one winner everywhere' })
    const app = String(snapshot.get('App-1.json'))
    const created = String(snapshot.get('New-5.json'))
    const appLoser = app.includes('A wrote this') ? 'B wrote this' : 'A wrote this'
    const createLoser = created.includes('A created this') ? 'C created this' : 'A created this'
    expect(app.includes('A wrote this') !== app.includes('B wrote this')).toBe(true)
    await sleep(200)
    await stopAll(c)
    const journal = await allJournals(c.nodes)
    expect(journaled(journal, appLoser), `journal lacks ${appLoser}`).toBe(true)
    expect(journaled(journal, createLoser), `journal lacks ${createLoser}`).toBe(true)
  })

  it('7. kill -9 of a node during a burst of edits on every node loses nothing', async () => {
    const FILES = 6
    const files: Record<string, string> = {}
    for (let id = 1; id <= FILES; id++) files[`App-${id}.json`] = definition(id)
    const c = await cluster({ nodes: 3, files })
    await c.waitConverged(20_000, { until: (s) => s.size === FILES, what: 'the initial import' })
    const written: string[] = []
    for (let round = 0; round < 30; round++) {
      for (const node of c.nodes) {
        if (!node.running) continue
        // Each node edits files of its own (two each), so no edit can lose to a concurrent one, and
        // no agent writes a file while this test's writer reads, changes and renames it on the same
        // node: two writers of one file that check before they rename can still interleave (a
        // writer that writes back a stale copy reverts what the other wrote; see docs/operations.md).
        const id = 1 + node.index * 2 + (round % 2)
        const edited = await editFile(join(node.dir, `App-${id}.json`), (text) => text.replace(OWN_FIELD[node.index]!, ownValue(node.index, round)))
        if (edited) written.push(`${id}:${node.index}:${round}`)
      }
      if (round === 15) await c.nodes[1]!.kill()
      await sleep(5)
    }
    await c.nodes[1]!.restart()
    const snapshot = await c.waitConverged(30_000, { what: 'convergence after the restart' })
    await stopAll(c)
    const journal = await allJournals(c.nodes)
    // The last edit of each node to each file is either on disk or in a journal.
    const last = new Map<string, number>()
    for (const entry of written) {
      const [id, node, round] = entry.split(':').map(Number) as [number, number, number]
      last.set(`${id}:${node}`, round)
    }
    for (const [key, round] of last) {
      const [id, node] = key.split(':').map(Number) as [number, number]
      const text = String(snapshot.get(`App-${id}.json`))
      const pattern = ownPattern(node, round)
      const inJournal = journal.some((entry) => pattern.test(entry.bytes ?? '') || pattern.test(entry.value ?? ''))
      expect(pattern.test(text) || inJournal, `App-${id}.json lost node ${node}'s edit of round ${round}`).toBe(true)
    }
  })

  it('lets an operator list the journal and restore a lost value, over HTTP and with the CLI', async () => {
    const c = await cluster({ nodes: 2, viaProxy: true, files: { 'App-1.json': definition(1) } })
    await c.waitConverged(20_000, { until: (s) => s.size === 1, what: 'the initial import' })
    c.partition([0], [1])
    await writeFile(join(c.nodes[0]!.dir, 'App-1.json'), definition(1, { description: 'zero wrote this' }))
    await writeFile(join(c.nodes[1]!.dir, 'App-1.json'), definition(1, { description: 'one wrote this' }))
    await waitFor('both to import', async () => (await readOffDisk(c, 0)).includes('zero wrote') && (await readOffDisk(c, 1)).includes('one wrote'))
    c.heal()
    const snapshot = await c.waitConverged(20_000, { what: 'one winner' })
    const loser = String(snapshot.get('App-1.json')).includes('zero wrote') ? 'one wrote this' : 'zero wrote this'
    let found: { node: number; id: string } | undefined
    await waitFor('the loser in a journal', async () => {
      for (const node of c.nodes) {
        const { entries } = (await (await node.request('/journal')).json()) as { entries: Array<{ id: string; kind: string; value?: string }> }
        const entry = entries.find((e) => e.kind === 'field' && e.value === JSON.stringify(loser))
        if (entry !== undefined) found = { node: node.index, id: entry.id }
      }
      return found !== undefined
    })
    const holder = c.nodes[found!.node]!
    const listed = runRegsync(['journal', '--url', holder.httpUrl, '--secret-file', c.secretFile!])
    expect(await listed.exited).toBe(0)
    expect(listed.output.stdout).toContain(found!.id)
    expect(listed.output.stdout).toContain('App-1.json description')
    expect((await holder.request(`/journal/${found!.id}/restore`)).status).toBe(405)
    const restored = runRegsync(['restore', found!.id, '--url', holder.httpUrl, '--secret-file', c.secretFile!])
    expect(await restored.exited).toBe(0)
    await c.waitConverged(20_000, { until: (s) => String(s.get('App-1.json')).includes(loser), what: 'the restored value everywhere' })
    const missing = runRegsync(['restore', 'no-such-entry', '--url', holder.httpUrl, '--secret-file', c.secretFile!])
    expect(await missing.exited).toBe(1)
    expect(missing.output.stderr).toContain('no journal entry no-such-entry')
  })

  it('10. converges along a line A-B-C, and a passive node reverts its own edits', async () => {
    const c = await cluster({ nodes: 3, topology: 'line', files: { 'App-1.json': definition(1) }, seed: 'first', mode: (i) => (i === 2 ? 'passive' : 'active') })
    await c.waitConverged(20_000, { until: (s) => s.size === 1, what: 'the file to reach the end of the line' })
    await writeFile(join(c.nodes[0]!.dir, 'App-2.json'), definition(2))
    await c.waitConverged(20_000, { until: (s) => s.has('App-2.json'), what: 'a new file from A to reach C' })
    const local = definition(1, { description: 'edited on the passive node' })
    await writeFile(join(c.nodes[2]!.dir, 'App-1.json'), local)
    const snapshot = await c.waitConverged(20_000, { until: (s) => String(s.get('App-1.json')) === definition(1), what: 'the passive edit to be reverted' })
    expect(String(snapshot.get('App-1.json'))).toBe(definition(1))
    const status = await c.nodes[2]!.status()
    expect(status.mode).toBe('passive')
  })

  it('9. refuses a wrong secret with 401 on the sync path and the admin endpoints', async () => {
    const c = await cluster({ nodes: 1 })
    const node = c.nodes[0]!
    expect((await node.request('/status', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    expect((await node.request('/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    const metrics = await node.request('/metrics')
    expect(metrics.status).toBe(200)
    expect(await metrics.text()).toMatch(/^regsync_watcher_overflows_total 0$/m)
    expect((await node.request('/healthz', { headers: { authorization: 'Bearer wrong' } })).status).toBe(200)
    const upgrade = await fetch(`${node.httpUrl}/sync/cas`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: 'Bearer wrong' } }).catch((error: unknown) => error)
    expect(upgrade instanceof Response ? upgrade.status : 401).toBe(401)
  })
})

/** The field each node of test 7 edits. */
const OWN_FIELD = [/("description"\s*:\s*)"[^"]*"/, /("theme"\s*:\s*)"[^"]*"/, /("evaluationOrder"\s*:\s*)\d+/]

/** The replacement for {@link OWN_FIELD}, keeping whatever layout the file has. */
function ownValue(node: number, round: number): string {
  return node === 0 ? `$1"n0-r${round}"` : node === 1 ? `$1"n1-r${round}"` : `$1${1000 + round}`
}

/** Matches node's own edit of a round in any layout (the author's or the canonical one). */
function ownPattern(node: number, round: number): RegExp {
  return node === 0 ? new RegExp(`"description"\\s*:\\s*"n0-r${round}"`) : node === 1 ? new RegExp(`"theme"\\s*:\\s*"n1-r${round}"`) : new RegExp(`"evaluationOrder"\\s*:\\s*${1000 + round}\\b`)
}

async function readOffDisk(c: Cluster, index: number): Promise<string> {
  return readFile(join(c.nodes[index]!.dir, 'App-1.json'), 'utf8').catch(() => '')
}
