import { fdatasync as fdatasyncCallback } from 'node:fs'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'

const fdatasync = promisify(fdatasyncCallback)

/**
 * The worker's whole program: it `fdatasync`s the descriptors of each request, all at once in the
 * thread pool, and answers once with an error message (or `null`) per descriptor. Descriptors are
 * the process's, so a worker may sync what the main thread opened. Source text rather than a file,
 * so that it runs the same from the compiled package and from the agent's bundle.
 */
const PROGRAM = `
const { parentPort } = require('node:worker_threads')
const { fdatasync } = require('node:fs')
parentPort.on('message', ({ id, fds }) => {
  const errors = new Array(fds.length).fill(null)
  let left = fds.length
  if (left === 0) parentPort.postMessage({ id, errors })
  fds.forEach((fd, i) => fdatasync(fd, (error) => {
    if (error) errors[i] = error.code ? error.code + ': ' + error.message : String(error)
    if (--left === 0) parentPort.postMessage({ id, errors })
  }))
})
`

interface Request {
  readonly resolve: (errors: Array<string | null>) => void
  readonly reject: (error: Error) => void
}

/**
 * Syncs many files' data with one message to a worker thread, instead of one thread-pool request
 * per file from the caller's thread. Under load each such request cost the caller 100-140 µs (it
 * wakes a pool thread, which on two busy cores often takes the caller's core): 100-140 ms of a
 * receiving agent's event loop for 1,000 files.
 *
 * One worker per process, started on first use. It holds the process open only while a request is
 * pending. If it fails, pending and later requests fall back to the thread pool from this thread.
 */
export class FsyncThread {
  static #shared: FsyncThread | undefined

  /** The process's one instance. */
  static shared(): FsyncThread {
    FsyncThread.#shared ??= new FsyncThread()
    return FsyncThread.#shared
  }

  #worker: Worker | undefined
  #failed = false
  #nextId = 0
  readonly #pending = new Map<number, Request>()

  /**
   * `fdatasync`s every descriptor. Resolves with an error per descriptor (`undefined` for those that
   * synced); rejects only if the descriptors could not be handed over at all.
   */
  async syncAll(fds: readonly number[]): Promise<Array<Error | undefined>> {
    if (fds.length === 0) return []
    const worker = this.#failed ? undefined : this.#start()
    if (worker === undefined) return await syncHere(fds)
    const id = this.#nextId++
    let errors: Array<string | null>
    try {
      errors = await new Promise<Array<string | null>>((resolve, reject) => {
        this.#pending.set(id, { resolve, reject })
        if (this.#pending.size === 1) worker.ref()
        worker.postMessage({ id, fds })
      })
    } catch {
      // The worker died with this request; the descriptors are still open here.
      return await syncHere(fds)
    }
    return errors.map((message) => (message === null ? undefined : new Error(`fdatasync failed: ${message}`)))
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
    worker.on('message', ({ id, errors }: { id: number; errors: Array<string | null> }) => {
      const request = this.#pending.get(id)
      if (request === undefined) return
      this.#pending.delete(id)
      if (this.#pending.size === 0) worker.unref()
      request.resolve(errors)
    })
    const fail = (error: Error): void => {
      this.#failed = true
      this.#worker = undefined
      const pending = [...this.#pending.values()]
      this.#pending.clear()
      for (const request of pending) request.reject(error)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the fsync worker exited with code ${code}`)))
    this.#worker = worker
    return worker
  }
}

async function syncHere(fds: readonly number[]): Promise<Array<Error | undefined>> {
  return await Promise.all(
    fds.map((fd) =>
      fdatasync(fd).then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error : new Error(String(error)))
      )
    )
  )
}
