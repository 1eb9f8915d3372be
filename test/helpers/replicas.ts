import { join } from 'node:path'
import { mkdir } from 'node:fs/promises'
import * as Y from 'yjs'
import { openReplica } from 'regsync'
import type { Replica, OpenReplicaOptions } from 'regsync'
import type { Logger } from '@regsync/core'
import { removeDir, tempDir } from './fs.js'

/** A replica over temp dirs, with its paths. */
export interface TestNode {
  readonly root: string
  readonly dir: string
  readonly data: string
  replica: Replica
  reopen(options?: Partial<OpenReplicaOptions>): Promise<Replica>
  cleanup(): Promise<void>
}

/** Log lines captured from a replica, for assertions on what an operator would read. */
export class CapturingLogger implements Logger {
  readonly lines: Array<{ level: string; fields: object; message: string }> = []
  debug(fields: object, message: string): void {
    this.lines.push({ level: 'debug', fields, message })
  }
  info(fields: object, message: string): void {
    this.lines.push({ level: 'info', fields, message })
  }
  warn(fields: object, message: string): void {
    this.lines.push({ level: 'warn', fields, message })
  }
  error(fields: object, message: string): void {
    this.lines.push({ level: 'error', fields, message })
  }
}

/** Opens a replica over fresh temp dirs; `prepare` may fill the services dir first. */
export async function startNode(
  options: Partial<OpenReplicaOptions> = {},
  prepare?: (dir: string) => Promise<void>
): Promise<TestNode> {
  const root = await tempDir()
  const dir = join(root, 'services')
  const data = join(root, 'data')
  await mkdir(dir)
  if (prepare !== undefined) await prepare(dir)
  const open = (extra: Partial<OpenReplicaOptions> = {}): Promise<Replica> =>
    openReplica({ dir, data, rescanIntervalMs: 0, ...options, ...extra })
  const node: TestNode = {
    root,
    dir,
    data,
    replica: await open(),
    async reopen(extra) {
      await node.replica.close()
      node.replica = await open(extra)
      return node.replica
    },
    async cleanup() {
      await node.replica.close()
      await removeDir(root)
    }
  }
  return node
}

/** Sends everything `from` has that `to` lacks, as a peer would. */
export async function syncOneWay(from: Replica, to: Replica, peerId: string): Promise<void> {
  const update = Y.encodeStateAsUpdate(from.doc, Y.encodeStateVector(to.doc))
  await to.applyUpdate(update, { source: 'peer', peerId })
}

/** Syncs two replicas both ways. */
export async function syncBoth(a: Replica, b: Replica): Promise<void> {
  const toB = Y.encodeStateAsUpdate(a.doc, Y.encodeStateVector(b.doc))
  const toA = Y.encodeStateAsUpdate(b.doc, Y.encodeStateVector(a.doc))
  await Promise.all([b.applyUpdate(toB, { source: 'peer', peerId: 'a' }), a.applyUpdate(toA, { source: 'peer', peerId: 'b' })])
  await Promise.all([a.settled(), b.settled()])
}
