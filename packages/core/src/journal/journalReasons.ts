import type { JournalKind } from './JournalEntry.js'

/** How a journal entry's log line explains it. */
export const JOURNAL_REASONS: Record<JournalKind, string> = {
  field: 'concurrent edits of the same field',
  create: 'concurrent creation of the same file',
  delete: 'deleted by a peer',
  deleteWins: 'a delete from the cluster won over a local edit',
  stale: 'a stale copy of a deleted file was removed',
  adopt: "a local file lost to the cluster's version",
  reverted: 'a passive node reverted a local change',
  staleWrite: 'a local write was made from an older copy of the file',
  unmerged: "a local edit with no known base replaced the cluster's version whole"
}
