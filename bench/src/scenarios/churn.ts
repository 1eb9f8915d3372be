/**
 * `churn`: edits (60 %), creates (20 %) and deletes (20 %) at R ops/s spread over all nodes, for T
 * seconds per rate, on rising rates. Reports the latency percentiles at each rate, and the highest
 * rate whose p99 stayed under 200 ms with every op arriving.
 */
import type { Scenario, ScenarioContext, ScenarioResult, SystemResult } from '../scenario.js'
import { percentiles, sleep } from '../stats.js'
import { ChurnDriver } from '../workload/ChurnDriver.js'
import { startingFiles } from '../workload/edits.js'
import { regsyncCorrect, runSystems } from './runSystems.js'

/** p99 a rate must hold to count as sustained. */
const P99_LIMIT_MS = 200

/** The scenario. */
export const scenario: Scenario = {
  description: 'edits, creates and deletes at rising rates over all nodes; the highest rate whose p99 holds under 200 ms',
  async run(context: ScenarioContext): Promise<ScenarioResult> {
    const rates = context.quick ? [50, 200, 500] : [25, 50, 100, 250, 500, 1000, 2000]
    const seconds = context.quick ? 2 : 10
    const files = context.quick ? 200 : 500
    const systems: SystemResult[] = await runSystems(
      context,
      {
        systems: ['regsync', 'y-websocket', 'syncthing', 'rsync'],
        files: startingFiles(files),
        timeoutMs: 120_000,
        unsupported: {
          rsync: 'rsync never propagates a delete, so ops cannot be timed to every node (its resurrections show in partition-heal)',
          ...(context.quick ? { syncthing: 'not in --quick (each op waits for the 1 s watcher delay)' } : {})
        }
      },
      async (system, log) => {
        const driver = new ChurnDriver(system, log, { seed: context.seed, files, timeoutMs: 60_000 })
        const metrics: Record<string, number> = {}
        const latencies: number[] = []
        let maxRate = 0
        let failures = 0
        for (const rate of rates) {
          const stretch = await driver.run(rate, seconds * 1000, (done, total) => context.step(`${system.name} ${rate} ops/s`, done, total))
          const p = percentiles(stretch.latenciesMs)
          latencies.push(...stretch.latenciesMs)
          metrics[`p50At${rate}Ms`] = p.p50
          metrics[`p99At${rate}Ms`] = p.p99
          const held = stretch.timedOut === 0 && p.p99 <= P99_LIMIT_MS && stretch.achievedRate >= rate * 0.9
          if (stretch.achievedRate < rate * 0.9) metrics[`opsPerSecAt${rate}`] = stretch.achievedRate
          context.progress(
            `${system.name} at ${rate} ops/s: issued ${stretch.issued} (${stretch.achievedRate.toFixed(0)}/s, ${stretch.skipped} skipped, ${stretch.timedOut} timed out), p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms${held ? '' : ': not held'}`
          )
          if (stretch.timedOut > 0) throw new Error(`${stretch.timedOut} ops never reached every node at ${rate} ops/s: ${stretch.firstError ?? ''}`)
          if (held && failures === 0) maxRate = rate
          // Past the first rate not held, one more rate shows how latency grows, unless the
          // system is already far behind.
          if (!held && (p.p99 > 10 * P99_LIMIT_MS || failures++ > 0)) break
          await sleep(300)
        }
        metrics.maxRateOpsPerSec = maxRate
        return { metrics, latenciesMs: latencies }
      }
    )
    const regsync = systems.find((s) => s.system === 'regsync')
    return {
      metrics: regsync?.metrics ?? {},
      targets: { p99At500Ms: P99_LIMIT_MS },
      systems,
      correct: regsyncCorrect(systems)
    }
  }
}
