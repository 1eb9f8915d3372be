/**
 * `npm run bench -- <scenario|all> [options]`: runs scenarios, each run in a fresh child process
 * (so memory figures are per run and a crash fails one run, not the report), and writes
 * `results.json`, `results.md` and a latency CDF per scenario (`<scenario>-cdf.svg`) to `--out`.
 * Exits 1 when any regsync run ended in a wrong state or failed.
 */
import { spawn, spawnSync } from 'node:child_process'
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { constants } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import type { RunOptions, Scenario, ScenarioResult } from './scenario.js'
import type { SystemName } from './systems/SyncSystem.js'
import { AGENT_BIN, AGENT_LOG_LEVELS } from './systems/RegsyncProcesses.js'
import { Progress } from './report/progress.js'
import { summarize, markdownSection } from './report/summary.js'
import type { ScenarioSummary } from './report/summary.js'
import { cdfSvg } from './report/cdfSvg.js'
import { fileSystemOf } from './fileSystem.js'

const SCENARIOS: Record<string, () => Promise<{ scenario: Scenario }>> = {
  'edit-latency': () => import('./scenarios/editLatency.js'),
  bulk: () => import('./scenarios/bulk.js'),
  churn: () => import('./scenarios/churn.js'),
  join: () => import('./scenarios/join.js'),
  'cold-start': () => import('./scenarios/coldStart.js'),
  'partition-heal': () => import('./scenarios/partitionHeal.js'),
  crash: () => import('./scenarios/crash.js'),
  node: () => import('./scenarios/node.js')
}

/** What `all` runs: every cluster scenario (`node` is the single-node benchmark, run on its own). */
const ALL = ['edit-latency', 'bulk', 'churn', 'join', 'cold-start', 'partition-heal', 'crash']
const SYSTEMS: readonly SystemName[] = ['regsync', 'y-websocket', 'syncthing', 'rsync']

const HELP = `Usage: npm run bench -- <scenario|all|scenario,scenario,...> [options]

Scenarios:
  edit-latency    one write on one node, until the same bytes are on every node (p50/p90/p99/max)
  bulk            1,000 and 10,000 new files on one node, until all are everywhere
  churn           edits, creates and deletes at rising rates over all nodes; the highest rate
                  whose p99 stays under 200 ms
  join            a fresh node joins a cluster holding 10,000 definitions
  cold-start      a node holding 10,000 definitions restarts, until it is ready
  partition-heal  edits on both sides of a cut, timed from the heal to convergence
  crash           kill -9 and restart of a node during churn, timed to convergence
  node            one node, no peers: import, cold start, storage growth
  all             every scenario above but node

Options:
  --nodes N           Cluster size (default 3).
  --seed S            Seed of the workload (default 1); run i uses S+i.
  --quick             Small, fast variants for a smoke run (all of them in under 3 minutes).
  --runs N            Repeat each scenario N times and report medians (default 3; 1 with --quick).
  --cluster MODE      processes (real agents, the default) or in-process (for large N).
  --systems LIST      Comma-separated: regsync,y-websocket,syncthing,rsync (default all; a
                      baseline whose tool is missing is skipped: apt-get install rsync syncthing).
  --rsync-period MS   Period of the rsync baseline's passes (default 1000).
  --write MODE        How the workload writes files: inplace (truncate and write, as CAS does;
                      the default) or atomic (temp file and rename).
  --no-proxy          Link nodes directly where no scenario step cuts links (bytes then come
                      from the agents' own counters where they have them).
  --agent-node-args=S Node options for the agents, e.g. --agent-node-args="--cpu-prof --cpu-prof-dir=/tmp/p%i"
                      (%i becomes the node index; mind the = sign).
  --agent-log-level L The agents' --log-level: trace, debug, info, warn or error (default warn,
                      info in cold-start, which times the ready line). Their output goes to
                      logs/<scenario>-run<N>/node<index>.log under --out; debug logs every round
                      and every file, and slows the agents.
  --watcher W         In-process only: native (regsync's default watcher, the default) or
                      chokidar (what --poll wraps, here without polling), to measure its cost.
  --work-dir DIR      Where the nodes' directories and data go (default: the system's temp
                      directory, $TMPDIR or /tmp). Bulk and join times depend on its file
                      system (see docs/benchmarks.md); the report names it.
  --out DIR           Where results go (default bench/results/<timestamp>/): results.md,
                      results.json, a latency CDF per scenario, and the agents' logs.
`

interface ChildMessage {
  readonly type: 'progress' | 'step' | 'result' | 'error'
  readonly text?: string
  readonly label?: string
  readonly done?: number
  readonly total?: number
  readonly result?: ScenarioResult
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seed: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      nodes: { type: 'string', default: '3' },
      cluster: { type: 'string' },
      systems: { type: 'string' },
      'rsync-period': { type: 'string', default: '1000' },
      write: { type: 'string', default: 'inplace' },
      'no-proxy': { type: 'boolean', default: false },
      'agent-node-args': { type: 'string', default: '' },
      'agent-log-level': { type: 'string' },
      watcher: { type: 'string', default: 'native' },
      out: { type: 'string' },
      'work-dir': { type: 'string' },
      child: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.child !== undefined) return runChild(positionals[0]!, JSON.parse(values.child) as RunOptions)
  const name = positionals[0]
  if (values.help || name === undefined) {
    process.stdout.write(HELP)
    return values.help ? 0 : 2
  }
  const names = name === 'all' ? ALL : name.split(',')
  for (const n of names) {
    if (SCENARIOS[n] === undefined) {
      process.stderr.write(`unknown scenario ${JSON.stringify(n)}; scenarios: ${Object.keys(SCENARIOS).join(', ')}, all\n`)
      return 2
    }
  }
  const systems = (values.systems?.split(',').map((s) => s.trim()) ?? SYSTEMS) as SystemName[]
  for (const system of systems) {
    if (!SYSTEMS.includes(system)) {
      process.stderr.write(`unknown system ${JSON.stringify(system)}; systems: ${SYSTEMS.join(', ')}\n`)
      return 2
    }
  }
  const write = values.write
  if (write !== 'inplace' && write !== 'atomic') {
    process.stderr.write('--write must be inplace or atomic\n')
    return 2
  }
  const notes: string[] = []
  let cluster = values.cluster
  if (cluster === undefined) {
    cluster = agentHasListener() ? 'processes' : 'in-process'
    if (cluster === 'in-process') notes.push(`the agent at ${AGENT_BIN} has no --listen yet (or is not built): regsync ran in-process`)
  }
  if (cluster !== 'processes' && cluster !== 'in-process') {
    process.stderr.write('--cluster must be processes or in-process\n')
    return 2
  }
  const workDir = resolve(values['work-dir'] ?? tmpdir())
  try {
    await access(workDir, constants.W_OK)
  } catch {
    process.stderr.write(`--work-dir ${workDir}: not a writable directory\n`)
    return 2
  }
  const workFs = await fileSystemOf(workDir)
  let options: RunOptions = {
    workDir,
    seed: Number(values.seed),
    quick: values.quick,
    nodes: Number(values.nodes),
    cluster,
    systems,
    rsyncPeriodMs: Number(values['rsync-period']),
    writeMode: write,
    proxies: !values['no-proxy'],
    watcher: values.watcher === 'chokidar' ? 'chokidar' : 'native',
    agentNodeArgs: values['agent-node-args'].split(' ').filter((arg) => arg !== ''),
    agentLogLevel: undefined
  }
  if (!Number.isInteger(options.nodes) || options.nodes < 2) {
    process.stderr.write('--nodes must be an integer of at least 2\n')
    return 2
  }
  if (values.watcher !== 'native' && values.watcher !== 'chokidar') {
    process.stderr.write('--watcher must be native or chokidar\n')
    return 2
  }
  if (values.watcher === 'chokidar' && cluster !== 'in-process') {
    process.stderr.write('--watcher chokidar is a what-if of the in-process cluster: add --cluster in-process\n')
    return 2
  }
  const agentLogLevel = values['agent-log-level']
  if (agentLogLevel !== undefined) {
    const level = AGENT_LOG_LEVELS.find((known) => known === agentLogLevel && known !== 'fatal')
    if (level === undefined) {
      process.stderr.write(`--agent-log-level must be trace, debug, info, warn or error, not ${JSON.stringify(agentLogLevel)}\n`)
      return 2
    }
    options = { ...options, agentLogLevel: level }
  }
  const runs = Number(values.runs ?? (values.quick ? 1 : 3))
  const out = resolve(values.out ?? fileURLToPath(new URL(`../results/${new Date().toISOString().replace(/[:.]/g, '-')}/`, import.meta.url)))
  await mkdir(out, { recursive: true })

  const progress = new Progress()
  const startedAt = new Date()
  const sections: string[] = []
  const report: Array<{ name: string; description: string; durationsMs: number[]; runs: ScenarioResult[]; summary: ScenarioSummary }> = []
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`
  /** Writes results.md and results.json for the scenarios done so far: a long run that fails late keeps them. */
  const writeResults = async (): Promise<{ markdown: string; correct: boolean }> => {
    const correct = report.every((r) => r.summary.correct)
    const markdown = [
      `# regsync benchmark`,
      '',
      `\`${command}\` on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, ${startedAt.toISOString()}; nodes' files in ${workDir} (${workFs}).`,
      '',
      'Times in ms unless a column says otherwise; `(×N)` is the ratio to regsync (above 1: slower or costlier than regsync).',
      '',
      ...notes.map((note) => `- ${note}`),
      ...(notes.length > 0 ? [''] : []),
      ...sections,
      correct ? 'Every regsync run ended in the correct state.' : '**At least one regsync run FAILED: see above.**',
      ''
    ].join('\n')
    await writeFile(join(out, 'results.md'), markdown)
    await writeFile(
      join(out, 'results.json'),
      JSON.stringify(
        {
          version: 1,
          command,
          startedAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, platform: process.platform, workDir, fileSystem: workFs },
          options: { ...options, runs },
          notes,
          correct,
          scenarios: report
        },
        null,
        2
      ) + '\n'
    )
    return { markdown, correct }
  }
  for (const [index, scenarioName] of names.entries()) {
    const description = (await SCENARIOS[scenarioName]!()).scenario.description
    const results: ScenarioResult[] = []
    const durationsMs: number[] = []
    for (let run = 0; run < runs; run++) {
      progress.phase(`[${index + 1}/${names.length} ${scenarioName}${runs > 1 ? ` run ${run + 1}/${runs}` : ''}]`)
      const started = performance.now()
      const logDir = join(out, 'logs', `${scenarioName}-run${run + 1}`)
      results.push(await spawnRun(scenarioName, { ...options, seed: options.seed + run, logDir }, progress))
      durationsMs.push(performance.now() - started)
      progress.line(`done in ${(durationsMs[durationsMs.length - 1]! / 1000).toFixed(1)} s`)
    }
    const summary = summarize(results)
    const heading = `${description}. ${options.nodes} nodes, regsync as ${options.cluster}, ${runs} run${runs === 1 ? '' : 's'} (medians), seed ${options.seed}${options.quick ? ', quick' : ''}, writes ${options.writeMode}.`
    sections.push(markdownSection(scenarioName, heading, summary))
    report.push({ name: scenarioName, description, durationsMs, runs: results, summary })
    const series = summary.rows.filter((r) => r.latenciesMs.length > 0).map((r) => ({ label: `${r.system}${r.variant === undefined ? '' : ` ${r.variant}`}`, samplesMs: r.latenciesMs }))
    if (series.length > 0) await writeFile(join(out, `${scenarioName}-cdf.svg`), cdfSvg(`${scenarioName}: latency CDF, ${options.nodes} nodes`, series))
    await writeResults()
  }
  progress.done()
  const { markdown, correct } = await writeResults()
  process.stdout.write(`\n${markdown}\nresults in ${out}\n`)
  return correct ? 0 : 1
}

/** True when the agent is built and takes `--listen`. */
function agentHasListener(): boolean {
  const help = spawnSync(process.execPath, [AGENT_BIN, '--help'], { encoding: 'utf8', timeout: 20_000 })
  return help.status === 0 && help.stdout.includes('--listen')
}

/** Runs one scenario run in a child process, relaying its progress. */
function spawnRun(name: string, options: RunOptions, progress: Progress): Promise<ScenarioResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), name, '--child', JSON.stringify(options)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    let result: ScenarioResult | undefined
    let error: string | undefined
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') progress.line(message.text ?? '')
      else if (message.type === 'step') progress.step(message.label ?? '', message.done ?? 0, message.total ?? 0)
      else if (message.type === 'result') result = message.result
      else if (message.type === 'error') error = message.text
    })
    child.on('exit', (code, signal) => {
      if (result !== undefined) return resolvePromise(result)
      const reason = error ?? `the run exited with ${signal ?? code}`
      progress.line(`FAILED: ${reason}`)
      resolvePromise({ metrics: {}, correct: false, notes: [`run failed: ${reason.split('\n')[0]}`] })
    })
  })
}

/** The child side: runs the scenario and sends the result over IPC. */
async function runChild(name: string, options: RunOptions): Promise<number> {
  const send = (message: ChildMessage): Promise<void> =>
    new Promise((done) => {
      if (process.send === undefined) return done()
      process.send(message, undefined, {}, () => done())
    })
  const work = await mkdtemp(join(options.workDir, `regsync-bench-${name}-`))
  try {
    const { scenario } = await SCENARIOS[name]!()
    const result = await scenario.run({
      ...options,
      work,
      progress: (text) => void send({ type: 'progress', text }),
      step: (label, done, total) => void send({ type: 'step', label, done, total })
    })
    await send({ type: 'result', result })
    return 0
  } catch (error) {
    await send({ type: 'error', text: error instanceof Error ? (error.stack ?? error.message) : String(error) })
    return 1
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => {})
  }
}

const code = await main()
// A child may hold timers of systems it closed; its result is sent, so it ends here.
if (process.send !== undefined) process.exit(code)
process.exitCode = code
