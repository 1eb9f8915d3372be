/** File writes as the workload does them, and directory snapshots. */
import { renameSync, writeFileSync } from 'node:fs'
import { readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

let tempCounter = 0

/**
 * Writes `text` to `dir/path`: `inplace` truncates and writes the file itself, as CAS does (a
 * reader can see it half-written); `atomic` writes a dot-prefixed temp file and renames it.
 *
 * Synchronous, as a JVM or a shell script writes: through the promise API each write would wait
 * for three turns of libuv's thread pool behind the observer's reads, and a burst of 1,000 files
 * would measure the harness instead of the system under test.
 */
export async function writeDefinition(dir: string, path: string, text: string, mode: 'inplace' | 'atomic'): Promise<void> {
  const target = join(dir, path)
  if (mode === 'inplace') return writeFileSync(target, text)
  const temp = join(dir, `.bench-${process.pid}-${++tempCounter}.tmp`)
  writeFileSync(temp, text)
  renameSync(temp, target)
}

/** Removes `dir/path`; a file that is already gone is fine. */
export async function removeDefinition(dir: string, path: string): Promise<void> {
  await rm(join(dir, path), { force: true })
}

/** Every non-dot file of a flat directory, with its text. */
export async function snapshotDir(dir: string, ignore: (name: string) => boolean = () => false): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return out
  }
  for (const name of names.sort()) {
    if (name.startsWith('.') || ignore(name)) continue
    try {
      out.set(name, await readFile(join(dir, name), 'utf8'))
    } catch {
      // A directory, or removed meanwhile.
    }
  }
  return out
}

/** Writes many files into `dir` with bounded concurrency. */
export async function writeMany(dir: string, files: ReadonlyMap<string, string>): Promise<void> {
  const entries = [...files]
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const [path, text] = entries[next++]!
      await writeFile(join(dir, path), text)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
}
