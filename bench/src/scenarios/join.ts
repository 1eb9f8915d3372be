/**
 * `join`: a fresh node (empty directory, empty data) joins a cluster holding 10,000 definitions
 * (1,000 with `--quick`), timed from its start until its directory matches the cluster's, byte for
 * byte. Also reports when the node said it was ready.
 */
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js'
import { startingFiles } from '../workload/edits.js'
import { regsyncCorrect, runSystems } from './runSystems.js'

/** The scenario. */
export const scenario: Scenario = {
  description: 'a fresh node joins a cluster holding 10,000 definitions, until its disk matches',
  async run(context: ScenarioContext): Promise<ScenarioResult> {
    const count = context.quick ? 1000 : 10_000
    const files = startingFiles(count)
    const systems = await runSystems(
      context,
      { systems: ['regsync', 'y-websocket', 'syncthing', 'rsync'], files, timeoutMs: 300_000, extras: { spare: 1 } },
      async (system) => {
        const join = system.join
        if (join === undefined) throw new Error(`${system.name} cannot add a node`)
        const started = performance.now()
        const joined = await join.call(system)
        const nodes = [joined.node]
        let done = 0
        await Promise.all(
          [...files].map(([path, text]) =>
            system.view.waitFor(path, text, nodes, 240_000).then(() => {
              if (++done % 500 === 0) context.step(`${system.name} join`, done, count)
            })
          )
        )
        const joinMs = performance.now() - started
        context.progress(`${system.name}: the new node matched the cluster after ${joinMs.toFixed(0)} ms`)
        return {
          metrics: {
            [`join${count}Ms`]: joinMs,
            readyMs: joined.readyMs,
            ...(joined.readyzMs === undefined ? {} : { readyzMs: joined.readyzMs })
          }
        }
      }
    )
    const regsync = systems.find((s) => s.system === 'regsync')
    return { metrics: regsync?.metrics ?? {}, targets: { join10000Ms: 3000 }, systems, correct: regsyncCorrect(systems) }
  }
}
