import { hash } from 'node:crypto'

/**
 * The digests of the last live updates a node received, so that a copy of one that arrives again
 * through another peer is dropped before it is decoded.
 *
 * Every node relays live updates as they arrived, byte for byte, so in a full mesh of N nodes each
 * update reaches a node once from its author and once from each other peer. Decoding a copy only to
 * find nothing new costs about 40 % of the first apply; a SHA-256 of the bytes costs under 1 %.
 * Copies arrive within a round trip of each other, so a few thousand digests are plenty; the oldest
 * is forgotten first, and a copy that comes after it was forgotten is decoded as before (applying an
 * update twice changes nothing).
 */
export class RecentUpdates {
  readonly #capacity: number
  readonly #digests = new Set<string>()

  constructor(capacity = 4096) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
    this.#capacity = capacity
  }

  /** Records the update; returns `true` if it was already recorded. */
  seen(update: Uint8Array): boolean {
    const digest = hash('sha256', update, 'base64')
    if (this.#digests.has(digest)) return true
    this.#digests.add(digest)
    if (this.#digests.size > this.#capacity) {
      const oldest = this.#digests.values().next().value
      if (oldest !== undefined) this.#digests.delete(oldest)
    }
    return false
  }

  get size(): number {
    return this.#digests.size
  }
}
