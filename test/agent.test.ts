import { readFile, writeFile, mkdir, chmod } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openReplica } from 'regsync'
import { removeDir, snapshotDir, sleep, tempDir, waitFor } from './helpers/fs.js'
import { runRegsync, startAgent } from './helpers/agent.js'
import type { AgentProcess } from './helpers/agent.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function workspace(): Promise<{ dir: string; data: string }> {
  const root = await tempDir()
  cleanups.push(() => removeDir(root))
  const dir = join(root, 'services')
  await mkdir(dir)
  return { dir, data: join(root, 'data') }
}

function track(proc: AgentProcess): AgentProcess {
  cleanups.push(async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL')
      await proc.exited
    }
  })
  return proc
}

function definition(id: number, description: string): string {
  return `{\n  "@class" : "org.apereo.cas.services.CasRegisteredService",\n  "serviceId" : "^https://app${id}.example.org/.*",\n  "name" : "App",\n  "id" : ${id},\n  "description" : ${JSON.stringify(description)}\n}\n`
}

describe('regsync agent (separate process)', () => {
  it('prints help that names every flag, and rejects an unknown flag in one line', async () => {
    const help = runRegsync(['--help'])
    expect(await help.exited).toBe(0)
    for (const flag of ['--dir', '--data', '--rescan-interval', '--max-file-size', '--poll', '--log-level', '--log-format']) {
      expect(help.output.stdout).toContain(flag)
    }
    const bad = runRegsync(['agent', '--dir', '/tmp', '--data', '/tmp/x', '--frobnicate'])
    expect(await bad.exited).toBe(2)
    expect(bad.output.stderr.trim().split('\n')).toHaveLength(1)
    expect(bad.output.stderr).toContain('unknown option --frobnicate')
    const missing = runRegsync(['agent', '--dir', '/tmp'])
    expect(await missing.exited).toBe(2)
    expect(missing.output.stderr).toContain('missing --data')
  })

  it('imports the directory, follows edits and deletes, and stops cleanly on SIGTERM', async () => {
    const { dir, data } = await workspace()
    await writeFile(join(dir, 'App-1.json'), definition(1, 'one'))
    const agent = track(await startAgent(dir, data))
    await writeFile(join(dir, 'App-2.json'), definition(2, 'two'))
    await agent.waitForLog('updated App-2.json')
    agent.child.kill('SIGTERM')
    expect(await agent.exited).toBe(0)
    expect(agent.lines.some((line) => line.msg === 'stopped cleanly')).toBe(true)

    const replica = await openReplica({ dir, data, watch: false, importOnOpen: false, rescanIntervalMs: 0 })
    try {
      expect(replica.list()).toEqual(['App-1.json', 'App-2.json'])
    } finally {
      await replica.close()
    }
  })

  it('follows the directory with the polling watcher under --poll (its chunk of the bundle loads on demand)', async () => {
    const { dir, data } = await workspace()
    const agent = track(await startAgent(dir, data, ['--poll']))
    await writeFile(join(dir, 'App-3.json'), definition(3, 'three'))
    await agent.waitForLog('updated App-3.json')
    agent.child.kill('SIGTERM')
    expect(await agent.exited).toBe(0)
  })

  it('refuses a data dir locked by another agent with one clear line, and the first keeps working', async () => {
    const { dir, data } = await workspace()
    const first = track(await startAgent(dir, data))
    const second = track(runRegsync(['agent', '--dir', dir, '--data', data, '--log-format', 'json']))
    expect(await second.exited).toBe(1)
    const fatal = second.lines.find((line) => line.level === 60)
    expect(String(fatal?.msg)).toMatch(/data directory .* is locked by another process/)
    await writeFile(join(dir, 'App-3.json'), definition(3, 'three'))
    await first.waitForLog('updated App-3.json')
  })

  it('reports an unreadable services directory in one line and keeps running', async () => {
    if (process.getuid?.() === 0) {
      // root reads everything; a missing directory stands in for an unreadable one.
    }
    const { dir, data } = await workspace()
    const missing = join(dir, 'not-there')
    const agent = track(await startAgent(missing, data))
    const line = agent.lines.find((l) => l.level === 50 && String(l.msg).includes(missing))
    expect(line, agent.output.stdout).toBeDefined()
    expect(agent.child.exitCode).toBeNull()
    void chmod
  })

  it('loses no edit when killed with SIGKILL during a burst of 500 edits', async () => {
    const { dir, data } = await workspace()
    const FILES = 25
    for (let id = 1; id <= FILES; id++) await writeFile(join(dir, `App-${id}.json`), definition(id, 'v0'))
    let agent = track(await startAgent(dir, data, ['--rescan-interval', '0']))
    let killed = false
    for (let edit = 1; edit <= 500; edit++) {
      const id = (edit % FILES) + 1
      await writeFile(join(dir, `App-${id}.json`), definition(id, `v${edit}`))
      if (edit === 250) {
        agent.child.kill('SIGKILL')
        await agent.exited
        killed = true
      }
      if (edit % 10 === 0) await sleep(2)
    }
    expect(killed).toBe(true)
    agent = track(await startAgent(dir, data, ['--rescan-interval', '0']))
    agent.child.kill('SIGTERM')
    expect(await agent.exited).toBe(0)

    const disk = await snapshotDir(dir)
    const replica = await openReplica({ dir, data, watch: false, importOnOpen: false, rescanIntervalMs: 0 })
    try {
      expect(replica.list()).toEqual([...disk.keys()].sort())
      for (const [name, bytes] of disk) expect(replica.get(name), name).toBe(bytes.toString('utf8'))
      // Every file holds its last edit.
      for (let id = 1; id <= FILES; id++) {
        const last = Math.max(...Array.from({ length: 500 }, (_, i) => i + 1).filter((e) => (e % FILES) + 1 === id))
        expect(replica.get(`App-${id}.json`)).toBe(definition(id, `v${last}`))
      }
    } finally {
      await replica.close()
    }
    void readFile
    void waitFor
  })
})
