import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runRegsync } from './agentProcess.js'
import type { RegsyncProcess } from './agentProcess.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** A throwaway CA and one certificate for 127.0.0.1, good for both server and client use. */
async function certificates(root: string): Promise<{ ca: string; cert: string; key: string }> {
  const file = (name: string): string => join(root, name)
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: root, stdio: 'ignore' })
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=regsync test CA')
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1')
  await writeFile(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n')
  openssl('x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'node.pem', '-days', '1', '-extfile', 'ext.cnf')
  return { ca: file('ca.pem'), cert: file('node.pem'), key: file('node.key') }
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

describe.skipIf(!hasOpenssl())('mutual TLS', () => {
  it('syncs two agents over wss with client certificates, and `regsync status` speaks https', async () => {
    const root = await mkdtemp(join(tmpdir(), 'regsync-tls-'))
    cleanups.push(() => rm(root, { recursive: true, force: true }))
    const tls = await certificates(root)
    await writeFile(join(root, 'secret'), 'tls-secret\n')
    const common = ['--tls-cert', tls.cert, '--tls-key', tls.key, '--tls-ca', tls.ca, '--secret-file', join(root, 'secret'), '--listen', '127.0.0.1:0', '--log-format', 'json']
    const start = async (name: string, extra: string[]): Promise<{ proc: RegsyncProcess; listen: string; dir: string }> => {
      const dir = join(root, name, 'services')
      await mkdir(dir, { recursive: true })
      if (name === 'a') await writeFile(join(dir, 'App-1.json'), '{ "@class": "org.apereo.cas.services.CasRegisteredService", "serviceId": "^https://a/.*", "name": "A", "id": 1 }\n')
      const proc = track(runRegsync(['agent', '--dir', dir, '--data', join(root, name, 'data'), ...common, ...extra]))
      const ready = await proc.waitForLog('regsync agent ready')
      expect(String(ready.advertise)).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
      return { proc, listen: String(ready.listen), dir }
    }
    const a = await start('a', [])
    const b = await start('b', ['--peer', `wss://${a.listen}`])
    await b.proc.waitForLog(/^imported .* after the first sync$/)

    const statusArgs = ['status', '--url', `https://${b.listen}`, '--secret-file', join(root, 'secret'), '--tls-ca', tls.ca]
    const ok = track(runRegsync([...statusArgs, '--tls-cert', tls.cert, '--tls-key', tls.key, '--json']))
    expect(await ok.exited).toBe(0)
    const report = JSON.parse(ok.output.stdout) as { files: number; peers: Array<{ connected: boolean; synced: boolean }> }
    expect(report.files).toBe(1)
    expect(report.peers[0]).toMatchObject({ connected: true, synced: true })

    // Without a client certificate the listener refuses the TLS handshake.
    const anonymous = track(runRegsync(statusArgs))
    expect(await anonymous.exited).toBe(1)
    expect(anonymous.output.stderr).toMatch(/^regsync status: cannot reach the agent at https:\/\/127\.0\.0\.1:\d+ \(.+\)\n$/)

    for (const agent of [b, a]) {
      agent.proc.child.kill('SIGTERM')
      expect(await agent.proc.exited).toBe(0)
    }
  })
})
