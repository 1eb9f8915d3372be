/**
 * `crash`: churn on every node; a third of the way in, one node is killed with SIGKILL, stays down
 * for a while (its directory still takes writes, as CAS would go on writing), and is started again.
 * Timed from the restart until every op issued so far is on every node. Every op is checked at
 * the end against the workload's log.
 */
import { prng } from '../definitions.js'
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js'
import { percentiles, sleep } from '../stats.js'
import { ChurnDriver } from '../workload/ChurnDriver.js'
import { startingFiles } from '../workload/edits.js'
import { regsyncCorrect, runSystems } from './runSystems.js'

/** The scenario. */
export const scenario: Scenario = {
  description: 'kill -9 and restart of one node during churn, timed from the restart to convergence',
  async run(context: ScenarioContext): Promise<ScenarioResult> {
    const files = context.quick ? 300 : 1000
    const rate = context.quick ? 40 : 50
    const seconds = context.quick ? 4 : 12
    const downMs = context.quick ? 1000 : 3000
    const systems = await runSystems(
      context,
      {
        systems: ['regsync', 'syncthing', 'y-websocket', 'rsync'],
        files: startingFiles(files),
        timeoutMs: 120_000,
        unsupported: {
          'y-websocket': 'keeps no state to recover',
          rsync: 'has no daemon to kill',
          ...(context.quick ? { syncthing: 'not in --quick (each op waits for the 1 s watcher delay)' } : {}),
          ...(context.cluster === 'in-process' ? { regsync: 'needs --cluster processes (kill -9 of a process)' } : {})
        }
      },
      async (system, log) => {
        const { kill, start } = system
        if (kill === undefined || start === undefined) throw new Error(`${system.name} cannot kill a node`)
        const random = prng(context.seed + 17)
        const victim = Math.floor(random() * system.size)
        const driver = new ChurnDriver(system, log, { seed: context.seed, files, timeoutMs: 90_000 })
        const churn = driver.run(rate, seconds * 1000, (done, total) => context.step(`${system.name} churn`, done, total))
        await sleep(seconds * 1000 * (0.2 + 0.2 * random()))
        await kill.call(system, victim)
        context.progress(`${system.name}: killed node ${victim} with SIGKILL`)
        await sleep(downMs)
        const restarted = performance.now()
        const times = await start.call(system, victim)
        const before = log.ops.filter((op) => op.issuedAt <= restarted)
        context.progress(`${system.name}: node ${victim} restarted, ready after ${times.readyMs.toFixed(0)} ms`)
        const stretch = await churn
        if (stretch.timedOut > 0) throw new Error(`${stretch.timedOut} ops never reached every node: ${stretch.firstError ?? ''}`)
        let last = restarted
        for (const op of before) for (const at of op.observedAt) if (at !== undefined) last = Math.max(last, at)
        const p = percentiles(stretch.latenciesMs)
        return {
          metrics: { recoveryMs: last - restarted, restartReadyMs: times.readyzMs ?? times.readyMs, p50Ms: p.p50, p99Ms: p.p99, ops: stretch.issued },
          latenciesMs: stretch.latenciesMs
        }
      }
    )
    const regsync = systems.find((s) => s.system === 'regsync')
    return { metrics: regsync?.metrics ?? {}, systems, correct: regsyncCorrect(systems) }
  }
}
