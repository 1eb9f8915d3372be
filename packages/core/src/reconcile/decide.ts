/**
 * The one rule that keeps a path on disk and in the document in step. Watcher events, the periodic
 * rescan, remote changes and the start-up pass all end here, with what is known of the path:
 *
 * - `disk`: absent, or present with the hash of its bytes;
 * - `base`: the index record, the hash of the bytes last known to match the document;
 * - `doc`: whether the document holds the path live, as a tombstone (deleted), or has never seen it.
 *
 * Echo is suppressed by comparing hashes, not by time windows.
 */

/** What is on disk at a path. */
export type DiskState = { readonly kind: 'absent' } | { readonly kind: 'present'; readonly hash: string }

/** What the document holds at a path. `live` carries the hash of its materialized bytes. */
export type DocState =
  | { readonly kind: 'live'; readonly hash: string }
  | { readonly kind: 'tombstone' }
  | { readonly kind: 'unknown' }

/** What the reconcile index knows of a path. */
export interface BaseState {
  /** Hash of the bytes last known on disk and in the document, when the path is live. */
  readonly base?: string | undefined
  /** Hash of the last bytes of a path that was deleted, to tell a stale copy from a re-creation. */
  readonly deleted?: string | undefined
}

/** The decision for one path. */
export type Decision =
  /** Disk and document agree. */
  | { readonly kind: 'none' }
  /** The document changed: write its bytes. */
  | { readonly kind: 'write' }
  /** The document deleted the path: remove the file. */
  | { readonly kind: 'remove' }
  /** The file changed or is new: bring it into the document (merge with `base` when known). */
  | { readonly kind: 'import'; readonly create: boolean }
  /** The file was deleted locally: delete the entry. */
  | { readonly kind: 'delete' }
  /** Both sides are gone: forget the path's base. */
  | { readonly kind: 'forget' }
  /**
   * A file the cluster deleted, with no base here: a stale copy. Remove it. `known` is false when
   * the node has no record of the deleted bytes, so the file goes to the journal first.
   */
  | { readonly kind: 'stale'; readonly known: boolean }
  /** A local edit met a delete from the cluster: the delete wins, the edit goes to the journal. */
  | { readonly kind: 'deleteWins' }
  /** A file with no base that the document also holds: the document wins, the file is journaled if it differs. */
  | { readonly kind: 'adopt' }

/** Decides what to do with one path. Pure: it reads nothing and changes nothing. */
export function decide(disk: DiskState, base: BaseState | undefined, doc: DocState): Decision {
  const baseHash = base?.base
  if (disk.kind === 'present') {
    if (baseHash !== undefined) {
      if (disk.hash === baseHash) {
        if (doc.kind === 'live') return doc.hash === baseHash ? { kind: 'none' } : { kind: 'write' }
        return { kind: 'remove' }
      }
      // The file changed since it last matched the document.
      if (doc.kind === 'live') return doc.hash === disk.hash ? { kind: 'adopt' } : { kind: 'import', create: false }
      if (doc.kind === 'tombstone') return { kind: 'deleteWins' }
      return { kind: 'import', create: true }
    }
    // A file the index has no base for.
    if (doc.kind === 'live') return { kind: 'adopt' }
    if (doc.kind === 'tombstone') {
      if (base?.deleted === undefined) return { kind: 'stale', known: false }
      if (base.deleted === disk.hash) return { kind: 'stale', known: true }
      return { kind: 'import', create: true }
    }
    return { kind: 'import', create: true }
  }
  if (baseHash !== undefined) {
    if (doc.kind === 'live') return { kind: 'delete' }
    return { kind: 'forget' }
  }
  if (doc.kind === 'live') return { kind: 'write' }
  return { kind: 'none' }
}
