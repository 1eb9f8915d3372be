import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { valuesEqual } from '../src/codec/canonicalJson.js'
import { parseDefinition } from '../src/codec/codec.js'
import { materialize } from '../src/document/materialize.js'
import { bodyIs, createEntry, entryAt, filesOf, readBody } from '../src/document/registryDocument.js'
import type { Definition } from '../src/document/registryDocument.js'
import { isTaggedValue, numberValue, taggedValue } from '../src/value.js'
import type { ObjectValue, Value } from '../src/value.js'

const corpus = new URL('../../../../shared/corpus/', import.meta.url)
interface ManifestEntry {
  file: string
  format: 'json' | 'yaml'
  parse: string
}
const manifest = JSON.parse(readFileSync(new URL('MANIFEST.json', corpus), 'utf8')) as ManifestEntry[]
const parseable = manifest.filter((entry) => entry.parse !== 'unparseable')

function entryOf(path: string, definition: Definition, text: string): Y.Map<unknown> {
  const doc = new Y.Doc()
  createEntry(filesOf(doc), path, definition, text)
  return entryAt(filesOf(doc), path)!
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
  if (parts === undefined) return ['other']
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
  return out
}

describe('bodyIs', () => {
  it.each(parseable.map((entry) => [entry.file, entry] as const))('proves the body of %s equal to its text, and nothing else', (file, entry) => {
    const text = readFileSync(new URL(`services/${file}`, corpus), 'utf8')
    const definition = parseDefinition(entry.format, text)
    const stored = entryOf(file, definition, text)
    const isObject = objectOf(definition) !== undefined
    // Objects are proven; a body that is not an object (a list of services) is left to readBody.
    expect(bodyIs(stored, definition)).toBe(isObject)
    expect(materialize(file, stored)).toBe(text)
    for (const variant of variants(definition)) {
      // Never "equal" where readBody says otherwise.
      expect(bodyIs(stored, variant)).toBe(false)
      expect(valuesEqual(readBody(stored), variant)).toBe(false)
    }
  })

  it('does not depend on key order', () => {
    const definition: Value = new Map<string, Value>([
      ['@class', 'org.apereo.cas.services.CasRegisteredService'],
      ['id', numberValue('9007199254740993')],
      ['nested', new Map<string, Value>([['b', true], ['a', [1, 2].map((n) => numberValue(String(n)))]])]
    ])
    const stored = entryOf('A-1.json', definition, '{}')
    const reordered = new Map<string, Value>([
      ['nested', new Map<string, Value>([['a', [numberValue('1'), numberValue('2')]], ['b', true]])],
      ['id', numberValue('9007199254740993')],
      ['@class', 'org.apereo.cas.services.CasRegisteredService']
    ])
    expect(bodyIs(stored, reordered)).toBe(true)
    // The number's text is the value: 1.0 is not 1.
    reordered.set('id', numberValue('9007199254740993.0'))
    expect(bodyIs(stored, reordered)).toBe(false)
  })

  it('counts only the live keys of a body whose keys were removed, and of a tag that was removed', () => {
    const text = '{ "@class": "org.apereo.cas.services.CasRegisteredService", "name": "A", "id": 1, "nested": { "x": "y", "z": true } }'
    const definition = parseDefinition('json', text) as ObjectValue
    const stored = entryOf('A-1.json', definition, text)
    const body = stored.get('body') as Y.Map<unknown>
    body.delete('name')
    ;(body.get('nested') as Y.Map<unknown>).delete('z')
    const without = new Map(definition)
    without.delete('name')
    without.set('nested', new Map<string, Value>([['x', 'y']]))
    expect(bodyIs(stored, without)).toBe(true)
    expect(bodyIs(stored, definition)).toBe(false)
    // A removed tag is no tag; the same body under a tag is not proven equal.
    body.set('\u0000tag', 'org.example.Tag')
    expect(bodyIs(stored, taggedValue('org.example.Tag', without))).toBe(true)
    body.delete('\u0000tag')
    expect(bodyIs(stored, without)).toBe(true)
    expect(bodyIs(stored, taggedValue('org.example.Tag', without))).toBe(false)
    expect(valuesEqual(readBody(stored), without)).toBe(true)
  })

  it('reads a leaf that holds an object as that object, as readBody does', () => {
    const text = '{ "@class": "org.apereo.cas.services.CasRegisteredService", "name": "A", "id": 1 }'
    const definition = parseDefinition('json', text) as ObjectValue
    const stored = entryOf('A-1.json', definition, text)
    // A peer stored an object as one leaf where this node would have made a nested map.
    const body = stored.get('body') as Y.Map<unknown>
    body.set('nested', '{"x":"y"}')
    const withNested = new Map([...definition, ['nested', new Map<string, Value>([['x', 'y']])]])
    expect(valuesEqual(readBody(stored), withNested)).toBe(true)
    expect(bodyIs(stored, withNested)).toBe(true)
    expect(bodyIs(stored, definition)).toBe(false)
  })

  it('leaves a body that is not an object to readBody, and materialize still finds the text', () => {
    const text = '[ "a", 1 ]'
    const definition = parseDefinition('json', text)
    const stored = entryOf('A-1.json', definition, text)
    expect(bodyIs(stored, definition)).toBe(false)
    expect(materialize('A-1.json', stored)).toBe(text)
  })
})
