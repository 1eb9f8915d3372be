import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { openReplica } from 'regsync'
import type { Replica } from 'regsync'
import { SyncNode } from '@regsync/net-ws'
import { AdminServer } from '../src/AdminServer.js'
import { main } from '../src/cli.js'
import type { StatusReport } from '../src/statusReport.js'

const SECRET = 'correct horse battery staple'
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function definition(id: number): string {
  return `{\n  "@class" : "org.apereo.cas.services.CasRegisteredService",\n  "serviceId" : "^https://app${id}.example.org/.*",\n  "name" : "App",\n  "id" : ${id}\n}\n`
}

interface Node {
  readonly replica: Replica
  readonly syncNode: SyncNode
  readonly server: AdminServer
  readonly url: string
  readonly root: string
  readonly secretFile: string
}

/** A real replica over temp dirs, a real SyncNode, and the listener on 127.0.0.1 port 0. */
async function startNode(options: { files?: Record<string, string>; peers?: string[]; pending?: () => string | undefined } = {}): Promise<Node> {
  const root = await mkdtemp(join(tmpdir(), 'regsync-admin-'))
  cleanups.push(() => rm(root, { recursive: true, force: true }))
  const dir = join(root, 'services')
  await mkdir(dir)
  for (const [name, text] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), text)
  const secretFile = join(root, 'secret')
  await writeFile(secretFile, `${SECRET}\n`)
  const replica = await openReplica({ dir, data: join(root, 'data'), rescanIntervalMs: 0, fsync: false })
  const syncNode = new SyncNode({ replica, version: '9.9.9', secret: SECRET, reconnect: { initialMs: 20, maxMs: 200 } })
  const server = new AdminServer({
    replica,
    syncNode,
    secret: SECRET,
    info: { version: '9.9.9', mode: 'active', cluster: 'cas', dir, startedAt: Date.now() },
    pending: options.pending
  })
  cleanups.push(async () => {
    const closed = server.close()
    await syncNode.close()
    await closed
    await replica.close()
  })
  const bound = await server.listen({ host: '127.0.0.1', port: 0 })
  expect(bound.port).toBeGreaterThan(0)
  syncNode.setPeers('static', options.peers ?? [])
  return { replica, syncNode, server, url: `http://127.0.0.1:${bound.port}`, root, secretFile }
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const auth = { authorization: `Bearer ${SECRET}` }

/** Opens a websocket to the node's sync path; resolves with the HTTP status of the handshake. */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.on('upgrade', (response) => resolve(response.statusCode ?? 0))
    socket.on('open', () => socket.close())
    socket.on('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0)
      socket.terminate()
    })
    socket.on('error', (error) => reject(error))
  })
}

/** Runs `regsync ...args` in-process and captures what it prints. */
async function regsync(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const code = await main(args, env, { stdout, stderr })
  return { code, stdout: out, stderr: err }
}

describe('the listener', () => {
  it('answers /healthz and /readyz without the secret', async () => {
    const node = await startNode()
    const health = await fetch(`${node.url}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.text()).toBe('ok\n')
    const ready = await fetch(`${node.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.text()).toBe('ready\n')
  })

  it('answers /readyz 503 with the reason while the import is pending or no peer has synced', async () => {
    let pending: string | undefined = 'waiting for the first sync with a peer'
    const node = await startNode({ pending: () => pending })
    let ready = await fetch(`${node.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.text()).toBe('not ready: waiting for the first sync with a peer\n')
    pending = undefined
    expect((await fetch(`${node.url}/readyz`)).status).toBe(200)

    // A peer that is configured but unreachable: not synced, not ready.
    const lonely = await startNode({ peers: ['ws://127.0.0.1:1'] })
    ready = await fetch(`${lonely.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.text()).toContain('not yet synced with any peer')
    const status = (await (await fetch(`${lonely.url}/status`, { headers: auth })).json()) as StatusReport
    expect(status.ready).toBe(false)
    expect(status.notReady).toBe('not yet synced with any peer')
  })

  it('requires the secret on /status and /metrics, by header or ?token=', async () => {
    const node = await startNode()
    for (const path of ['/status', '/metrics', '/nope']) {
      const response = await fetch(`${node.url}${path}`)
      expect(response.status, path).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="regsync"')
      expect((await fetch(`${node.url}${path}`, { headers: { authorization: 'Bearer wrong' } })).status, path).toBe(401)
    }
    expect((await fetch(`${node.url}/status`, { headers: auth })).status).toBe(200)
    expect((await fetch(`${node.url}/status?token=${encodeURIComponent(SECRET)}`)).status).toBe(200)
  })

  it('answers 404 for other paths and 405 for other methods', async () => {
    const node = await startNode()
    expect((await fetch(`${node.url}/nope`, { headers: auth })).status).toBe(404)
    for (const path of ['/status', '/metrics', '/healthz', '/readyz']) {
      const response = await fetch(`${node.url}${path}`, { method: 'POST', headers: auth })
      expect(response.status, path).toBe(405)
      expect(response.headers.get('allow')).toBe('GET, HEAD')
    }
    const head = await fetch(`${node.url}/status`, { method: 'HEAD', headers: auth })
    expect(head.status).toBe(200)
    expect((await fetch(`${node.url}/sync/cas`, { headers: auth })).status).toBe(426)
  })

  it('reports the node, its files, problems and journal on /status', async () => {
    const node = await startNode({ files: { 'App-1.json': definition(1), 'App-2.json': definition(2), 'Broken-3.json': '{ "@class": ' } })
    const response = await fetch(`${node.url}/status`, { headers: auth })
    expect(response.headers.get('content-type')).toContain('application/json')
    const status = (await response.json()) as StatusReport
    expect(status).toMatchObject({
      nodeId: node.replica.nodeId,
      version: '9.9.9',
      mode: 'active',
      cluster: 'cas',
      listen: new URL(node.url).host,
      advertise: `ws://${new URL(node.url).host}`,
      ready: true,
      notReady: null,
      peers: [],
      files: 2,
      journal: 0,
      lastError: null
    })
    expect(status.problems).toHaveLength(1)
    expect(status.problems[0]).toMatchObject({ path: 'Broken-3.json', code: 'REGSYNC_PARSE' })
    expect(Date.parse(status.problems[0]!.since)).not.toBeNaN()
    expect(status.nodes.map((n) => n.nodeId)).toEqual([node.replica.nodeId])
    expect(status.uptime).toBeGreaterThanOrEqual(0)
  })

  it('serves Prometheus metrics from a registry of its own', async () => {
    const node = await startNode({ files: { 'App-1.json': definition(1) } })
    const response = await fetch(`${node.url}/metrics`, { headers: auth })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/plain')
    const text = await response.text()
    for (const line of [
      'regsync_files 1',
      'regsync_problems 0',
      'regsync_journal_entries 0',
      'regsync_peers_connected 0',
      'regsync_peers_configured 0',
      'regsync_ready 1',
      'regsync_frames_in_total 0',
      'regsync_frames_out_total 0',
      'regsync_bytes_in_total 0',
      'regsync_bytes_out_total 0',
      'regsync_duplicate_updates_total 0',
      'regsync_connections_unauthorized_total 0',
      'regsync_bad_frames_total 0',
      'regsync_oversize_frames_total 0'
    ]) {
      expect(text).toContain(`\n${line}\n`)
    }
    expect(text).toMatch(/\nprocess_cpu_user_seconds_total \d/)
    expect(text).toMatch(/\nnodejs_eventloop_lag_seconds \d/)
  })

  it('refuses a websocket upgrade with a wrong secret (401) and takes one with the right secret (101)', async () => {
    const node = await startNode()
    const ws = node.url.replace('http:', 'ws:')
    expect(await upgradeStatus(`${ws}/sync/cas`, { authorization: 'Bearer wrong' })).toBe(401)
    expect(await upgradeStatus(`${ws}/sync/cas`, {})).toBe(401)
    expect(await upgradeStatus(`${ws}/sync/other`, { authorization: `Bearer ${SECRET}` })).toBe(404)
    expect(await upgradeStatus(`${ws}/sync/cas`, { authorization: `Bearer ${SECRET}` })).toBe(101)
    expect(await upgradeStatus(`${ws}/sync/cas?token=${encodeURIComponent(SECRET)}`, {})).toBe(101)
    const metrics = await (await fetch(`${node.url}/metrics`, { headers: auth })).text()
    expect(metrics).toContain('\nregsync_connections_unauthorized_total 2\n')
  })

  it('shows a synced peer on /status and in `regsync status`', async () => {
    const first = await startNode({ files: { 'App-1.json': definition(1) } })
    const firstPort = new URL(first.url).port
    const second = await startNode({ peers: [`ws://127.0.0.1:${firstPort}`] })
    await waitFor(async () => (await fetch(`${second.url}/readyz`)).status === 200, 'the second node to be ready')
    await waitFor(() => second.replica.list().length === 1, 'the file to reach the second node')

    const status = (await (await fetch(`${second.url}/status`, { headers: auth })).json()) as StatusReport
    expect(status.peers).toHaveLength(1)
    expect(status.peers[0]).toMatchObject({
      url: `ws://127.0.0.1:${firstPort}/sync/cas`,
      direction: 'outbound',
      source: 'static',
      connected: true,
      synced: true,
      nodeId: first.replica.nodeId,
      lastError: null
    })
    expect(Date.parse(status.peers[0]!.lastSeen!)).not.toBeNaN()
    await waitFor(() => second.syncNode.nodes().size === 2, 'awareness of the first node')
    const again = (await (await fetch(`${second.url}/status`, { headers: auth })).json()) as StatusReport
    expect(again.nodes.map((n) => n.nodeId).sort()).toEqual([first.replica.nodeId, second.replica.nodeId].sort())
    expect(again.files).toBe(1)

    const printed = await regsync(['status', '--url', second.url, '--secret-file', second.secretFile])
    expect(printed.stderr).toBe('')
    expect(printed.code).toBe(0)
    expect(printed.stdout).toContain(`node       ${second.replica.nodeId} (active, cluster cas, regsync 9.9.9)`)
    expect(printed.stdout).toMatch(/^files {6}1$/m)
    expect(printed.stdout).toMatch(/^journal {4}0 entries$/m)
    expect(printed.stdout).toMatch(/^problems {3}0$/m)
    expect(printed.stdout).toMatch(new RegExp(`^  ws://127\\.0\\.0\\.1:${firstPort}/sync/cas  connected, synced, last seen \\d+ s ago, node ${first.replica.nodeId}$`, 'm'))
    expect(printed.stdout).toMatch(/^last error none$/m)

    const json = await regsync(['status', '--json', '--secret-file', second.secretFile], { REGSYNC_URL: second.url })
    expect(json.code).toBe(0)
    expect((JSON.parse(json.stdout) as StatusReport).nodeId).toBe(second.replica.nodeId)

    const inbound = (await (await fetch(`${first.url}/status`, { headers: auth })).json()) as StatusReport
    expect(inbound.peers.some((peer) => peer.direction === 'inbound' && peer.connected)).toBe(true)
  })

  it('`regsync status` exits 1 with one line on a wrong secret or an unreachable agent, and 2 for bad usage', async () => {
    const node = await startNode()
    const noSecret = await regsync(['status', '--url', node.url])
    expect(noSecret.code).toBe(1)
    expect(noSecret.stderr).toBe('regsync status: wrong or missing secret (use --secret-file)\n')
    expect(noSecret.stdout).toBe('')

    const port = new URL(node.url).port
    await node.server.close()
    const gone = await regsync(['status', '--secret-file', node.secretFile], { REGSYNC_LISTEN: `127.0.0.1:${port}` })
    expect(gone.code).toBe(1)
    expect(gone.stderr.trim().split('\n')).toHaveLength(1)
    expect(gone.stderr).toContain(`cannot reach the agent at http://127.0.0.1:${port}`)

    const missingSecret = await regsync(['status', '--url', node.url, '--secret-file', join(node.root, 'nope')])
    expect(missingSecret.code).toBe(1)
    expect(missingSecret.stderr).toContain('cannot read the secret file')

    const usage = await regsync(['status', '--frobnicate'])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toBe("regsync: unknown option --frobnicate. See 'regsync --help'.\n")
  })
})
