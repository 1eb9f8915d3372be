import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SyncNode } from '@regsync/net-ws'
import type { SyncNodeOptions } from '@regsync/net-ws'
import type { OpenReplicaOptions } from 'regsync'
import { startNode } from './replicas.js'
import type { TestNode } from './replicas.js'

/** An in-process node: a replica over temp dirs, a SyncNode, and an HTTP listener on 127.0.0.1:0. */
export interface NetNode extends TestNode {
  readonly sync: SyncNode
  readonly server: Server
  readonly port: number
  /** `ws://127.0.0.1:<port>` */
  readonly url: string
}

/** Starts an in-process networked node. */
export async function startNetNode(
  options: { replica?: Partial<OpenReplicaOptions>; sync?: Partial<SyncNodeOptions> } = {},
  prepare?: (dir: string) => Promise<void>
): Promise<NetNode> {
  const base = await startNode(options.replica ?? {}, prepare)
  const sync = new SyncNode({ replica: base.replica, version: 'test', reconnect: { initialMs: 20, maxMs: 200 }, ...options.sync })
  const server = createServer((_request, response) => {
    response.statusCode = 404
    response.end()
  })
  server.on('upgrade', (request, socket, head) => sync.handleUpgrade(request, socket, head))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const cleanup = base.cleanup
  return Object.assign(base, {
    sync,
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    async cleanup() {
      await sync.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await cleanup()
    }
  })
}
