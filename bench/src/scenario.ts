/** What a scenario gets, and what it reports. */
import type { Correctness } from './workload/correctness.js'
import type { NodeCost, SystemName } from './systems/SyncSystem.js'
import type { AgentLogLevel } from './systems/RegsyncProcesses.js'

/** Options of a run, from the command line. */
export interface RunOptions {
  /** Where each run makes its scratch directory. */
  readonly workDir: string
  readonly seed: number
  readonly quick: boolean
  readonly nodes: number
  /** `processes` (real agents) or `in-process` (for large N). */
  readonly cluster: 'processes' | 'in-process'
  /** The systems to run, where the scenario has them. */
  readonly systems: readonly SystemName[]
  /** Period of the rsync baseline's passes. */
  readonly rsyncPeriodMs: number
  /** How the workload writes files. */
  readonly writeMode: 'inplace' | 'atomic'
  /** Route links through fault proxies even where the scenario does not cut them. */
  readonly proxies: boolean
  /** The in-process cluster's directory watcher: regsync's default (`native`) or the `chokidar` what-if. */
  readonly watcher: 'native' | 'chokidar'
  /** Node options for the agent processes (`--cpu-prof`, for profiling). */
  readonly agentNodeArgs: readonly string[]
  /** `--log-level` of the agent processes, where more verbose than the scenario's own. */
  readonly agentLogLevel: AgentLogLevel | undefined
  /** Where this run's agent processes write their output; set per run. */
  readonly logDir?: string
}

/** What a scenario gets. */
export interface ScenarioContext extends RunOptions {
  /** A scratch directory of the run; removed afterwards. */
  readonly work: string
  /** A line of progress. */
  progress(message: string): void
  /** Where a step stands: `done` of `total`, for the progress bar. */
  step(label: string, done: number, total: number): void
}

/** One system's outcome in a scenario. */
export interface SystemResult {
  readonly system: SystemName
  /** How it ran: `processes`, `in-process`, `every 1000 ms`. */
  readonly mode: string
  /** The scenario's variant, when it runs a system more than once (`1000 files`, `500 ops/s`). */
  readonly variant?: string
  readonly status: 'ok' | 'failed' | 'skipped'
  /** Why it was skipped or failed. */
  readonly reason?: string
  /** Named figures, ms unless the name says otherwise; lower is better. */
  readonly metrics: Record<string, number>
  /** Latency samples in ms, for percentiles and the CDF plot. */
  readonly latenciesMs?: readonly number[]
  readonly costs?: readonly NodeCost[]
  readonly correctness?: Correctness
}

/** What a scenario reports. */
export interface ScenarioResult {
  /** Headline figures of regsync, ms unless named otherwise. */
  readonly metrics: Record<string, number>
  /** Targets of the issue for some metrics (lower is better). */
  readonly targets?: Record<string, number | undefined>
  readonly systems?: readonly SystemResult[]
  /** False when regsync failed or ended in a wrong state: a failed run. */
  readonly correct: boolean
  /** Notes for the report (what was skipped and why). */
  readonly notes?: readonly string[]
}

/** A scenario module. */
export interface Scenario {
  /** One line for `--help`. */
  readonly description: string
  run(context: ScenarioContext): Promise<ScenarioResult>
}
