/**
 * `cold-start`: a node of a cluster holding 10,000 definitions (1,000 with `--quick`) is stopped
 * cleanly and started again on its data, timed from the spawn until it logs that it is ready
 * (`readyMs`: its document and index are loaded and its directory checked) and until `/readyz`
 * answers 200 (`readyzMs`: it has also synced with a peer). Repeated, each restart once the cluster is
 * idle again (the last restarted node syncs with its peers after it is ready); medians.
 */
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js'
import { median, sleep } from '../stats.js'
import { startingFiles } from '../workload/edits.js'
import { regsyncCorrect, runSystems } from './runSystems.js'

/** The scenario. */
export const scenario: Scenario = {
  description: 'a node holding 10,000 definitions restarts, until it is ready',
  async run(context: ScenarioContext): Promise<ScenarioResult> {
    const count = context.quick ? 1000 : 10_000
    const restarts = context.quick ? 1 : 5
    const systems = await runSystems(
      context,
      {
        systems: ['regsync', 'syncthing', 'y-websocket', 'rsync'],
        files: startingFiles(count),
        timeoutMs: 300_000,
        extras: { regsync: { logLevel: 'info' } },
        unsupported: {
          'y-websocket': 'keeps no state to start from',
          rsync: 'has no daemon to start',
          ...(context.quick ? { syncthing: 'not in --quick' } : {})
        }
      },
      async (system) => {
        const { stop, start } = system
        if (stop === undefined || start === undefined) throw new Error(`${system.name} cannot restart a node`)
        const ready: number[] = []
        const readyz: number[] = []
        for (let i = 0; i < restarts; i++) {
          const node = 1 + (i % (system.size - 1))
          // The last restart's node syncs with its peers once it is ready: let that finish first.
          await system.settle?.()
          await stop.call(system, node)
          await sleep(200)
          const times = await start.call(system, node)
          ready.push(times.readyMs)
          if (times.readyzMs !== undefined) readyz.push(times.readyzMs)
          context.step(`${system.name} restarts`, i + 1, restarts)
          context.progress(`${system.name}: node ${node} ready after ${times.readyMs.toFixed(0)} ms${times.readyzMs === undefined ? '' : `, /readyz after ${times.readyzMs.toFixed(0)} ms`}`)
        }
        return { metrics: { [`coldStart${count}Ms`]: median(ready), ...(readyz.length === 0 ? {} : { [`readyz${count}Ms`]: median(readyz) }) } }
      }
    )
    const regsync = systems.find((s) => s.system === 'regsync')
    return { metrics: regsync?.metrics ?? {}, targets: { coldStart10000Ms: 1000 }, systems, correct: regsyncCorrect(systems) }
  }
}
