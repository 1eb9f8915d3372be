/**
 * The workload's writer, a thread of its own, as CAS or an operator's script is a process of its
 * own. It makes the same synchronous calls a JVM or a shell makes, and the harness's event loop
 * (the fault proxies, the disk observer) keeps running while it writes: a burst of 10,000 writes
 * on the harness's own thread held every proxied link still for seconds.
 *
 * Messages: `{ id, target, text, temp? }`; the reply is `{ id }` or `{ id, error }`.
 */
import { renameSync, writeFileSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'

/** One write: in place, or through `temp` and a rename when `temp` is given. */
export interface WriteRequest {
  readonly id: number
  readonly target: string
  readonly text: string
  readonly temp?: string
}

/** The answer to a {@link WriteRequest}. */
export interface WriteReply {
  readonly id: number
  readonly error?: string
}

parentPort?.on('message', (request: WriteRequest) => {
  let reply: WriteReply
  try {
    if (request.temp === undefined) {
      writeFileSync(request.target, request.text)
    } else {
      writeFileSync(request.temp, request.text)
      renameSync(request.temp, request.target)
    }
    reply = { id: request.id }
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) }
  }
  parentPort!.postMessage(reply)
})
