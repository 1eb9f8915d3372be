/**
 * `partition-heal`: node 0 is cut off from the others; both sides then write, each op waited for
 * within its own side: edits of different files, creates, deletes, edits of different fields of one
 * file, edits of the same field, a delete against an edit, and the same new file created on both
 * sides. Timed from the heal until every directory is identical. The final state is checked against
 * the workload's log: no resurrected deletes, every write on disk or kept (journal or conflict
 * copy), field edits merged.
 */
import { definition, fileName, prng } from '../definitions.js'
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js'
import type { SyncSystem } from '../systems/SyncSystem.js'
import { marker, startingFiles, timedDelete, timedWrite, withDescription, withTheme } from '../workload/edits.js'
import { ConvergenceTimeout } from '../workload/ClusterView.js'
import { regsyncCorrect, runSystems } from './runSystems.js'

/** The scenario. */
export const scenario: Scenario = {
  description: 'edits on both sides of a cut, timed from the heal until every directory is identical',
  async run(context: ScenarioContext): Promise<ScenarioResult> {
    const k = context.quick ? 4 : 20
    const count = 10 * k
    const files = startingFiles(count)
    const systems = await runSystems(
      context,
      { systems: ['regsync', 'y-websocket', 'syncthing', 'rsync'], files, timeoutMs: 120_000, proxies: true },
      async (system, log) => {
        const { partition, heal } = system
        if (partition === undefined || heal === undefined) throw new Error(`${system.name} cannot be partitioned`)
        const a = [0]
        const b = Array.from({ length: system.size - 1 }, (_, i) => i + 1)
        await partition.call(system, [a, b])
        const random = prng(context.seed)
        const ops = planOps(k, count, context.seed, random)
        context.progress(`${system.name}: cut node 0 off; writing ${ops.length} ops on both sides`)
        let done = 0
        let undelivered = 0
        // A baseline may never deliver an op even within its side (rsync brings a deleted file
        // straight back from the other node of the side): count it and go on.
        const timeout = system.name === 'regsync' ? 60_000 : system.name === 'rsync' ? 3 * context.rsyncPeriodMs : 10_000
        const run = async (op: PlannedOp): Promise<void> => {
          const side = op.side === 'a' ? a : b
          const node = side[0]!
          try {
            if (op.text === undefined) await timedDelete(system, log, node, op.path, side, timeout)
            else await timedWrite(system, log, node, op.path, op.text, op.marker!, side, timeout)
          } catch (error) {
            if (!(error instanceof ConvergenceTimeout) || system.name === 'regsync') throw error
            undelivered++
          }
          context.step(`${system.name} writes during the cut`, ++done, ops.length)
        }
        await Promise.all(ops.map(run))
        const healed = performance.now()
        await heal.call(system)
        context.progress(`${system.name}: healed`)
        const all = Array.from({ length: system.size }, (_, i) => i)
        const extra: Record<string, number> = undelivered > 0 ? { undeliveredInSide: undelivered } : {}
        try {
          const identicalAt = await system.view.waitIdentical(all, quiet(system), system.name === 'regsync' ? 90_000 : system.name === 'rsync' ? 10 * context.rsyncPeriodMs : 20_000)
          return { metrics: { healMs: identicalAt - healed, ops: ops.length, ...extra } }
        } catch (error) {
          // rsync's quick check (size and whole-second mtime) can leave two versions apart forever.
          if (!(error instanceof ConvergenceTimeout) || system.name === 'regsync') throw error
          context.progress(`${system.name}: never converged after the heal`)
          return { metrics: { neverConverged: 1, ops: ops.length, ...extra } }
        }
      }
    )
    const regsync = systems.find((s) => s.system === 'regsync')
    return { metrics: regsync?.metrics ?? {}, systems, correct: regsyncCorrect(systems) }
  }
}

/** Quiet time that says "converged": past each system's own delays. */
function quiet(system: SyncSystem): number {
  return system.name === 'syncthing' ? 3000 : system.name === 'rsync' ? 2500 : 500
}

interface PlannedOp {
  readonly side: 'a' | 'b'
  readonly path: string
  /** Undefined: a delete. */
  readonly text?: string
  readonly marker?: string
}

/** The ops of both sides, `k` of each kind. Ids 1..count exist at the start; new ids above. */
function planOps(k: number, count: number, seed: number, random: () => number): PlannedOp[] {
  const ops: PlannedOp[] = []
  let seq = 0
  const mark = (): string => marker(seed, 100_000 + seq++, random)
  let id = 1
  let fresh = count + 1
  const edit = (side: 'a' | 'b', fileId: number, change: (text: string, value: string) => string): void => {
    const value = mark()
    ops.push({ side, path: fileName(fileId), text: change(definition(fileId), value), marker: value })
  }
  for (let i = 0; i < k; i++) {
    // Different files on each side.
    edit('a', id++, withDescription)
    edit('b', id++, withDescription)
    // Creates on each side.
    for (const side of ['a', 'b'] as const) {
      const value = mark()
      const newId = fresh++
      ops.push({ side, path: fileName(newId), text: definition(newId, value), marker: value })
    }
    // Deletes on each side.
    ops.push({ side: 'a', path: fileName(id++) })
    ops.push({ side: 'b', path: fileName(id++) })
    // Different fields of one file: both must survive.
    const merged = id++
    edit('a', merged, withDescription)
    edit('b', merged, withTheme)
    // The same field of one file: one wins, the other is kept.
    const contested = id++
    edit('a', contested, withDescription)
    edit('b', contested, withDescription)
    // A delete against an edit: the delete wins, the edit is kept.
    const doomed = id++
    ops.push({ side: 'a', path: fileName(doomed) })
    edit('b', doomed, withDescription)
    // The same new file on both sides.
    const twin = fresh++
    for (const side of ['a', 'b'] as const) {
      const value = mark()
      ops.push({ side, path: fileName(twin), text: definition(twin, value), marker: value })
    }
  }
  return ops
}

