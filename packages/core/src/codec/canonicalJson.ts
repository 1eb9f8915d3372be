/**
 * Canonical JSON: the pretty form regsync writes when an author's text cannot be kept, and the compact
 * leaf encoding that stores a value in the Yjs document.
 *
 * Both sort object keys (`@class` first, then code-unit order), so every node produces the same bytes
 * for the same value whatever order the author wrote.
 *
 * ## Leaf encoding
 *
 * `encodeLeaf` writes compact JSON with sorted keys and numbers as their source text. What JSON cannot
 * say becomes an object with reserved keys, and ordinary keys are escaped so they never look reserved:
 *
 * - a tagged value: `{"~t":"<tag>","~v":<value>}`
 * - a number whose text is not a JSON number (YAML's `0x1F`, `+1`, `.inf`): `{"~n":"<text>"}`
 * - an object key that starts with `~` gets one more `~` (`~a` is written `~~a`)
 *
 * An encoded ordinary object therefore never has a key `~t`, `~v` or `~n` (its `~` keys start with
 * `~~`), so each encoding decodes one way only. `decodeLeaf(encodeLeaf(v))` equals `v` for every value,
 * which makes `encodeLeaf` injective: two values are equal exactly when their encodings are.
 */
import { isJsonNumber, parseHjson } from './hjson.js'
import { isNumberValue, isTaggedValue, numberValue, taggedValue, type ObjectValue, type Value } from '../value.js'

/** Canonical object key order: `@class` first, because CAS and people read it as the type; then code-unit order. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0
  if (a === '@class') return -1
  if (b === '@class') return 1
  return a < b ? -1 : 1
}

/** The keys of an object in canonical order. */
export function sortedKeys(object: ObjectValue): string[] {
  return [...object.keys()].sort(compareKeys)
}

/** Canonical pretty JSON (2-space indent, sorted keys, trailing newline); throws a `TypeError` for YAML-only values. */
export function stringifyJson(value: Value): string {
  const out: string[] = []
  writePretty(value, '', out)
  out.push('\n')
  return out.join('')
}

function writePretty(value: Value, indent: string, out: string[]): void {
  if (value === null || typeof value === 'boolean') {
    out.push(String(value))
  } else if (typeof value === 'string') {
    out.push(JSON.stringify(value))
  } else if (Array.isArray(value)) {
    if (value.length === 0) {
      out.push('[]')
      return
    }
    const inner = indent + '  '
    out.push('[\n')
    for (let i = 0; i < value.length; i++) {
      out.push(inner)
      writePretty(value[i] ?? null, inner, out)
      out.push(i === value.length - 1 ? '\n' : ',\n')
    }
    out.push(indent, ']')
  } else if (value instanceof Map) {
    if (value.size === 0) {
      out.push('{}')
      return
    }
    const inner = indent + '  '
    const keys = sortedKeys(value)
    out.push('{\n')
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] ?? ''
      out.push(inner, JSON.stringify(key), ': ')
      writePretty(value.get(key) ?? null, inner, out)
      out.push(i === keys.length - 1 ? '\n' : ',\n')
    }
    out.push(indent, '}')
  } else if (isNumberValue(value)) {
    if (!isJsonNumber(value.text)) throw new TypeError(`the number ${value.text} cannot be written as JSON`)
    out.push(value.text)
  } else {
    throw new TypeError(`a YAML tagged value (!<${value.tag}>) cannot be written as JSON`)
  }
}

/** The compact, canonical, injective text of a value: its stored form as a Yjs leaf (see the module comment). */
export function encodeLeaf(value: Value): string {
  // Scalars are most leaves (every field of every definition imported or materialized): no buffer.
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === null || typeof value === 'boolean') return String(value)
  if (isNumberValue(value) && isJsonNumber(value.text)) return value.text
  const out: string[] = []
  writeLeaf(value, out)
  return out.join('')
}

function writeLeaf(value: Value, out: string[]): void {
  if (value === null || typeof value === 'boolean') {
    out.push(String(value))
  } else if (typeof value === 'string') {
    out.push(JSON.stringify(value))
  } else if (Array.isArray(value)) {
    out.push('[')
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',')
      writeLeaf(value[i] ?? null, out)
    }
    out.push(']')
  } else if (value instanceof Map) {
    out.push('{')
    let first = true
    for (const key of sortedKeys(value)) {
      if (!first) out.push(',')
      first = false
      out.push(JSON.stringify(key.startsWith('~') ? '~' + key : key), ':')
      writeLeaf(value.get(key) ?? null, out)
    }
    out.push('}')
  } else if (isNumberValue(value)) {
    out.push(isJsonNumber(value.text) ? value.text : `{"~n":${JSON.stringify(value.text)}}`)
  } else {
    out.push(`{"~t":${JSON.stringify(value.tag)},"~v":`)
    writeLeaf(value.value, out)
    out.push('}')
  }
}

/** Inverts {@link encodeLeaf} exactly; throws a `TypeError` for text that `encodeLeaf` would not produce. */
export function decodeLeaf(text: string): Value {
  // Scalars are most leaves and are read on every materialization: decode them without the parser.
  if (text === 'true') return true
  if (text === 'false') return false
  if (text === 'null') return null
  const first = text.charCodeAt(0)
  if (first === 0x22) {
    let string: unknown
    try {
      string = JSON.parse(text)
    } catch (error) {
      throw new TypeError(`not a leaf encoding: ${text.slice(0, 80)}`, { cause: error })
    }
    if (typeof string !== 'string' || JSON.stringify(string) !== text) throw new TypeError(`not a canonical leaf encoding: ${text.slice(0, 80)}`)
    return string
  }
  if (first === 0x2d || (first >= 0x30 && first <= 0x39)) {
    if (!isJsonNumber(text)) throw new TypeError(`not a leaf encoding: ${text.slice(0, 80)}`)
    return numberValue(text)
  }
  let parsed: Value
  try {
    parsed = parseHjson(text)
  } catch (error) {
    throw new TypeError(`not a leaf encoding: ${text.slice(0, 80)}`, { cause: error })
  }
  const value = fromLeafJson(parsed)
  // Hjson accepts more than encodeLeaf writes (whitespace, unsorted keys, quoteless strings). Checking
  // the round trip keeps the encoding one-to-one, so stored leaves can be compared as strings.
  if (encodeLeaf(value) !== text) throw new TypeError(`not a canonical leaf encoding: ${text.slice(0, 80)}`)
  return value
}

function fromLeafJson(value: Value): Value {
  if (Array.isArray(value)) return value.map(fromLeafJson)
  if (!(value instanceof Map)) return value
  const tag = value.get('~t')
  if (tag !== undefined) {
    if (typeof tag !== 'string' || value.size !== 2 || !value.has('~v')) throw new TypeError('malformed tagged leaf')
    return taggedValue(tag, fromLeafJson(value.get('~v') ?? null))
  }
  const number = value.get('~n')
  if (number !== undefined) {
    if (typeof number !== 'string' || value.size !== 1) throw new TypeError('malformed number leaf')
    return numberValue(number)
  }
  const object: ObjectValue = new Map()
  for (const [key, child] of value) {
    if (key.startsWith('~') && !key.startsWith('~~')) throw new TypeError(`malformed leaf key ${JSON.stringify(key)}`)
    object.set(key.startsWith('~') ? key.slice(1) : key, fromLeafJson(child))
  }
  return object
}

/** Deep equality that ignores object key order; numbers are equal when their texts are. */
export function valuesEqual(a: Value, b: Value): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) {
      if (!valuesEqual(a[i] ?? null, b[i] ?? null)) return false
    }
    return true
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false
    for (const [key, child] of a) {
      const other = b.get(key)
      if (other === undefined || !valuesEqual(child, other)) return false
    }
    return true
  }
  if (Array.isArray(b) || b instanceof Map) return false
  if (isNumberValue(a)) return isNumberValue(b) && a.text === b.text
  return isTaggedValue(b) && a.tag === b.tag && valuesEqual(a.value, b.value)
}
