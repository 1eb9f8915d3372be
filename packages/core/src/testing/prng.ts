/**
 * mulberry32: a tiny seeded generator of numbers in [0, 1), so that a randomized test can print its
 * seed when it fails and be replayed from it, and the bench writes the same files in every run. It
 * has an entry point of its own (`@regsync/core/testing/prng`), which does not load vitest.
 */
export function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
