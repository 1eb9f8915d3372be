/**
 * The workload's own record of what it did: every write and delete, on which node, when, and when
 * each node was seen to hold it. The correctness check reads the final directories against it.
 *
 * "o happened after w" (o could see w) when both ran on the same node in that order, or when the
 * harness saw w on o's node before o was issued. Two ops where neither is after the other are
 * concurrent: the system under test decides the winner, and the loser must be kept (journaled).
 */

/** One operation of the workload. */
export interface Op {
  readonly seq: number
  /** The node it ran on; -1 for the files every node held before the run. */
  readonly node: number
  readonly path: string
  readonly kind: 'write' | 'delete'
  /** The whole file written. */
  readonly text?: string
  /**
   * A string that only this write put into the file (a field value), so that it can be found in a
   * merged file or in a journal entry.
   */
  readonly marker?: string
  /** `performance.now()` when it was issued. */
  readonly issuedAt: number
  /** When each node was seen holding it; filled in by the scenario. */
  readonly observedAt: Array<number | undefined>
}

/** The log of one run on one system. */
export class WorkloadLog {
  readonly ops: Op[] = []
  readonly #byPath = new Map<string, Op[]>()

  /** Records the files every node holds at the start (seen everywhere before anything else). */
  initial(path: string, text: string, marker?: string): Op {
    return this.#add({ node: -1, path, kind: 'write', text, issuedAt: -Infinity, ...(marker === undefined ? {} : { marker }) })
  }

  /** Records a write as it is issued. */
  write(node: number, path: string, text: string, marker: string): Op {
    return this.#add({ node, path, kind: 'write', text, marker, issuedAt: performance.now() })
  }

  /** Records a delete as it is issued. */
  delete(node: number, path: string): Op {
    return this.#add({ node, path, kind: 'delete', issuedAt: performance.now() })
  }

  /** Ops on `path`, in issue order. */
  onPath(path: string): readonly Op[] {
    return this.#byPath.get(path) ?? []
  }

  /** Every path the workload touched. */
  paths(): IterableIterator<string> {
    return this.#byPath.keys()
  }

  #add(fields: Omit<Op, 'seq' | 'observedAt'>): Op {
    const op: Op = { ...fields, seq: this.ops.length, observedAt: [] }
    this.ops.push(op)
    let list = this.#byPath.get(op.path)
    if (list === undefined) this.#byPath.set(op.path, (list = []))
    list.push(op)
    return op
  }
}

/** True when `later` could see `earlier`. */
export function isAfter(later: Op, earlier: Op): boolean {
  if (earlier.node === -1) return later.node !== -1 || later.seq > earlier.seq
  if (later.node === -1) return false
  if (later.node === earlier.node) return later.seq > earlier.seq
  const seen = earlier.observedAt[later.node]
  return seen !== undefined && seen <= later.issuedAt
}
