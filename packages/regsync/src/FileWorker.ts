import * as fs from 'node:fs'
import { Worker } from 'node:worker_threads'
import { landFile, landJobs, stillHolds } from './landFile.js'
import type { Landing, LandingJob } from './landFile.js'
import { listTree } from './listTree.js'
import type { Listing, ListingRequest } from './listTree.js'

/**
 * The worker's whole program: the landing and listing functions, from their source text (so that
 * it runs the same from the compiled package and from the agent's bundle), and one answer per request.
 */
const PROGRAM = `
const { parentPort } = require('node:worker_threads')
const fs = require('node:fs')
${stillHolds.toString()}
${landFile.toString()}
${landJobs.toString()}
${listTree.toString()}
parentPort.on('message', ({ id, jobs, flush, listing }) => {
  if (listing !== undefined) parentPort.postMessage({ id, results: ${listTree.name}(fs, listing) })
  else ${landJobs.name}(fs, jobs, flush, (results) => parentPort.postMessage({ id, results }))
})
`

interface Request {
  readonly resolve: (results: never) => void
  readonly reject: (error: Error) => void
}

/**
 * A worker thread for the bulk file work of a {@link NodeDirectoryAdapter}, off the event loop:
 *
 * - It flushes and lands many temp files with one message. From the caller's thread, each flush is
 *   a thread-pool request that cost it 100-140 µs under load (it wakes a pool thread, which on two
 *   busy cores often takes the caller's core), and the stat, check and rename of each file about
 *   30 µs more: 0.1-0.3 s of a receiving agent's event loop per 1,000 files.
 * - It lists the directory with each file's stat: 10,000 files took the event loop 60-80 ms, at
 *   every start (while the document loads) and every full rescan.
 *
 * One worker per process, started on first use or by {@link start}. It holds the process open only
 * while a request is pending. If it fails, pending and later requests run on the caller's thread.
 */
export class FileWorker {
  static #shared: FileWorker | undefined

  /** The process's one instance. */
  static shared(): FileWorker {
    FileWorker.#shared ??= new FileWorker()
    return FileWorker.#shared
  }

  #worker: Worker | undefined
  /** Set once the worker could not start or stopped; from then on, its work runs on the calling thread. */
  #failure: Error | undefined
  #nextId = 0
  readonly #pending = new Map<number, Request>()

  /** Why the worker could not start or stopped, if it did: its work then runs on the calling thread. */
  get failure(): Error | undefined {
    return this.#failure
  }

  /** Starts the worker now, if it is not running yet, instead of at its first request. */
  start(): void {
    if (this.#failure === undefined) this.#start()
  }

  /** Flushes (unless `flush` is false) and lands every temp file; one result per job, in order. */
  async landAll(jobs: readonly LandingJob[], flush: boolean): Promise<Landing[]> {
    if (jobs.length === 0) return []
    const worker = this.#failure !== undefined ? undefined : this.#start()
    if (worker === undefined) return await landHere(jobs, flush)
    try {
      return await this.#ask<Landing[]>(worker, { jobs, flush })
    } catch (error) {
      // The worker died with this request. Whatever it landed is in place; which files it did not
      // get to is not known, so none is touched again here (a descriptor may already be closed and
      // its number reused). Each path's pending write is settled by the next look at it.
      const { message } = error as Error
      return jobs.map(() => ({ error: { code: 'REGSYNC_WRITE_WORKER', message } }))
    }
  }

  /** Lists a directory (see {@link listTree}); on this thread if the worker cannot run, or died meanwhile. */
  async list(request: ListingRequest): Promise<Listing> {
    const worker = this.#failure !== undefined ? undefined : this.#start()
    if (worker === undefined) return listTree(fs, request)
    try {
      return await this.#ask<Listing>(worker, { listing: request })
    } catch {
      // A listing changes nothing but leftover temp files: it is safe to run again.
      return listTree(fs, request)
    }
  }

  #ask<T>(worker: Worker, message: object): Promise<T> {
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (results: never) => void, reject })
      if (this.#pending.size === 1) worker.ref()
      worker.postMessage({ id, ...message })
    })
  }

  #start(): Worker | undefined {
    if (this.#worker !== undefined) return this.#worker
    let worker: Worker
    try {
      // The descriptors are the caller's: the worker closes them without having opened them. No
      // options of the process's own (such as --input-type=module, which the program cannot run under).
      worker = new Worker(PROGRAM, { eval: true, trackUnmanagedFds: false, execArgv: [] })
    } catch (error) {
      this.#failure = new Error(`the file worker could not start: ${(error as Error).message}`, { cause: error })
      return undefined
    }
    worker.on('message', ({ id, results }: { id: number; results: never }) => {
      const request = this.#pending.get(id)
      if (request === undefined) return
      this.#pending.delete(id)
      if (this.#pending.size === 0) worker.unref()
      request.resolve(results)
    })
    const fail = (error: Error): void => {
      this.#failure ??= new Error(`the file worker stopped: ${error.message}`, { cause: error })
      this.#worker = undefined
      const pending = [...this.#pending.values()]
      this.#pending.clear()
      for (const request of pending) request.reject(this.#failure)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the file worker exited with code ${code}`)))
    // After the listeners: a 'message' listener added later would hold the process open again.
    worker.unref()
    this.#worker = worker
    return worker
  }
}

/**
 * {@link FileWorker.landAll} on this thread: each flush in the thread pool, each landing here. What a
 * file worker's caller falls back to, and how a single write lands.
 */
export function landHere(jobs: readonly LandingJob[], flush: boolean): Promise<Landing[]> {
  return new Promise((resolve) => landJobs(fs, jobs, flush, resolve))
}
