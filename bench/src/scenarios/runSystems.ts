/**
 * The frame every scenario runs each system in: start it over the starting files, run the body,
 * let it settle, check the final directories against the workload's log, read the costs, stop it.
 * A missing tool skips its baseline with a line saying how to install it; anything that throws
 * fails that system, and for regsync fails the run.
 */
import type { ScenarioContext, SystemResult } from '../scenario.js'
import type { StartExtras } from '../systems/startSystem.js'
import { startSystem } from '../systems/startSystem.js'
import { SystemUnavailable } from '../systems/SyncSystem.js'
import type { SyncSystem, SystemName } from '../systems/SyncSystem.js'
import { checkCorrectness } from '../workload/correctness.js'
import { WorkloadLog } from '../workload/WorkloadLog.js'

/** What a scenario body reports for one system. */
export interface BodyResult {
  readonly metrics: Record<string, number>
  readonly latenciesMs?: readonly number[]
  /** Nodes whose directories make the final state; default every node. */
  readonly finalNodes?: readonly number[]
}

/** How to run the systems of a scenario. */
export interface RunSystemsOptions {
  /** Systems this scenario has, regsync first; the run's `--systems` filters them. */
  readonly systems: readonly SystemName[]
  readonly files: ReadonlyMap<string, string>
  /** Force fault proxies on (scenarios that cut links). */
  readonly proxies?: boolean
  /** Setup and settle timeout. */
  readonly timeoutMs: number
  readonly extras?: StartExtras
  /** Label of this pass when the scenario runs each system more than once. */
  readonly variant?: string
  /** Systems the scenario cannot run, with the reason (reported as skipped). */
  readonly unsupported?: Partial<Record<SystemName, string>>
}

/** Quiet time before the final check: longer than any system's own delay. */
function quietMs(system: SyncSystem, context: ScenarioContext): number {
  switch (system.name) {
    case 'syncthing':
      return 3000
    case 'rsync':
      return 2 * context.rsyncPeriodMs + 500
    default:
      return 500
  }
}

/** Runs `body` on each system in turn. */
export async function runSystems(
  context: ScenarioContext,
  options: RunSystemsOptions,
  body: (system: SyncSystem, log: WorkloadLog) => Promise<BodyResult>
): Promise<SystemResult[]> {
  const results: SystemResult[] = []
  for (const name of options.systems) {
    if (!context.systems.includes(name)) continue
    const unsupported = options.unsupported?.[name]
    if (unsupported !== undefined) {
      results.push({ system: name, mode: '', ...variantOf(options), status: 'skipped', reason: unsupported, metrics: {} })
      continue
    }
    results.push({ ...variantOf(options), ...(await runOne(context, options, name, body)) })
  }
  return results
}

async function runOne(
  context: ScenarioContext,
  options: RunSystemsOptions,
  name: SystemName,
  body: (system: SyncSystem, log: WorkloadLog) => Promise<BodyResult>
): Promise<SystemResult> {
  context.progress(`${name}: setting up ${context.nodes} nodes with ${options.files.size} files`)
  let system: SyncSystem
  try {
    system = await startSystem(
      name,
      {
        nodes: context.nodes,
        work: context.work,
        files: options.files,
        proxies: options.proxies === true || context.proxies,
        writeMode: context.writeMode,
        timeoutMs: options.timeoutMs,
        progress: (message) => context.progress(message)
      },
      context,
      options.extras
    )
  } catch (error) {
    if (error instanceof SystemUnavailable) {
      context.progress(`${name}: skipped: ${error.message}`)
      return { system: name, mode: '', status: 'skipped', reason: error.message, metrics: {} }
    }
    return { system: name, mode: '', status: 'failed', reason: `setup: ${message(error)}`, metrics: {} }
  }
  const log = new WorkloadLog()
  for (const [path, text] of options.files) log.initial(path, text)
  try {
    const result = await body(system, log)
    const nodes = result.finalNodes ?? Array.from({ length: system.size }, (_, i) => i)
    context.progress(`${name}: settling, then checking ${nodes.length} directories against ${log.ops.length} ops`)
    // A baseline that does not converge is not waited for long: the check reports it.
    const settleMs = system.name === 'regsync' ? options.timeoutMs : quietMs(system, context) + 5000
    await system.view.waitIdentical(nodes, quietMs(system, context), settleMs).catch(() => undefined)
    const snapshots: Array<Map<string, string> | undefined> = []
    for (const node of nodes) snapshots[node] = await system.snapshot(node)
    const costs = await system.costs()
    const correctness = checkCorrectness(log, snapshots, await system.kept())
    if (!correctness.ok) context.progress(`${name}: final state is wrong: ${correctness.examples.slice(0, 3).join('; ')}`)
    return { system: name, mode: system.mode, status: 'ok', metrics: result.metrics, ...(result.latenciesMs === undefined ? {} : { latenciesMs: result.latenciesMs }), costs, correctness }
  } catch (error) {
    const tails = 'tails' in system && typeof system.tails === 'function' ? (system.tails as () => string[])() : []
    context.progress(`${name}: failed: ${message(error)}`)
    return { system: name, mode: system.mode, status: 'failed', reason: [message(error), ...tails.slice(-6)].join('\n'), metrics: {} }
  } finally {
    system.view.abort()
    await system.close().catch(() => {})
  }
}

function variantOf(options: RunSystemsOptions): { variant?: string } {
  return options.variant === undefined ? {} : { variant: options.variant }
}

/** True when every regsync result ran and ended correct. */
export function regsyncCorrect(results: readonly SystemResult[]): boolean {
  return results.filter((result) => result.system === 'regsync' && result.status !== 'skipped').every((r) => r.status === 'ok' && r.correctness?.ok === true)
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
