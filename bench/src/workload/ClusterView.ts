/**
 * What the harness has seen of every node's registry: one map per node from path to text, fed by
 * an observer (a directory watcher, or a Yjs map for the no-file baseline). Scenarios wait on it
 * for a path to hold given bytes (or be absent) on a set of nodes, and get the moment each node got
 * there, in `performance.now()` milliseconds.
 */

interface Waiter {
  readonly path: string
  readonly text: string | undefined
  readonly remaining: Set<number>
  readonly times: Array<number | undefined>
  readonly resolve: (times: Array<number | undefined>) => void
  readonly reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout> | undefined
}

/** Thrown when a wait times out: the cluster did not converge. */
export class ConvergenceTimeout extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConvergenceTimeout'
  }
}

/** The live view of all nodes. */
export class ClusterView {
  readonly #nodes: Array<Map<string, string>> = []
  readonly #waiters = new Map<string, Set<Waiter>>()
  readonly #changeListeners = new Set<() => void>()
  #pending = 0
  /** `performance.now()` of the last change seen on any node. */
  lastChange = performance.now()

  constructor(size: number) {
    for (let i = 0; i < size; i++) this.#nodes.push(new Map())
  }

  /** Number of nodes, including stopped ones. */
  get size(): number {
    return this.#nodes.length
  }

  /** Waits not yet resolved. */
  get pending(): number {
    return this.#pending
  }

  /** Adds a node (for `join`) and returns its index. */
  addNode(): number {
    this.#nodes.push(new Map())
    return this.#nodes.length - 1
  }

  /** What node `node` holds at `path`, as last seen. */
  get(node: number, path: string): string | undefined {
    return this.#nodes[node]?.get(path)
  }

  /** Number of files node `node` holds, as last seen. */
  count(node: number): number {
    return this.#nodes[node]?.size ?? 0
  }

  /** Every path node `node` holds, as last seen. */
  entries(node: number): ReadonlyMap<string, string> {
    return this.#nodes[node] ?? new Map()
  }

  /** Whether a wait is pending for `path` on node `node`. */
  awaited(node: number, path: string): boolean {
    const waiters = this.#waiters.get(path)
    if (waiters === undefined) return false
    for (const waiter of waiters) if (waiter.remaining.has(node)) return true
    return false
  }

  /** Records what an observer saw. `at` is when it was seen. */
  set(node: number, path: string, text: string | undefined, at = performance.now()): void {
    const map = this.#nodes[node]
    if (map === undefined) return
    const before = map.get(path)
    if (before === text) return
    if (text === undefined) map.delete(path)
    else map.set(path, text)
    this.lastChange = at
    const waiters = this.#waiters.get(path)
    if (waiters !== undefined) {
      for (const waiter of waiters) {
        if (!waiter.remaining.has(node) || waiter.text !== text) continue
        waiter.remaining.delete(node)
        waiter.times[node] = at
        if (waiter.remaining.size === 0) this.#finish(waiter)
      }
    }
    for (const listener of this.#changeListeners) listener()
  }

  /**
   * Resolves when `path` holds `text` (undefined: absent) on every node of `nodes`, with the time
   * each node got there (undefined for nodes not waited on). Rejects after `timeoutMs`.
   */
  waitFor(path: string, text: string | undefined, nodes: readonly number[], timeoutMs: number): Promise<Array<number | undefined>> {
    return new Promise((resolve, reject) => {
      const now = performance.now()
      const times: Array<number | undefined> = new Array(this.#nodes.length).fill(undefined)
      const remaining = new Set<number>()
      for (const node of nodes) {
        if (this.#nodes[node]?.get(path) === text) times[node] = now
        else remaining.add(node)
      }
      if (remaining.size === 0) return resolve(times)
      const waiter: Waiter = { path, text, remaining, times, resolve, reject, timer: undefined }
      waiter.timer = setTimeout(() => {
        this.#finish(waiter)
        const missing = [...waiter.remaining].map((node) => `node ${node} has ${describe(this.#nodes[node]?.get(path))}`)
        reject(new ConvergenceTimeout(`${path} did not become ${describe(text)} within ${timeoutMs} ms: ${missing.join(', ')}`))
      }, timeoutMs)
      let set = this.#waiters.get(path)
      if (set === undefined) this.#waiters.set(path, (set = new Set()))
      set.add(waiter)
      this.#pending++
    })
  }

  /**
   * Resolves when every node of `nodes` holds the same files, and nothing changed for `quietMs`.
   * Resolves with the time they became identical. Rejects after `timeoutMs`.
   */
  waitIdentical(nodes: readonly number[], quietMs: number, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const started = performance.now()
      let since: number | undefined
      let check: ReturnType<typeof setTimeout> | undefined
      const evaluate = (): void => {
        const now = performance.now()
        if (this.identical(nodes)) {
          since ??= this.lastChange
          if (now - since >= quietMs) return done(() => resolve(since!))
        } else {
          since = undefined
        }
        if (now - started > timeoutMs) {
          return done(() => reject(new ConvergenceTimeout(`nodes ${nodes.join(', ')} were not identical within ${timeoutMs} ms (${this.differences(nodes).slice(0, 3).join('; ')})`)))
        }
      }
      const onChange = (): void => {
        since = undefined
      }
      const done = (finish: () => void): void => {
        this.#changeListeners.delete(onChange)
        clearInterval(check)
        finish()
      }
      this.#changeListeners.add(onChange)
      check = setInterval(evaluate, 20)
      evaluate()
    })
  }

  /** True when every node of `nodes` holds the same paths with the same bytes. */
  identical(nodes: readonly number[]): boolean {
    return this.differences(nodes, 1).length === 0
  }

  /** Paths that differ between `nodes`, described. */
  differences(nodes: readonly number[], limit = 10): string[] {
    const out: string[] = []
    const first = nodes[0]
    if (first === undefined) return out
    const reference = this.#nodes[first]!
    for (const node of nodes.slice(1)) {
      const other = this.#nodes[node]!
      if (other.size !== reference.size) out.push(`node ${first} has ${reference.size} files, node ${node} ${other.size}`)
      for (const [path, text] of reference) {
        if (out.length >= limit) return out
        if (other.get(path) !== text) out.push(`${path} differs between node ${first} and node ${node}`)
      }
      for (const path of other.keys()) {
        if (out.length >= limit) return out
        if (!reference.has(path)) out.push(`${path} is on node ${node} but not on node ${first}`)
      }
    }
    return out
  }

  /**
   * Drops every pending wait (the system is being torn down). They stay unsettled rather than
   * rejected: a scenario that already failed does not await them, and a rejection nobody handles
   * would end the process.
   */
  abort(): void {
    for (const set of [...this.#waiters.values()]) {
      for (const waiter of set) {
        if (waiter.timer !== undefined) clearTimeout(waiter.timer)
        waiter.timer = undefined
      }
    }
    this.#waiters.clear()
    this.#pending = 0
  }

  #finish(waiter: Waiter): void {
    if (waiter.timer !== undefined) clearTimeout(waiter.timer)
    waiter.timer = undefined
    const set = this.#waiters.get(waiter.path)
    if (set?.delete(waiter)) {
      this.#pending--
      if (set.size === 0) this.#waiters.delete(waiter.path)
      if (waiter.remaining.size === 0) waiter.resolve(waiter.times)
    }
  }
}

function describe(text: string | undefined): string {
  return text === undefined ? 'no file' : `${text.length} chars`
}
