import { openReplica } from 'regsync'
import type { Replica } from 'regsync'
import type { Logger as PinoLogger } from 'pino'
import type { AgentOptions } from './options.js'

/** Version of the agent, reported in logs and `--version`. */
export const VERSION = '0.1.0'

/**
 * Runs the agent until SIGTERM or SIGINT: opens the replica (which imports the directory and
 * starts the watcher and the rescan timer), then on a signal finishes queued work, closes the
 * database and resolves. A second signal exits at once.
 */
export async function runAgent(options: AgentOptions, log: PinoLogger): Promise<number> {
  log.info({ dir: options.dir, data: options.data, version: VERSION, rescanIntervalMs: options.rescanIntervalMs }, 'regsync agent starting')
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
    let replica: Replica
    try {
      replica = await openReplica({
        dir: options.dir,
        data: options.data,
        logger: log,
        rescanIntervalMs: options.rescanIntervalMs,
        maxFileBytes: options.maxFileBytes,
        usePolling: options.poll
      })
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      const code = (error as { code?: string }).code
      log.fatal({ code, err: error }, `cannot start: ${message}`)
      return 1
    }
    replica.on('change', (change) =>
      log.info({ path: change.path, kind: change.kind, from: change.from }, `${change.kind === 'put' ? 'updated' : 'deleted'} ${change.path}`)
    )

    const stopped = new Promise<NodeJS.Signals>((resolve) => {
      let stopping = false
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
    else log.info({ nodeId: replica.nodeId, files: replica.list().length, problems: replica.problems().length }, 'regsync agent ready')

    const signal = await stopped
    log.info({ signal }, 'shutting down')
    try {
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
