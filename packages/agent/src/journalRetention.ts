/**
 * `--journal-retention`: the conflict journal keeps every losing value, and every peer's delete
 * keeps the deleted file, so on a busy cluster it grows without end. The agent removes entries older
 * than the retention at start and every hour. 0 keeps everything.
 */
import type { Replica } from 'regsync'
import type { Logger } from '@regsync/core'

/** How often old entries are removed. */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000

/** A running retention schedule. */
export interface JournalRetention {
  /** Stops the schedule and waits for a removal in progress. */
  stop(): Promise<void>
}

/** Removes journal entries older than `retentionMs` now and every {@link PRUNE_INTERVAL_MS}. */
export function startJournalRetention(replica: Replica, retentionMs: number, log: Logger, now: () => number = Date.now): JournalRetention {
  if (retentionMs <= 0) return { stop: async () => {} }
  let running: Promise<void> = Promise.resolve()
  const prune = (): void => {
    running = running.then(async () => {
      try {
        await replica.pruneJournal(now() - retentionMs)
      } catch (error) {
        log.error({ err: error }, `removing old journal entries failed: ${error instanceof Error ? error.message : String(error)}`)
      }
    })
  }
  prune()
  const timer = setInterval(prune, PRUNE_INTERVAL_MS)
  timer.unref()
  return {
    async stop() {
      clearInterval(timer)
      await running
    }
  }
}
