import * as fs from 'node:fs'
import { Worker } from 'node:worker_threads'
import { landFile, openTemp, plainError, stillHolds, writeJobs } from './landFile.js'
import type { Landing, WriteJob } from './landFile.js'

/**
 * The worker's whole program: the write functions, from their source text (so that it runs the
 * same from the compiled package and from the agent's bundle), and one answer per request. A
 * request's bytes come packed in one buffer.
 */
const PROGRAM = `
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
${plainError.toString()}
${stillHolds.toString()}
${openTemp.toString()}
${landFile.toString()}
${writeJobs.toString()}
parentPort.on('message', ({ id, jobs, packed, flush }) => {
  const withBytes = jobs.map((job) => ({ ...job, bytes: packed.subarray(job.offset, job.offset + job.length) }))
  ${writeJobs.name}(fs, withBytes, flush, (results) => parentPort.postMessage({ id, results }))
})
`

interface Request {
  readonly resolve: (results: Landing[]) => void
  readonly reject: (error: Error) => void
}

/**
 * Writes many files with one message to a worker thread. From the caller's thread, each flush is a
 * thread-pool request that cost it 100-140 µs under load (it wakes a pool thread, which on two busy
 * cores often takes the caller's core), the temp file's open and write about 50 µs, and the stat,
 * check and rename about 30 µs more: 0.2-0.4 s of a receiving agent's event loop per 1,000 files,
 * which the caller spends planning its next files instead.
 *
 * One worker per process, started on first use. It holds the process open only while a request is
 * pending. If it fails, pending and later requests run on the caller's thread instead.
 */
export class WriteWorker {
  static #shared: WriteWorker | undefined

  /** The process's one instance. */
  static shared(): WriteWorker {
    WriteWorker.#shared ??= new WriteWorker()
    return WriteWorker.#shared
  }

  #worker: Worker | undefined
  #failed = false
  #nextId = 0
  readonly #pending = new Map<number, Request>()

  /** Writes every file as {@link writeJobs} does; one result per job, in order. */
  async writeAll(jobs: readonly WriteJob[], flush: boolean): Promise<Landing[]> {
    if (jobs.length === 0) return []
    const worker = this.#failed ? undefined : this.#start()
    if (worker === undefined) return await writeHere(jobs, flush)
    const id = this.#nextId++
    let size = 0
    for (const job of jobs) size += job.bytes.byteLength
    const packed = new Uint8Array(size)
    let offset = 0
    const sent = jobs.map(({ bytes, ...job }) => {
      packed.set(bytes, offset)
      offset += bytes.byteLength
      return { ...job, offset: offset - bytes.byteLength, length: bytes.byteLength }
    })
    try {
      return await new Promise<Landing[]>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject })
        if (this.#pending.size === 1) worker.ref()
        worker.postMessage({ id, jobs: sent, packed, flush }, [packed.buffer])
      })
    } catch (error) {
      // The worker died with this request. Whatever it wrote is in place; which files it did not
      // get to is not known, so none is touched again here. Each path's pending write is settled
      // by the next look at it.
      const message = `the write worker stopped: ${(error as Error).message}`
      return jobs.map(() => ({ error: { code: 'REGSYNC_WRITE_WORKER', message } }))
    }
  }

  #start(): Worker | undefined {
    if (this.#worker !== undefined) return this.#worker
    let worker: Worker
    try {
      worker = new Worker(PROGRAM, { eval: true })
    } catch {
      this.#failed = true
      return undefined
    }
    worker.unref()
    worker.on('message', ({ id, results }: { id: number; results: Landing[] }) => {
      const request = this.#pending.get(id)
      if (request === undefined) return
      this.#pending.delete(id)
      if (this.#pending.size === 0) worker.unref()
      request.resolve(results)
    })
    const fail = (error: Error): void => {
      this.#failed = true
      this.#worker = undefined
      const pending = [...this.#pending.values()]
      this.#pending.clear()
      for (const request of pending) request.reject(error)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the write worker exited with code ${code}`)))
    this.#worker = worker
    return worker
  }
}

/**
 * {@link WriteWorker.writeAll} on this thread: each flush in the thread pool, the rest here. What a
 * write worker's caller falls back to, and how a single write is done.
 */
export function writeHere(jobs: readonly WriteJob[], flush: boolean): Promise<Landing[]> {
  return new Promise((resolve) => writeJobs(fs, jobs, flush, resolve))
}
