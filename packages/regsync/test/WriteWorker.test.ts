import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { WriteWorker, writeHere } from '../src/WriteWorker.js'
import type { WriteJob } from '../src/landFile.js'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Jobs that write the given contents, each to `App-<i>.json` of a new folder. */
function writeJobs(contents: string[]): { dir: string; jobs: WriteJob[] } {
  const dir = mkdtempSync(join(tmpdir(), 'regsync-landing-'))
  dirs.push(dir)
  const jobs = contents.map((content, i) => ({
    path: `App-${i}.json`,
    full: join(dir, `App-${i}.json`),
    temp: join(dir, `.App-${i}.json.tmp`),
    bytes: new TextEncoder().encode(content),
    expect: null
  }))
  return { dir, jobs }
}

// The worker, and what its caller falls back to when it cannot run: the same results.
describe.each([
  ['the write worker', (jobs: WriteJob[]) => WriteWorker.shared().writeAll(jobs, true)],
  ['this thread', (jobs: WriteJob[]) => writeHere(jobs, true)]
])('writing files on %s', (_name, writeAll) => {
  it('writes, flushes and renames each, with its stat, and leaves a file that appeared meanwhile alone', async () => {
    const { dir, jobs } = writeJobs(['{ "id": 0 }', '{ "id": 1 }', '{ "id": 2 }'])
    // A local edit created App-1.json after the write was planned as a create.
    writeFileSync(join(dir, 'App-1.json'), 'edited locally')
    const landings = await writeAll(jobs)
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
    const { dir, jobs } = writeJobs(['a', 'b'])
    const bad = { ...jobs[0]!, full: join(dir, 'missing-folder', 'App-0.json') }
    const landings = await writeAll([bad, jobs[1]!])
    expect(landings[0]).toMatchObject({ error: { code: 'ENOENT' } })
    expect('stat' in landings[1]!).toBe(true)
    expect(readdirSync(dir)).toEqual(['App-1.json'])
  })

  it('writes more files than it keeps open at once, each with its own bytes, and reports one it cannot create', async () => {
    const contents = Array.from({ length: 150 }, (_, i) => `{ "id": ${i}, "pad": "${'x'.repeat(i)}" }`)
    const { dir, jobs } = writeJobs(contents)
    jobs[70] = { ...jobs[70]!, temp: join(dir, 'missing-folder', '.App-70.json.tmp') }
    const landings = await writeAll(jobs)
    expect(landings[70]).toMatchObject({ error: { code: 'ENOENT' } })
    for (const [i, content] of contents.entries()) {
      if (i !== 70) expect(readFileSync(join(dir, `App-${i}.json`), 'utf8')).toBe(content)
    }
    expect(readdirSync(dir)).toHaveLength(149)
  })
})
