import { constants, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { WriteWorker, landHere } from '../src/WriteWorker.js'
import type { LandingJob } from '../src/landFile.js'

const run = promisify(execFile)
const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Temp files with the given contents, open, each to land on `App-<i>.json`. */
function tempFiles(contents: string[]): { dir: string; jobs: LandingJob[] } {
  const dir = mkdtempSync(join(tmpdir(), 'regsync-landing-'))
  dirs.push(dir)
  const jobs = contents.map((content, i) => {
    const temp = join(dir, `.App-${i}.json.tmp`)
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644)
    writeSync(fd, content)
    return { fd, temp, full: join(dir, `App-${i}.json`), expect: null }
  })
  return { dir, jobs }
}

// The worker, and what its caller falls back to when it cannot run: the same results.
describe.each([
  ['the write worker', (jobs: LandingJob[]) => WriteWorker.shared().landAll(jobs, true)],
  ['this thread', (jobs: LandingJob[]) => landHere(jobs, true)]
])('landing temp files on %s', (_name, landAll) => {
  it('flushes and renames each, with its stat, and leaves a file that appeared meanwhile alone', async () => {
    const { dir, jobs } = tempFiles(['{ "id": 0 }', '{ "id": 1 }', '{ "id": 2 }'])
    // A local edit created App-1.json after the write was planned as a create.
    writeFileSync(join(dir, 'App-1.json'), 'edited locally')
    const landings = await landAll(jobs)
    const stat0 = statSync(join(dir, 'App-0.json'))
    expect(landings[0]).toEqual({ stat: { size: stat0.size, mtimeMs: stat0.mtimeMs, ino: stat0.ino } })
    expect(landings[1]).toEqual({})
    expect('stat' in landings[2]!).toBe(true)
    expect(readFileSync(join(dir, 'App-0.json'), 'utf8')).toBe('{ "id": 0 }')
    expect(readFileSync(join(dir, 'App-1.json'), 'utf8')).toBe('edited locally')
    expect(readFileSync(join(dir, 'App-2.json'), 'utf8')).toBe('{ "id": 2 }')
    expect(readdirSync(dir).sort()).toEqual(['App-0.json', 'App-1.json', 'App-2.json'])
  })

  it('reports a rename that fails as an error with its code, and lands the others', async () => {
    const { dir, jobs } = tempFiles(['a', 'b'])
    const bad = { ...jobs[0]!, full: join(dir, 'missing-folder', 'App-0.json') }
    const landings = await landAll([bad, jobs[1]!])
    expect(landings[0]).toMatchObject({ error: { code: 'ENOENT' } })
    expect('stat' in landings[1]!).toBe(true)
    expect(readdirSync(dir)).toEqual(['App-1.json'])
  })
})

describe('the write worker in a process of its own', () => {
  // The worker must not hold the process open once its writes are done: the execFile below fails
  // on its timeout if it does. Nor may it take the process's own options: under --input-type=module
  // its program cannot run, and the writes would fall back to the calling thread, which the
  // adapter reports.
  const adapter = fileURLToPath(new URL('../dist/NodeDirectoryAdapter.js', import.meta.url))

  it('lands the writes of a writeMany, and then lets the process end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regsync-worker-'))
    dirs.push(dir)
    mkdirSync(join(dir, 'services'))
    const program = `
      const { NodeDirectoryAdapter } = await import(${JSON.stringify(adapter)})
      const directory = new NodeDirectoryAdapter({ path: ${JSON.stringify(join(dir, 'services'))}, onWriteWorkerFailed: (error) => console.log(error.message) })
      const results = await directory.writeMany([
        { path: 'App-1.json', bytes: new TextEncoder().encode('{ "id": 1 }'), expect: null },
        { path: 'App-2.json', bytes: new TextEncoder().encode('{ "id": 2 }'), expect: null }
      ])
      console.log(JSON.stringify(results.map((result) => 'stat' in result)))
    `
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', program], { timeout: 20_000 })
    // No line about a failed worker: the writes went through it.
    expect(stdout.trim()).toBe('[true,true]')
    expect(readdirSync(join(dir, 'services')).sort()).toEqual(['App-1.json', 'App-2.json'])
  })
})
