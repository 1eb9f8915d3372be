import { describe, expect, it } from 'vitest'
import { decodeLeaf, encodeLeaf, stringifyJson, valuesEqual } from '../src/codec/canonicalJson.js'
import { parseHjson } from '../src/codec/hjson.js'
import { parseYaml, stringifyYaml } from '../src/codec/yamlCodec.js'
import { isNumberValue, isTaggedValue, numberValue, taggedValue, type Value } from '../src/value.js'
import { prng } from '../src/testing/prng.js'

const n = numberValue
const obj = (...entries: [string, Value][]): Map<string, Value> => new Map(entries)

describe('stringifyJson', () => {
  it('writes pretty JSON with @class first, sorted keys, number texts and a trailing newline', () => {
    const value = obj(
      ['name', 'Sample'],
      ['id', n('983450982340993434')],
      ['@class', 'org.apereo.cas.services.CasRegisteredService'],
      ['accessStrategy', obj(['enabled', true], ['@class', 'x.Y'], ['ssoEnabled', false])],
      ['contacts', ['java.util.ArrayList', [obj(['b', null], ['a', n('1.50')])]]],
      ['empty', obj()],
      ['none', []],
      ['ratio', n('-1E+3')]
    )
    expect(stringifyJson(value)).toBe(
      [
        '{',
        '  "@class": "org.apereo.cas.services.CasRegisteredService",',
        '  "accessStrategy": {',
        '    "@class": "x.Y",',
        '    "enabled": true,',
        '    "ssoEnabled": false',
        '  },',
        '  "contacts": [',
        '    "java.util.ArrayList",',
        '    [',
        '      {',
        '        "a": 1.50,',
        '        "b": null',
        '      }',
        '    ]',
        '  ],',
        '  "empty": {},',
        '  "id": 983450982340993434,',
        '  "name": "Sample",',
        '  "none": [],',
        '  "ratio": -1E+3',
        '}',
        ''
      ].join('\n')
    )
  })

  it('sorts keys by UTF-16 code units, not code points or locale', () => {
    const value = obj(...['\uFB01', '😀', 'a', 'B', '_', 'é'].map((key): [string, Value] => [key, n('0')]))
    const keys = [...(parseHjson(stringifyJson(value)) as Map<string, Value>).keys()]
    expect(keys).toEqual(['B', '_', 'a', 'é', '😀', '\uFB01'])
  })

  it('escapes strings as JSON.stringify does', () => {
    const text = 'quote " backslash \\ slash / tab \t nl \n nul \u0000 lone \ud800 emoji 😀 ls \u2028'
    expect(stringifyJson(text)).toBe(JSON.stringify(text) + '\n')
    expect(stringifyJson(obj(['k"\n', text]))).toBe(`{\n  ${JSON.stringify('k"\n')}: ${JSON.stringify(text)}\n}\n`)
  })

  it('writes scalars and empty collections at the root', () => {
    expect(stringifyJson(null)).toBe('null\n')
    expect(stringifyJson(true)).toBe('true\n')
    expect(stringifyJson(n('-0.5e-7'))).toBe('-0.5e-7\n')
    expect(stringifyJson([])).toBe('[]\n')
    expect(stringifyJson(obj())).toBe('{}\n')
  })

  it('refuses what JSON cannot say: tags and non-JSON number texts', () => {
    expect(() => stringifyJson(obj(['a', taggedValue('java.util.HashMap', obj())]))).toThrow(TypeError)
    expect(() => stringifyJson([n('0x1F')])).toThrow(TypeError)
    expect(() => stringifyJson(n('.inf'))).toThrow(TypeError)
  })
})

describe('encodeLeaf / decodeLeaf', () => {
  it('writes compact JSON with sorted keys and number texts', () => {
    expect(encodeLeaf(['java.util.ArrayList', [obj(['z', n('10')], ['@class', 'A'], ['a', null])]])).toBe(
      '["java.util.ArrayList",[{"@class":"A","a":null,"z":10}]]'
    )
    expect(encodeLeaf(n('983450982340993434'))).toBe('983450982340993434')
    expect(encodeLeaf('12')).toBe('"12"')
  })

  it('marks tags, YAML-only numbers and ~ keys so that no two values share an encoding', () => {
    expect(encodeLeaf(taggedValue('java.util.ArrayList', ['a']))).toBe('{"~t":"java.util.ArrayList","~v":["a"]}')
    expect(encodeLeaf(n('0x1F'))).toBe('{"~n":"0x1F"}')
    expect(encodeLeaf(obj(['~t', 'x'], ['~v', 'y']))).toBe('{"~~t":"x","~~v":"y"}')
    expect(encodeLeaf(obj(['~n', '0x1F']))).toBe('{"~~n":"0x1F"}')
    expect(encodeLeaf(obj(['~~t', n('1')]))).toBe('{"~~~t":1}')
    const lookalikes: Value[] = [
      taggedValue('t', 'v'),
      obj(['~t', 't'], ['~v', 'v']),
      n('0x1F'),
      obj(['~n', '0x1F']),
      '0x1F',
      n('1'),
      '1',
      [n('1')],
      obj(['1', null])
    ]
    const encodings = lookalikes.map(encodeLeaf)
    expect(new Set(encodings).size).toBe(lookalikes.length)
    for (const [i, value] of lookalikes.entries()) expect(valuesEqual(decodeLeaf(encodings[i] ?? ''), value)).toBe(true)
  })

  it('decodes numbers back to the same text', () => {
    const decoded = decodeLeaf('[983450982340993434,1.50,-0,1E+3,{"~n":".inf"}]')
    expect(decoded).toEqual([n('983450982340993434'), n('1.50'), n('-0'), n('1E+3'), n('.inf')])
  })

  it('refuses text that encodeLeaf would not write', () => {
    for (const bad of ['{ }', '{"b":1,"a":2}', '{"~x":1}', '{"~t":1,"~v":2}', '{"~t":"a"}', '{"~n":"1","x":2}', 'abc', '[1,]', '"a" ', '']) {
      expect(() => decodeLeaf(bad), bad).toThrow(TypeError)
    }
  })
})

describe('valuesEqual', () => {
  it('ignores key order and compares numbers by text', () => {
    expect(valuesEqual(obj(['a', n('1')], ['b', [true]]), obj(['b', [true]], ['a', n('1')]))).toBe(true)
    expect(valuesEqual(n('1'), n('1.0'))).toBe(false)
    expect(valuesEqual(n('1'), '1')).toBe(false)
    expect(valuesEqual(obj(['a', null]), obj(['b', null]))).toBe(false)
    expect(valuesEqual(obj(['a', null]), obj(['a', null], ['b', null]))).toBe(false)
    expect(valuesEqual(taggedValue('T', obj()), obj())).toBe(false)
    expect(valuesEqual(taggedValue('T', obj()), taggedValue('U', obj()))).toBe(false)
    expect(valuesEqual(taggedValue('T', [n('1')]), taggedValue('T', [n('1')]))).toBe(true)
    expect(valuesEqual([], obj())).toBe(false)
    expect(valuesEqual([null], [])).toBe(false)
    expect(valuesEqual(null, false)).toBe(false)
  })
})

// ---------------------------------------------------------------------------------------------------
// Seeded random values. A failure names its seed; set REGSYNC_TEST_SEED to replay it alone.

interface Shape {
  /** none: JSON only; yaml: tags as YAML can write them; any: everything a Value can hold. */
  tags: 'none' | 'yaml' | 'any'
  numbers: 'json' | 'yaml'
}

const TRICKY = [
  '', ' ', 'true', 'false', 'null', 'Null', '~', '12', '-0', '1e5', '0x1F', '.inf', '.nan', 'yes', 'on',
  '10 minutes', ' padded ', '# comment', '// not a comment', '/* nor this */', 'a: b', 'a, b', '- item',
  '---', '...', '@class', '~t', '~v', '~n', '~~', '"', "'", "'''", '\\', '{}', '[]', '<<', '&a', '*a', '!tag',
  'java.util.ArrayList', 'line\nbreak', 'tab\tin', '\r\n', 'é', '😀', '\u0085', '\u2028', '\ufeff', '\uffff'
]
const CHARS = [
  'a', 'Z', '0', '9', ' ', '\t', '\n', '\r', '"', "'", '\\', '/', ':', ',', '#', '{', '}', '[', ']', '-', '~',
  '@', '!', '&', '*', '%', '|', '>', '?', '\u0000', '\u0007', '\u007f', '\u0085', '\u00a0', 'é', '\u2028',
  '\ufeff', '\uffff', '😀', '\ud800', '\udc00'
]
const YAML_NUMBERS = ['0x1F', '0o17', '+5', '.5', '1.', '-.Inf', '.inf', '.NaN', '012', '+1.5e3', '-0.0']
const YAML_TAGS = [
  'java.util.ArrayList',
  'java.util.HashMap',
  'org.apereo.cas.services.CasRegisteredService',
  'tag:yaml.org,2002:str',
  '!local',
  'x:y/z#a?b=c&d',
  "a(b)*'c'~!",
  'pct%21'
]

class Generator {
  readonly random: () => number
  constructor(seed: number) {
    this.random = prng(seed)
  }

  int(below: number): number {
    return Math.floor(this.random() * below)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }

  string(): string {
    if (this.random() < 0.4) return this.pick(TRICKY)
    let text = ''
    for (let i = this.int(12); i > 0; i--) text += this.pick(CHARS)
    return text
  }

  key(): string {
    return this.random() < 0.15 ? '@class' : this.random() < 0.5 ? this.pick(['id', 'name', 'serviceId', 'a.b-c_d', 'Null', 'true', '1']) : this.string()
  }

  digits(count: number): string {
    let text = ''
    for (let i = 0; i < count; i++) text += String(this.int(10))
    return text
  }

  jsonNumber(): string {
    let text = this.random() < 0.3 ? '-' : ''
    text += this.random() < 0.2 ? '0' : String(1 + this.int(9)) + this.digits(this.int(20))
    if (this.random() < 0.3) text += '.' + this.digits(1 + this.int(4))
    if (this.random() < 0.2) text += this.pick(['e', 'E']) + this.pick(['', '+', '-']) + this.digits(1 + this.int(3))
    return text
  }

  tag(shape: Shape): string {
    return shape.tags === 'any' && this.random() < 0.3 ? this.string() : this.pick(YAML_TAGS)
  }

  value(shape: Shape, depth = 0, insideTag = false): Value {
    const leafOnly = depth >= 4
    // Roots are mostly collections, where the interesting layout happens.
    const roll = depth === 0 && this.random() < 0.8 ? 5 + this.int(4) : this.int(leafOnly ? 5 : 9)
    switch (roll) {
      case 0:
        return null
      case 1:
        return this.random() < 0.5
      case 2:
      case 3:
        return this.string()
      case 4:
        return numberValue(shape.numbers === 'yaml' && this.random() < 0.3 ? this.pick(YAML_NUMBERS) : this.jsonNumber())
      case 5:
      case 6: {
        const items: Value[] = []
        for (let i = this.int(5); i > 0; i--) items.push(this.value(shape, depth + 1))
        return items
      }
      case 7: {
        const map = new Map<string, Value>()
        for (let i = this.int(6); i > 0; i--) map.set(this.key(), this.value(shape, depth + 1))
        return map
      }
      default: {
        if (shape.tags === 'none' || (insideTag && shape.tags === 'yaml')) return this.value(shape, depth + 1, insideTag)
        return taggedValue(this.tag(shape), this.value(shape, depth + 1, true))
      }
    }
  }
}

const REPLAY = process.env.REGSYNC_TEST_SEED
const SEEDS = REPLAY !== undefined ? [Number(REPLAY)] : [...Array.from({ length: 40 }, (_, i) => i + 1), Date.now() % 1_000_000_007]
const VALUES_PER_SEED = 50

function forEachRandomValue(shape: Shape, check: (value: Value, seed: number, index: number) => void): void {
  for (const seed of SEEDS) {
    const generator = new Generator(seed)
    for (let index = 0; index < VALUES_PER_SEED; index++) {
      const value = generator.value(shape)
      try {
        check(value, seed, index)
      } catch (error) {
        throw new Error(`seed ${seed}, value ${index}: ${(error as Error).message}\nvalue: ${encodeLeaf(value)}`, { cause: error })
      }
    }
  }
}

/** A copy with every object's keys in reverse order, to prove that order does not matter. */
function reversed(value: Value): Value {
  if (Array.isArray(value)) return value.map(reversed)
  if (value instanceof Map) return new Map([...value].reverse().map(([key, child]) => [key, reversed(child)]))
  if (isTaggedValue(value)) return taggedValue(value.tag, reversed(value.value))
  if (isNumberValue(value)) return numberValue(value.text)
  return value
}

describe(`seeded random values (seeds ${SEEDS[0]}..${SEEDS.at(-1)})`, () => {
  it('decodeLeaf inverts encodeLeaf, and equal encodings mean equal values', () => {
    let previous: Value = null
    forEachRandomValue({ tags: 'any', numbers: 'yaml' }, (value) => {
      const encoded = encodeLeaf(value)
      const decoded = decodeLeaf(encoded)
      expect(valuesEqual(decoded, value)).toBe(true)
      expect(encodeLeaf(decoded)).toBe(encoded)
      const copy = reversed(value)
      expect(encodeLeaf(copy)).toBe(encoded)
      expect(valuesEqual(copy, value)).toBe(true)
      expect(valuesEqual(previous, value)).toBe(encodeLeaf(previous) === encoded)
      previous = value
    })
  })

  it('parseHjson reads stringifyJson back to an equal value, and the text is canonical', () => {
    forEachRandomValue({ tags: 'none', numbers: 'json' }, (value) => {
      const text = stringifyJson(value)
      expect(() => JSON.parse(text) as unknown).not.toThrow()
      const parsed = parseHjson(text)
      expect(valuesEqual(parsed, value)).toBe(true)
      expect(stringifyJson(parsed)).toBe(text)
      expect(stringifyJson(reversed(value))).toBe(text)
    })
  })

  it('parseYaml reads stringifyYaml back to an equal value, and the text is canonical', () => {
    forEachRandomValue({ tags: 'yaml', numbers: 'yaml' }, (value) => {
      const text = stringifyYaml(value)
      const parsed = parseYaml(text)
      expect(valuesEqual(parsed, value)).toBe(true)
      expect(stringifyYaml(parsed)).toBe(text)
    })
  })
})
