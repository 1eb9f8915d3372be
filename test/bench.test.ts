/**
 * The benchmark harness, once, as a smoke run: `bench/dist/cli.js all --quick` against regsync and
 * the y-websocket floor (the baselines that need rsync or Syncthing are left to people who have
 * them, so that the run is the same on every machine). Asserts what a user reads: the exit code,
 * the result files, and that every regsync run ended in the correct state. It also asserts that
 * the correctness check is not vacuous: plain y-websocket resurrects a delete in partition-heal.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from './helpers/cluster.js'
import { removeDir, tempDir, waitFor } from './helpers/fs.js'

const CLI = fileURLToPath(new URL('../bench/dist/cli.js', import.meta.url))
const AGENT_PROCESS = new URL('../bench/dist/cluster/AgentProcess.js', import.meta.url).href
const AGENT_BIN = fileURLToPath(new URL('../packages/agent/bin/regsync.js', import.meta.url))

/** The harness's agent runner, loaded from the built bench (not part of the test project's types). */
interface AgentRunner {
  addressInUseRetries: number
  start(spawn: { bin: string; args: string[]; port: number; readyLine?: boolean }, timeoutMs: number): Promise<{ readyMs: number; readyzMs: number }>
  stop(): Promise<void>
  readonly unexpectedExit: string | undefined
}

interface Row {
  readonly system: string
  readonly status: string
  readonly correct: boolean | undefined
  readonly resurrected: number
}

interface Results {
  readonly correct: boolean
  readonly machine: { readonly workDir: string; readonly fileSystem: string }
  readonly scenarios: ReadonlyArray<{ readonly name: string; readonly summary: { readonly correct: boolean; readonly rows: readonly Row[] } }>
}

const roots: string[] = []
afterAll(async () => {
  for (const root of roots) await removeDir(root)
})

describe('bench (smoke run)', () => {
  it('runs every scenario with --quick and reports every regsync run correct', { timeout: 240_000 }, async () => {
    const out = await tempDir()
    const work = await tempDir()
    roots.push(out, work)
    const workCreated = (await stat(work)).mtimeMs
    const child = spawn(process.execPath, [CLI, 'all', '--quick', '--systems', 'regsync,y-websocket', '--out', out, '--work-dir', work], {
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(code, output.slice(-4000)).toBe(0)

    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as Results
    expect(results.correct).toBe(true)
    expect(results.scenarios.map((s) => s.name)).toEqual(['edit-latency', 'bulk', 'churn', 'join', 'cold-start', 'partition-heal', 'crash'])
    for (const scenario of results.scenarios) {
      const regsync = scenario.summary.rows.find((row) => row.system === 'regsync')
      expect(regsync?.status, scenario.name).toBe('ok')
      expect(regsync?.correct, scenario.name).toBe(true)
    }
    const floor = results.scenarios.find((s) => s.name === 'partition-heal')?.summary.rows.find((row) => row.system === 'y-websocket')
    expect(floor?.correct).toBe(false)
    expect(floor?.resurrected).toBeGreaterThan(0)

    // Every run made its scratch directory in --work-dir (which changed the folder's mtime), and
    // removed it; the report names the file system.
    expect((await stat(work)).mtimeMs).toBeGreaterThan(workCreated)
    expect(await readdir(work)).toEqual([])
    expect(results.machine.workDir).toBe(work)
    expect(results.machine.fileSystem).not.toBe('unknown')
    const markdown = await readFile(join(out, 'results.md'), 'utf8')
    expect(markdown).toContain(`nodes' files in ${work} (${results.machine.fileSystem})`)
    expect(markdown).toContain('## edit-latency')
    expect(markdown).toContain('Every regsync run ended in the correct state.')
    const svg = await readFile(join(out, 'edit-latency-cdf.svg'), 'utf8')
    expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    expect(svg).toContain('regsync (n=')
    expect((await readdir(out)).filter((name) => name.endsWith('-cdf.svg')).length).toBeGreaterThanOrEqual(3)
    // Each run keeps its agents' output; cold-start logs at info, for the ready line it times.
    expect((await readdir(join(out, 'logs'))).sort()).toEqual(expect.arrayContaining(['cold-start-run1', 'edit-latency-run1', 'crash-run1']))
    expect(await readFile(join(out, 'logs', 'cold-start-run1', 'node1.log'), 'utf8')).toContain('regsync agent ready')
  })

  it('logs the agents at the level asked for, and refuses a level the agent does not have', { timeout: 60_000 }, async () => {
    const out = await tempDir()
    roots.push(out)
    const run = async (...args: string[]): Promise<{ code: number | null; output: string }> => {
      const child = spawn(process.execPath, [CLI, 'edit-latency', '--quick', '--systems', 'regsync', '--out', out, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
      return { code: await new Promise<number | null>((resolve) => child.on('exit', resolve)), output }
    }
    const refused = await run('--agent-log-level', 'loud')
    expect(refused.code).toBe(2)
    expect(refused.output).toContain('--agent-log-level must be trace, debug, info, warn or error, not "loud"')

    const debug = await run('--agent-log-level', 'debug')
    expect(debug.code, debug.output.slice(-2000)).toBe(0)
    const logs = join(out, 'logs', 'edit-latency-run1')
    expect((await readdir(logs)).sort()).toEqual(['node0.log', 'node1.log', 'node2.log'])
    // Every line is the agent's JSON, down to each round's debug line.
    const lines = (await readFile(join(logs, 'node1.log'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { msg: string })
    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['regsync agent ready', 'reconcile round']))
  })

  it('starts an agent again when another socket took its port meanwhile', { timeout: 60_000 }, async () => {
    const root = await tempDir()
    roots.push(root)
    await mkdir(join(root, 'services'))
    // Something else holds the port, as an outbound socket's ephemeral port can while an agent is down.
    const blocker = createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as AddressInfo).port
    const { AgentProcess } = (await import(AGENT_PROCESS)) as { AgentProcess: new (name: string) => AgentRunner }
    const agent = new AgentProcess('agent 0')
    const args = ['--dir', join(root, 'services'), '--data', join(root, 'data'), '--listen', `127.0.0.1:${port}`, '--log-format', 'json']
    const started = agent.start({ bin: AGENT_BIN, args, port }, 30_000)
    try {
      await waitFor('the first start to find the port taken', () => agent.addressInUseRetries >= 1, 20_000)
      await new Promise<void>((resolve) => blocker.close(() => resolve()))
      await started
      expect(agent.unexpectedExit).toBeUndefined()
    } finally {
      blocker.close()
      await started.catch(() => undefined)
      await agent.stop()
    }
  })

  it('leaves /readyz alone until an agent that logs its ready line has logged it', { timeout: 30_000 }, async () => {
    // A stand-in for an agent that listens at once and logs its ready line 400 ms later, counting
    // the /readyz requests that came before the line: a poll every 5 ms takes CPU from the start
    // the harness times.
    const root = await tempDir()
    roots.push(root)
    const bin = join(root, 'slow-agent.mjs')
    await writeFile(
      bin,
      [
        "import { createServer } from 'node:http'",
        'let ready = false',
        'let early = 0',
        "const server = createServer((req, res) => { if (!ready) early++; res.statusCode = ready ? 200 : 503; res.end() })",
        "server.listen(Number(process.argv[3]), '127.0.0.1', () => setTimeout(() => { ready = true; console.log(JSON.stringify({ msg: 'regsync agent ready', early })) }, 400))",
        "process.on('SIGTERM', () => { console.log(JSON.stringify({ msg: 'stopping', early })); process.exit(0) })"
      ].join('\n')
    )
    const { AgentProcess } = (await import(AGENT_PROCESS)) as { AgentProcess: new (name: string) => AgentRunner & { tail: string[] } }
    const polled = async (readyLine: boolean): Promise<{ early: number; readyMs: number; readyzMs: number }> => {
      const port = await freePort()
      const agent = new AgentProcess('stand-in')
      try {
        const times = await agent.start({ bin, args: [String(port)], port, readyLine }, 10_000)
        const line = agent.tail.find((entry) => entry.includes('regsync agent ready'))!
        return { early: (JSON.parse(line) as { early: number }).early, ...times }
      } finally {
        await agent.stop()
      }
    }
    const withLine = await polled(true)
    expect(withLine.early).toBe(0)
    expect(withLine.readyMs).toBeGreaterThanOrEqual(400)
    expect(withLine.readyzMs).toBeGreaterThanOrEqual(withLine.readyMs)
    // Without the line to wait for, the harness polls from the spawn on.
    expect((await polled(false)).early).toBeGreaterThan(0)
  })

  it('plots a latency CDF of more samples than a function call takes arguments', async () => {
    const { cdfSvg } = (await import(new URL('../bench/dist/report/cdfSvg.js', import.meta.url).href)) as {
      cdfSvg(title: string, series: Array<{ label: string; samplesMs: number[] }>): string
    }
    // Churn over three runs of the y-websocket floor: about 120,000 samples, most under a millisecond.
    const many = Array.from({ length: 150_000 }, (_, i) => 0.2 + (i % 1000) / 100)
    many[7] = 4200
    const svg = cdfSvg('churn: latency CDF, 3 nodes', [
      { label: 'y-websocket', samplesMs: many },
      { label: 'syncthing', samplesMs: [1010, 1020, 7183] }
    ])
    expect(svg).toContain('y-websocket (n=150000)')
    expect(svg).toContain('syncthing (n=3)')
    // The axis reaches the slowest sample, and a line has a bounded number of points.
    expect(svg).toContain('>10 s<')
    const points = [...svg.matchAll(/points="([^"]*)"/g)].map((match) => match[1]!.split(' ').length)
    expect(points).toHaveLength(2)
    expect(Math.max(...points)).toBeLessThanOrEqual(2 * 2000 + 1)
  })
})
