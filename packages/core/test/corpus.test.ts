import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { RegsyncError } from '../src/errors.js'
import { isNumberValue, isTaggedValue, type Value } from '../src/value.js'
import { valuesEqual } from '../src/codec/canonicalJson.js'
import { canonicalText, formatOf, isDefinitionRoot, parseDefinition } from '../src/codec/codec.js'
import { parseHjson } from '../src/codec/hjson.js'

// The repository and `shared` sit side by side, both in development and in CI.
const corpus = new URL('../../../../shared/corpus/', import.meta.url)

interface ManifestEntry {
  file: string
  format: 'json' | 'yaml'
  parse: 'strict-json' | 'hjson-only' | 'yaml' | 'unparseable'
  id?: string | null
  cls?: string
  notes: string[]
}

const manifest = JSON.parse(readFileSync(new URL('MANIFEST.json', corpus), 'utf8')) as ManifestEntry[]
const read = (entry: ManifestEntry): string => readFileSync(new URL(`services/${entry.file}`, corpus), 'utf8')
const parseable = manifest.filter((entry) => entry.parse !== 'unparseable')

/**
 * Two "strict-json" files hold a JSON array of services (a REST registry payload and a UI fixture), not a
 * definition: they parse, but CAS could not load them from a services directory.
 */
const SERVICE_LISTS = ['cas-rest-service-registry__service.json', 'services.json']

/** The same value as plain JS, numbers converted, to compare with `JSON.parse`. */
function toPlain(value: Value): unknown {
  if (Array.isArray(value)) return value.map(toPlain)
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, child]) => [key, toPlain(child)]))
  if (isNumberValue(value)) return Number(value.text)
  if (isTaggedValue(value)) throw new Error('JSON has no tags')
  return value
}

/** The body of a definition: the mapping under the YAML class tag, or the JSON object itself. */
function bodyOf(value: Value): Map<string, Value> {
  const body = isTaggedValue(value) ? value.value : value
  if (!(body instanceof Map)) throw new Error('not an object')
  return body
}

describe('CAS corpus', () => {
  it('has the files the manifest lists, in the formats their extensions say', () => {
    expect(manifest.length).toBeGreaterThan(290)
    for (const entry of manifest) expect(formatOf(entry.file), entry.file).toBe(entry.format)
  })

  it.each(parseable.map((entry) => [entry.file, entry] as const))('parses %s', (_file, entry) => {
    const value = parseDefinition(entry.format, read(entry))
    expect(isDefinitionRoot(value)).toBe(!SERVICE_LISTS.includes(entry.file))
    if (!isDefinitionRoot(value)) return
    const body = bodyOf(value)
    if (entry.cls !== undefined) {
      expect(isTaggedValue(value) ? value.tag : body.get('@class')).toBe(entry.cls)
    }
    if (entry.id !== undefined && entry.id !== null) {
      const id = body.get('id')
      expect(typeof id === 'string' ? id : isNumberValue(id ?? null) ? (id as { text: string }).text : id).toBe(entry.id)
    }
  })

  it('rejects the unparseable file with a line and column', () => {
    const unparseable = manifest.filter((entry) => entry.parse === 'unparseable')
    expect(unparseable.length).toBeGreaterThan(0)
    for (const entry of unparseable) {
      let error: unknown
      try {
        parseDefinition(entry.format, read(entry))
      } catch (caught) {
        error = caught
      }
      expect(error, entry.file).toBeInstanceOf(RegsyncError)
      expect((error as RegsyncError).code).toBe('REGSYNC_PARSE')
      expect((error as RegsyncError).message).toMatch(/^line \d+, column \d+: \S/)
    }
    const template = manifest.find((entry) => entry.file === 'bloomington-ansbile__service.json')
    expect(template).toBeDefined()
    expect(() => parseDefinition('json', read(template!))).toThrow("line 5, column 13: expected a key but found '{'")
  })

  it('parses the two service lists, whose root is an array and so not a definition', () => {
    for (const file of SERVICE_LISTS) {
      const entry = manifest.find((candidate) => candidate.file === file)
      expect(entry?.parse).toBe('strict-json')
      const list = parseDefinition('json', read(entry!))
      expect(Array.isArray(list)).toBe(true)
      expect(isDefinitionRoot(list)).toBe(false)
    }
  })

  it.each(parseable.map((entry) => [entry.file, entry] as const))('round-trips %s through its canonical text', (_file, entry) => {
    const value = parseDefinition(entry.format, read(entry))
    const canonical = canonicalText(entry.format, value)
    const reparsed = parseDefinition(entry.format, canonical)
    expect(valuesEqual(reparsed, value)).toBe(true)
    expect(canonicalText(entry.format, reparsed)).toBe(canonical)
    if (entry.format === 'json') expect(() => JSON.parse(canonical) as unknown).not.toThrow()
    else expect(canonical.startsWith(`--- !<${entry.cls ?? ''}>\n`)).toBe(true)
  })

  it('keeps ids above 2^53 digit for digit', () => {
    const big = manifest.filter((entry) => entry.notes.some((note) => note.includes('> 2^53')))
    expect(big.length).toBeGreaterThanOrEqual(3)
    for (const entry of big) {
      const id = bodyOf(parseDefinition(entry.format, read(entry))).get('id') ?? null
      expect(isNumberValue(id)).toBe(true)
      const text = (id as { text: string }).text
      expect(text).toBe(entry.id)
      expect(BigInt(text) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true)
      expect(String(Number(text))).not.toBe(text) // proof that a JS number would have lost it
      const canonical = canonicalText(entry.format, parseDefinition(entry.format, read(entry)))
      expect(canonical).toContain(`"id": ${text},`)
    }
  })

  it('reads every strict-json file exactly as JSON.parse does, apart from number precision', () => {
    const strict = manifest.filter((entry) => entry.parse === 'strict-json')
    expect(strict.length).toBeGreaterThan(250)
    for (const entry of strict) {
      const text = read(entry)
      expect(toPlain(parseHjson(text)), entry.file).toEqual(JSON.parse(text))
    }
  })

  it('finds Hjson-only syntax in the hjson-only files (JSON.parse rejects them)', () => {
    const hjsonOnly = manifest.filter((entry) => entry.parse === 'hjson-only')
    expect(hjsonOnly.length).toBeGreaterThan(10)
    for (const entry of hjsonOnly) {
      expect(() => JSON.parse(read(entry)) as unknown, entry.file).toThrow()
      expect(() => parseDefinition('json', read(entry)), entry.file).not.toThrow()
    }
  })

  it("reads the ''' multi-line string with the opening quotes' indentation stripped", () => {
    const entry = manifest.find((candidate) => candidate.file === 'cas-oidc-authzcode-claims-definitions__Sample-1.json')
    expect(entry).toBeDefined()
    const policies = bodyOf(parseDefinition('json', read(entry!))).get('attributeReleasePolicy')
    const list = (policies as Map<string, Value>).get('policies') as [string, Map<string, Value>[]]
    const container = (list[1][3]?.get('allowedAttributes') as Map<string, Value>).get('container') as [string, string[]]
    expect(container[1][0]).toBe('  {\n    "name": "Alice",\n    "email": "alice@example.com",\n    "roles": ["admin", "editor"]\n  }')
  })

  it('reads a template placeholder outside quotes as a quoteless string, comma included', () => {
    const entry = manifest.find((candidate) => candidate.file === 'cas-registered-service-import-export__registered-service.json')
    expect(entry).toBeDefined()
    expect(bodyOf(parseDefinition('json', read(entry!))).get('id')).toBe('${id},')
  })
})

describe('codec', () => {
  it('chooses the format by extension, in any case', () => {
    expect(formatOf('a/Sample-1.json')).toBe('json')
    expect(formatOf('Sample-1.JSON')).toBe('json')
    expect(formatOf('x/Sample-1.yml')).toBe('yaml')
    expect(formatOf('Sample-1.YAML')).toBe('yaml')
    expect(formatOf('Sample-1.json.bak')).toBeUndefined()
    expect(formatOf('json')).toBeUndefined()
    expect(formatOf('dir.json/file')).toBeUndefined()
  })

  it.each([
    ['json', ''],
    ['json', '  \n\t\r\n'],
    ['json', '\ufeff# a comment\n// another\n/* and\n a block */\n'],
    ['yaml', ''],
    ['yaml', '\ufeff# a comment\n\n   # indented comment\n']
  ] as const)('calls %s text %j an empty file', (format, text) => {
    expect(() => parseDefinition(format, text)).toThrow(new RegsyncError('REGSYNC_PARSE', 'empty file'))
  })

  it('reports an unterminated comment rather than an empty file', () => {
    expect(() => parseDefinition('json', '/* open')).toThrow('line 1, column 1: unterminated /* comment')
  })

  it('tells definition roots from other roots', () => {
    expect(isDefinitionRoot(parseDefinition('json', '{"@class": "x"}'))).toBe(true)
    expect(isDefinitionRoot(parseDefinition('yaml', '--- !<x>\na: 1'))).toBe(true)
    expect(isDefinitionRoot(parseDefinition('yaml', 'a: 1'))).toBe(true)
    expect(isDefinitionRoot(parseDefinition('yaml', '--- !<x> [1]'))).toBe(false)
    expect(isDefinitionRoot(parseDefinition('json', '[1]'))).toBe(false)
    expect(isDefinitionRoot(parseDefinition('json', '"text"'))).toBe(false)
  })
})
