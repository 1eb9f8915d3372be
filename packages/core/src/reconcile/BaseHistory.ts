/**
 * The bases each path had in the last minutes, newest first: what a writer on this node may have
 * read before regsync replaced the file. Only paths that changed have any, and at most a few each,
 * so the memory is small next to the document. Not persisted: after a restart a stale write is
 * merged against the current base, as before.
 */
/** Expired versions of every path are dropped once per this many retirements. */
const SWEEP_EVERY = 1000

export class BaseHistory {
  readonly #versions = new Map<string, Array<{ readonly text: string; readonly until: number }>>()
  #retiredSinceSweep = 0

  constructor(
    private readonly windowMs: number,
    private readonly depth: number,
    private readonly now: () => number
  ) {}

  /** Records that `text` stopped being the base of `path` just now. */
  retire(path: string, text: string): void {
    const versions = this.#live(path)
    if (versions[0]?.text === text) return
    versions.unshift({ text, until: this.now() })
    if (versions.length > this.depth) versions.length = this.depth
    this.#versions.set(path, versions)
    // Paths that are never touched again would keep theirs: drop what expired now and then.
    if (++this.#retiredSinceSweep >= SWEEP_EVERY) {
      this.#retiredSinceSweep = 0
      for (const known of [...this.#versions.keys()]) this.#live(known)
    }
  }

  /** The older bases of `path` still remembered, newest first. */
  older(path: string): string[] {
    return this.#live(path).map((version) => version.text)
  }

  /** Forgets `path` (it was deleted). */
  forget(path: string): void {
    this.#versions.delete(path)
  }

  #live(path: string): Array<{ readonly text: string; readonly until: number }> {
    const versions = this.#versions.get(path)
    if (versions === undefined) return []
    const cutoff = this.now() - this.windowMs
    const live = versions.filter((version) => version.until >= cutoff)
    if (live.length === 0) this.#versions.delete(path)
    else if (live.length !== versions.length) this.#versions.set(path, live)
    return live
  }
}
