/**
 * Sustained load: edits, creates and deletes at a fixed rate, spread over the nodes, each op timed
 * until every node shows it. Open loop: ops are issued on schedule whether or not earlier ones have
 * arrived. A path is not touched again until its last op is on every node, so every op on a path
 * saw the one before it and the final state is known exactly; when every path is busy, the op is
 * counted as skipped.
 */
import { definition, fileName, prng } from '../definitions.js'
import type { SyncSystem } from '../systems/SyncSystem.js'
import { sleep } from '../stats.js'
import { editedDefinition, marker, observed } from './edits.js'
import type { Op, WorkloadLog } from './WorkloadLog.js'

/** What one stretch of load produced. */
export interface ChurnStretch {
  readonly latenciesMs: number[]
  readonly issued: number
  readonly skipped: number
  /** Ops that never reached every node within the timeout. */
  readonly timedOut: number
  readonly firstError?: string
  /** Ops per second actually issued. */
  readonly achievedRate: number
}

/** Drives churn on a system. */
export class ChurnDriver {
  readonly #system: SyncSystem
  readonly #log: WorkloadLog
  readonly #random: () => number
  readonly #seed: number
  readonly #timeoutMs: number
  readonly #live: number[] = []
  readonly #busy = new Set<string>()
  #nextId: number
  #pending: Array<Promise<void>> = []

  constructor(system: SyncSystem, log: WorkloadLog, options: { seed: number; files: number; timeoutMs: number }) {
    this.#system = system
    this.#log = log
    this.#seed = options.seed
    this.#random = prng(options.seed * 7919 + 1)
    this.#timeoutMs = options.timeoutMs
    for (let id = 1; id <= options.files; id++) this.#live.push(id)
    this.#nextId = options.files + 1
  }

  /** Issues ops at `rate` per second for `durationMs`, then waits for all of them to arrive. */
  async run(rate: number, durationMs: number, onProgress: (done: number, total: number) => void): Promise<ChurnStretch> {
    const latencies: number[] = []
    let issued = 0
    let skipped = 0
    let timedOut = 0
    let firstError: string | undefined
    const total = Math.round((rate * durationMs) / 1000)
    const started = performance.now()
    const nodes = Array.from({ length: this.#system.size }, (_, i) => i)
    while (issued + skipped < total) {
      const due = Math.min(total, Math.floor((rate * (performance.now() - started)) / 1000))
      while (issued + skipped < due) {
        const op = this.#issue(nodes)
        if (op === undefined) {
          skipped++
          continue
        }
        issued++
        this.#pending.push(
          op.then(
            (ms) => void latencies.push(ms),
            (error: unknown) => {
              timedOut++
              firstError ??= error instanceof Error ? error.message : String(error)
            }
          )
        )
      }
      onProgress(issued + skipped, total)
      await sleep(2)
    }
    const elapsed = performance.now() - started
    await this.drain()
    return { latenciesMs: latencies, issued, skipped, timedOut, achievedRate: (issued / elapsed) * 1000, ...(firstError === undefined ? {} : { firstError }) }
  }

  /** Waits for every op issued so far. */
  async drain(): Promise<void> {
    const pending = this.#pending
    this.#pending = []
    await Promise.all(pending)
  }

  /** Issues one op; undefined when no path is free. */
  #issue(nodes: readonly number[]): Promise<number> | undefined {
    const node = nodes[Math.floor(this.#random() * nodes.length)]!
    const roll = this.#random()
    const view = this.#system.view
    if (roll < 0.2) {
      const id = this.#nextId++
      const path = fileName(id)
      const mark = marker(this.#seed, this.#log.ops.length, this.#random)
      const text = definition(id, mark)
      return this.#track(path, id, true, view.waitFor(path, text, nodes, this.#timeoutMs), () => this.#log.write(node, path, text, mark), () => this.#system.write(node, path, text))
    }
    const index = this.#pickFree()
    if (index === undefined) return undefined
    const id = this.#live[index]!
    const path = fileName(id)
    // Deletes keep the population steady against the creates.
    if (roll < 0.4 && this.#live.length > 20) {
      this.#live.splice(index, 1)
      return this.#track(path, id, false, view.waitFor(path, undefined, nodes, this.#timeoutMs), () => this.#log.delete(node, path), () => this.#system.remove(node, path))
    }
    const mark = marker(this.#seed, this.#log.ops.length, this.#random)
    const text = editedDefinition(id, mark)
    return this.#track(path, id, undefined, view.waitFor(path, text, nodes, this.#timeoutMs), () => this.#log.write(node, path, text, mark), () => this.#system.write(node, path, text))
  }

  #pickFree(): number | undefined {
    for (let attempt = 0; attempt < 8; attempt++) {
      const index = Math.floor(this.#random() * this.#live.length)
      if (!this.#busy.has(fileName(this.#live[index]!))) return index
    }
    return undefined
  }

  async #track(
    path: string,
    id: number,
    created: boolean | undefined,
    waiting: Promise<Array<number | undefined>>,
    record: () => Op,
    act: () => Promise<void>
  ): Promise<number> {
    this.#busy.add(path)
    const op = record()
    await act()
    // A path whose op never arrives stays busy (the rejection skips the rest): touching it again
    // would leave the final check guessing.
    const ms = observed(op, await waiting)
    if (created === true) this.#live.push(id)
    this.#busy.delete(path)
    return ms
  }
}
