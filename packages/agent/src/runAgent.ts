import { openReplica } from 'regsync'
import type { Replica } from 'regsync'
import { DnsDiscovery, SyncNode, localAddresses } from '@regsync/net-ws'
import type { Logger as PinoLogger } from 'pino'
import { AdminServer } from './AdminServer.js'
import { startJournalRetention } from './journalRetention.js'
import type { AgentConfig } from './config.js'
import { advertiseUrl, formatHostPort } from './hostPort.js'
import type { HostPort } from './hostPort.js'
import { readSecretFile, readTlsFiles } from './secretFile.js'
import { VERSION } from './version.js'

export { VERSION }

/**
 * Runs the agent until SIGTERM or SIGINT. Start-up: read the secret and TLS files, open the replica
 * (which imports the directory, unless a fresh data dir must sync first), create the sync node, bind
 * the listener, dial the static peers and start DNS discovery. On a signal it closes in the reverse
 * order: the listener stops accepting, discovery stops, the peer links close, queued work is
 * finished and the database closed. A second signal exits at once.
 *
 * Returns the exit code: 0 after a clean shutdown, 1 when the agent cannot start.
 */
export async function runAgent(config: AgentConfig, log: PinoLogger): Promise<number> {
  const startedAt = Date.now()
  const listenText = formatHostPort(config.listen)
  log.info(
    {
      dir: config.dir,
      data: config.data,
      version: VERSION,
      config: config.configFile,
      listen: listenText,
      mode: config.mode,
      cluster: config.cluster,
      peers: config.peers,
      peersDns: config.peersDns === undefined ? undefined : `${config.peersDns.name}:${config.peersDns.port}`,
      tls: config.tls === undefined ? 'off' : config.tls.ca === undefined ? 'on' : 'mutual',
      rescanIntervalMs: config.rescanIntervalMs
    },
    'regsync agent starting'
  )
  for (const name of config.unknownEnv) log.warn({ variable: name }, `ignoring ${name}: no setting has that name (see regsync --help)`)
  // Handlers go in before anything else: a signal that arrives during start-up, or right after the
  // ready line, must still end in a clean shutdown rather than the default kill.
  let signalled: NodeJS.Signals | undefined
  let onSignal: (signal: NodeJS.Signals) => void = (signal) => {
    signalled = signal
  }
  const handler = (signal: NodeJS.Signals): void => onSignal(signal)
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
  try {
    let secret: string | undefined
    let tls: Awaited<ReturnType<typeof readTlsFiles>> | undefined
    try {
      secret = config.secretFile === undefined ? undefined : await readSecretFile(config.secretFile)
      tls = config.tls === undefined ? undefined : await readTlsFiles(config.tls)
    } catch (error) {
      log.fatal({ err: error }, `cannot start: ${error instanceof Error ? error.message : String(error)}`)
      return 1
    }

    // A fresh data dir has no tombstones yet: importing its directory before the first sync would
    // turn every stale file into a create that beats the cluster's older delete (DESIGN, trap 1).
    const peersConfigured = config.peers.length > 0 || config.peersDns !== undefined
    const importOnOpen = config.initialImport === 'immediate' || !peersConfigured ? true : 'unless-fresh'
    let replica: Replica
    try {
      replica = await openReplica({
        dir: config.dir,
        data: config.data,
        logger: log,
        rescanIntervalMs: config.rescanIntervalMs,
        maxFileBytes: config.maxFileBytes,
        usePolling: config.poll,
        importOnOpen,
        mode: config.mode
      })
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      const code = (error as { code?: string }).code
      log.fatal({ code, err: error }, `cannot start: ${message}`)
      return 1
    }
    const retention = startJournalRetention(replica, config.journalRetentionMs, log)
    replica.on('change', (change) =>
      log.info({ path: change.path, kind: change.kind, from: change.from }, `${change.kind === 'put' ? 'updated' : 'deleted'} ${change.path}`)
    )

    let stopping = false
    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      onSignal = (signal) => {
        if (stopping) {
          log.warn({ signal }, 'second signal: exiting without waiting')
          process.exit(1)
        }
        stopping = true
        resolve(signal)
      }
    })
    if (signalled !== undefined) onSignal(signalled)

    const syncNode = new SyncNode({
      replica,
      version: VERSION,
      mode: config.mode,
      secret,
      cluster: config.cluster,
      address: config.advertise ?? advertiseUrl(config.listen, tls !== undefined),
      maxMessageBytes: config.maxMessageBytes,
      tls: tls === undefined ? undefined : { cert: tls.cert, key: tls.key, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) },
      logger: log
    })

    let pending: string | undefined
    if (!replica.importAllowed) {
      pending = `waiting for the first sync with a peer before importing ${config.dir} (fresh data directory; --initial-import immediate imports at once)`
      log.info({ dir: config.dir }, pending)
      syncNode.once('synced', () => {
        pending = `importing ${config.dir} after the first sync`
        replica.allowImport().then(
          () => {
            pending = undefined
            log.info({ dir: config.dir, files: replica.size }, `imported ${config.dir} after the first sync`)
          },
          (error: unknown) => {
            if (stopping) return
            pending = `importing ${config.dir} failed: ${error instanceof Error ? error.message : String(error)}`
            log.error({ err: error, dir: config.dir }, pending)
          }
        )
      })
    }

    let dns: DnsDiscovery | undefined
    const server = new AdminServer({
      replica,
      syncNode,
      secret,
      tls,
      info: { version: VERSION, mode: config.mode, cluster: config.cluster, dir: config.dir, startedAt, advertise: config.advertise },
      pending: () => pending,
      dnsError: () => dns?.lastError,
      logger: log
    })
    let bound: HostPort
    try {
      bound = await server.listen(config.listen)
    } catch (error) {
      log.fatal({ code: (error as { code?: string }).code, err: error, listen: listenText }, `cannot listen on ${listenText}: ${bindReason(error)}`)
      await syncNode.close()
      await retention.stop()
      await replica.close().catch((closeError: unknown) => log.error({ err: closeError }, 'closing the replica failed'))
      return 1
    }
    if (secret === undefined) {
      // Warned once the port is bound, so that the line names the port a port-0 listener got.
      const reach = formatHostPort(bound)
      const who = config.tls?.ca !== undefined ? `any client with a certificate from ${config.tls.ca}` : `anyone who can reach ${reach}`
      log.warn(
        { listen: reach },
        `NO CLUSTER SECRET: ${who} can join the sync endpoint, change every definition, and read /status and /metrics. Give --secret-file.`
      )
    }
    // With port 0 the advertised port is only known now.
    if (config.advertise === undefined && server.advertise !== undefined) syncNode.setAddress(server.advertise)

    syncNode.setPeers('static', config.peers)
    if (config.peersDns !== undefined) {
      const listenHost = config.listen.host.toLowerCase()
      dns = new DnsDiscovery({
        name: config.peersDns.name,
        port: config.peersDns.port,
        scheme: tls === undefined ? 'ws' : 'wss',
        intervalMs: config.dnsIntervalMs,
        isSelf: (host, port) => port === bound.port && (host.toLowerCase() === listenHost || localAddresses().has(host.toLowerCase())),
        onPeers: (urls) => syncNode.setPeers('dns', urls),
        logger: log
      })
      // The first round resolves whether or not DNS answers; a signal meanwhile need not wait for it.
      await Promise.race([dns.start(), stopped])
    }

    if (!stopping) {
      log.info(
        {
          listen: server.address,
          advertise: server.advertise,
          nodeId: replica.nodeId,
          files: replica.size,
          problems: replica.problems().length,
          peers: config.peers.length
        },
        'regsync agent ready'
      )
    }

    const signal = await stopped
    log.info({ signal }, 'shutting down')
    try {
      const listenerClosed = server.close()
      dns?.close()
      await syncNode.close()
      await listenerClosed
      await retention.stop()
      await replica.close()
    } catch (error) {
      log.error({ err: error }, 'shutdown failed')
      return 1
    }
    log.info('stopped cleanly')
    return 0
  } finally {
    process.off('SIGTERM', handler)
    process.off('SIGINT', handler)
  }
}

function bindReason(error: unknown): string {
  switch ((error as { code?: string }).code) {
    case 'EADDRINUSE':
      return 'the address is already in use (another agent, or another program, holds the port)'
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)'
    case 'EADDRNOTAVAIL':
      return 'no interface of this machine has that address'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve'
    default:
      return error instanceof Error ? error.message : String(error)
  }
}
