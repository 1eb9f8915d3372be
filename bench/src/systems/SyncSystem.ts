/**
 * What a scenario drives: a cluster of N nodes of one system (regsync, or a baseline), each with a
 * registry that the workload writes and the harness observes through a {@link ClusterView}.
 * Faults and restarts are optional: a system without them is skipped by the scenarios that need
 * them.
 */
import type { ClusterView } from '../workload/ClusterView.js'

/** The systems a run can hold. */
export type SystemName = 'regsync' | 'rsync' | 'syncthing' | 'y-websocket'

/** What one node cost over the run. Absent figures could not be measured for that system. */
export interface NodeCost {
  /** The node index, or -1 for a figure of the whole in-process cluster. */
  readonly node: number
  readonly cpuSeconds?: number
  readonly peakRssMiB?: number
  readonly bytesSent?: number
  /** LevelDB (or Syncthing database) size. */
  readonly storageMiB?: number
}

/** One system's cluster. */
export interface SyncSystem {
  readonly name: SystemName
  /** How the nodes run, for the report: `processes`, `in-process`. */
  readonly mode: string
  readonly view: ClusterView
  /** Nodes started so far (stopped ones included). */
  readonly size: number
  /** Writes a whole file on a node, as an operator or CAS would. */
  write(node: number, path: string, text: string): Promise<void>
  /** Deletes a file on a node. */
  remove(node: number, path: string): Promise<void>
  /** Reads node `node`'s registry from scratch (not from the view), for the final check. */
  snapshot(node: number): Promise<Map<string, string>>
  /** Every text where the system keeps values that lost: regsync's journals, Syncthing's conflict copies. */
  kept(): Promise<string[]>
  /** Per-node costs so far. */
  costs(): Promise<NodeCost[]>
  /** Cuts every link between the groups; the absent nodes keep their links. */
  partition?(groups: ReadonlyArray<readonly number[]>): Promise<void>
  /** Heals every cut link. */
  heal?(): Promise<void>
  /** `kill -9` of a node. */
  kill?(node: number): Promise<void>
  /** Stops a node cleanly. */
  stop?(node: number): Promise<void>
  /** Starts a stopped node again on its old data; resolves with the times it took to be ready. */
  start?(node: number): Promise<ReadyTimes>
  /**
   * Waits until every running node is idle (under 5 % of a core over half a second, at most 30 s),
   * so that a step is measured on a settled cluster; resolves with the ms it waited.
   */
  settle?(): Promise<number>
  /** Adds a fresh node with an empty directory and data; resolves with its index and ready times. */
  join?(): Promise<{ node: number } & ReadyTimes>
  /** Stops everything and removes the temp dirs. Idempotent. */
  close(): Promise<void>
}

/** How long a start took, in ms from the spawn (or the open call). */
export interface ReadyTimes {
  /** The node logged that it is ready (its own data is loaded). */
  readonly readyMs: number
  /** `/readyz` answered 200: the node also synced with a peer. */
  readonly readyzMs?: number
}

/** How to set up a system for a scenario. */
export interface SystemSetup {
  readonly nodes: number
  /** Scratch root; each system makes its own sub-directory. */
  readonly work: string
  /** Files node 0 holds at the start, which every node must have before the scenario begins. */
  readonly files: ReadonlyMap<string, string>
  /** Route links through fault proxies (needed for partitions; also counts bytes). */
  readonly proxies?: boolean
  /** Per-file write style of the workload: `inplace` (truncate and write, as CAS does) or `atomic`. */
  readonly writeMode: 'inplace' | 'atomic'
  /** How long setup may take before it counts as failed. */
  readonly timeoutMs: number
  readonly progress: (message: string) => void
}

/** Thrown by a factory when the tool is not installed. */
export class SystemUnavailable extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SystemUnavailable'
  }
}
