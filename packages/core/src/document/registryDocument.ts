/**
 * The document model. The registry is one top-level `Y.Map` named `files`, keyed by relative path.
 * Each entry is a `Y.Map`:
 *
 * - `body`: the parsed definition. Objects are nested `Y.Map`s, so concurrent edits of different
 *   fields merge. Arrays and scalars are leaves, stored whole as their `encodeLeaf` text (numbers keep
 *   their source text). A YAML tag on a mapping is kept under {@link TAG_KEY}.
 * - `text`: a `Y.Text` with the exact text of the last local write. It changes by a minimal splice,
 *   so editing one field of a large file sends a small update.
 * - `stamp`: set with the text when the text parses to the body: a digest of the live items of both
 *   (see {@link textMatchesBody}). Absent in entries written before it existed, and stale once
 *   either changes; both only mean the text must be parsed to be compared with the body.
 *
 * A local edit becomes nested operations on the existing entry; only a create sets `files[path]`,
 * because a concurrent set beats a delete while a nested edit loses to it (see DESIGN.md).
 */
import * as Y from 'yjs'
import { decodeLeaf, encodeLeaf, valuesEqual } from '../codec/canonicalJson.js'
import { isObjectValue, isTaggedValue, taggedValue } from '../value.js'
import { itemsOf, mapDigest, textDigest } from './liveDigest.js'
import type { ObjectValue, Value } from '../value.js'

/** The top-level map name. */
export const FILES = 'files'
/** Key of an entry's parsed body. */
export const BODY = 'body'
/** Key of an entry's exact text. */
export const TEXT = 'text'
/** Key of an entry's stamp: the digest of its body and text when the text was known to parse to the body. */
export const STAMP = 'stamp'
/** Key under which a tagged mapping keeps its YAML tag. NUL cannot occur in a real key. */
export const TAG_KEY = '\u0000tag'

/** Key under which a body whose root is not an object keeps it, as one leaf. */
export const ROOT_KEY = '\u0000root'

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
 * Creates an entry for a new file. The only place an entry is set rather than edited. `definition`
 * is what `text` parses to.
 */
export function createEntry(files: Y.Map<Y.Map<unknown>>, path: string, definition: Definition, text: string): void {
  const entry = new Y.Map<unknown>()
  const body = new Y.Map<unknown>()
  entry.set(BODY, body)
  entry.set(TEXT, new Y.Text(text))
  files.set(path, entry)
  if (objectParts(definition) !== undefined) writeObject(body, definition)
  else body.set(ROOT_KEY, encodeLeaf(definition))
  stamp(entry, definition)
}

/**
 * Whether the entry's text is known to parse to its body without parsing it: its stamp, set when
 * that was last proven, still matches the live items of both. Equal digests mean the same items,
 * so the same body and text as when the stamp was set, however the replica got there. `false`
 * proves nothing.
 */
export function textMatchesBody(entry: Y.Map<unknown>): boolean {
  const stamped = entry.get(STAMP)
  return typeof stamped === 'string' && stamped === entryDigest(entry)
}

/** Stamps the entry if its body is `definition`, what its text parses to (an old stamp is stale already). */
function stamp(entry: Y.Map<unknown>, definition: Definition): void {
  if (!bodyIs(entry, definition)) return
  const digest = entryDigest(entry)
  if (digest !== undefined && entry.get(STAMP) !== digest) entry.set(STAMP, digest)
}

/** The digest of the entry's body and text items, or `undefined` if it has no digest. */
function entryDigest(entry: Y.Map<unknown>): string | undefined {
  const items = itemsOf(entry)
  const bodyItem = items.get(BODY)
  const textItem = items.get(TEXT)
  const body = entry.get(BODY)
  const text = entry.get(TEXT)
  if (bodyItem === undefined || textItem === undefined || !(body instanceof Y.Map) || !(text instanceof Y.Text)) return undefined
  const bodyDigest = mapDigest(body, [bodyItem, textItem])
  const textDigested = bodyDigest === undefined ? undefined : textDigest(text)
  return textDigested === undefined ? undefined : `${bodyDigest}:${textDigested}`
}

/** Reads an entry's body as a {@link Definition}. */
export function readBody(entry: Y.Map<unknown>): Definition {
  const body = entry.get(BODY)
  if (!(body instanceof Y.Map)) return new Map()
  return readMap(body) as Definition
}

/**
 * Whether the entry's body is `definition`, proven without reading the body into a value: each
 * stored leaf is compared, as a string, with the encoding of the definition's leaf (the encoding is
 * one-to-one, see `encodeLeaf`). `true` means `valuesEqual(readBody(entry), definition)`; `false`
 * means only that it was not proven (a difference, or a shape that only `readBody` interprets).
 * Materializing every received definition checks this, and reading each body cost more than the rest.
 */
export function bodyIs(entry: Y.Map<unknown>, definition: Definition): boolean {
  const body = entry.get(BODY)
  return body instanceof Y.Map && mapIs(body, definition)
}

function mapIs(map: Y.Map<unknown>, value: Value): boolean {
  const parts = objectParts(value)
  if (parts === undefined) return false
  // The live keys, counted in one pass over the items: `Y.Map.size` builds an iterator per call.
  let keys = 0
  let tagged = false
  for (const [key, item] of itemsOf(map)) {
    if (item.deleted) continue
    if (key === ROOT_KEY) return false
    // readBody skips the tag key whatever it holds.
    if (key === TAG_KEY) tagged = true
    else keys++
  }
  if (keys !== parts.map.size) return false
  const tag = tagged ? map.get(TAG_KEY) : undefined
  if ((typeof tag === 'string' ? tag : undefined) !== parts.tag) return false
  for (const [key, child] of parts.map) {
    const node = map.get(key)
    if (node instanceof Y.Map) {
      if (!mapIs(node, child)) return false
    } else if (typeof node === 'string') {
      if (encodeLeaf(child) !== node) return false
    } else {
      return false
    }
  }
  return true
}

/** An entry's exact text of the last local write. */
export function readText(entry: Y.Map<unknown>): string {
  const text = entry.get(TEXT)
  return text instanceof Y.Text ? text.toString() : ''
}

/**
 * Applies a local change to an entry as nested operations: what changed from `base` to `next` is
 * written, everything else is left as the document has it (a three-way merge). Without a base the
 * document's body is the base, so every difference from `next` is written. `next` is what `nextText`
 * parses to.
 */
export function applyChange(entry: Y.Map<unknown>, base: Definition | undefined, next: Definition, nextText: string): void {
  let body = entry.get(BODY)
  if (!(body instanceof Y.Map)) {
    body = new Y.Map<unknown>()
    entry.set(BODY, body)
  }
  const map = body as Y.Map<unknown>
  if (objectParts(next) === undefined) {
    const leaf = encodeLeaf(next)
    if (map.get(ROOT_KEY) !== leaf) {
      for (const key of [...map.keys()]) if (key !== ROOT_KEY) map.delete(key)
      map.set(ROOT_KEY, leaf)
    }
  } else if (map.has(ROOT_KEY)) {
    map.delete(ROOT_KEY)
    mergeObject(map, readMap(map), next)
  } else {
    mergeObject(map, base ?? readMap(map), next)
  }
  const text = entry.get(TEXT)
  if (text instanceof Y.Text) spliceText(text, nextText)
  else entry.set(TEXT, new Y.Text(nextText))
  stamp(entry, next)
}

/** Sets one field (a key path inside the body) to a value, creating objects on the way. */
export function setField(entry: Y.Map<unknown>, field: readonly string[], value: Value): void {
  let map = entry.get(BODY)
  if (!(map instanceof Y.Map)) {
    map = new Y.Map<unknown>()
    entry.set(BODY, map)
  }
  let current = map as Y.Map<unknown>
  for (let i = 0; i < field.length - 1; i++) {
    const key = field[i]!
    const child = current.get(key)
    if (child instanceof Y.Map) {
      current = child
    } else {
      const created = new Y.Map<unknown>()
      current.set(key, created)
      current = created
    }
  }
  const last = field[field.length - 1]
  if (last === undefined) return
  writeValue(current, last, value, undefined)
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

/** The object inside a definition-like value, with its tag if it has one. */
function objectParts(value: Value): { map: ObjectValue; tag: string | undefined } | undefined {
  if (isObjectValue(value)) return { map: value, tag: undefined }
  if (isTaggedValue(value) && isObjectValue(value.value)) return { map: value.value, tag: value.tag }
  return undefined
}

function mergeObject(target: Y.Map<unknown>, base: Value, next: Value): void {
  const nextParts = objectParts(next)
  if (nextParts === undefined) return
  const baseParts = objectParts(base)
  const tagChanged = baseParts === undefined ? target.get(TAG_KEY) !== nextParts.tag : baseParts.tag !== nextParts.tag
  if (tagChanged) {
    if (nextParts.tag === undefined) {
      if (target.has(TAG_KEY)) target.delete(TAG_KEY)
    } else if (target.get(TAG_KEY) !== nextParts.tag) {
      target.set(TAG_KEY, nextParts.tag)
    }
  }
  for (const [key, value] of nextParts.map) {
    const baseValue = baseParts?.map.get(key)
    if (baseParts !== undefined && baseParts.map.has(key) && valuesEqual(baseValue!, value)) continue
    writeValue(target, key, value, baseValue)
  }
  if (baseParts !== undefined) {
    for (const key of baseParts.map.keys()) {
      if (!nextParts.map.has(key) && target.has(key)) target.delete(key)
    }
  }
}

function writeValue(target: Y.Map<unknown>, key: string, value: Value, baseValue: Value | undefined): void {
  const current = target.get(key)
  if (objectParts(value) !== undefined) {
    if (current instanceof Y.Map) {
      mergeObject(current, baseValue !== undefined && objectParts(baseValue) !== undefined ? baseValue : readMap(current), value)
      return
    }
    const created = new Y.Map<unknown>()
    target.set(key, created)
    writeObject(created, value)
    return
  }
  const leaf = encodeLeaf(value)
  if (current !== leaf) target.set(key, leaf)
}

/** Fills an empty, integrated map. */
function writeObject(target: Y.Map<unknown>, value: Value): void {
  const parts = objectParts(value)
  if (parts === undefined) return
  if (parts.tag !== undefined) target.set(TAG_KEY, parts.tag)
  for (const [key, child] of parts.map) {
    if (objectParts(child) !== undefined) {
      const created = new Y.Map<unknown>()
      target.set(key, created)
      writeObject(created, child)
    } else {
      target.set(key, encodeLeaf(child))
    }
  }
}

/** Reads a body map, or any nested map, as a {@link Value}. */
export function readMap(map: Y.Map<unknown>): Value {
  const out: ObjectValue = new Map()
  let tag: string | undefined
  for (const [key, child] of map.entries()) {
    if (key === TAG_KEY) {
      if (typeof child === 'string') tag = child
    } else if (key === ROOT_KEY) {
      if (typeof child === 'string') return decodeLeaf(child)
    } else {
      out.set(key, readNode(child))
    }
  }
  return tag === undefined ? out : taggedValue(tag, out)
}

/** Reads one stored node: a nested map or a leaf. */
export function readNode(node: unknown): Value {
  if (node instanceof Y.Map) return readMap(node)
  if (typeof node === 'string') return decodeLeaf(node)
  return null
}
