/**
 * `bulk`: create 1,000 and then 10,000 new files on one node (as fast as the disk takes them),
 * timed from the first write until every file is on every node's disk with the same bytes.
 * `--quick` runs the 1,000 only.
 */
import { definition, fileName } from '../definitions.js'
import type { Scenario, ScenarioContext, ScenarioResult, SystemResult } from '../scenario.js'
import { observed } from '../workload/edits.js'
import { regsyncCorrect, runSystems } from './runSystems.js'

/** The scenario. */
export const scenario: Scenario = {
  description: 'create 1,000 and 10,000 files on one node, timed until all are on every node',
  async run(context: ScenarioContext): Promise<ScenarioResult> {
    const sizes = context.quick ? [1000] : [1000, 10_000]
    const all: SystemResult[] = []
    const metrics: Record<string, number> = {}
    const targets: Record<string, number | undefined> = { files1000Ms: 1000 }
    for (const count of sizes) {
      const systems = await runSystems(
        context,
        { systems: ['regsync', 'y-websocket', 'syncthing', 'rsync'], files: new Map(), timeoutMs: 180_000, variant: `${count} files` },
        async (system, log) => {
          const nodes = Array.from({ length: system.size }, (_, i) => i)
          const started = performance.now()
          const waits: Array<Promise<void>> = []
          // Issued without waiting for each one, as a script writing files does not wait for
          // anything between them; the writes themselves happen in order (see writeDefinition).
          const writes: Array<Promise<void>> = []
          let done = 0
          for (let id = 1; id <= count; id++) {
            const path = fileName(id)
            const text = definition(id)
            const op = log.write(0, path, text, `"Service number ${id}"`)
            waits.push(
              system.view.waitFor(path, text, nodes, 170_000).then((times) => {
                observed(op, times)
                if (++done % 100 === 0) context.step(`${system.name} ${count} files`, done, count)
              })
            )
            writes.push(system.write(0, path, text))
          }
          await Promise.all(writes)
          const writtenMs = performance.now() - started
          await Promise.all(waits)
          const totalMs = performance.now() - started
          return { metrics: { [`files${count}Ms`]: totalMs, [`write${count}Ms`]: writtenMs } }
        }
      )
      const regsync = systems.find((s) => s.system === 'regsync')
      Object.assign(metrics, regsync?.metrics ?? {})
      all.push(...systems)
    }
    return { metrics, targets, systems: all, correct: regsyncCorrect(all) }
  }
}
