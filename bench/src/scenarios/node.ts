/**
 * `node`: one node, no peers. Measures what the foundation promises on 10,000 definitions of about
 * 2 KB: importing into an empty node, a cold start from LevelDB, RSS, and the LevelDB size after
 * 100,000 single-field edits spread over 1,000 files.
 */
import { mkdir, writeFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { openReplica } from 'regsync'
import { definition, fileName, prng } from '../definitions.js'
import { dirBytes } from '../cluster/procStats.js'
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js'

const execFileAsync = promisify(execFile)
const CHILD = fileURLToPath(new URL('../cluster/openReplicaOnce.js', import.meta.url))

interface ColdStart {
  readonly openMs: number
  readonly files: number
  readonly rssMiB: number
}

/**
 * A running node looks at the files it just imported again after 2.5 s, to record stats that vouch
 * for them; the import's process stays this long, so that the cold start is a restart of a node that
 * has run, not one that must read every file again.
 */
const IMPORT_LINGER_MS = 3000

/** Opens the replica in a fresh Node process and reads what it measured; it stays open `lingerMs` more. */
async function openInChild(dir: string, data: string, lingerMs = 0): Promise<ColdStart> {
  const { stdout } = await execFileAsync(process.execPath, ['--expose-gc', CHILD, dir, data, String(lingerMs)], { maxBuffer: 1024 * 1024 })
  return JSON.parse(stdout.trim().split('\n').pop()!) as ColdStart
}

/** The scenario. */
export const scenario: Scenario = {
  description: 'one node, no peers: import of 10,000 definitions, cold start, RSS, storage after 100,000 edits',
  run
}

async function run(context: ScenarioContext): Promise<ScenarioResult> {
  const files = context.quick ? 1000 : 10_000
  const editFiles = context.quick ? 100 : 1000
  const edits = context.quick ? 10_000 : 100_000
  const dir = join(context.work, 'services')
  const data = join(context.work, 'data')
  await mkdir(dir, { recursive: true })
  let rawBytes = 0
  for (let id = 1; id <= files; id++) {
    const text = definition(id)
    rawBytes += Buffer.byteLength(text)
    await writeFile(join(dir, fileName(id)), text)
  }
  context.progress(`wrote ${files} definitions, ${(rawBytes / 1024 / 1024).toFixed(1)} MiB`)

  // The import and the cold start each run in a fresh process, as an agent's first start and restart do.
  const imported = await openInChild(dir, data, IMPORT_LINGER_MS)
  if (imported.files !== files) throw new Error(`imported ${imported.files} of ${files} files`)
  const importMs = imported.openMs
  context.progress(`import ${importMs.toFixed(0)} ms, RSS ${imported.rssMiB.toFixed(0)} MiB`)

  const coldStart = await openInChild(dir, data)
  if (coldStart.files !== files) throw new Error(`cold start found ${coldStart.files} of ${files} files`)
  const coldStartMs = coldStart.openMs
  context.progress(`cold start ${coldStartMs.toFixed(0)} ms, RSS ${coldStart.rssMiB.toFixed(0)} MiB`)

  // The storage test runs on its own 1,000-file set, as the target is stated.
  await rm(dir, { recursive: true })
  await rm(data, { recursive: true })
  await mkdir(dir)
  let editRaw = 0
  for (let id = 1; id <= editFiles; id++) {
    const text = definition(id)
    editRaw += Buffer.byteLength(text)
    await writeFile(join(dir, fileName(id)), text)
  }
  const replica = await openReplica({ dir, data, rescanIntervalMs: 0, watch: false })
  const random = prng(context.seed)
  const started = performance.now()
  const BATCH = Math.min(200, editFiles / 2)
  for (let done = 0; done < edits; done += BATCH) {
    const puts: Array<Promise<void>> = []
    const seen = new Set<number>()
    for (let i = 0; i < BATCH; i++) {
      let id = 1 + Math.floor(random() * editFiles)
      while (seen.has(id)) id = 1 + (id % editFiles)
      seen.add(id)
      puts.push(replica.put(fileName(id), definition(id, `edit ${done + i} ${random().toString(36).slice(2)}`)))
    }
    await Promise.all(puts)
    if (done % 10_000 === 0) context.progress(`edits ${done}/${edits}`)
  }
  const editMs = performance.now() - started
  await replica.close()
  const storageBytes = await dirBytes(data)
  await rm(context.work, { recursive: true, force: true })

  return {
    metrics: {
      files,
      rawMiB: rawBytes / 1024 / 1024,
      importMs,
      coldStartMs,
      rssAfterImportMiB: imported.rssMiB,
      rssAfterColdStartMiB: coldStart.rssMiB,
      edits,
      editFiles,
      editsPerSecond: edits / (editMs / 1000),
      storageMiB: storageBytes / 1024 / 1024,
      storageRatio: storageBytes / editRaw
    },
    targets: {
      importMs: files === 10_000 ? 3000 : undefined,
      coldStartMs: files === 10_000 ? 1000 : undefined,
      rssAfterImportMiB: 200,
      rssAfterColdStartMiB: 200,
      storageRatio: 3
    },
    correct: true
  }
}
