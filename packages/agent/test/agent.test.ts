import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo, Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { StatusReport } from '../src/statusReport.js'
import { runRegsync } from './agentProcess.js'
import type { RegsyncProcess } from './agentProcess.js'

const SECRET = 'agent-test-secret'
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Workspace {
  readonly root: string
  readonly dir: string
  readonly data: string
  readonly secretFile: string
}

async function workspace(files: Record<string, string> = {}): Promise<Workspace> {
  const root = await mkdtemp(join(tmpdir(), 'regsync-agent-'))
  cleanups.push(() => rm(root, { recursive: true, force: true }))
  const dir = join(root, 'services')
  await mkdir(dir)
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  const secretFile = join(root, 'secret')
  await writeFile(secretFile, `${SECRET}\n`)
  return { root, dir, data: join(root, 'data'), secretFile }
}

function track(proc: RegsyncProcess): RegsyncProcess {
  cleanups.push(async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL')
      await proc.exited
    }
  })
  return proc
}

/** Starts an agent on 127.0.0.1 port 0 and resolves once it logged ready, with its URL. */
async function startAgent(ws: Workspace, extra: string[] = [], env: Record<string, string> = {}): Promise<{ proc: RegsyncProcess; url: string; port: number }> {
  const proc = track(
    runRegsync(['agent', '--dir', ws.dir, '--data', ws.data, '--listen', '127.0.0.1:0', '--secret-file', ws.secretFile, '--log-format', 'json', '--rescan-interval', '0', ...extra], env)
  )
  const ready = await proc.waitForLog('regsync agent ready')
  const listen = String(ready.listen)
  expect(listen).toMatch(/^127\.0\.0\.1:\d+$/)
  const port = Number(listen.split(':')[1])
  expect(port).toBeGreaterThan(0)
  expect(ready.nodeId).toMatch(/\S/)
  return { proc, url: `http://${listen}`, port }
}

async function status(url: string): Promise<StatusReport> {
  const response = await fetch(`${url}/status`, { headers: { authorization: `Bearer ${SECRET}` } })
  expect(response.status).toBe(200)
  return (await response.json()) as StatusReport
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function definition(id: number): string {
  return `{\n  "@class" : "org.apereo.cas.services.CasRegisteredService",\n  "serviceId" : "^https://app${id}.example.org/.*",\n  "name" : "App",\n  "id" : ${id}\n}\n`
}

describe('regsync agent (separate process)', () => {
  it('serves the listener, answers `regsync status`, and stops cleanly on SIGTERM', async () => {
    const ws = await workspace({ 'App-1.json': definition(1) })
    const { proc, url, port } = await startAgent(ws)
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    expect((await fetch(`${url}/readyz`)).status).toBe(200)
    expect((await fetch(`${url}/status`)).status).toBe(401)
    const report = await status(url)
    expect(report).toMatchObject({ files: 1, listen: `127.0.0.1:${port}`, advertise: `ws://127.0.0.1:${port}`, cluster: 'cas', mode: 'active' })

    const cli = track(runRegsync(['status', '--secret-file', ws.secretFile], { REGSYNC_URL: url }))
    expect(await cli.exited).toBe(0)
    expect(cli.output.stdout).toContain(`node       ${report.nodeId} (active, cluster cas, regsync `)
    expect(cli.output.stdout).toMatch(/^peers {6}none configured$/m)

    proc.child.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    const messages = proc.lines.map((line) => line.msg)
    expect(messages).toContain('stopped cleanly')
    expect(proc.lines.filter((line) => Number(line.level) >= 50)).toEqual([])

    const after = track(runRegsync(['status', '--url', url, '--secret-file', ws.secretFile]))
    expect(await after.exited).toBe(1)
    expect(after.output.stderr).toBe(`regsync status: cannot reach the agent at ${url} (ECONNREFUSED)\n`)
  })

  it('takes its settings from a config file and the environment, flags winning', async () => {
    const ws = await workspace()
    const config = join(ws.root, 'regsync.yml')
    await writeFile(config, ['dir: services', 'data: data', 'listen: 127.0.0.1:1', 'cluster: from-file', 'mode: passive', 'secret-file: secret', 'log-format: json', ''].join('\n'))
    const proc = track(runRegsync(['agent', '--listen', '127.0.0.1:0'], { REGSYNC_CONFIG: config, REGSYNC_CLUSTER: 'from-env', REGSYNC_TYPO: 'x' }))
    const ready = await proc.waitForLog('regsync agent ready')
    const report = await status(`http://${String(ready.listen)}`)
    expect(report).toMatchObject({ cluster: 'from-env', mode: 'passive', dir: ws.dir })
    expect(proc.lines.some((line) => line.level === 40 && String(line.msg).startsWith('ignoring REGSYNC_TYPO'))).toBe(true)
    proc.child.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
  })

  it('refuses an unknown config key with one line and exit 2', async () => {
    const ws = await workspace()
    const config = join(ws.root, 'regsync.yml')
    await writeFile(config, `dir: ${ws.dir}\ndata: ${ws.data}\npeers: [ws://x:1]\n`)
    const proc = track(runRegsync(['agent', '--config', config]))
    expect(await proc.exited).toBe(2)
    expect(proc.output.stderr).toBe(`regsync: unknown key "peers" in the config file ${config}. See 'regsync --help'.\n`)
  })

  it('exits 1 with one fatal line when the address is in use', async () => {
    const ws = await workspace()
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => blocker.close(() => resolve())))
    const port = (blocker.address() as AddressInfo).port
    const proc = track(runRegsync(['agent', '--dir', ws.dir, '--data', ws.data, '--listen', `127.0.0.1:${port}`, '--secret-file', ws.secretFile, '--log-format', 'json']))
    expect(await proc.exited).toBe(1)
    const fatal = proc.lines.filter((line) => line.level === 60)
    expect(fatal).toHaveLength(1)
    expect(fatal[0]!.msg).toBe(`cannot listen on 127.0.0.1:${port}: the address is already in use (another agent, or another program, holds the port)`)
    // The data directory was released: another agent can take it.
    const next = await startAgent(ws)
    next.proc.child.kill('SIGTERM')
    expect(await next.proc.exited).toBe(0)
  })

  it('exits 1 on an empty or unreadable secret file, and warns loudly when there is no secret', async () => {
    const ws = await workspace()
    await writeFile(ws.secretFile, '\n')
    const empty = track(runRegsync(['agent', '--dir', ws.dir, '--data', ws.data, '--listen', '127.0.0.1:0', '--secret-file', ws.secretFile, '--log-format', 'json']))
    expect(await empty.exited).toBe(1)
    expect(empty.lines.find((line) => line.level === 60)?.msg).toBe(`cannot start: the secret file ${ws.secretFile} (--secret-file) is empty`)

    const missing = join(ws.root, 'no-such-secret')
    const unreadable = track(runRegsync(['agent', '--dir', ws.dir, '--data', ws.data, '--listen', '127.0.0.1:0', '--secret-file', missing, '--log-format', 'json']))
    expect(await unreadable.exited).toBe(1)
    expect(unreadable.lines.find((line) => line.level === 60)?.msg).toBe(`cannot start: cannot read the secret file ${missing} (--secret-file): no such file`)

    const open = track(runRegsync(['agent', '--dir', ws.dir, '--data', ws.data, '--listen', '127.0.0.1:0', '--log-format', 'json']))
    const ready = await open.waitForLog('regsync agent ready')
    const warning = open.lines.find((line) => line.level === 40 && String(line.msg).startsWith('NO CLUSTER SECRET'))
    // It names the port the listener got, not the 0 it was given.
    expect(warning?.msg).toContain(`anyone who can reach ${String(ready.listen)} can join`)
    // Without a secret, /status is open.
    expect((await fetch(`http://${String(ready.listen)}/status`)).status).toBe(200)
    open.child.kill('SIGTERM')
    expect(await open.exited).toBe(0)
  })

  it('a fresh node with peers syncs before importing its directory; --initial-import immediate imports at once', async () => {
    // A peer that never answers: the fresh node must not import.
    const waiting = await workspace({ 'App-7.json': definition(7) })
    const lonely = await startAgent(waiting, ['--peer', 'ws://127.0.0.1:1'])
    const ready = await fetch(`${lonely.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.text()).toMatch(/^not ready: waiting for the first sync with a peer before importing /)
    expect((await status(lonely.url)).files).toBe(0)
    lonely.proc.child.kill('SIGTERM')
    expect(await lonely.proc.exited).toBe(0)

    const eager = await workspace({ 'App-8.json': definition(8) })
    const immediate = await startAgent(eager, ['--peer', 'ws://127.0.0.1:1', '--initial-import', 'immediate'])
    expect((await status(immediate.url)).files).toBe(1)
    const notSynced = await fetch(`${immediate.url}/readyz`)
    expect(notSynced.status).toBe(503)
    expect(await notSynced.text()).toBe('not ready: not yet synced with any peer\n')
    immediate.proc.child.kill('SIGTERM')
    expect(await immediate.proc.exited).toBe(0)

    // With a live peer: sync, then import, and the imported file reaches the peer.
    const first = await startAgent(await workspace({ 'App-1.json': definition(1) }))
    const joinerWs = await workspace({ 'App-9.json': definition(9) })
    const joiner = await startAgent(joinerWs, ['--peer', `ws://127.0.0.1:${first.port}`])
    await waitFor(async () => (await fetch(`${joiner.url}/readyz`)).status === 200, 'the joining node to be ready')
    await joiner.proc.waitForLog(/^imported .* after the first sync$/)
    await waitFor(async () => (await status(first.url)).files === 2, 'the joining node\'s file to reach the first node')
    expect(await readFile(join(joinerWs.dir, 'App-1.json'), 'utf8')).toBe(definition(1))
    const report = await status(joiner.url)
    expect(report.peers[0]).toMatchObject({ connected: true, synced: true, source: 'static' })
    for (const agent of [joiner, first]) {
      agent.proc.child.kill('SIGTERM')
      expect(await agent.proc.exited).toBe(0)
    }
  })
})
