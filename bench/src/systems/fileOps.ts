/** File writes as the workload does them, and directory snapshots. */
import { Worker } from 'node:worker_threads'
import type { WriteReply, WriteRequest } from './writerThread.js'
import { readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

let tempCounter = 0

/**
 * Writes `text` to `dir/path`: `inplace` truncates and writes the file itself, as CAS does (a
 * reader can see it half-written); `atomic` writes a dot-prefixed temp file and renames it.
 *
 * The write is made by the writer thread ({@link writerThread}), with synchronous calls as a JVM or
 * a shell script makes them: through the promise API each write would wait for three turns of
 * libuv's thread pool behind the observer's reads, and on this thread a burst would stop the fault
 * proxies and the observer until it ended.
 */
export function writeDefinition(dir: string, path: string, text: string, mode: 'inplace' | 'atomic'): Promise<void> {
  const target = join(dir, path)
  const temp = mode === 'atomic' ? join(dir, `.bench-${process.pid}-${++tempCounter}.tmp`) : undefined
  return writer().write(target, text, temp)
}

/** The writer thread, started on first use; it does not keep the process alive. */
let sharedWriter: WriterThread | undefined
function writer(): WriterThread {
  sharedWriter ??= new WriterThread()
  return sharedWriter
}

class WriterThread {
  readonly #worker = new Worker(new URL('./writerThread.js', import.meta.url))
  readonly #waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>()
  #nextId = 0

  constructor() {
    this.#worker.unref()
    this.#worker.on('message', (reply: WriteReply) => {
      const waiter = this.#waiting.get(reply.id)
      this.#waiting.delete(reply.id)
      if (reply.error === undefined) waiter?.resolve()
      else waiter?.reject(new Error(reply.error))
    })
    this.#worker.on('error', (error) => {
      for (const waiter of this.#waiting.values()) waiter.reject(error)
      this.#waiting.clear()
      sharedWriter = undefined
    })
  }

  write(target: string, text: string, temp: string | undefined): Promise<void> {
    const id = ++this.#nextId
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject })
      const request: WriteRequest = temp === undefined ? { id, target, text } : { id, target, text, temp }
      this.#worker.postMessage(request)
    })
  }
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
