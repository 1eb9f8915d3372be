/**
 * The correctness check every run ends with, for regsync and for the baselines alike:
 *
 * - **identical**: every node holds the same paths with the same bytes;
 * - **resurrected**: a path that is present although it was deleted and no write of it came after
 *   the delete (I2);
 * - **lost edits**: a write that is not visible in any node's final file (by its marker), not
 *   overwritten by a later op that saw it, and not kept where an operator can get it back (regsync's
 *   journal, Syncthing's conflict copies) (I4, I5);
 * - **wrong bytes / missing**: a path whose ops were all in sequence must end as its last op left
 *   it, byte for byte;
 * - **unexpected**: a path the workload never wrote.
 */
import type { Op, WorkloadLog } from './WorkloadLog.js'
import { isAfter } from './WorkloadLog.js'

/** The outcome of the check. */
export interface Correctness {
  readonly ok: boolean
  readonly identical: boolean
  readonly resurrected: number
  readonly lostEdits: number
  readonly wrongBytes: number
  readonly missing: number
  readonly unexpected: number
  readonly checkedOps: number
  /** A few of the problems, for the report. */
  readonly examples: readonly string[]
}

/**
 * Checks the final state. `snapshots[i]` is node i's directory (undefined for a node that is not
 * part of the final state); `kept` holds every text where a lost value may have been kept.
 */
export function checkCorrectness(log: WorkloadLog, snapshots: ReadonlyArray<ReadonlyMap<string, string> | undefined>, kept: readonly string[]): Correctness {
  const nodes = snapshots.map((snapshot, index) => ({ snapshot, index })).filter((n): n is { snapshot: ReadonlyMap<string, string>; index: number } => n.snapshot !== undefined)
  const examples: string[] = []
  const note = (message: string): void => {
    if (examples.length < 12) examples.push(message)
  }
  let identical = true
  const reference = nodes[0]?.snapshot ?? new Map<string, string>()
  for (const { snapshot, index } of nodes.slice(1)) {
    const paths = new Set([...reference.keys(), ...snapshot.keys()])
    for (const path of paths) {
      if (reference.get(path) !== snapshot.get(path)) {
        if (identical) note(`not identical: ${path} differs between node ${nodes[0]!.index} and node ${index}`)
        identical = false
      }
    }
  }
  const keptText = kept.join('\n')
  const present = (path: string): boolean => nodes.some(({ snapshot }) => snapshot.has(path))
  const visible = (path: string, marker: string): boolean => nodes.some(({ snapshot }) => snapshot.get(path)?.includes(marker) === true)

  let resurrected = 0
  let lostEdits = 0
  let wrongBytes = 0
  let missing = 0
  let unexpected = 0
  for (const path of log.paths()) {
    const ops = log.onPath(path)
    const deletes = ops.filter((op) => op.kind === 'delete')
    if (present(path)) {
      const deleted = deletes.find((d) => !ops.some((w) => w.kind === 'write' && isAfter(w, d)))
      if (deleted !== undefined) {
        resurrected++
        note(`resurrected: ${path} (deleted on node ${deleted.node}, no later write)`)
      }
    }
    for (const write of ops) {
      if (write.kind !== 'write' || write.marker === undefined) continue
      if (ops.some((other) => other !== write && isAfter(other, write))) continue
      if (visible(path, write.marker) || keptText.includes(write.marker)) continue
      lostEdits++
      note(`lost edit: ${path} written on node ${write.node} (${write.marker}) is neither on disk nor kept`)
    }
    if (inSequence(ops)) {
      const last = ops[ops.length - 1]!
      for (const { snapshot, index } of nodes) {
        const text = snapshot.get(path)
        if (last.kind === 'write' && text === undefined) {
          missing++
          note(`missing: ${path} on node ${index}`)
        } else if (last.kind === 'write' && text !== last.text) {
          wrongBytes++
          note(`wrong bytes: ${path} on node ${index}`)
        }
      }
    }
  }
  for (const { snapshot, index } of nodes) {
    for (const path of snapshot.keys()) {
      if (log.onPath(path).length === 0) {
        unexpected++
        note(`unexpected: ${path} on node ${index}`)
      }
    }
  }
  return {
    ok: identical && resurrected + lostEdits + wrongBytes + missing + unexpected === 0,
    identical,
    resurrected,
    lostEdits,
    wrongBytes,
    missing,
    unexpected,
    checkedOps: log.ops.length,
    examples
  }
}

/** True when each op on a path could see the one before it: the final state is known exactly. */
function inSequence(ops: readonly Op[]): boolean {
  for (let i = 1; i < ops.length; i++) if (!isAfter(ops[i]!, ops[i - 1]!)) return false
  return true
}
