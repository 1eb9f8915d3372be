/** Why a value went to the conflict journal. */
export type JournalKind =
  /** A concurrent write of the same field won; `value` is the losing value. */
  | 'field'
  /** Another node created the same file concurrently and won; `bytes` is the losing file. */
  | 'create'
  /** A peer deleted the file; `bytes` is the file as this node last had it. */
  | 'delete'
  /** A local edit met a delete from the cluster; the delete won, `bytes` is the edited file. */
  | 'deleteWins'
  /** A file the cluster had deleted turned up on disk and was removed as a stale copy. */
  | 'stale'
  /** A file with no base here lost to the document's version of the same path. */
  | 'adopt'
  /** A passive node reverted a local edit to the cluster's version; `bytes` is the reverted file. */
  | 'reverted'
  /**
   * A local write was made from an older copy of the file: the fields that it alone had older were
   * kept as the cluster has them; `bytes` is the file as it was written.
   */
  | 'staleWrite'
  /**
   * A local edit whose base was not known (the document had moved when the node stopped, before the
   * file was written) replaced the document's version whole instead of field by field; `bytes` is
   * the version it replaced.
   */
  | 'unmerged'

/** One value that lost and was kept so that an operator can restore it. */
export interface JournalEntry {
  /** Sortable by time: `<ms since epoch, 13 digits>-<node-unique suffix>`. */
  readonly id: string
  /** When it was journaled, ms since the epoch. */
  readonly at: number
  /** The registry path. */
  readonly path: string
  readonly kind: JournalKind
  /** For `field`: the key path inside the definition. */
  readonly field?: readonly string[]
  /** For `field`: the losing value in canonical leaf encoding (`encodeLeaf`). */
  readonly value?: string
  /** The whole file text: the lost file, or for `field` the file before the loss. */
  readonly bytes?: string
  /** Where the winning change came from (`peer:<id>`, `disk`, `api`, ...). */
  readonly from: string
}
