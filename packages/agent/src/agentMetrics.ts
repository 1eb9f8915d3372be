/**
 * The agent's Prometheus metrics. A registry of its own (never prom-client's global one), so two
 * agents in one process, as in tests, do not share or clash over metrics. Values are read from the
 * replica and the node at scrape time; nothing is counted twice.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { Replica } from '@regsync/core'
import type { NetStats, SyncNode } from '@regsync/net-ws'
import type { AgentInfo } from './statusReport.js'

/** What the metrics read. */
export interface AgentMetricsSources {
  readonly replica: Replica
  readonly syncNode: SyncNode
  readonly info: AgentInfo
  readonly ready: () => boolean
}

/** The counters of {@link NetStats} exported as `regsync_*_total`, with their help. */
const NET_COUNTERS: ReadonlyArray<readonly [string, keyof NetStats, string]> = [
  ['regsync_frames_in_total', 'framesIn', 'Websocket frames received from peers.'],
  ['regsync_frames_out_total', 'framesOut', 'Websocket frames sent to peers.'],
  ['regsync_bytes_in_total', 'bytesIn', 'Bytes received from peers.'],
  ['regsync_bytes_out_total', 'bytesOut', 'Bytes sent to peers.'],
  ['regsync_updates_in_total', 'updatesIn', 'Document updates received from peers.'],
  ['regsync_duplicate_updates_total', 'duplicateUpdates', 'Live updates received again through another peer, dropped before decoding.'],
  ['regsync_connections_accepted_total', 'connectionsAccepted', 'Inbound peer links accepted.'],
  ['regsync_connections_unauthorized_total', 'connectionsUnauthorized', 'Inbound links refused for a missing or wrong secret.'],
  ['regsync_bad_frames_total', 'badFrames', 'Links closed because a frame or update did not decode.'],
  ['regsync_oversize_frames_total', 'oversizeFrames', 'Links closed because a frame was over --max-message-size.']
]

/** Creates the registry behind `GET /metrics`, with the default process metrics. */
export function createAgentMetrics({ replica, syncNode, info, ready }: AgentMetricsSources): Registry {
  const registry = new Registry()
  const gauge = (name: string, help: string, read: () => number | Promise<number>): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(await read())
      }
    })
  }
  gauge('regsync_files', 'Definitions in the replicated directory.', () => replica.size)
  gauge('regsync_problems', 'Files on disk that are not replicated (parse errors, too large, bad names).', () => replica.problems().length)
  gauge('regsync_journal_entries', 'Entries in the conflict journal.', () => replica.journalSize())
  gauge('regsync_peers_connected', 'Peer links (outbound and inbound) that are open.', () => syncNode.peers().filter((peer) => peer.connected).length)
  gauge('regsync_peers_configured', 'Peers this node dials (static and from DNS).', () => syncNode.peers().filter((peer) => peer.direction === 'outbound').length)
  gauge('regsync_ready', '1 when /readyz answers 200.', () => (ready() ? 1 : 0))
  new Gauge({
    name: 'regsync_info',
    help: 'Always 1; the labels describe this node.',
    labelNames: ['version', 'node_id', 'mode', 'cluster'] as const,
    registers: [registry],
    collect() {
      this.set({ version: info.version, node_id: replica.nodeId, mode: info.mode, cluster: info.cluster }, 1)
    }
  })
  for (const [name, key, help] of NET_COUNTERS) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        // The node keeps the running total; a counter has no set(), so reset and add it.
        this.reset()
        this.inc(syncNode.stats[key])
      }
    })
  }
  new Counter({
    name: 'regsync_watcher_overflows_total',
    help: 'Times the directory watcher\'s event queue overflowed; each led to a scan of the whole directory.',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(replica.watcherOverflows)
    }
  })
  collectDefaultMetrics({ register: registry })
  return registry
}
