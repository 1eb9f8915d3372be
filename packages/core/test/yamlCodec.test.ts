import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { RegsyncError } from '../src/errors.js'
import { valuesEqual } from '../src/codec/canonicalJson.js'
import { parseYaml, stringifyYaml } from '../src/codec/yamlCodec.js'
import { numberValue as n, taggedValue as t, type Value } from '../src/value.js'

const obj = (...entries: [string, Value][]): Map<string, Value> => new Map(entries)
const corpusFile = (name: string): string => readFileSync(new URL(`../../../../shared/corpus/services/${name}`, import.meta.url), 'utf8')

/** The error message of parsing `text`, which must fail with REGSYNC_PARSE. */
function errorOf(text: string): string {
  try {
    parseYaml(text)
  } catch (error) {
    expect(error).toBeInstanceOf(RegsyncError)
    expect((error as RegsyncError).code).toBe('REGSYNC_PARSE')
    return (error as RegsyncError).message
  }
  throw new Error(`parsed without error: ${text}`)
}

describe('parseYaml', () => {
  it('reads a CAS definition with class tags as tagged values', () => {
    expect(parseYaml(corpusFile('SharedApplication-3000.yml'))).toEqual(
      t(
        'org.apereo.cas.services.CasRegisteredService',
        obj(
          ['serviceId', '^https://localhost:9859/anything/shared.*'],
          ['name', 'SharedApplication'],
          ['id', n('3000')],
          ['description', 'Registered in the YAML service registry'],
          [
            'attributeReleasePolicy',
            t(
              'org.apereo.cas.services.ReturnStaticAttributeReleasePolicy',
              obj(['allowedAttributes', t('java.util.HashMap', obj(['registry', t('java.util.ArrayList', ['yaml'])]))])
            )
          ]
        )
      )
    )
  })

  it('reads a tagged empty mapping and a document after a comment', () => {
    const value = parseYaml(corpusFile('calnet__test-1000.yml'))
    expect(value).toMatchObject({ kind: 'tagged', tag: 'org.apereo.cas.services.RegexRegisteredService' })
    const body = (value as { value: Map<string, Value> }).value
    expect(body.get('attributeReleasePolicy')).toEqual(t('org.apereo.cas.services.ReturnAllAttributeReleasePolicy', obj()))
  })

  it('resolves plain scalars by the YAML 1.2 core schema, keeping number texts', () => {
    const text = [
      'n1: ~', 'n2: null', 'n3: Null', 'n4: NULL', 'n5:',
      'b1: true', 'b2: True', 'b3: FALSE',
      'i1: 983450982340993434', 'i2: -3', 'i3: +5', 'i4: 0x1F', 'i5: 0o17', 'i6: 012',
      'f1: 1.50', 'f2: 1e3', 'f3: .5', 'f4: -.Inf', 'f5: .nan', 'f6: 1.',
      's1: yes', 's2: on', 's3: 1_000', 's4: 0b101', 's5: 10 minutes', 's6: nULL', 's7: 2024-01-01'
    ].join('\n')
    expect(parseYaml(text)).toEqual(
      obj(
        ['n1', null], ['n2', null], ['n3', null], ['n4', null], ['n5', null],
        ['b1', true], ['b2', true], ['b3', false],
        ['i1', n('983450982340993434')], ['i2', n('-3')], ['i3', n('+5')], ['i4', n('0x1F')], ['i5', n('0o17')], ['i6', n('012')],
        ['f1', n('1.50')], ['f2', n('1e3')], ['f3', n('.5')], ['f4', n('-.Inf')], ['f5', n('.nan')], ['f6', n('1.')],
        ['s1', 'yes'], ['s2', 'on'], ['s3', '1_000'], ['s4', '0b101'], ['s5', '10 minutes'], ['s6', 'nULL'], ['s7', '2024-01-01']
      )
    )
  })

  it('reads quoted and block scalars as strings, always', () => {
    const text = ['a: "12"', "b: 'true'", 'c: ""', 'd: |', '  12', 'e: >-', '  folded', '  text', 'f: ! 12', 'g: "\\u00e9\\t\\/"'].join('\n')
    expect(parseYaml(text)).toEqual(obj(['a', '12'], ['b', 'true'], ['c', ''], ['d', '12\n'], ['e', 'folded text'], ['f', '12'], ['g', 'é\t/']))
  })

  it('reads keys as strings, as Jackson does', () => {
    expect([...(parseYaml('1: a\ntrue: b\nnull: c\n"q": d\n"": e') as Map<string, Value>).keys()]).toEqual(['1', 'true', 'null', 'q', ''])
  })

  it('keeps other explicit tags, on scalars and collections', () => {
    expect(parseYaml('a: !foo 1\nb: !!str x\nc: !<x.Y> "q"\nd: !!set {}\ne: !<E>')).toEqual(
      obj(['a', t('!foo', n('1'))], ['b', t('tag:yaml.org,2002:str', 'x')], ['c', t('x.Y', 'q')], ['d', t('tag:yaml.org,2002:set', obj())], ['e', t('E', null)])
    )
  })

  it('lets the last duplicate key win', () => {
    expect(parseYaml('a: 1\nb: 2\na: 3')).toEqual(obj(['a', n('3')], ['b', n('2')]))
  })

  it('resolves anchors and aliases', () => {
    expect(parseYaml('base: &b\n  x: 1\ncopy: *b\nlist: [&s "s", *s]')).toEqual(
      obj(['base', obj(['x', n('1')])], ['copy', obj(['x', n('1')])], ['list', ['s', 's']])
    )
  })

  it('reads an empty stream as null', () => {
    expect(parseYaml('')).toBe(null)
    expect(parseYaml('# only a comment\n')).toBe(null)
  })

  it('skips a byte order mark', () => {
    expect(parseYaml('\ufeff--- !<X>\na: 1\n')).toEqual(t('X', obj(['a', n('1')])))
  })
})

describe('parseYaml: errors name the line and column', () => {
  it.each([
    ['a: 1\n---\nb: 2', 'line 2, column 1: a second YAML document starts here; a service definition file holds exactly one'],
    ['a: b: c', 'line 1, column 4: nested mappings are not allowed in compact mappings'],
    ['a:\n\t- b', 'line 2, column 1: tabs are not allowed as indentation'],
    ['a: "open\n', 'line 2, column 1: missing closing "quote'],
    ['a: *nowhere', 'line 1, column 4: alias *nowhere refers to no anchor &nowhere before it'],
    ['a: &a [1, *a]', 'line 1, column 11: alias *a refers to a node that contains it'],
    ['? [a]\n: 1', 'line 1, column 3: a mapping key must be a plain or quoted string, not a collection or alias'],
    ['!<T> a: 1', 'line 1, column 6: a mapping key cannot carry a tag (!<T>)']
  ])('%j', (text, message) => {
    expect(errorOf(text)).toBe(message)
  })

  it('refuses deep nesting before the recursive composer can overflow the stack and abort the process', () => {
    // Without the check the composer overflows near 800 levels, and repeating that (as a watcher does)
    // killed the process with "FATAL ERROR: RegExpCompiler Allocation failed" instead of throwing.
    for (let i = 0; i < 5; i++) {
      expect(errorOf('['.repeat(5_000))).toBe('line 1, column 201: nesting deeper than 200 levels')
      expect(errorOf('- '.repeat(3_000) + 'x')).toBe('line 1, column 401: nesting deeper than 200 levels')
    }
    expect(parseYaml('['.repeat(200) + ']'.repeat(200))).toBeInstanceOf(Array)
  })

  it('refuses aliases that expand exponentially', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 1; i < 7; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`)
    expect(errorOf(lines.join('\n'))).toBe('line 2, column 10: aliases expand this document to more than 100000 values')
  })
})

describe('stringifyYaml', () => {
  it('writes a definition as CAS does: --- !<class>, sorted keys, quoted strings', () => {
    const value = t(
      'org.apereo.cas.services.CasRegisteredService',
      obj(
        ['serviceId', '^https://.+'],
        ['name', 'Sample'],
        ['id', n('983450982340993434')],
        ['attributeReleasePolicy', t('org.apereo.cas.services.ReturnAllAttributeReleasePolicy', obj())],
        [
          'accessStrategy',
          t('org.apereo.cas.services.DefaultRegisteredServiceAccessStrategy', obj(['ssoEnabled', true], ['enabled', false], ['requiredAttributes', t('java.util.HashMap', obj(['cn', t('java.util.HashSet', ['a', 'b'])]))]))
        ],
        ['requiredHandlers', t('java.util.HashSet', ['handler1'])],
        ['plain', obj(['list', ['x', n('1'), null]], ['empty', []], ['none', obj()])],
        ['description', null]
      )
    )
    expect(stringifyYaml(value)).toBe(
      [
        '--- !<org.apereo.cas.services.CasRegisteredService>',
        'accessStrategy: !<org.apereo.cas.services.DefaultRegisteredServiceAccessStrategy>',
        '  enabled: false',
        '  requiredAttributes: !<java.util.HashMap>',
        '    cn: !<java.util.HashSet>',
        '    - "a"',
        '    - "b"',
        '  ssoEnabled: true',
        'attributeReleasePolicy: !<org.apereo.cas.services.ReturnAllAttributeReleasePolicy> {}',
        'description: null',
        'id: 983450982340993434',
        'name: "Sample"',
        'plain:',
        '  empty: []',
        '  list:',
        '  - "x"',
        '  - 1',
        '  - null',
        '  none: {}',
        'requiredHandlers: !<java.util.HashSet>',
        '- "handler1"',
        'serviceId: "^https://.+"',
        ''
      ].join('\n')
    )
  })

  it('writes the corpus files in the layout they were written in, keys sorted', () => {
    const text = corpusFile('Sample-2.yml')
    expect(stringifyYaml(parseYaml(text))).toBe(
      [
        '--- !<org.apereo.cas.services.RegexRegisteredService>',
        'accessStrategy: !<org.apereo.cas.services.DefaultRegisteredServiceAccessStrategy>',
        '  enabled: true',
        '  ssoEnabled: true',
        'attributeReleasePolicy: !<org.apereo.cas.services.ReturnAllAttributeReleasePolicy> {}',
        'description: "description"',
        'id: 2',
        'name: "Sample"',
        'serviceId: "https://.+github.com.*/apereo/cas.*"',
        ''
      ].join('\n')
    )
  })

  it('quotes every string, so strings that look like other scalars stay strings', () => {
    const value = obj(['a', ['true', '12', '', 'null', '~', '0x1F', '- x', 'a: b', '# c', '@x', "it's", 'line\nbreak']])
    const text = stringifyYaml(value)
    expect(text).toBe('---\na:\n- "true"\n- "12"\n- ""\n- "null"\n- "~"\n- "0x1F"\n- "- x"\n- "a: b"\n- "# c"\n- "@x"\n- "it\'s"\n- "line\\nbreak"\n')
    expect(parseYaml(text)).toEqual(value)
  })

  it('escapes characters YAML 1.1 readers treat as line breaks or refuse', () => {
    const value = 'nel\u0085 ls\u2028 ps\u2029 bom\ufeff del\u007f nul\u0000 lone\ud800'
    const text = stringifyYaml(obj(['s', value]))
    expect(text).toBe('---\ns: "nel\\u0085 ls\\u2028 ps\\u2029 bom\\ufeff del\\u007f nul\\u0000 lone\\ud800"\n')
    expect(parseYaml(text)).toEqual(obj(['s', value]))
  })

  it('quotes keys that are not simple names', () => {
    const value = obj(['@class', 'x'], ['with space', n('1')], ['', n('2')], ['a.b-c_d', n('3')], ['-', n('4')])
    const text = stringifyYaml(value)
    expect(text).toBe('---\n"@class": "x"\n"": 2\n"-": 4\na.b-c_d: 3\n"with space": 1\n')
    expect(parseYaml(text)).toEqual(value)
  })

  it('writes collections inside sequences compactly and tagged items on their own lines', () => {
    const value = [obj(['a', ['x']], ['b', obj(['c', n('1')])]), [n('1'), [n('2')]], t('java.util.ArrayList', ['y', obj(['q', t('M', ['z'])])]), t('E', obj()), [], obj()]
    const text = stringifyYaml(value)
    expect(text).toBe(
      [
        '---',
        '- a:',
        '  - "x"',
        '  b:',
        '    c: 1',
        '- - 1',
        '  - - 2',
        '- !<java.util.ArrayList>',
        '  - "y"',
        '  - q: !<M>',
        '    - "z"',
        '- !<E> {}',
        '- []',
        '- {}',
        ''
      ].join('\n')
    )
    expect(valuesEqual(parseYaml(text), value)).toBe(true)
  })

  it('writes scalars and tagged scalars at the root', () => {
    expect(stringifyYaml('x')).toBe('--- "x"\n')
    expect(stringifyYaml(null)).toBe('--- null\n')
    expect(stringifyYaml(obj())).toBe('--- {}\n')
    expect(stringifyYaml(t('T', obj()))).toBe('--- !<T> {}\n')
    expect(stringifyYaml(t('T', n('5')))).toBe('--- !<T> 5\n')
    expect(stringifyYaml(t('T', ['a']))).toBe('--- !<T>\n- "a"\n')
    for (const value of ['x', null, obj(), t('T', obj()), t('T', n('5')), t('T', ['a'])]) {
      expect(valuesEqual(parseYaml(stringifyYaml(value)), value)).toBe(true)
    }
  })

  it('uses explicit ? keys for keys longer than YAML allows implicitly', () => {
    const long = 'k'.repeat(1500)
    const value = obj([long, t('T', obj(['a', n('1')]))], [`${long}x`, ['a']], ['short', 'v'])
    const text = stringifyYaml(value)
    expect(text).toBe(`---\n? ${long}\n: !<T>\n  a: 1\n? ${long}x\n:\n- "a"\nshort: "v"\n`)
    expect(valuesEqual(parseYaml(text), value)).toBe(true)
  })

  it('refuses what YAML cannot say', () => {
    expect(() => stringifyYaml(t('A', t('B', null)))).toThrow(TypeError)
    expect(() => stringifyYaml(t('has space', null))).toThrow(TypeError)
    expect(() => stringifyYaml(t('!', null))).toThrow(TypeError)
    expect(() => stringifyYaml([n('12abc')])).toThrow(TypeError)
  })
})
