/**
 * A child process for the `node` scenario: opens a replica over `dir` and `data` in a fresh process,
 * prints how long that took and what the process holds afterwards (after a full GC when Node was
 * started with `--expose-gc`), as one JSON line, and closes it. A cold start measured in the
 * scenario's own process would count the heap left over from the import.
 */
import { openReplica } from 'regsync'

const [dir, data] = process.argv.slice(2)
if (dir === undefined || data === undefined) {
  process.stderr.write('usage: openReplicaOnce DIR DATA\n')
  process.exit(2)
}
const started = performance.now()
const replica = await openReplica({ dir, data, rescanIntervalMs: 0 })
const openMs = performance.now() - started
global.gc?.()
const memory = process.memoryUsage()
process.stdout.write(
  `${JSON.stringify({ openMs, files: replica.list().length, rssMiB: memory.rss / 1048576, heapUsedMiB: memory.heapUsed / 1048576 })}\n`
)
await replica.close()
