import { openReplica } from 'regsync'
import type { JournalEntry } from '@regsync/core'
import type { ClusterNode } from './cluster.js'

/** What a stopped node holds in its data dir: its document's files and its journal. */
export interface OfflineState {
  readonly files: Map<string, string>
  readonly journal: JournalEntry[]
}

/**
 * Opens a stopped node's data dir without touching its directory (no import, no watcher) and reads
 * what its document holds and its journal.
 */
export async function readOffline(node: Pick<ClusterNode, 'dir' | 'data' | 'running'>): Promise<OfflineState> {
  if (node.running) throw new Error('stop the node before reading its data dir')
  const replica = await openReplica({ dir: node.dir, data: node.data, watch: false, importOnOpen: false, rescanIntervalMs: 0 })
  try {
    const files = new Map<string, string>()
    for (const path of replica.list()) files.set(path, replica.get(path)!)
    return { files, journal: await replica.journal() }
  } finally {
    await replica.close()
  }
}

/** Every journal entry of every node (the nodes must be stopped). */
export async function allJournals(nodes: ReadonlyArray<Pick<ClusterNode, 'dir' | 'data' | 'running'>>): Promise<JournalEntry[]> {
  const out: JournalEntry[] = []
  for (const node of nodes) out.push(...(await readOffline(node)).journal)
  return out
}

/** True when some journal entry holds `marker` in its bytes or value. */
export function journaled(journal: readonly JournalEntry[], marker: string): boolean {
  return journal.some((entry) => (entry.bytes ?? '').includes(marker) || (entry.value ?? '').includes(marker))
}
