/**
 * Finds the values that a transaction made lose. In a `Y.Map`, a key holds a chain of items; the
 * visible one is the last. A new item that was written after its writer saw the old one has the
 * old one in its origin chain. If the old visible item is not in that chain, the two were concurrent
 * and the old value lost by clientID order: that value goes to the journal. A value that loses on
 * arrival is never visible here; its author journals it.
 */
import * as Y from 'yjs'

/** Bound on the origin chain walk, so a long history of one key cannot stall a transaction. */
const MAX_CHAIN = 10_000

/**
 * For a key that changed in `transaction`, the item that was visible before and lost to a
 * concurrent write, or `undefined` when the change was a plain overwrite, an add or a delete.
 */
export function concurrentLoser(map: Y.AbstractType<any>, key: string, transaction: Y.Transaction): Y.Item | undefined {
  const winner = (map as unknown as { _map: Map<string, Y.Item> })._map.get(key)
  if (winner === undefined || winner.deleted) return undefined
  const previous = previouslyVisible(winner, transaction)
  if (previous === undefined) return undefined
  return inOriginChain(winner, previous, transaction.doc.store) ? undefined : previous
}

/** The item that was visible under the key before the transaction: deleted in it, created before it. */
function previouslyVisible(winner: Y.Item, transaction: Y.Transaction): Y.Item | undefined {
  let item = winner.left
  for (let steps = 0; item !== null && steps < MAX_CHAIN; steps++, item = item.left) {
    const before = transaction.beforeState.get(item.id.client) ?? 0
    if (item.id.clock < before && Y.isDeleted(transaction.deleteSet, item.id)) return item
    if (item.id.clock < before && !item.deleted) return undefined
  }
  return undefined
}

function inOriginChain(winner: Y.Item, target: Y.Item, store: Y.Doc['store']): boolean {
  let origin = winner.origin
  for (let steps = 0; origin !== null && steps < MAX_CHAIN; steps++) {
    if (Y.compareIDs(origin, target.id)) return true
    let item: Y.Item | Y.GC
    try {
      item = Y.getItem(store, origin)
    } catch {
      return false
    }
    if (!(item instanceof Y.Item)) return false
    origin = item.origin
  }
  return false
}
