/**
 * `edit-latency`: one write of an existing definition on one node at a time (node and file picked
 * by the seed), timed from the write until the same bytes are on every node's disk. Repeated with a
 * short random pause; reports p50, p90, p99 and max.
 */
import { fileName } from '../definitions.js'
import { prng } from '../definitions.js'
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js'
import { percentiles, sleep } from '../stats.js'
import { editedDefinition, marker, startingFiles, timedWrite } from '../workload/edits.js'
import { ConvergenceTimeout } from '../workload/ClusterView.js'
import { regsyncCorrect, runSystems } from './runSystems.js'

const FILES = 100

/** The scenario. */
export const scenario: Scenario = {
  description: 'one write on one node, timed until the same bytes are on every node (p50/p90/p99/max)',
  async run(context: ScenarioContext): Promise<ScenarioResult> {
    const systems = await runSystems(
      context,
      { systems: ['regsync', 'y-websocket', 'syncthing', 'rsync'], files: startingFiles(FILES), timeoutMs: 60_000 },
      async (system, log) => {
        // Slow baselines get fewer samples: each one costs a watcher delay or an rsync period.
        const slow = system.name === 'syncthing' || system.name === 'rsync'
        const samples = context.quick ? (slow ? 4 : 40) : slow ? 20 : 300
        const random = prng(context.seed)
        const all = Array.from({ length: system.size }, (_, i) => i)
        const latencies: number[] = []
        let undelivered = 0
        for (let i = 0; i < samples; i++) {
          const node = Math.floor(random() * system.size)
          const id = 1 + Math.floor(random() * FILES)
          const mark = marker(context.seed, log.ops.length, random)
          try {
            latencies.push(await timedWrite(system, log, node, fileName(id), editedDefinition(id, mark), mark, all, slow ? 10_000 : 30_000))
          } catch (error) {
            // A baseline that never delivers an edit is counted, and the final check shows the loss.
            if (!(error instanceof ConvergenceTimeout) || system.name === 'regsync') throw error
            undelivered++
          }
          context.step(`${system.name} edits`, i + 1, samples)
          await sleep(5 + random() * 20)
        }
        const p = percentiles(latencies)
        return { metrics: { p50Ms: p.p50, p90Ms: p.p90, p99Ms: p.p99, maxMs: p.max, samples: p.count, ...(undelivered > 0 ? { undelivered } : {}) }, latenciesMs: latencies }
      }
    )
    const regsync = systems.find((s) => s.system === 'regsync')
    return {
      metrics: regsync?.metrics ?? {},
      targets: { p50Ms: 10, p99Ms: 50 },
      systems,
      correct: regsyncCorrect(systems)
    }
  }
}
