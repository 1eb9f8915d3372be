/**
 * A local write made from an older copy of a file.
 *
 * A writer on a node, such as CAS saving a service from the registry it loaded a minute ago, can
 * write back a copy it read before regsync wrote a peer's change into the file. Compared with the
 * last version on disk, that copy puts the peer's older values back, and would replicate as an edit
 * that silently undoes the peer's change: the reload race the project exists to end.
 *
 * So a local write is merged three ways against the known version it is closest to: the current
 * base, or one of the few bases the path had in the last minutes ({@link BaseHistory}). A write
 * derived from an older version differs from it only by the writer's own changes, and from the
 * current base also by everything the peers changed since. A write that is byte for byte an older
 * version is taken as meant (a file restored from a backup), and so is any tie.
 */
import { valuesEqual } from '../codec/canonicalJson.js'
import { isObjectValue, isTaggedValue } from '../value.js'
import type { Value } from '../value.js'

/** How long a replaced base is remembered, and how many per path. */
export const STALE_WINDOW_MS = 10 * 60 * 1000
export const STALE_DEPTH = 3

/** The base a local write is merged against. */
export interface MergeBase {
  readonly base: Value
  /** True when an older version was chosen: the write was made from a stale copy. */
  readonly stale: boolean
}

/**
 * Chooses the merge base for `next` among `current` and the older versions (newest first): the one
 * from which `next` changes the fewest leaves, `current` on a tie, and `current` when `next` equals
 * one of the older versions exactly. `older` is only called when an older version could win: a
 * write that changes one leaf of `current` (most edits) keeps it without parsing the history.
 */
export function chooseMergeBase(current: Value, older: () => readonly Value[], next: Value): MergeBase {
  let fewest = changedLeaves(current, next)
  // Only a version with fewer changes could win, and one with none is `next` itself: taken as meant.
  if (fewest <= 1) return { base: current, stale: false }
  const versions = older()
  if (versions.length === 0 || versions.some((version) => valuesEqual(version, next))) return { base: current, stale: false }
  let best: MergeBase = { base: current, stale: false }
  for (const version of versions) {
    if (fewest === 0) break
    const changed = changedLeaves(version, next)
    if (changed < fewest) {
      best = { base: version, stale: true }
      fewest = changed
    }
  }
  return best
}

/** How many leaves differ between two values: objects are compared key by key, the rest whole. */
export function changedLeaves(a: Value, b: Value): number {
  const aObject = objectOf(a)
  const bObject = objectOf(b)
  if (aObject === undefined || bObject === undefined || aObject.tag !== bObject.tag) return valuesEqual(a, b) ? 0 : 1
  let changed = 0
  for (const [key, value] of aObject.map) {
    const other = bObject.map.get(key)
    changed += other === undefined ? 1 : changedLeaves(value, other)
  }
  for (const key of bObject.map.keys()) if (!aObject.map.has(key)) changed++
  return changed
}

function objectOf(value: Value): { map: Map<string, Value>; tag: string | undefined } | undefined {
  if (isObjectValue(value)) return { map: value, tag: undefined }
  if (isTaggedValue(value) && isObjectValue(value.value)) return { map: value.value, tag: value.tag }
  return undefined
}
