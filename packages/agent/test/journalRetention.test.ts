import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openReplica } from 'regsync'
import type { Replica } from 'regsync'
import type { Logger } from '@regsync/core'
import { startJournalRetention } from '../src/journalRetention.js'

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} }
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function replica(): Promise<Replica> {
  const root = await mkdtemp(join(tmpdir(), 'regsync-retention-'))
  const opened = await openReplica({ dir: root, data: join(root, '.data'), rescanIntervalMs: 0, watch: false, fsync: false })
  cleanups.push(async () => {
    await opened.close()
    await rm(root, { recursive: true, force: true })
  })
  return opened
}

/** Two replicas wired to each other's updates; a delete on `b` leaves a `delete` entry in `a`'s journal. */
async function journaledDelete(): Promise<Replica> {
  const a = await replica()
  const b = await replica()
  a.on('update', (update) => void b.applyUpdate(update, { source: 'peer', peerId: 'a' }))
  b.on('update', (update) => void a.applyUpdate(update, { source: 'peer', peerId: 'b' }))
  await a.put('App-1.json', '{ "@class": "org.apereo.cas.services.CasRegisteredService", "id": 1 }')
  await b.settled()
  await b.delete('App-1.json')
  await b.settled()
  await a.settled()
  expect((await a.journal()).map((entry) => entry.kind)).toEqual(['delete'])
  return a
}

describe('journal retention', () => {
  it('removes entries older than the retention when it starts', async () => {
    const a = await journaledDelete()
    await new Promise((resolve) => setTimeout(resolve, 5))
    const retention = startJournalRetention(a, 1, silent)
    await retention.stop()
    expect(await a.journal()).toEqual([])
  })

  it('keeps every entry with a retention of 0, and entries younger than the retention', async () => {
    const a = await journaledDelete()
    await startJournalRetention(a, 0, silent).stop()
    await startJournalRetention(a, 60_000, silent).stop()
    expect(await a.journal()).toHaveLength(1)
  })
})
