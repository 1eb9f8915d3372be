import { mkdtemp, rm, readdir, readFile, copyFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The shared corpus of real CAS definitions, beside the repository. */
export const CORPUS = fileURLToPath(new URL('../../../shared/corpus/', import.meta.url))

/** One manifest row of the corpus. */
export interface CorpusFile {
  readonly file: string
  readonly format: 'json' | 'yaml'
  readonly parse: 'strict-json' | 'hjson-only' | 'yaml' | 'unparseable'
  readonly id?: string
  readonly notes: readonly string[]
  readonly bytes: number
}

/** The corpus manifest. */
export async function corpusManifest(): Promise<CorpusFile[]> {
  return JSON.parse(await readFile(join(CORPUS, 'MANIFEST.json'), 'utf8')) as CorpusFile[]
}

/** A fresh temp dir; removed by the returned cleanup. */
export async function tempDir(prefix = 'regsync-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

/** Removes a directory tree. */
export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true })
}

/** Copies corpus files into `dir`. */
export async function copyCorpus(dir: string, files: readonly string[]): Promise<void> {
  for (const file of files) await copyFile(join(CORPUS, 'services', file), join(dir, file))
}

/** Every non-dot file of a directory (not recursive) with its bytes. */
export async function snapshotDir(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>()
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.')) continue
    try {
      out.set(name, await readFile(join(dir, name)))
    } catch (error) {
      // Removed between the listing and the read: it is not there.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
  return out
}

/** mtime of every non-dot file of a directory. */
export async function mtimes(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.')) continue
    out.set(name, (await stat(join(dir, name))).mtimeMs)
  }
  return out
}

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Edits a file as a careful person would: read, change, write a temp file, and rename it over the
 * original only if the file still holds what was read; otherwise start again. A plain
 * read-modify-write would race with the agent writing a peer's change in between, and write the
 * stale content back as a new edit. Returns whether the edit was made and was still on disk right
 * after its rename.
 */
export async function editFile(path: string, change: (text: string) => string | undefined): Promise<boolean> {
  const { readFileSync, writeFileSync, renameSync, unlinkSync } = await import('node:fs')
  const { dirname, basename, join: joinPath } = await import('node:path')
  const readNow = (): string | undefined => {
    try {
      return readFileSync(path, 'utf8')
    } catch {
      return undefined
    }
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = readNow()
    if (before === undefined) return false
    const after = change(before)
    if (after === undefined || after === before) return false
    const temp = joinPath(dirname(path), `.${basename(path)}.edit-${process.pid}-${attempt}`)
    writeFileSync(temp, after)
    // Check and rename back to back, synchronously, to keep the window with the agent's writes tiny.
    if (readNow() === before) {
      renameSync(temp, path)
      // An agent that had checked the file just before this rename, and renames its own write right
      // after it, replaces the edit before anything can read it: the race of two checking writers
      // that docs/operations.md documents. No regsync can see such an edit, so it is not one.
      return readNow() === after
    }
    unlinkSync(temp)
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  return false
}
