/**
 * Turns the runs of each scenario into the report: per system (and variant), the median of each
 * metric over the runs, its ratio to regsync, the correctness counts summed over the runs, and the
 * costs; then the markdown tables.
 */
import type { ScenarioResult, SystemResult } from '../scenario.js'
import { median } from '../stats.js'

/** One row of a scenario's table. */
export interface SummaryRow {
  readonly system: string
  readonly variant?: string
  readonly mode: string
  /** `ok` in every run, else how many runs failed or were skipped. */
  readonly status: string
  readonly reason?: string
  readonly runs: number
  readonly metrics: Record<string, number>
  /** metric / regsync's metric of the same variant, where both exist. */
  readonly ratioToRegsync: Record<string, number>
  readonly correct: boolean | undefined
  readonly identical: boolean | undefined
  readonly resurrected: number
  readonly lostEdits: number
  readonly wrongBytes: number
  readonly missing: number
  readonly unexpected: number
  readonly examples: readonly string[]
  /** Sum over nodes (of the median run): CPU seconds. */
  readonly cpuSeconds?: number
  /** Highest peak RSS of any node, MiB. */
  readonly peakRssMiB?: number
  /** Sum over nodes of bytes sent, MiB. */
  readonly sentMiB?: number
  /** Largest LevelDB (or database) of any node, MiB. */
  readonly storageMiB?: number
  readonly latenciesMs: readonly number[]
}

/** Summary of one scenario over its runs. */
export interface ScenarioSummary {
  readonly rows: readonly SummaryRow[]
  readonly metrics: Record<string, number>
  readonly targets: Record<string, { target: number; value: number; met: boolean }>
  readonly correct: boolean
  readonly notes: readonly string[]
}

/** Summarizes the runs of one scenario. */
export function summarize(runs: readonly ScenarioResult[]): ScenarioSummary {
  const groups = new Map<string, SystemResult[]>()
  for (const run of runs) {
    for (const result of run.systems ?? []) {
      const key = `${result.system}\u0000${result.variant ?? ''}`
      let list = groups.get(key)
      if (list === undefined) groups.set(key, (list = []))
      list.push(result)
    }
  }
  const rows: SummaryRow[] = []
  for (const results of groups.values()) rows.push(row(results))
  for (const r of rows) {
    const base = rows.find((other) => other.system === 'regsync' && other.variant === r.variant)
    if (base === undefined || r === base) continue
    for (const [metric, value] of Object.entries(r.metrics)) {
      const reference = base.metrics[metric]
      // Times only: a ratio of counts or rates would not read as "how much slower".
      if (!metric.endsWith('Ms')) continue
      if (reference !== undefined && reference > 0 && Number.isFinite(value)) r.ratioToRegsync[metric] = value / reference
    }
  }
  const metrics: Record<string, number> = {}
  const names = new Set(runs.flatMap((run) => Object.keys(run.metrics)))
  for (const name of names) metrics[name] = median(runs.map((run) => run.metrics[name]).filter((v): v is number => v !== undefined))
  const targets: ScenarioSummary['targets'] = {}
  for (const [name, target] of Object.entries(runs[0]?.targets ?? {})) {
    const value = metrics[name]
    if (target === undefined || value === undefined || Number.isNaN(value)) continue
    targets[name] = { target, value, met: value <= target }
  }
  return { rows, metrics, targets, correct: runs.every((run) => run.correct), notes: [...new Set(runs.flatMap((run) => run.notes ?? []))] }
}

function row(results: readonly SystemResult[]): SummaryRow {
  const first = results[0]!
  const ran = results.filter((r) => r.status === 'ok')
  const metrics: Record<string, number> = {}
  for (const name of new Set(ran.flatMap((r) => Object.keys(r.metrics)))) {
    metrics[name] = median(ran.map((r) => r.metrics[name]).filter((v): v is number => v !== undefined))
  }
  const sum = (pick: (r: SystemResult) => number | undefined): number => ran.reduce((total, r) => total + (pick(r) ?? 0), 0)
  const correctness = ran.map((r) => r.correctness).filter((c) => c !== undefined)
  const costRuns = ran.map((r) => r.costs ?? [])
  const costOf = (pick: (costs: NonNullable<SystemResult['costs']>) => number | undefined): number | undefined => {
    const values = costRuns.map(pick).filter((v): v is number => v !== undefined && !Number.isNaN(v))
    return values.length === 0 ? undefined : median(values)
  }
  const total = (key: 'cpuSeconds' | 'bytesSent') => (costs: NonNullable<SystemResult['costs']>): number | undefined => {
    const values = costs.map((c) => c[key]).filter((v): v is number => v !== undefined)
    return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0)
  }
  const most = (key: 'peakRssMiB' | 'storageMiB') => (costs: NonNullable<SystemResult['costs']>): number | undefined => {
    const values = costs.map((c) => c[key]).filter((v): v is number => v !== undefined)
    return values.length === 0 ? undefined : Math.max(...values)
  }
  const status = ran.length === results.length ? 'ok' : results.every((r) => r.status === 'skipped') ? 'skipped' : `${results.length - ran.length} of ${results.length} failed`
  const reason = results.find((r) => r.reason !== undefined)?.reason
  const cpu = costOf(total('cpuSeconds'))
  const rss = costOf(most('peakRssMiB'))
  const sent = costOf(total('bytesSent'))
  const storage = costOf(most('storageMiB'))
  return {
    system: first.system,
    ...(first.variant === undefined ? {} : { variant: first.variant }),
    mode: ran[0]?.mode ?? first.mode,
    status,
    ...(reason === undefined ? {} : { reason }),
    runs: results.length,
    metrics,
    ratioToRegsync: {},
    correct: correctness.length === 0 ? undefined : correctness.every((c) => c.ok),
    identical: correctness.length === 0 ? undefined : correctness.every((c) => c.identical),
    resurrected: sum((r) => r.correctness?.resurrected),
    lostEdits: sum((r) => r.correctness?.lostEdits),
    wrongBytes: sum((r) => r.correctness?.wrongBytes),
    missing: sum((r) => r.correctness?.missing),
    unexpected: sum((r) => r.correctness?.unexpected),
    examples: correctness.flatMap((c) => c.examples).slice(0, 6),
    ...(cpu === undefined ? {} : { cpuSeconds: cpu }),
    ...(rss === undefined ? {} : { peakRssMiB: rss }),
    ...(sent === undefined ? {} : { sentMiB: sent / 1024 / 1024 }),
    ...(storage === undefined ? {} : { storageMiB: storage }),
    latenciesMs: ran.flatMap((r) => r.latenciesMs ?? [])
  }
}

/** Formats a number for a table: integers as they are, small values with two decimals. */
export function fmt(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return '-'
  if (Math.abs(value) >= 100 || Number.isInteger(value)) return String(Math.round(value))
  if (Math.abs(value) >= 10) return value.toFixed(1)
  return value.toFixed(2)
}

/** The markdown section of one scenario. */
export function markdownSection(name: string, heading: string, summary: ScenarioSummary): string {
  const lines: string[] = [`## ${name}`, '', heading, '']
  const rows = summary.rows.filter((r) => r.status !== 'skipped')
  const metricNames = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))]
  if (rows.length > 0) {
    lines.push(`| system | ${metricNames.join(' | ')} | correct | resurrected | lost edits | CPU s | peak RSS MiB | sent MiB | storage MiB |`)
    lines.push(`|---|${metricNames.map(() => '---:').join('|')}|---|---:|---:|---:|---:|---:|---:|`)
    for (const r of rows) {
      const label = `${r.system}${r.variant === undefined ? '' : ` (${r.variant})`}${r.mode === '' ? '' : `, ${r.mode}`}${r.status === 'ok' ? '' : ` **${r.status}**`}`
      const cells = metricNames.map((metric) => {
        const value = r.metrics[metric]
        const ratio = r.ratioToRegsync[metric]
        return ratio === undefined ? fmt(value) : `${fmt(value)} (×${fmt(ratio)})`
      })
      const correct = r.correct === undefined ? '-' : r.correct ? 'yes' : r.identical === false ? '**no** (not identical)' : '**no**'
      lines.push(`| ${label} | ${cells.join(' | ')} | ${correct} | ${r.resurrected} | ${r.lostEdits} | ${fmt(r.cpuSeconds)} | ${fmt(r.peakRssMiB)} | ${fmt(r.sentMiB)} | ${fmt(r.storageMiB)} |`)
    }
    lines.push('')
  } else if (Object.keys(summary.metrics).length > 0) {
    lines.push('| metric | median |', '|---|---:|')
    for (const [metric, value] of Object.entries(summary.metrics)) lines.push(`| ${metric} | ${fmt(value)} |`)
    lines.push('')
  }
  for (const [metric, t] of Object.entries(summary.targets)) {
    lines.push(`- target ${metric} ≤ ${fmt(t.target)}: ${fmt(t.value)}, ${t.met ? 'met' : '**missed**'}`)
  }
  for (const r of summary.rows) {
    if (r.status === 'skipped') lines.push(`- ${r.system}${r.variant === undefined ? '' : ` (${r.variant})`}: skipped: ${r.reason ?? ''}`)
    else if (r.status !== 'ok') lines.push(`- ${r.system}: ${r.status}: ${(r.reason ?? '').split('\n')[0]}`)
    if (r.correct === false) for (const example of r.examples.slice(0, 3)) lines.push(`- ${r.system}: ${example}`)
  }
  for (const note of summary.notes) lines.push(`- ${note}`)
  if (!summary.correct) lines.push('- **FAILED: regsync did not end in the correct state (or did not finish)**')
  lines.push('')
  return lines.join('\n')
}
