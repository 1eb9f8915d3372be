/**
 * A seeded random schedule on 5 agent processes: edits, creates, deletes, renames, restarts,
 * kill -9 and partitions. At the end every directory must be byte-identical, no deleted file may
 * have come back, and every write must be visible or in some node's journal.
 *
 * Each node edits only its own field (`w<node>`) and creates files under names of its own, so the
 * workload's log alone says what must survive: a node's last edit of a file is on disk, or the file
 * was deleted and the edit is in a journal. A deleted name is never written again, so any deleted
 * file found at the end came back.
 *
 * Runs REGSYNC_SOAK_SECONDS (default 60) seconds; REGSYNC_SOAK_SEED replays a seed.
 */
import { readdir, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startCluster } from './helpers/cluster.js'
import type { Cluster } from './helpers/cluster.js'
import { editFile, sleep } from './helpers/fs.js'
import { allJournals } from './helpers/offline.js'
import { prng } from '@regsync/core/testing'

const NODES = 5
const SECONDS = Number(process.env.REGSYNC_SOAK_SECONDS ?? 60)
const SEED = Number(process.env.REGSYNC_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31))

function definition(id: string): string {
  const fields = Array.from({ length: NODES }, (_, n) => `  "w${n}" : "init",`).join('\n')
  return `{\n  "@class" : "org.apereo.cas.services.CasRegisteredService",\n  "serviceId" : "^https://${id}.example.org/.*",\n  "name" : "${id}",\n${fields}\n  "id" : 1\n}\n`
}

function fieldPattern(node: number, marker: string): RegExp {
  return new RegExp(`"w${node}"\\s*:\\s*"${marker}"`)
}

let cluster: Cluster | undefined
afterEach(async () => {
  await cluster?.close()
  cluster = undefined
})

describe('a seeded random schedule on 5 nodes', () => {
  it(`converges with no resurrection and no lost write (${SECONDS} s, seed ${SEED})`, { timeout: (SECONDS + 180) * 1000 }, async () => {
    const random = prng(SEED)
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
    const files: Record<string, string> = {}
    for (let i = 0; i < 8; i++) files[`Base-${i}.json`] = definition(`base${i}`)
    cluster = await startCluster({ nodes: NODES, viaProxy: true, secret: 'soak-secret', files, extraArgs: () => ['--rescan-interval', '2000'] })
    const c = cluster
    await c.waitConverged(30_000, { until: (s) => s.size === 8, what: 'the initial import' })

    const lastEdit = new Map<string, string>() // `${node}|${path}` -> marker
    const deleted = new Set<string>()
    const log: string[] = []
    let created = 0
    let edits = 0
    let partitionUntil = 0
    const down = new Map<number, number>() // node -> time to restart
    const deadline = Date.now() + SECONDS * 1000

    const failWithSeed = (message: string): never => {
      throw new Error(`${message}\nseed ${SEED} (replay with REGSYNC_SOAK_SEED=${SEED}); last operations:\n${log.slice(-30).join('\n')}`)
    }

    try {
      while (Date.now() < deadline) {
        const now = Date.now()
        if (partitionUntil !== 0 && now > partitionUntil) {
          c.heal()
          partitionUntil = 0
          log.push('heal')
        }
        for (const [node, at] of [...down]) {
          if (now > at) {
            down.delete(node)
            await c.nodes[node]!.restart()
            log.push(`restart ${node}`)
          }
        }
        const up = c.nodes.filter((node) => !down.has(node.index))
        const node = pick(up)
        const present = (await readdir(node.dir)).filter((name) => name.endsWith('.json') && !name.startsWith('.'))
        const roll = random()
        if (roll < 0.55 && present.length > 0) {
          const path = pick(present)
          const marker = `m${edits++}`
          const field = new RegExp(`("w${node.index}"\\s*:\\s*)"[^"]*"`)
          if (await editFile(join(node.dir, path), (text) => text.replace(field, `$1"${marker}"`))) {
            lastEdit.set(`${node.index}|${path}`, marker)
            log.push(`edit ${node.index} ${path} ${marker}`)
          }
        } else if (roll < 0.7) {
          const path = `N${node.index}-${created++}.json`
          await writeFile(join(node.dir, path), definition(path.replace('.json', '')))
          log.push(`create ${node.index} ${path}`)
        } else if (roll < 0.8 && present.length > 2) {
          const path = pick(present)
          await unlink(join(node.dir, path)).then(
            () => {
              deleted.add(path)
              // The node's own earlier edits of the file go with its delete; nothing of theirs is lost.
              lastEdit.delete(`${node.index}|${path}`)
              log.push(`delete ${node.index} ${path}`)
            },
            () => {}
          )
        } else if (roll < 0.87 && present.length > 0) {
          const path = pick(present)
          const target = `N${node.index}-${created++}.json`
          await rename(join(node.dir, path), join(node.dir, target)).then(
            () => {
              deleted.add(path)
              const carried = lastEdit.get(`${node.index}|${path}`)
              lastEdit.delete(`${node.index}|${path}`)
              if (carried !== undefined) lastEdit.set(`${node.index}|${target}`, carried)
              log.push(`rename ${node.index} ${path} -> ${target}`)
            },
            () => {}
          )
        } else if (roll < 0.92 && down.size < 2 && up.length > 3) {
          const kill = random() < 0.5
          await (kill ? node.kill() : node.stop())
          down.set(node.index, Date.now() + 500 + random() * 2000)
          log.push(`${kill ? 'kill -9' : 'stop'} ${node.index}`)
        } else if (roll < 0.95 && partitionUntil === 0) {
          const groupA = c.nodes.filter(() => random() < 0.5).map((n) => n.index)
          const groupB = c.nodes.map((n) => n.index).filter((i) => !groupA.includes(i))
          if (groupA.length > 0 && groupB.length > 0) {
            c.partition(groupA, groupB)
            partitionUntil = Date.now() + 1000 + random() * 3000
            log.push(`partition ${groupA.join(',')} | ${groupB.join(',')}`)
          }
        }
        await sleep(20 + random() * 60)
      }

      if (partitionUntil !== 0) c.heal()
      for (const node of down.keys()) await c.nodes[node]!.restart()
      log.push('end of schedule')
      const snapshot = await c.waitConverged(90_000, { stableMs: 1000, what: 'the end of the schedule' }).catch((error: unknown) =>
        failWithSeed(error instanceof Error ? error.message : String(error))
      )

      const resurrected = [...deleted].filter((path) => snapshot.has(path))
      if (resurrected.length > 0) failWithSeed(`deleted files came back: ${resurrected.join(', ')}`)

      for (const node of c.nodes) if (node.running) await node.stop()
      const journal = await allJournals(c.nodes)
      const lost: string[] = []
      for (const [key, marker] of lastEdit) {
        const [node, path] = key.split('|') as [string, string]
        const pattern = fieldPattern(Number(node), marker)
        const text = snapshot.get(path)?.toString('utf8')
        if (text !== undefined && pattern.test(text)) continue
        if (journal.some((entry) => pattern.test(entry.bytes ?? '') || (entry.value === JSON.stringify(marker) && entry.path === path))) continue
        if (text === undefined) {
          // The file is gone: the edit must be in a journal (checked above), or the file was renamed
          // with the edit in it.
          const carried = [...snapshot.values()].some((bytes) => pattern.test(bytes.toString('utf8')))
          if (carried) continue
        }
        const now = text === undefined ? 'file gone' : `now ${new RegExp(`"w${node}"\\s*:\\s*"[^"]*"`).exec(text)?.[0] ?? 'field missing'}`
        const entries = journal.filter((entry) => entry.path === path).map((entry) => entry.kind)
        const history = log.filter((line) => line.includes(` ${path}`)).join('; ')
        lost.push(`${path}: node ${node}'s ${marker} (${now}; journal of the path: [${entries.join(', ')}]; history: ${history})`)
      }
      if (lost.length > 0) failWithSeed(`writes neither visible nor journaled:\n${lost.join('\n')}`)
      expect(edits).toBeGreaterThan(50)
    } catch (error) {
      if (error instanceof Error && !error.message.includes(`seed ${SEED}`)) failWithSeed(error.message)
      throw error
    }
  })
})
