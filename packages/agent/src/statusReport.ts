/**
 * The body of `GET /status`, shared by the listener that builds it and `regsync status` that
 * prints it. Times are ISO strings; `time` is the agent's clock, so "last seen 3 s ago" is computed
 * against it rather than against the clock of the machine running `regsync status`.
 */
import type { FileProblem, Replica } from '@regsync/core'
import type { SyncNode } from '@regsync/net-ws'

/** What the agent knows about itself that the replica and the node do not. */
export interface AgentInfo {
  readonly version: string
  readonly mode: 'active' | 'passive'
  readonly cluster: string
  readonly dir: string
  /** The bound listen address, `host:port`. */
  readonly listen: string
  /** The URL peers are told to reach this node at. */
  readonly advertise: string
  /** When the agent started, ms since the epoch. */
  readonly startedAt: number
}

/** One link in the report. */
export interface PeerReport {
  readonly url: string
  readonly direction: 'outbound' | 'inbound'
  readonly source: string
  readonly connected: boolean
  readonly synced: boolean
  readonly lastSeen: string | null
  readonly nodeId: string | null
  readonly lastError: string | null
}

/** A node heard of through awareness (this one included). */
export interface NodeReport {
  readonly nodeId: string
  readonly version: string | null
  readonly mode: string | null
  readonly address: string | null
  readonly cluster: string | null
}

/** The body of `GET /status`. */
export interface StatusReport {
  readonly nodeId: string
  readonly version: string
  readonly mode: 'active' | 'passive'
  readonly cluster: string
  readonly dir: string
  readonly listen: string
  readonly advertise: string
  readonly ready: boolean
  /** Why the node is not ready; null when it is. */
  readonly notReady: string | null
  readonly peers: readonly PeerReport[]
  readonly nodes: readonly NodeReport[]
  readonly files: number
  readonly problems: ReadonlyArray<Omit<FileProblem, 'since'> & { readonly since: string }>
  readonly journal: number
  /** The latest error the agent survived: of the replica, of DNS discovery, or of a peer link. */
  readonly lastError: { readonly source: 'replica' | 'dns' | 'peer'; readonly message: string; readonly at: string | null } | null
  /** Seconds since the agent started. */
  readonly uptime: number
  /** The agent's clock when it answered. */
  readonly time: string
}

/** Everything {@link buildStatusReport} reads. */
export interface StatusSources {
  readonly replica: Replica
  readonly syncNode: SyncNode
  readonly info: AgentInfo
  /** Undefined when ready, else the reason. */
  readonly notReady: string | undefined
  readonly dnsError: string | undefined
  readonly now: number
}

/** Builds the `/status` body. */
export async function buildStatusReport({ replica, syncNode, info, notReady, dnsError, now }: StatusSources): Promise<StatusReport> {
  const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString())
  const peers = syncNode.peers()
  const peerError = peers.find((peer) => peer.lastError !== null)
  let lastError: StatusReport['lastError'] = null
  if (replica.lastError !== undefined) lastError = { source: 'replica', message: replica.lastError.message, at: iso(replica.lastError.at) }
  else if (dnsError !== undefined) lastError = { source: 'dns', message: dnsError, at: null }
  else if (peerError !== undefined) lastError = { source: 'peer', message: `${peerError.url}: ${peerError.lastError}`, at: null }
  return {
    nodeId: replica.nodeId,
    version: info.version,
    mode: info.mode,
    cluster: info.cluster,
    dir: info.dir,
    listen: info.listen,
    advertise: info.advertise,
    ready: notReady === undefined,
    notReady: notReady ?? null,
    peers: peers.map((peer) => ({
      url: peer.url,
      direction: peer.direction,
      source: peer.source,
      connected: peer.connected,
      synced: peer.synced,
      lastSeen: iso(peer.lastSeen),
      nodeId: peer.nodeId,
      lastError: peer.lastError
    })),
    nodes: [...syncNode.nodes().values()]
      .map((node) => ({
        nodeId: node.nodeId,
        version: node.version ?? null,
        mode: node.mode ?? null,
        address: node.address ?? null,
        cluster: node.cluster ?? null
      }))
      .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)),
    files: replica.size,
    problems: replica.problems().map((problem) => ({ ...problem, since: iso(problem.since) ?? '' })),
    journal: await replica.journalSize(),
    lastError,
    uptime: Math.round((now - info.startedAt) / 1000),
    time: new Date(now).toISOString()
  }
}
