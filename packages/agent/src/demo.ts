/**
 * `regsync demo`: a local three-node cluster on 127.0.0.1, for a first look. Node 1 starts with
 * the sample definitions, nodes 2 and 3 start empty; the demo then shows an edit and a delete
 * converging on all three, and keeps the cluster running until Ctrl-C.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { copyFile, mkdir, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where the three nodes keep their directories and data. Emptied first. */
  readonly root: string
  /** The definitions node 1 starts with. */
  readonly samples: string
  readonly out?: NodeJS.WritableStream
}

interface DemoNode {
  readonly name: string
  readonly dir: string
  readonly data: string
  readonly port: number
  child?: ChildProcess
}

const BIN = fileURLToPath(new URL('../bin/regsync.js', import.meta.url))

/** Runs the demo until SIGINT or SIGTERM. Returns the exit code. */
export async function runDemo(options: DemoOptions): Promise<number> {
  const out = options.out ?? process.stdout
  const say = (line: string): void => void out.write(line + '\n')
  const root = resolve(options.root)
  await rm(root, { recursive: true, force: true })
  await mkdir(root, { recursive: true })
  const secretFile = join(root, 'secret')
  await writeFile(secretFile, `demo-${Math.random().toString(36).slice(2)}\n`, { mode: 0o600 })

  const nodes: DemoNode[] = []
  for (let i = 1; i <= 3; i++) {
    const dir = join(root, `node${i}`, 'services')
    await mkdir(dir, { recursive: true })
    nodes.push({ name: `node${i}`, dir, data: join(root, `node${i}`, 'data'), port: await freePort() })
  }
  const samples = (await readdir(options.samples)).filter((name) => !name.startsWith('.'))
  for (const name of samples) await copyFile(join(options.samples, name), join(nodes[0]!.dir, name))

  let stopping = false
  const stopAll = async (): Promise<void> => {
    await Promise.all(
      nodes.map(
        (node) =>
          new Promise<void>((done) => {
            const child = node.child
            if (child === undefined || child.exitCode !== null || child.signalCode !== null) return done()
            child.once('exit', () => done())
            child.kill('SIGTERM')
          })
      )
    )
  }
  const stopped = new Promise<void>((done) => {
    const onSignal = (): void => {
      if (stopping) return
      stopping = true
      say('\nstopping the three agents...')
      void stopAll().then(done)
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })

  process.once('exit', () => {
    for (const node of nodes) if (node.child?.exitCode === null) node.child.kill('SIGKILL')
  })
  say(`regsync demo: three agents on 127.0.0.1, files under ${root}`)
  for (const node of nodes) {
    const peers = nodes.filter((other) => other !== node).flatMap((other) => ['--peer', `ws://127.0.0.1:${other.port}`])
    const child = spawn(
      process.execPath,
      [BIN, 'agent', '--dir', node.dir, '--data', node.data, '--listen', `127.0.0.1:${node.port}`, '--secret-file', secretFile, '--log-level', 'warn', '--log-format', 'pretty', ...peers],
      // Their own process group: Ctrl-C reaches only the demo, which stops them in order.
      { stdio: ['ignore', 'inherit', 'inherit'], detached: true }
    )
    node.child = child
    child.once('exit', (code, signal) => {
      if (!stopping) say(`${node.name} exited unexpectedly (${code ?? signal})`)
    })
    say(`  ${node.name}: ws://127.0.0.1:${node.port}  directory ${node.dir}`)
  }

  try {
    let started = Date.now()
    await converge(nodes, samples.length, () => stopping)
    say(`\nall three directories hold the same ${samples.length} files (${Date.now() - started} ms after start)`)

    const edited = samples.find((name) => name.endsWith('.json')) ?? samples[0]!
    const original = await readFile(join(nodes[1]!.dir, edited), 'utf8')
    const changed = original.replace(/("name"\s*:\s*")([^"]*)"/, '$1$2 (edited on node2)"')
    started = Date.now()
    await writeFile(join(nodes[1]!.dir, edited), changed)
    say(`edited ${edited} on node2...`)
    await converge(nodes, samples.length, () => stopping, (files) => files.get(edited) === changed)
    say(`  ...the same bytes are on node1 and node3 after ${Date.now() - started} ms`)

    const deleted = samples.find((name) => name !== edited)
    if (deleted !== undefined) {
      started = Date.now()
      await unlink(join(nodes[2]!.dir, deleted))
      say(`deleted ${deleted} on node3...`)
      await converge(nodes, samples.length - 1, () => stopping)
      say(`  ...gone from node1 and node2 after ${Date.now() - started} ms, and it stays gone`)
    }
    say('\nthe cluster keeps running: edit the files above and watch them converge. Ctrl-C stops it.')
  } catch (error) {
    if (!stopping) {
      say(`demo failed: ${error instanceof Error ? error.message : String(error)}`)
      stopping = true
      await stopAll()
      return 1
    }
  }
  await stopped
  say('stopped cleanly')
  return 0
}

async function converge(
  nodes: readonly DemoNode[],
  count: number,
  cancelled: () => boolean,
  extra: (files: Map<string, string>) => boolean = () => true
): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    if (cancelled()) throw new Error('cancelled')
    const snapshots = await Promise.all(nodes.map((node) => snapshot(node.dir)))
    const first = snapshots[0]!
    const same = snapshots.every((files) => files.size === first.size && [...files].every(([name, text]) => first.get(name) === text))
    if (same && first.size === count && extra(first)) return
    if (Date.now() > deadline) throw new Error('the three directories did not converge within 30 s')
    await new Promise((done) => setTimeout(done, 5))
  }
}

async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  for (const name of await readdir(dir)) {
    if (name.startsWith('.')) continue
    try {
      files.set(name, await readFile(join(dir, name), 'utf8'))
    } catch {
      // removed while listing
    }
  }
  return files
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer()
    server.once('error', fail)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port
      server.close(() => done(port))
    })
  })
}
