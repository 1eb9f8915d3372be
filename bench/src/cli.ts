/**
 * `npm run bench -- <scenario> [--seed S] [--quick] [--runs N] [--out DIR]`: runs a scenario N times
 * in fresh child processes (so memory figures are per run), and prints the median of each metric.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ScenarioContext, ScenarioResult } from './scenario.js'

const SCENARIOS: Record<string, () => Promise<{ run: (context: ScenarioContext) => Promise<ScenarioResult> }>> = {
  node: () => import('./scenarios/node.js')
}

const HELP = `Usage: npm run bench -- <scenario> [options]

Scenarios: ${Object.keys(SCENARIOS).join(', ')}

Options:
  --seed S      Seed of the workload (default 1).
  --quick       A small, fast variant for smoke runs.
  --runs N      Repeat N times and report medians (default 3; 1 with --quick).
  --nodes N     Cluster size, where the scenario has one (default 3).
  --out DIR     Where results go (default bench/results/<timestamp>/).
`

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seed: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      nodes: { type: 'string', default: '3' },
      out: { type: 'string' },
      child: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  const name = positionals[0]
  if (values.help || name === undefined) {
    process.stdout.write(HELP)
    return values.help ? 0 : 2
  }
  const load = SCENARIOS[name]
  if (load === undefined) {
    process.stderr.write(`unknown scenario ${JSON.stringify(name)}; scenarios: ${Object.keys(SCENARIOS).join(', ')}\n`)
    return 2
  }
  const seed = Number(values.seed)
  const nodes = Number(values.nodes)
  if (values.child) {
    const scenario = await load()
    const work = await mkdtemp(join(tmpdir(), `regsync-bench-${name}-`))
    const result = await scenario.run({ seed, quick: values.quick, nodes, work, progress: (m) => process.stderr.write(`  ${m}\n`) })
    process.stdout.write(JSON.stringify(result) + '\n')
    return 0
  }
  const runs = Number(values.runs ?? (values.quick ? 1 : 3))
  const results: ScenarioResult[] = []
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`${name}: run ${i + 1}/${runs}\n`)
    results.push(await runChild(name, seed + i, values.quick, nodes))
  }
  const metrics = Object.keys(results[0]!.metrics)
  const targets = results[0]!.targets ?? {}
  const rows = metrics.map((metric) => {
    const values = results.map((r) => r.metrics[metric]!).sort((a, b) => a - b)
    const median = values[Math.floor(values.length / 2)]!
    const target = targets[metric]
    return { metric, median, min: values[0]!, max: values[values.length - 1]!, target, ok: target === undefined ? undefined : median <= target }
  })
  const table = [
    `| metric | median | min | max | target |`,
    `|---|---|---|---|---|`,
    ...rows.map((r) => `| ${r.metric} | ${fmt(r.median)} | ${fmt(r.min)} | ${fmt(r.max)} | ${r.target === undefined ? '' : `≤ ${fmt(r.target)} ${r.ok ? 'met' : 'MISSED'}`} |`)
  ].join('\n')
  process.stdout.write(`\n${name} (${runs} runs, seed ${seed}${values.quick ? ', quick' : ''})\n\n${table}\n`)
  const out = values.out ?? fileURLToPath(new URL(`../results/${new Date().toISOString().replace(/[:.]/g, '-')}/`, import.meta.url))
  await mkdir(out, { recursive: true })
  await writeFile(join(out, `${name}.json`), JSON.stringify({ name, seed, quick: values.quick, runs: results, summary: rows }, null, 2))
  await writeFile(join(out, `${name}.md`), table + '\n')
  process.stdout.write(`\nresults in ${out}\n`)
  return 0
}

function fmt(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 2 : 0)
}

function runChild(name: string, seed: number, quick: boolean, nodes: number): Promise<ScenarioResult> {
  return new Promise((resolve, reject) => {
    const args = ['--expose-gc', fileURLToPath(import.meta.url), name, '--child', '--seed', String(seed), '--nodes', String(nodes)]
    if (quick) args.push('--quick')
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => (out += chunk))
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`scenario ${name} exited with ${code}`))
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as ScenarioResult)
      } catch (error) {
        reject(error)
      }
    })
  })
}

process.exitCode = await main()
