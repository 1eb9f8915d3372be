/**
 * Typed transaction origins. Every Yjs transaction regsync makes carries one, and loops are broken
 * by branching on `source`: an update that came from a peer is not written back to that peer, a
 * change imported from disk is not written back to disk.
 */
export type TransactionOrigin =
  | { readonly source: 'disk' }
  | { readonly source: 'peer'; readonly peerId: string }
  | { readonly source: 'api' }
  | { readonly source: 'storage' }
  | { readonly source: 'restore'; readonly entryId: string }

/** Narrows an arbitrary Yjs origin to one of ours, or `undefined` for foreign origins. */
export function asOrigin(origin: unknown): TransactionOrigin | undefined {
  if (typeof origin !== 'object' || origin === null) return undefined
  const source = (origin as { source?: unknown }).source
  return source === 'disk' || source === 'peer' || source === 'api' || source === 'storage' || source === 'restore'
    ? (origin as TransactionOrigin)
    : undefined
}

/** Where a change came from, in a form that fits a log line or a journal entry. */
export function describeOrigin(origin: TransactionOrigin | undefined): string {
  if (origin === undefined) return 'unknown'
  switch (origin.source) {
    case 'disk':
      return 'disk'
    case 'peer':
      return `peer:${origin.peerId}`
    case 'restore':
      return `restore:${origin.entryId}`
    default:
      return origin.source
  }
}
