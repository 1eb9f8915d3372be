/**
 * The document model (document format 2). The registry is one top-level `Y.Map` named
 * `registry`, keyed by relative path. Each entry is a `Y.Map`:
 *
 * - `base` (from the first edit on; until then the text is the base) and field overrides for every
 *   field edited since, each under a key of its own (see `bodyOverlay.ts`). Together they are the body.
 * - `text`: a `Y.Text` with the exact text of the last local write. It changes by a minimal splice,
 *   so editing one field of a large file sends a small update.
 * - `stamp`: set with the text when the text parses to the body: a digest of the live items of the
 *   entry (see {@link textMatchesBody}). Stale once either changes, which only means the text must
 *   be parsed to be compared with the body.
 *
 * A local edit becomes overrides and a splice on the existing entry; only a create sets
 * `registry[path]`, because a concurrent set beats a delete while an edit inside the entry loses to
 * it (see DESIGN.md).
 */
import * as Y from 'yjs'
import type { FileFormat } from '../codec/codec.js'
import type { Value } from '../value.js'
import { bodyIs, fixBase, writeChange, writeField } from './bodyOverlay.js'
import { STAMP, TEXT } from './entryKeys.js'
import { itemsOf, mapDigest, textDigest } from './liveDigest.js'

export { bodyIs, readBody, describeOverride } from './bodyOverlay.js'
export { BASE, STAMP, TEXT } from './entryKeys.js'

/**
 * The top-level map name. Format 1 (`files`, with bodies as nested maps) is another map, so that a
 * node of either format never reads the other's entries.
 */
export const FILES = 'registry'

/** The parsed root of a file: usually an object or a YAML-tagged object, but any value parses. */
export type Definition = Value

/** The registry map of a document. */
export function filesOf(doc: Y.Doc): Y.Map<Y.Map<unknown>> {
  return doc.getMap(FILES)
}

/** True when the path was in the registry and has been deleted: the tombstone is still visible. */
export function isTombstone(files: Y.Map<Y.Map<unknown>>, path: string): boolean {
  const item = itemsOf(files).get(path)
  return item !== undefined && item.deleted
}

/** The live entry at `path`, if any. */
export function entryAt(files: Y.Map<Y.Map<unknown>>, path: string): Y.Map<unknown> | undefined {
  const entry = files.get(path)
  return entry instanceof Y.Map ? entry : undefined
}

/**
 * Creates an entry for a new file: its text, which is its body until its first edit, and a stamp.
 * The only place an entry is set rather than edited.
 */
export function createEntry(files: Y.Map<Y.Map<unknown>>, path: string, text: string): void {
  const entry = new Y.Map<unknown>()
  entry.set(TEXT, new Y.Text(text))
  files.set(path, entry)
  const digest = entryDigest(entry)
  if (digest !== undefined) entry.set(STAMP, digest)
}

/**
 * Whether the entry's text is known to parse to its body without parsing it: its stamp, set when
 * that was last proven, still matches the live items. Equal digests mean the same items, so the
 * same body and text as when the stamp was set, however the replica got there. `false` proves
 * nothing.
 */
export function textMatchesBody(entry: Y.Map<unknown>): boolean {
  const stamped = entry.get(STAMP)
  return typeof stamped === 'string' && stamped === entryDigest(entry)
}

/** Stamps the entry if its body is `definition`, what its text parses to (an old stamp is stale already). */
function stamp(entry: Y.Map<unknown>, format: FileFormat, definition: Definition): void {
  if (!bodyIs(entry, format, definition)) return
  const digest = entryDigest(entry)
  if (digest !== undefined && entry.get(STAMP) !== digest) entry.set(STAMP, digest)
}

/** The digest of the entry's items (its stamp aside) and of its text's characters, or `undefined`. */
function entryDigest(entry: Y.Map<unknown>): string | undefined {
  const text = entry.get(TEXT)
  if (!(text instanceof Y.Text)) return undefined
  const items = mapDigest(entry, STAMP)
  const characters = items === undefined ? undefined : textDigest(text)
  return characters === undefined ? undefined : `${items}:${characters}`
}

/** An entry's exact text of the last local write. */
export function readText(entry: Y.Map<unknown>): string {
  const text = entry.get(TEXT)
  return text instanceof Y.Text ? text.toString() : ''
}

/**
 * Applies a local change to an entry: what changed from `base` to `next` is written, everything
 * else is left as the document has it (a three-way merge). Without a base the document's body is
 * the base, so every difference from `next` is written. `next` is what `nextText` parses to, in the
 * path's `format`.
 */
export function applyChange(entry: Y.Map<unknown>, format: FileFormat, base: Definition | undefined, next: Definition, nextText: string): void {
  fixBase(entry, format)
  writeChange(entry, format, base, next)
  const text = entry.get(TEXT)
  if (text instanceof Y.Text) spliceText(text, nextText)
  else entry.set(TEXT, new Y.Text(nextText))
  stamp(entry, format, next)
}

/** Sets one field (a key path inside the body) to a value, creating objects on the way. */
export function setField(entry: Y.Map<unknown>, format: FileFormat, field: readonly string[], value: Value): void {
  writeField(entry, format, field, value)
}

/** Replaces the text with `next` by one splice over the changed middle. */
function spliceText(text: Y.Text, next: string): void {
  const current = text.toString()
  if (current === next) return
  let start = 0
  const max = Math.min(current.length, next.length)
  while (start < max && current.charCodeAt(start) === next.charCodeAt(start)) start++
  let end = 0
  while (
    end < max - start &&
    current.charCodeAt(current.length - 1 - end) === next.charCodeAt(next.length - 1 - end)
  ) end++
  // Do not split a surrogate pair.
  if (start > 0 && isHighSurrogate(current.charCodeAt(start - 1))) start--
  if (end > 0 && isLowSurrogate(current.charCodeAt(current.length - end))) end--
  const removed = current.length - start - end
  if (removed > 0) text.delete(start, removed)
  const inserted = next.slice(start, next.length - end)
  if (inserted.length > 0) text.insert(start, inserted)
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}
