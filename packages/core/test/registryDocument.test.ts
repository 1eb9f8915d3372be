import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { encodeLeaf, valuesEqual } from '../src/codec/canonicalJson.js'
import { canonicalText, parseDefinition } from '../src/codec/codec.js'
import type { FileFormat } from '../src/codec/codec.js'
import { stringifyYaml } from '../src/codec/yamlCodec.js'
import { fixBase } from '../src/document/bodyOverlay.js'
import { materialize } from '../src/document/materialize.js'
import { DELETED, encodeFieldKey } from '../src/document/fieldKeys.js'
import { applyChange, bodyIs, createEntry, entryAt, filesOf, readBody, setField } from '../src/document/registryDocument.js'
import type { Definition } from '../src/document/registryDocument.js'
import { isTaggedValue, numberValue, taggedValue } from '../src/value.js'
import type { ObjectValue, Value } from '../src/value.js'
import { prng } from '../src/testing/prng.js'
import { RelayingDocs, docWithClient, sync } from './helpers/docs.js'

const corpus = new URL('../../../../shared/corpus/', import.meta.url)
interface ManifestEntry {
  file: string
  format: 'json' | 'yaml'
  parse: string
}
const manifest = JSON.parse(readFileSync(new URL('MANIFEST.json', corpus), 'utf8')) as ManifestEntry[]
const parseable = manifest.filter((entry) => entry.parse !== 'unparseable')

function entryOf(path: string, text: string, doc = new Y.Doc()): Y.Map<unknown> {
  createEntry(filesOf(doc), path, text)
  return entryAt(filesOf(doc), path)!
}

/** The format of a test path. */
function formatOfTest(path: string): FileFormat {
  return path.endsWith('.json') ? 'json' : 'yaml'
}

/** The text of `value` in the format of `path`. */
function textOf(path: string, value: Value): string {
  return formatOfTest(path) === 'json' ? canonicalText('json', value) : stringifyYaml(value)
}

/** A local edit as the replica makes it: from `base` (what the editor started from) to `next`. */
function edit(doc: Y.Doc, path: string, base: Definition | undefined, next: Definition): void {
  const entry = entryAt(filesOf(doc), path)!
  doc.transact(() => applyChange(entry, formatOfTest(path), base, next, textOf(path, next)))
}

function bodyOf(doc: Y.Doc, path: string): Value | undefined {
  const entry = entryAt(filesOf(doc), path)
  return entry === undefined ? undefined : readBody(entry, formatOfTest(path))
}

function json(text: string): Definition {
  return parseDefinition('json', text)
}

/** The object of a definition and a function that rebuilds the definition around a changed copy. */
function objectOf(definition: Definition): { map: ObjectValue; wrap: (map: ObjectValue) => Definition } | undefined {
  if (definition instanceof Map) return { map: definition, wrap: (map) => map }
  if (isTaggedValue(definition) && definition.value instanceof Map) {
    return { map: definition.value, wrap: (map) => taggedValue(definition.tag, map) }
  }
  return undefined
}

/** Definitions that differ from `definition` in one place each: a changed, a removed and an added key, per key. */
function variants(definition: Definition): Definition[] {
  const parts = objectOf(definition)
  if (parts === undefined) return ['other', new Map<string, Value>([['a', 'b']])]
  const out: Definition[] = []
  for (const [key, value] of parts.map) {
    const changed = new Map(parts.map)
    changed.set(key, value instanceof Map ? new Map([...value, ['extra', 'x']]) : typeof value === 'string' ? value + 'x' : 'changed')
    out.push(parts.wrap(changed))
    const removed = new Map(parts.map)
    removed.delete(key)
    out.push(parts.wrap(removed))
  }
  out.push(parts.wrap(new Map([...parts.map, ['added', numberValue('1')]])))
  out.push(isTaggedValue(definition) ? parts.map : taggedValue('org.example.Other', parts.map))
  out.push(['a list', 'instead'])
  return out
}

describe('an entry of the corpus', () => {
  it.each(parseable.map((entry) => [entry.file, entry] as const))('reads back %s, and every one-place edit of it', (file, entry) => {
    const text = readFileSync(new URL(`services/${file}`, corpus), 'utf8')
    const definition = parseDefinition(entry.format, text)
    const doc = new Y.Doc()
    const stored = entryOf(file, text, doc)
    expect(bodyIs(stored, entry.format, definition)).toBe(true)
    expect(materialize(file, stored)).toBe(text)
    for (const variant of variants(definition)) {
      expect(bodyIs(stored, entry.format, variant)).toBe(false)
      // Written as an edit from the definition, the body becomes exactly the variant.
      const copy = new Y.Doc()
      sync(doc, copy)
      const copied = entryAt(filesOf(copy), file)!
      copy.transact(() => applyChange(copied, entry.format, definition, variant, text))
      expect(valuesEqual(readBody(copied, entry.format)!, variant)).toBe(true)
    }
  })
})

describe('a body', () => {
  const TEXT = '{ "@class": "org.apereo.cas.services.CasRegisteredService", "name": "A", "id": 1, "nested": { "x": "y", "z": true } }'

  it('does not depend on key order, and keeps numbers as their text', () => {
    const definition: Value = new Map<string, Value>([
      ['@class', 'org.apereo.cas.services.CasRegisteredService'],
      ['id', numberValue('9007199254740993')],
      ['nested', new Map<string, Value>([['b', true], ['a', [1, 2].map((n) => numberValue(String(n)))]])]
    ])
    const stored = entryOf('A-1.json', canonicalText('json', definition))
    const reordered = new Map<string, Value>([
      ['nested', new Map<string, Value>([['a', [numberValue('1'), numberValue('2')]], ['b', true]])],
      ['id', numberValue('9007199254740993')],
      ['@class', 'org.apereo.cas.services.CasRegisteredService']
    ])
    expect(bodyIs(stored, 'json', reordered)).toBe(true)
    // The number's text is the value: 1.0 is not 1.
    reordered.set('id', numberValue('9007199254740993.0'))
    expect(bodyIs(stored, 'json', reordered)).toBe(false)
  })

  it('is its text until a field is edited, then a base, and only edited fields get items of their own', () => {
    const doc = new Y.Doc()
    const stored = entryOf('A-1.json', TEXT, doc)
    expect([...stored.keys()].sort()).toEqual(['stamp', 'text'])
    edit(doc, 'A-1.json', json(TEXT), json(TEXT.replace('"y"', '"w"')))
    expect(stored.get('base')).toBe(encodeLeaf(json(TEXT)))
    const overrides = [...stored.keys()].filter((key) => key.startsWith('['))
    expect(overrides).toEqual([encodeFieldKey(['', 'nested', '', 'x'])])
    expect(valuesEqual(readBody(stored, 'json')!, json(TEXT.replace('"y"', '"w"')))).toBe(true)
    // The base no longer follows the text.
    doc.transact(() => (stored.get('text') as Y.Text).insert(0, '// '))
    expect(valuesEqual(readBody(stored, 'json')!, json(TEXT.replace('"y"', '"w"')))).toBe(true)
  })

  it('counts only the live fields once fields and a tag are removed', () => {
    const definition = json(TEXT) as ObjectValue
    const stored = entryOf('A-1.json', TEXT)
    stored.set(encodeFieldKey(['', 'name']), DELETED)
    stored.set(encodeFieldKey(['', 'nested', '', 'z']), DELETED)
    const without = new Map(definition)
    without.delete('name')
    without.set('nested', new Map<string, Value>([['x', 'y']]))
    expect(bodyIs(stored, 'json', without)).toBe(true)
    expect(bodyIs(stored, 'json', definition)).toBe(false)
    stored.set(encodeFieldKey(['', '\u0000tag']), encodeLeaf('org.example.Tag'))
    expect(bodyIs(stored, 'json', taggedValue('org.example.Tag', without))).toBe(true)
    stored.set(encodeFieldKey(['', '\u0000tag']), DELETED)
    expect(bodyIs(stored, 'json', without)).toBe(true)
    expect(bodyIs(stored, 'json', taggedValue('org.example.Tag', without))).toBe(false)
  })

  it('reads a leaf that holds an object as that object', () => {
    const definition = json(TEXT) as ObjectValue
    const stored = entryOf('A-1.json', TEXT)
    // A peer stored an object as one leaf where this node would have written its fields.
    stored.set(encodeFieldKey(['', 'other']), '{"x":"y"}')
    const withOther = new Map([...definition, ['other', new Map<string, Value>([['x', 'y']])]])
    expect(valuesEqual(readBody(stored, 'json')!, withOther)).toBe(true)
    // An edit inside it from here makes it an object of its own.
    const next = new Map([...definition, ['other', new Map<string, Value>([['x', 'z']])]])
    stored.doc!.transact(() => applyChange(stored, 'json', withOther, next, TEXT))
    expect(valuesEqual(readBody(stored, 'json')!, next)).toBe(true)
  })

  it('may be something other than an object, and become one', () => {
    const text = '[ "a", 1 ]'
    const doc = new Y.Doc()
    const stored = entryOf('A-1.json', text, doc)
    expect(bodyIs(stored, 'json', json(text))).toBe(true)
    expect(materialize('A-1.json', stored)).toBe(text)
    edit(doc, 'A-1.json', json(text), json(TEXT))
    expect(valuesEqual(readBody(stored, 'json')!, json(TEXT))).toBe(true)
    edit(doc, 'A-1.json', json(TEXT), json('"just a string"'))
    expect(readBody(stored, 'json')).toBe('just a string')
  })

  it('is missing from an entry without a base or a text that parses, and what a peer wrote that this version cannot read is ignored', () => {
    const doc = new Y.Doc()
    const entry = new Y.Map<unknown>()
    filesOf(doc).set('A-1.json', entry)
    expect(readBody(entry, 'json')).toBeUndefined()
    expect(materialize('A-1.json', entry)).toBeUndefined()
    entry.set('text', new Y.Text('{ not json'))
    expect(readBody(entry, 'json')).toBeUndefined()
    expect(materialize('A-1.json', entry)).toBeUndefined()
    const stored = entryOf('B-2.json', TEXT, doc)
    doc.transact(() => fixBase(stored, 'json'))
    for (const [key, value] of [
      ['[', '"x"'],
      ['["", "name", ""]', '"x"'],
      ['[1, "name"]', '"x"'],
      [encodeFieldKey(['', 'name']), 'not a leaf'],
      [encodeFieldKey(['', 'name']), 5]
    ] as const) {
      stored.set(key, value)
      expect(valuesEqual(readBody(stored, 'json')!, json(TEXT)), `${key} = ${value}`).toBe(true)
      stored.delete(key)
    }
  })

  it('sets one field with setField, making the objects on the way', () => {
    const doc = new Y.Doc()
    const stored = entryOf('A-1.json', TEXT, doc)
    doc.transact(() => setField(stored, 'json', ['nested', 'x'], 'w'))
    doc.transact(() => setField(stored, 'json', ['fresh', 'deep', 'leaf'], numberValue('7')))
    doc.transact(() => setField(stored, 'json', ['name'], null))
    const expected = json(TEXT) as ObjectValue
    expected.set('nested', new Map<string, Value>([['x', 'w'], ['z', true]]))
    expected.set('fresh', new Map<string, Value>([['deep', new Map<string, Value>([['leaf', numberValue('7')]])]]))
    expected.set('name', null)
    expect(valuesEqual(readBody(stored, 'json')!, expected)).toBe(true)
  })
})

describe('concurrent edits of one body', () => {
  const PATH = 'A-1.yml'
  const BASE = json(`{
    "@class": "org.apereo.cas.services.CasRegisteredService",
    "name": "A",
    "id": 1,
    "policy": { "@class": "P", "enabled": true, "order": 2, "inner": { "a": 1, "b": 2 } }
  }`) as ObjectValue

  /** Two nodes that both hold BASE, made by a third. */
  function pair(): [Y.Doc, Y.Doc] {
    const origin = docWithClient(1)
    createEntry(filesOf(origin), PATH, textOf(PATH, BASE))
    const a = docWithClient(2)
    const b = docWithClient(3)
    sync(origin, a)
    sync(origin, b)
    return [a, b]
  }

  function changed(path: string[], value: Value | undefined): Definition {
    const copy = parseDefinition('json', canonicalText('json', BASE)) as ObjectValue
    let map = copy
    for (const key of path.slice(0, -1)) map = map.get(key) as ObjectValue
    if (value === undefined) map.delete(path.at(-1)!)
    else map.set(path.at(-1)!, value)
    return copy
  }

  function exchange(a: Y.Doc, b: Y.Doc): void {
    sync(a, b)
    sync(b, a)
  }

  it('keeps both edits of different fields, at any depth (I3)', () => {
    const [a, b] = pair()
    edit(a, PATH, BASE, changed(['policy', 'inner', 'a'], numberValue('10')))
    edit(b, PATH, BASE, changed(['policy', 'inner', 'b'], numberValue('20')))
    exchange(a, b)
    const body = bodyOf(a, PATH) as ObjectValue
    const inner = (body.get('policy') as ObjectValue).get('inner') as ObjectValue
    expect(inner.get('a')).toEqual(numberValue('10'))
    expect(inner.get('b')).toEqual(numberValue('20'))
    expect(valuesEqual(bodyOf(b, PATH)!, body)).toBe(true)
  })

  it('keeps an added field and a removed one', () => {
    const [a, b] = pair()
    edit(a, PATH, BASE, changed(['policy', 'added'], 'new'))
    edit(b, PATH, BASE, changed(['policy', 'order'], undefined))
    exchange(a, b)
    const policy = (bodyOf(a, PATH) as ObjectValue).get('policy') as ObjectValue
    expect(policy.get('added')).toBe('new')
    expect(policy.has('order')).toBe(false)
    expect(valuesEqual(bodyOf(b, PATH)!, bodyOf(a, PATH)!)).toBe(true)
  })

  it('gives one field the same winner on both nodes (I4)', () => {
    const [a, b] = pair()
    edit(a, PATH, BASE, changed(['name'], 'from a'))
    edit(b, PATH, BASE, changed(['name'], 'from b'))
    exchange(a, b)
    const name = (bodyOf(a, PATH) as ObjectValue).get('name')
    expect(['from a', 'from b']).toContain(name)
    expect((bodyOf(b, PATH) as ObjectValue).get('name')).toBe(name)
  })

  it('lets the removal of an object win over an edit inside it, as for a nested map', () => {
    const [a, b] = pair()
    edit(a, PATH, BASE, changed(['policy'], undefined))
    edit(b, PATH, BASE, changed(['policy', 'inner', 'a'], numberValue('10')))
    exchange(a, b)
    expect((bodyOf(a, PATH) as ObjectValue).has('policy')).toBe(false)
    expect(valuesEqual(bodyOf(b, PATH)!, bodyOf(a, PATH)!)).toBe(true)
  })

  it('lets an object replaced by a leaf win over an edit inside it, in either order of arrival', () => {
    for (const aFirst of [true, false]) {
      const [a, b] = pair()
      edit(a, PATH, BASE, changed(['policy', 'inner'], 'none'))
      edit(b, PATH, BASE, changed(['policy', 'inner', 'b'], numberValue('20')))
      if (aFirst) exchange(a, b)
      else exchange(b, a)
      const policy = (bodyOf(a, PATH) as ObjectValue).get('policy') as ObjectValue
      expect(policy.get('inner')).toBe('none')
      expect(valuesEqual(bodyOf(b, PATH)!, bodyOf(a, PATH)!)).toBe(true)
    }
  })

  it('does not apply edits made inside an object that a concurrent write replaced', () => {
    const [a, b] = pair()
    // a replaces the object (a new one, its fields its own); b edits a field of the old one.
    const fresh = new Map<string, Value>([['c', numberValue('3')]])
    edit(a, PATH, BASE, changed(['policy', 'inner'], 'none'))
    edit(a, PATH, changed(['policy', 'inner'], 'none'), changed(['policy', 'inner'], fresh))
    edit(b, PATH, BASE, changed(['policy', 'inner', 'a'], numberValue('10')))
    exchange(a, b)
    const inner = ((bodyOf(a, PATH) as ObjectValue).get('policy') as ObjectValue).get('inner')
    expect(valuesEqual(inner!, fresh)).toBe(true)
    expect(valuesEqual(bodyOf(b, PATH)!, bodyOf(a, PATH)!)).toBe(true)
    // Fields written into the new object from then on do apply.
    edit(b, PATH, bodyOf(b, PATH), changed(['policy', 'inner'], new Map<string, Value>([['c', numberValue('4')]])))
    sync(b, a)
    expect(((bodyOf(a, PATH) as ObjectValue).get('policy') as ObjectValue).get('inner')).toEqual(new Map([['c', numberValue('4')]]))
  })

  it('keeps concurrent changes of a tag and of a field', () => {
    const [a, b] = pair()
    edit(a, PATH, BASE, taggedValue('org.example.Tag', BASE))
    edit(b, PATH, BASE, changed(['id'], numberValue('2')))
    exchange(a, b)
    const body = bodyOf(a, PATH)!
    expect(isTaggedValue(body) && body.tag).toBe('org.example.Tag')
    expect(isTaggedValue(body) && (body.value as ObjectValue).get('id')).toEqual(numberValue('2'))
  })
})

// ---------------------------------------------------------------------------------------------------
// Seeded random histories. A failure names its seed; set REGSYNC_TEST_SEED to replay it alone.

const REPLAY = process.env.REGSYNC_TEST_SEED
const SEEDS = REPLAY !== undefined ? [Number(REPLAY)] : [...Array.from({ length: 40 }, (_, i) => i + 1), Date.now() % 1_000_000_007]

describe(`bodies in seeded random histories (seeds ${SEEDS[0]}..${SEEDS.at(-1)})`, () => {
  it('read back every definition written on one node, and the same on a node that receives the updates', () => {
    for (const seed of SEEDS) {
      const random = prng(seed)
      const writer = docWithClient(1)
      const reader = docWithClient(2)
      writer.on('update', (update: Uint8Array) => Y.applyUpdate(reader, update))
      let current = randomDefinition(random, 3)
      createEntry(filesOf(writer), 'a.yml', textOf('a.yml', current))
      for (let step = 0; step < 40; step++) {
        const next = mutate(random, current)
        // From the right base, or without one (the document's body is then the base).
        edit(writer, 'a.yml', random() < 0.5 ? current : undefined, next)
        current = next
        expect(valuesEqual(bodyOf(writer, 'a.yml')!, next), `seed ${seed}, step ${step}: writer`).toBe(true)
        expect(valuesEqual(bodyOf(reader, 'a.yml')!, next), `seed ${seed}, step ${step}: reader`).toBe(true)
      }
    }
  })

  it('converge on three nodes that edit concurrently and exchange updates in random order', () => {
    for (const seed of SEEDS) {
      const random = prng(seed)
      const mesh = new RelayingDocs([1, 2, 3].map((client) => client * 1000 + seed))
      const docs = mesh.docs
      const first = randomDefinition(random, 3)
      createEntry(filesOf(docs[0]!), 'a.yml', textOf('a.yml', first))
      for (const doc of docs.slice(1)) sync(docs[0]!, doc)
      for (let step = 0; step < 60; step++) {
        const index = Math.floor(random() * docs.length)
        const doc = docs[index]!
        if (random() < 0.5) {
          const current = bodyOf(doc, 'a.yml')!
          edit(doc, 'a.yml', current, mutate(random, current))
        } else {
          const to = (index + 1 + Math.floor(random() * 2)) % docs.length
          mesh.handOn(index, to, Math.floor(random() * (mesh.pending(index, to) + 1)), () => 0)
        }
      }
      for (const from of docs) for (const to of docs) if (from !== to) sync(from, to)
      const bodies = docs.map((doc) => encodeLeaf(bodyOf(doc, 'a.yml')!))
      expect(new Set(bodies).size, `seed ${seed}`).toBe(1)
    }
  })
})

const NAMES = ['a', 'b', 'c', 'd']

function randomLeaf(random: () => number): Value {
  const roll = Math.floor(random() * 6)
  if (roll === 0) return null
  if (roll === 1) return random() < 0.5
  if (roll === 2) return numberValue(String(Math.floor(random() * 100)))
  if (roll === 3) return [numberValue('1'), 'x']
  return NAMES[Math.floor(random() * NAMES.length)]!
}

function randomDefinition(random: () => number, depth: number): Value {
  const map: ObjectValue = new Map()
  for (const name of NAMES) {
    if (random() < 0.3) continue
    map.set(name, depth > 0 && random() < 0.4 ? randomDefinition(random, depth - 1) : randomLeaf(random))
  }
  return depth < 3 && random() < 0.15 ? taggedValue(`T${Math.floor(random() * 2)}`, map) : map
}

/** One to three random changes somewhere in the tree: a leaf, an object, a removal, a tag, or the root. */
function mutate(random: () => number, value: Value): Value {
  if (random() < 0.03) return random() < 0.5 ? randomLeaf(random) : randomDefinition(random, 2)
  let next = copy(value)
  for (let n = 1 + Math.floor(random() * 3); n > 0; n--) next = mutateOnce(random, next, 3)
  return next
}

function mutateOnce(random: () => number, value: Value, depth: number): Value {
  const parts = objectOf(value)
  if (parts === undefined) return randomDefinition(random, 2)
  const name = NAMES[Math.floor(random() * NAMES.length)]!
  const child = parts.map.get(name)
  const roll = random()
  if (roll < 0.1) {
    return isTaggedValue(value) ? (random() < 0.5 ? parts.map : taggedValue('T9', parts.map)) : taggedValue('T8', parts.map)
  }
  if (child !== undefined && objectOf(child) !== undefined && depth > 0 && roll < 0.6) {
    parts.map.set(name, mutateOnce(random, child, depth - 1))
  } else if (roll < 0.75) {
    parts.map.delete(name)
  } else if (roll < 0.85 && depth > 0) {
    parts.map.set(name, randomDefinition(random, 1))
  } else {
    parts.map.set(name, randomLeaf(random))
  }
  return value
}

/** A deep copy, tags included. */
function copy(value: Value): Value {
  if (Array.isArray(value)) return value.map(copy)
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, copy(v)]))
  if (isTaggedValue(value)) return taggedValue(value.tag, copy(value.value))
  return value
}
