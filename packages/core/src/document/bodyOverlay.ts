/**
 * An entry's body as a base and field overrides, all in the entry's one `Y.Map`.
 *
 * - The base: until the entry's first edit, what its text parses to; from then on `base`, the
 *   definition as it was before that edit, as one leaf (`encodeLeaf`), written by the edit and never
 *   changed after. A new entry so holds its definition once, in its text; and once edited, its body
 *   no longer depends on the Hjson or YAML parser, which a later release may change.
 * - Field overrides, keyed by position (see `fieldKeys.ts`): each sets one field to a leaf, removes
 *   it, or makes it a new object. A local edit writes one override per field that differs.
 *
 * The body is the base with the overrides applied, parents before children. Every field is its own
 * key, so concurrent edits of different fields, at any depth, both survive (I3), and concurrent
 * writes of one field are one key, which Yjs resolves the same way on every node (I4). A field
 * written into an object that a concurrent edit removed or replaced names that object's generation,
 * which is no longer there: it no longer applies, so the removal wins, as it does for a nested
 * `Y.Map`.
 *
 * Why not nested `Y.Map`s, one item per field: a 2 KB definition has about 30 fields, and Yjs keeps
 * an `Item`, an `ID`, a content object, a key and a value for each: 10,000 definitions took 210 MB
 * of heap and most of a cold start to decode. A base is one item, and only fields that were ever
 * edited have items of their own.
 */
import * as Y from 'yjs'
import { decodeLeaf, encodeLeaf, valuesEqual } from '../codec/canonicalJson.js'
import { parseDefinition } from '../codec/codec.js'
import type { FileFormat } from '../codec/codec.js'
import { isObjectValue, isTaggedValue, taggedValue } from '../value.js'
import type { ObjectValue, Value } from '../value.js'
import {
  DELETED,
  TAG_KEY,
  decodeFieldKey,
  encodeFieldKey,
  fieldNames,
  isBelow,
  isFieldKey,
  markerGeneration,
  objectMarker
} from './fieldKeys.js'
import type { FieldKey } from './fieldKeys.js'
import { BASE, TEXT } from './entryKeys.js'
import { itemsOf } from './liveDigest.js'

/** An object of a body being read: its generation keys the overrides of its fields. */
class BodyObject {
  constructor(
    readonly generation: string,
    public tag: string | undefined,
    readonly fields: Map<string, BodyNode>
  ) {}
}

/** A position of a body being read: an object, or a leaf value. */
type BodyNode = BodyObject | Value

/** The generation of every object that comes from the base. */
const BASE_GENERATION = ''

/**
 * Reads an entry's body, or `undefined` when it has none this version can read (a malformed entry,
 * or a text that does not parse in `format` and no base).
 */
export function readBody(entry: Y.Map<unknown>, format: FileFormat): Value | undefined {
  const tree = readTree(entry, format)
  return tree === undefined ? undefined : toValue(tree)
}

/** Whether the entry's body is `definition` (key order aside). */
export function bodyIs(entry: Y.Map<unknown>, format: FileFormat, definition: Value): boolean {
  const body = readBody(entry, format)
  return body !== undefined && valuesEqual(body, definition)
}

/**
 * Writes what changed from `base` to `next` as overrides: a three-way merge, so that fields this
 * write did not change keep what the document holds, including a concurrent change from a peer.
 * Without a base, the document's body is the base, so every difference from `next` is written.
 * Runs inside the caller's transaction, on an integrated entry.
 */
export function writeChange(entry: Y.Map<unknown>, format: FileFormat, base: Value | undefined, next: Value): void {
  const writer = new OverrideWriter(entry, format)
  const tree = readTree(entry, format)
  if (objectParts(next) === undefined) {
    const leaf = encodeLeaf(next)
    if (tree === undefined || tree instanceof BodyObject || encodeLeaf(tree) !== leaf) writer.set([], leaf)
  } else if (tree instanceof BodyObject) {
    writer.mergeObject([tree.generation], tree, base ?? toValue(tree), next)
  } else {
    const generation = writer.newGeneration()
    writer.set([], objectMarker(generation))
    writer.writeObject([generation], next)
  }
}

/** Sets one field (names from the root) to `value`, making objects on the way where there are none. */
export function writeField(entry: Y.Map<unknown>, format: FileFormat, names: readonly string[], value: Value): void {
  const last = names[names.length - 1]
  if (last === undefined) return
  const writer = new OverrideWriter(entry, format)
  let node = readTree(entry, format)
  let at: FieldKey
  if (node instanceof BodyObject) {
    at = [node.generation]
  } else {
    const generation = writer.newGeneration()
    writer.set([], objectMarker(generation))
    node = new BodyObject(generation, undefined, new Map())
    at = [generation]
  }
  for (const name of names.slice(0, -1)) {
    const child: BodyNode | undefined = node.fields.get(name)
    if (child instanceof BodyObject) {
      at = [...at, name, child.generation]
      node = child
    } else {
      const generation = writer.newGeneration()
      writer.set([...at, name], objectMarker(generation))
      at = [...at, name, generation]
      node = new BodyObject(generation, undefined, new Map())
    }
  }
  writer.writeValue(at, node, last, value, undefined)
}

/**
 * The field an override key names (its field names), and the leaf it held: what the journal keeps
 * of a value that lost a concurrent write. `undefined` for a key that is not an override.
 */
export function describeOverride(key: string, value: unknown): { field: string[]; leaf: string | undefined } | undefined {
  const position = decodeFieldKey(key)
  if (position === undefined) return undefined
  const field = fieldNames(position)
  const leaf = typeof value === 'string' && !value.startsWith('~') ? value : undefined
  return { field, leaf }
}

/**
 * Writes the entry's `base` from its text, if it has none yet: every edit does this before it changes
 * the text or writes an override, so that concurrent edits of the text (which may not parse once
 * merged) never leave an entry without a body.
 */
export function fixBase(entry: Y.Map<unknown>, format: FileFormat): void {
  if (typeof entry.get(BASE) === 'string') return
  const base = readBase(entry, format)
  if (base !== undefined) entry.set(BASE, encodeLeaf(base))
}

/** The base of the body: the `base` leaf, or what the text parses to while there is none. */
function readBase(entry: Y.Map<unknown>, format: FileFormat): Value | undefined {
  const base = entry.get(BASE)
  try {
    if (typeof base === 'string') return decodeLeaf(base)
    const text = entry.get(TEXT)
    return text instanceof Y.Text ? parseDefinition(format, text.toString()) : undefined
  } catch {
    // A base this version cannot read: only a root override can give the entry a body.
    return undefined
  }
}

function readTree(entry: Y.Map<unknown>, format: FileFormat): BodyNode | undefined {
  const base = readBase(entry, format)
  let root: BodyNode | undefined = base === undefined ? undefined : fromValue(base)
  const overrides: Array<{ position: FieldKey; value: string }> = []
  for (const [key, item] of itemsOf(entry)) {
    if (item.deleted || !isFieldKey(key)) continue
    const position = decodeFieldKey(key)
    const value = entry.get(key)
    if (position !== undefined && typeof value === 'string') overrides.push({ position, value })
  }
  // Parents before children: a child's override applies only inside the object its parent holds.
  overrides.sort((a, b) => a.position.length - b.position.length)
  for (const { position, value } of overrides) {
    if (position.length === 0) {
      const node = value === DELETED ? undefined : overrideNode(value)
      if (node !== undefined) root = node
      continue
    }
    let node = root
    for (let i = 0; i < position.length; i += 2) {
      if (!(node instanceof BodyObject) || node.generation !== position[i]) break
      const name = position[i + 1]!
      if (i + 2 === position.length) {
        applyOverride(node, name, value)
        break
      }
      node = node.fields.get(name)
    }
  }
  return root
}

function applyOverride(object: BodyObject, name: string, value: string): void {
  if (name === TAG_KEY) {
    if (value === DELETED) {
      object.tag = undefined
      return
    }
    const tag = overrideNode(value)
    if (typeof tag === 'string') object.tag = tag
    return
  }
  if (value === DELETED) {
    object.fields.delete(name)
    return
  }
  const node = overrideNode(value)
  if (node !== undefined) object.fields.set(name, node)
}

/** What an override value puts in place: a new object, a leaf, or nothing when it does not decode. */
function overrideNode(value: string): BodyNode | undefined {
  const generation = markerGeneration(value)
  if (generation !== undefined) return new BodyObject(generation, undefined, new Map())
  try {
    return decodeLeaf(value)
  } catch {
    return undefined
  }
}

function fromValue(value: Value): BodyNode {
  const parts = objectParts(value)
  if (parts === undefined) return value
  const fields = new Map<string, BodyNode>()
  for (const [name, child] of parts.map) fields.set(name, fromValue(child))
  return new BodyObject(BASE_GENERATION, parts.tag, fields)
}

function toValue(node: BodyNode): Value {
  if (!(node instanceof BodyObject)) return node
  const map: ObjectValue = new Map()
  for (const [name, child] of node.fields) map.set(name, toValue(child))
  return node.tag === undefined ? map : taggedValue(node.tag, map)
}

/** The object inside a definition-like value, with its tag if it has one. */
function objectParts(value: Value): { map: ObjectValue; tag: string | undefined } | undefined {
  if (isObjectValue(value)) return { map: value, tag: undefined }
  if (isTaggedValue(value) && isObjectValue(value.value)) return { map: value.value, tag: value.tag }
  return undefined
}

/** Writes the overrides of one change, in the caller's transaction. */
class OverrideWriter {
  readonly #entry: Y.Map<unknown>
  readonly #format: FileFormat
  /** The live override positions when the change began, for removing those below a replaced field. */
  #existing: FieldKey[] | undefined

  constructor(entry: Y.Map<unknown>, format: FileFormat) {
    this.#entry = entry
    this.#format = format
  }

  /** A generation no other object in the document has: this client's next clock. */
  newGeneration(): string {
    const doc = this.#entry.doc
    if (doc === null) throw new TypeError('the entry is not in a document')
    return `${doc.clientID.toString(36)}.${Y.getState(doc.store, doc.clientID).toString(36)}`
  }

  /**
   * Sets the override at `position`. The overrides below it named the object it replaces, so they
   * no longer apply: they are removed to keep the entry small.
   */
  set(position: FieldKey, value: string): void {
    if (this.#existing === undefined) {
      fixBase(this.#entry, this.#format)
      this.#existing = []
      for (const [key, item] of itemsOf(this.#entry)) {
        const existing = item.deleted ? undefined : decodeFieldKey(key)
        if (existing !== undefined) this.#existing.push(existing)
      }
    }
    this.#existing = this.#existing.filter((existing) => {
      if (!isBelow(existing, position)) return true
      this.#entry.delete(encodeFieldKey(existing))
      return false
    })
    this.#entry.set(encodeFieldKey(position), value)
  }

  mergeObject(at: FieldKey, node: BodyObject, base: Value, next: Value): void {
    const nextParts = objectParts(next)
    if (nextParts === undefined) return
    const baseParts = objectParts(base)
    const tagChanged = baseParts === undefined ? node.tag !== nextParts.tag : baseParts.tag !== nextParts.tag
    if (tagChanged && node.tag !== nextParts.tag) {
      this.set([...at, TAG_KEY], nextParts.tag === undefined ? DELETED : encodeLeaf(nextParts.tag))
    }
    for (const [name, value] of nextParts.map) {
      const baseValue = baseParts?.map.get(name)
      if (baseParts !== undefined && baseParts.map.has(name) && valuesEqual(baseValue!, value)) continue
      this.writeValue(at, node, name, value, baseValue)
    }
    if (baseParts !== undefined) {
      for (const name of baseParts.map.keys()) {
        if (!nextParts.map.has(name) && node.fields.has(name)) this.set([...at, name], DELETED)
      }
    }
  }

  writeValue(at: FieldKey, node: BodyObject, name: string, value: Value, baseValue: Value | undefined): void {
    const current = name === TAG_KEY ? node.tag : node.fields.get(name)
    if (objectParts(value) !== undefined) {
      if (current instanceof BodyObject) {
        const base = baseValue !== undefined && objectParts(baseValue) !== undefined ? baseValue : toValue(current)
        this.mergeObject([...at, name, current.generation], current, base, value)
        return
      }
      const generation = this.newGeneration()
      this.set([...at, name], objectMarker(generation))
      this.writeObject([...at, name, generation], value)
      return
    }
    const leaf = encodeLeaf(value)
    if (current === undefined || current instanceof BodyObject || encodeLeaf(current) !== leaf) this.set([...at, name], leaf)
  }

  /** Writes every field of `value` into the new, empty object whose fields are keyed under `at`. */
  writeObject(at: FieldKey, value: Value): void {
    const parts = objectParts(value)
    if (parts === undefined) return
    if (parts.tag !== undefined) this.set([...at, TAG_KEY], encodeLeaf(parts.tag))
    for (const [name, child] of parts.map) {
      if (objectParts(child) !== undefined) {
        const generation = this.newGeneration()
        this.set([...at, name], objectMarker(generation))
        this.writeObject([...at, name, generation], child)
      } else {
        this.set([...at, name], encodeLeaf(child))
      }
    }
  }
}
