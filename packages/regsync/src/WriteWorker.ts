import * as fs from 'node:fs'
import { Worker } from 'node:worker_threads'
import { landFile, landJobs, stillHolds } from './landFile.js'
import type { Landing, LandingJob } from './landFile.js'

/**
 * The worker's whole program: the landing functions, from their source text (so that it runs the
 * same from the compiled package and from the agent's bundle), and one answer per request.
 */
const PROGRAM = `
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
${stillHolds.toString()}
${landFile.toString()}
${landJobs.toString()}
parentPort.on('message', ({ id, jobs, flush }) => {
  ${landJobs.name}(fs, jobs, flush, (results) => parentPort.postMessage({ id, results }))
})
`

interface Request {
  readonly resolve: (results: Landing[]) => void
  readonly reject: (error: Error) => void
}

/**
 * Flushes and lands many temp files with one message to a worker thread. From the caller's thread,
 * each flush is a thread-pool request that cost it 100-140 µs under load (it wakes a pool thread,
 * which on two busy cores often takes the caller's core), and the stat, check and rename of each
 * file about 30 µs more: 0.1-0.3 s of a receiving agent's event loop per 1,000 files.
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
  /** Set once the worker could not start or stopped; from then on, writes land on the calling thread. */
  #failure: Error | undefined
  #nextId = 0
  readonly #pending = new Map<number, Request>()

  /** Why the worker could not start or stopped, if it did: writes then land on the calling thread. */
  get failure(): Error | undefined {
    return this.#failure
  }

  /** Flushes (unless `flush` is false) and lands every temp file; one result per job, in order. */
  async landAll(jobs: readonly LandingJob[], flush: boolean): Promise<Landing[]> {
    if (jobs.length === 0) return []
    const worker = this.#failure !== undefined ? undefined : this.#start()
    if (worker === undefined) return await landHere(jobs, flush)
    const id = this.#nextId++
    try {
      return await new Promise<Landing[]>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject })
        if (this.#pending.size === 1) worker.ref()
        worker.postMessage({ id, jobs, flush })
      })
    } catch (error) {
      // The worker died with this request. Whatever it landed is in place; which files it did not
      // get to is not known, so none is touched again here (a descriptor may already be closed and
      // its number reused). Each path's pending write is settled by the next look at it.
      const { message } = error as Error
      return jobs.map(() => ({ error: { code: 'REGSYNC_WRITE_WORKER', message } }))
    }
  }

  #start(): Worker | undefined {
    if (this.#worker !== undefined) return this.#worker
    let worker: Worker
    try {
      // The descriptors are the caller's: the worker closes them without having opened them. No
      // options of the process's own (such as --input-type=module, which the program cannot run under).
      worker = new Worker(PROGRAM, { eval: true, trackUnmanagedFds: false, execArgv: [] })
    } catch (error) {
      this.#failure = new Error(`the write worker could not start: ${(error as Error).message}`, { cause: error })
      return undefined
    }
    worker.on('message', ({ id, results }: { id: number; results: Landing[] }) => {
      const request = this.#pending.get(id)
      if (request === undefined) return
      this.#pending.delete(id)
      if (this.#pending.size === 0) worker.unref()
      request.resolve(results)
    })
    const fail = (error: Error): void => {
      this.#failure ??= new Error(`the write worker stopped: ${error.message}`, { cause: error })
      this.#worker = undefined
      const pending = [...this.#pending.values()]
      this.#pending.clear()
      for (const request of pending) request.reject(this.#failure)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the write worker exited with code ${code}`)))
    // After the listeners: a 'message' listener added later would hold the process open again.
    worker.unref()
    this.#worker = worker
    return worker
  }
}

/**
 * {@link WriteWorker.landAll} on this thread: each flush in the thread pool, each landing here. What a
 * write worker's caller falls back to, and how a single write lands.
 */
export function landHere(jobs: readonly LandingJob[], flush: boolean): Promise<Landing[]> {
  return new Promise((resolve) => landJobs(fs, jobs, flush, resolve))
}
