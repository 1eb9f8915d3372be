/**
 * A child process for the `node` scenario: opens a replica over `dir` and `data` in a fresh process
 * (an import when `data` is empty, a cold start when it holds a registry), prints how long that took
 * and what the process holds once it has settled, as one JSON line, and closes it. Measured in the
 * scenario's own process, the figures would count the harness's heap too.
 *
 * `LINGER_MS` keeps the replica open that long before it closes, as a running node stays: a replica
 * looks at the files it has just imported again 2.5 s later, to record stats that vouch for them
 * (see docs/design.md), and a node restarted before that reads every file again.
 *
 * RSS is read once the replica has finished its background work (the compaction after an import),
 * after a full GC (Node started with `--expose-gc`), and again after a pause and a second GC: V8
 * releases the memory of freed buffers on a background thread, so a reading taken at once sometimes
 * still holds them.
 */
import { openReplica } from 'regsync'

const [dir, data, linger = '0'] = process.argv.slice(2)
if (dir === undefined || data === undefined || !/^\d+$/.test(linger)) {
  process.stderr.write('usage: openReplicaOnce DIR DATA [LINGER_MS]\n')
  process.exit(2)
}
const started = performance.now()
const replica = await openReplica({ dir, data, rescanIntervalMs: 0 })
const openMs = performance.now() - started
await replica.settled()
global.gc?.()
await new Promise((resolve) => setTimeout(resolve, 100))
global.gc?.()
const memory = process.memoryUsage()
process.stdout.write(
  `${JSON.stringify({ openMs, files: replica.list().length, rssMiB: memory.rss / 1048576, heapUsedMiB: memory.heapUsed / 1048576 })}\n`
)
if (Number(linger) > 0) {
  await new Promise((resolve) => setTimeout(resolve, Number(linger)))
  await replica.settled()
}
await replica.close()
