/**
 * Digests of what a map or a text holds, from the identities of its live items rather than their
 * values. Two replicas whose digests of a type are equal hold the same live items in it, so the same
 * content: an item's content never changes, and Yjs never reorders items. Computing one reads no
 * value, so it costs a few microseconds where reading and comparing the values costs tens.
 *
 * This reads Yjs's internal structures (`_map`, `_start`), so it is kept to this file.
 */
import * as Y from 'yjs'

/** The last item written under each key of a map: a deleted one is a removed key. */
export function itemsOf<T>(map: Y.Map<T>): Map<string, Y.Item> {
  return (map as unknown as { _map: Map<string, Y.Item> })._map
}

/**
 * A digest of the live items of `map` except the one under `except`: their number and two 32-bit
 * sums of a hash of each item's ID. Sums, because a map's keys are in a different order on each
 * replica. Returns `undefined` when a live value is a shared type other than a `Y.Text` (whose
 * content the caller digests with {@link textDigest}), since its content could change unseen.
 */
export function mapDigest(map: Y.Map<unknown>, except: string): string | undefined {
  const sums = { count: 0, a: 0, b: 0 }
  for (const [key, item] of itemsOf(map)) {
    if (item.deleted || key === except) continue
    const content = item.content
    if (content instanceof Y.ContentType ? !(content.type instanceof Y.Text) : !(content instanceof Y.ContentAny)) return undefined
    addItem(sums, item)
  }
  return `${sums.count.toString(36)}.${hex(sums.a)}${hex(sums.b)}`
}

/**
 * A digest of the live characters of `text`, in order: their number and two hashes of the runs of
 * consecutive IDs they form. Runs, not items, because a replica may hold an item split in two where
 * another holds it whole (a character inserted there and deleted again). Returns `undefined` when
 * the text holds anything but strings.
 */
export function textDigest(text: Y.Text): string | undefined {
  let length = 0
  let a = 0x2545f491
  let b = 0x9e3779b9
  let runClient = -1
  let runStart = 0
  let runEnd = 0
  const closeRun = (): void => {
    if (runClient < 0) return
    a = mix(a, runClient, runStart, runEnd)
    b = mix(b ^ 0x5bd1e995, runEnd, runClient, runStart)
  }
  for (let item = (text as unknown as { _start: Y.Item | null })._start; item !== null; item = item.right) {
    if (item.deleted) continue
    if (!(item.content instanceof Y.ContentString)) return undefined
    const { client, clock } = item.id
    if (client === runClient && clock === runEnd) {
      runEnd += item.length
    } else {
      closeRun()
      runClient = client
      runStart = clock
      runEnd = clock + item.length
    }
    length += item.length
  }
  closeRun()
  return `${length.toString(36)}.${hex(a)}${hex(b)}`
}

function addItem(sums: { count: number; a: number; b: number }, item: Y.Item): void {
  const { client, clock } = item.id
  sums.count++
  sums.a = (sums.a + mix(0x85ebca6b, client, clock, 0)) | 0
  sums.b = (sums.b + mix(0xc2b2ae35, clock, client, 1)) | 0
}

/** Folds three numbers (each below 2^53) into a 32-bit hash state. */
function mix(state: number, x: number, y: number, z: number): number {
  return step(step(step(state, x), y), z)
}

function step(state: number, n: number): number {
  let h = Math.imul(state ^ (n >>> 0), 0xcc9e2d51)
  h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ Math.floor(n / 0x100000000)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return h ^ (h >>> 16)
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0')
}
