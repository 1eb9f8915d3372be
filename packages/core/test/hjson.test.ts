import { describe, expect, it } from 'vitest'
import { RegsyncError } from '../src/errors.js'
import { parseHjson } from '../src/codec/hjson.js'
import { numberValue as n, type Value } from '../src/value.js'

const obj = (...entries: [string, Value][]): Map<string, Value> => new Map(entries)

/** The error message of parsing `text`, which must fail with REGSYNC_PARSE. */
function errorOf(text: string): string {
  try {
    parseHjson(text)
  } catch (error) {
    expect(error).toBeInstanceOf(RegsyncError)
    expect((error as RegsyncError).code).toBe('REGSYNC_PARSE')
    return (error as RegsyncError).message
  }
  throw new Error(`parsed without error: ${text}`)
}

describe('parseHjson: JSON', () => {
  it('reads strict JSON, keeping number texts', () => {
    expect(parseHjson('{"id": 983450982340993434, "f": 1.50, "e": 1E+3, "z": -0, "b": [true, false, null], "s": "x"}')).toEqual(
      obj(['id', n('983450982340993434')], ['f', n('1.50')], ['e', n('1E+3')], ['z', n('-0')], ['b', [true, false, null]], ['s', 'x'])
    )
  })

  it('decodes every JSON escape, surrogate pairs included', () => {
    expect(parseHjson(String.raw`["\" \\ \/ \b \f \n \r \t", "\u00e9\u00E9", "\ud83d\ude00", "\ud800"]`)).toEqual([
      '" \\ / \b \f \n \r \t',
      'éé',
      '😀',
      '\ud800'
    ])
  })

  it('accepts any value at the root', () => {
    expect(parseHjson('[1, "a"]')).toEqual([n('1'), 'a'])
    expect(parseHjson('"just a string"')).toBe('just a string')
    expect(parseHjson(' 42 ')).toEqual(n('42'))
    expect(parseHjson('true')).toBe(true)
    expect(parseHjson('null')).toBe(null)
    expect(parseHjson('{}')).toEqual(obj())
  })

  it('skips a leading byte order mark', () => {
    expect(parseHjson('\ufeff{"a": 1}')).toEqual(obj(['a', n('1')]))
    expect(errorOf('\ufeff{"a" 1}')).toMatch(/^line 1, column 6: expected ':'/)
  })

  it('lets the last duplicate key win, as Jackson does', () => {
    expect(parseHjson('{"a": 1, "b": 2, "a": 3}')).toEqual(obj(['a', n('3')], ['b', n('2')]))
  })

  it('keeps keys that are Object.prototype names as plain keys', () => {
    const value = parseHjson('{"__proto__": 1, "constructor": 2}') as Map<string, Value>
    expect([...value.keys()]).toEqual(['__proto__', 'constructor'])
  })
})

describe('parseHjson: Hjson syntax', () => {
  it('skips # , // and /* */ comments', () => {
    const text = [
      '# hash comment',
      '{',
      '  // slash comment',
      '  "a": 1, # after a value',
      '  /* block',
      '     comment */ "b": 2 // after a value',
      '  "c": true /* inline */',
      '  "d": [ /* empty */ ]',
      '}',
      '// trailing'
    ].join('\n')
    expect(parseHjson(text)).toEqual(obj(['a', n('1')], ['b', n('2')], ['c', true], ['d', []]))
  })

  it('reads unquoted keys and quoteless values to the end of the line', () => {
    const text = [
      '{',
      '  @class: org.apereo.cas.services.RegexRegisteredService',
      '  serviceId: ^/cas-management/manage.html',
      '  name: Services Management Web Application   ',
      '  id: 1528996599484',
      '  expirationPolicy:',
      '  {',
      '    deleteWhenExpired: false',
      '  }',
      '}'
    ].join('\n')
    expect(parseHjson(text)).toEqual(
      obj(
        ['@class', 'org.apereo.cas.services.RegexRegisteredService'],
        ['serviceId', '^/cas-management/manage.html'],
        ['name', 'Services Management Web Application'],
        ['id', n('1528996599484')],
        ['expirationPolicy', obj(['deleteWhenExpired', false])]
      )
    )
  })

  it('reads a value as a literal only when nothing but a terminator follows it', () => {
    const text = [
      'a: 10 minutes',
      'b: 10',
      'c: 5 # five',
      'd: 5 // five',
      'e: 5 /* five */',
      'f: true story',
      'g: truex',
      'h: null,',
      'i: 01',
      'j: +5',
      'k: .5',
      'l: 1.',
      'm: -',
      'n: 1 2',
      'o: -1.5e-3  ',
      'p: 0x1F',
      'q: NaN'
    ].join('\n')
    expect(parseHjson(text)).toEqual(
      obj(
        ['a', '10 minutes'],
        ['b', n('10')],
        ['c', n('5')],
        ['d', n('5')],
        ['e', n('5')],
        ['f', 'true story'],
        ['g', 'truex'],
        ['h', null],
        ['i', '01'],
        ['j', '+5'],
        ['k', '.5'],
        ['l', '1.'],
        ['m', '-'],
        ['n', '1 2'],
        ['o', n('-1.5e-3')],
        ['p', '0x1F'],
        ['q', 'NaN']
      )
    )
  })

  it('keeps commas, comment markers and quotes inside quoteless strings', () => {
    expect(parseHjson('a: x, y, z\nb: foo # not a comment\nc: say "hi", ok\nd: ${id},\ne: http://example.org/a')).toEqual(
      obj(['a', 'x, y, z'], ['b', 'foo # not a comment'], ['c', 'say "hi", ok'], ['d', '${id},'], ['e', 'http://example.org/a'])
    )
  })

  it('ends a literal at a closing bracket or comma on the same line', () => {
    expect(parseHjson('{"a": [1,2,true], "b": {"c": null}}')).toEqual(obj(['a', [n('1'), n('2'), true]], ['b', obj(['c', null])]))
    expect(parseHjson('[1 ,  2  , 3]')).toEqual([n('1'), n('2'), n('3')])
  })

  it('accepts missing commas between members and items', () => {
    expect(parseHjson('{"a": 1\n"b": "x" "c": [1\n2\n"y" "z"]}')).toEqual(obj(['a', n('1')], ['b', 'x'], ['c', [n('1'), n('2'), 'y', 'z']]))
  })

  it('accepts trailing commas', () => {
    expect(parseHjson('{"a": [1, 2,], "b": {"c": 1,},}')).toEqual(obj(['a', [n('1'), n('2')]], ['b', obj(['c', n('1')])]))
  })

  it('reads a root object without braces', () => {
    expect(parseHjson('# a braceless file\nname: Sample\nid: 5\nlist: [a\nb\n]\n')).toEqual(obj(['name', 'Sample'], ['id', n('5')], ['list', ['a', 'b']]))
  })

  it('reads single-quoted strings', () => {
    expect(parseHjson(String.raw`{'it\'s': 'say "hi"', "b": 'x\ty', 'empty': ''}`)).toEqual(obj(["it's", 'say "hi"'], ['b', 'x\ty'], ['empty', '']))
  })

  it("strips the opening ''' column of indentation from multi-line strings", () => {
    const text = ['{', '  text:', "    '''", '    first', '      indented', '  less', '', '    last', "    '''", '}'].join('\n')
    expect(parseHjson(text)).toEqual(obj(['text', 'first\n  indented\nless\n\nlast']))
  })

  it("reads ''' strings on one line, with quotes inside and no escapes", () => {
    expect(parseHjson("a: '''it's a ''quoted'' \\n'''")).toEqual(obj(['a', "it's a ''quoted'' \\n"]))
    expect(parseHjson("a: '''   spaces before\n   '''")).toEqual(obj(['a', 'spaces before']))
  })

  it("drops carriage returns in ''' strings and keeps a closing line's extra indentation", () => {
    expect(parseHjson("a:\r\n  '''\r\n  one\r\n  two\r\n  '''\r\n")).toEqual(obj(['a', 'one\ntwo']))
    expect(parseHjson("a:\n  '''\n  one\n    '''")).toEqual(obj(['a', 'one\n  ']))
  })

  it('reads Windows line endings', () => {
    expect(parseHjson('{\r\n  a: text\r\n  b: 1\r\n}\r\n')).toEqual(obj(['a', 'text'], ['b', n('1')]))
  })
})

describe('parseHjson: errors name the line and column', () => {
  it.each([
    ['{"name" "x"}', `line 1, column 9: expected ':' after key "name" but found '"'`],
    ['{\n  "a": 1,\n  "b" 2\n}', `line 3, column 7: expected ':' after key "b" but found '2'`],
    ['{\n  "a": "b\n}', 'line 2, column 8: unterminated string (a quoted string must end on the line it starts; use \\n, or \'\'\' for several lines)'],
    ['{"a": "b', 'line 1, column 7: unterminated string (no closing " before the end of the file)'],
    ['{"a": 1', "line 1, column 8: unexpected end of file (missing '}' to close the '{' at line 1, column 1)"],
    ['{"a": [1, 2', "line 1, column 12: unexpected end of file (missing ']' to close the '[' at line 1, column 7)"],
    ['{"a": [1, 2}', "line 1, column 12: unexpected '}' where a value was expected (the '[' at line 1, column 7 is still open)"],
    ['{"a": 1]', "line 1, column 8: unexpected ']' where a key was expected (the '{' at line 1, column 1 is still open)"],
    ['{"a": 1}}', "line 1, column 9: unexpected '}' after the end of the root value"],
    ['{} x', "line 1, column 4: unexpected 'x' after the end of the root value"],
    ['{"a": }', "line 1, column 7: expected a value but found '}'"],
    ['{"a": 1,, "b": 2}', "line 1, column 9: expected a key but found ',' (quote keys that contain {}[],: or spaces)"],
    ['{"a":\n', 'line 2, column 1: unexpected end of file (expected a value)'],
    ['{"a": "x\\q"}', "line 1, column 9: invalid escape '\\q' in a string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"],
    ['{"a": "\\u12G4"}', 'line 1, column 8: invalid \\u escape in a string (expected 4 hex digits, as in \\u00e9)'],
    ['{"a": "tab\there"}', 'line 1, column 11: control character U+0009 inside a string (write it as an escape such as \\t or \\u0009)'],
    ['{"a": 1 /* open', 'line 1, column 9: unterminated /* comment (no closing */ before the end of the file)'],
    ["{a: '''\nnever closed", "line 1, column 5: unterminated ''' string (no closing ''' before the end of the file)"],
    ['{: 1}', `line 1, column 2: found ':' but no key before it (write an empty key as "")`],
    ['{my key: 1}', `line 1, column 5: expected ':' after key "my" but found 'k'`],
    ['"a": 1\n}', "line 2, column 1: unexpected '}' (no '{' is open here)"],
    ['', 'line 1, column 1: the file is empty (only whitespace or comments)'],
    ['  # only a comment\n', 'line 2, column 1: the file is empty (only whitespace or comments)']
  ])('%j', (text, message) => {
    expect(errorOf(text)).toBe(message)
  })

  it('explains a closing brace swallowed by a quoteless value', () => {
    expect(errorOf('{a: b}')).toBe(
      "line 1, column 7: unexpected end of file (missing '}' to close the '{' at line 1, column 1); the quoteless value ending at line 1, column 6 runs to the end of its line, so the '}' there is part of the string: quote the value or put the closer on its own line"
    )
  })

  it('rejects template placeholders outside quotes at their position', () => {
    expect(errorOf('{\n    "id" : {{ item.id }}\n}')).toBe("line 2, column 13: expected a key but found '{' (quote keys that contain {}[],: or spaces)")
  })

  it('refuses nesting beyond 1000 levels with a parse error, not a stack overflow', () => {
    expect(errorOf('['.repeat(100_000))).toBe('line 1, column 1001: nesting deeper than 1000 levels')
    expect(parseHjson('['.repeat(1000) + ']'.repeat(1000))).toBeInstanceOf(Array)
  })

  it('counts columns in the line the error is on', () => {
    expect(errorOf('{\n  "a": 1,\n  "b": [1, 2,\n  "c": 3\n}')).toBe("line 4, column 6: expected a value but found ':'")
  })
})
