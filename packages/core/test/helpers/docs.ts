/** Yjs documents for the engine's tests: fixed client ids, syncing, and peers that relay in any order. */
import * as Y from 'yjs'

/** A document whose client id is `client`, so that conflicts resolve the same way in every run. */
export function docWithClient(client: number): Y.Doc {
  const doc = new Y.Doc()
  doc.clientID = client
  return doc
}

/** Gives `to` everything `from` has that it lacks. */
export function sync(from: Y.Doc, to: Y.Doc): void {
  Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))
}

/**
 * Documents that keep, for each other document, the updates they made or received and have not handed
 * on yet, as peers that relay do. Updates move only when a test hands them on.
 */
export class RelayingDocs {
  readonly docs: Y.Doc[]
  /** outboxes[from][to]: updates `from` made (or relayed) that `to` has not been given yet. */
  readonly #outboxes: Uint8Array[][][]

  constructor(clients: readonly number[]) {
    this.docs = clients.map(docWithClient)
    this.#outboxes = this.docs.map(() => this.docs.map(() => []))
    this.docs.forEach((doc, from) => {
      doc.on('update', (update: Uint8Array, origin: unknown) => {
        if (origin === 'remote') return
        this.docs.forEach((_, to) => {
          if (to !== from) this.#outboxes[from]![to]!.push(update)
        })
      })
    })
  }

  /** How many updates `from` holds for `to`. */
  pending(from: number, to: number): number {
    return this.#outboxes[from]![to]!.length
  }

  /**
   * Hands `count` of the updates `from` holds for `to` to it, each chosen by `choose` (an index below
   * the number left); what `to` receives, it holds for the third documents in turn.
   */
  handOn(from: number, to: number, count: number, choose: (left: number) => number): void {
    const box = this.#outboxes[from]![to]!
    for (let n = count; n > 0 && box.length > 0; n--) {
      const [update] = box.splice(choose(box.length), 1)
      Y.applyUpdate(this.docs[to]!, update!, 'remote')
      this.docs.forEach((_, third) => {
        if (third !== to && third !== from) this.#outboxes[to]![third]!.push(update!)
      })
    }
  }
}
