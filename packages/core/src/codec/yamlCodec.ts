/**
 * YAML service definitions: `--- !<org.apereo.cas.services.CasRegisteredService>` followed by a block
 * mapping, as CAS writes them through Jackson.
 *
 * Reading walks the `yaml` package's node tree instead of using its JS output, for two reasons: explicit
 * tags (`!<java.util.ArrayList>`) must survive as {@link TaggedValue}s, and numbers must keep their source
 * text. Plain scalars are resolved with the YAML 1.2 core schema; quoted and block scalars are always
 * strings. Writing is canonical: sorted keys, every string double-quoted, Jackson's layout.
 */
import {
  Composer,
  LineCounter,
  Parser,
  Scalar,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Alias,
  type CST,
  type Document,
  type Node,
  type YAMLError
} from 'yaml'
import { ErrorCodes, RegsyncError } from '../errors.js'
import { isNumberValue, isTaggedValue, numberValue, taggedValue, type ObjectValue, type TaggedValue, type Value } from '../value.js'
import { sortedKeys } from './canonicalJson.js'

/** Aliases can repeat a subtree exponentially ("billion laughs"); no service definition comes close to this. */
const MAX_EXPANDED_VALUES = 100_000

/**
 * The `yaml` package composes nodes recursively and overflows the stack some 800 levels down; when V8
 * overflows inside regex compilation it aborts the process instead of throwing. So nesting is checked
 * on the (non-recursive) CST first, far below that depth and far above any real definition.
 */
const MAX_DEPTH = 200

/** The non-specific tag `!` only says "do not resolve this plain scalar": it marks a string, not a type. */
const NON_SPECIFIC_TAG = '!'

/** Parses a single YAML document; throws a `REGSYNC_PARSE` error that names line and column. */
export function parseYaml(text: string): Value {
  const lineCounter = new LineCounter()
  const where = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset)
    return `line ${Math.max(line, 1)}, column ${Math.max(col, 1)}`
  }
  const fail = (offset: number, reason: string): RegsyncError => new RegsyncError(ErrorCodes.PARSE, `${where(offset)}: ${reason}`)

  const tokens = Array.from(new Parser(lineCounter.addNewLine).parse(text))
  const tooDeep = tooDeepOffset(tokens)
  if (tooDeep >= 0) throw fail(tooDeep, `nesting deeper than ${MAX_DEPTH} levels`)
  const composer = new Composer({
    // Jackson reads YAML through SnakeYAML's events and lets the last duplicate key win, as for JSON.
    uniqueKeys: false,
    // The failsafe schema resolves nothing; this module resolves plain scalars itself, keeping the text.
    schema: 'failsafe',
    resolveKnownTags: false,
    version: '1.2'
  })
  let documents: Document.Parsed[]
  try {
    documents = Array.from(composer.compose(tokens))
  } catch (error) {
    throw new RegsyncError(ErrorCodes.PARSE, `line 1, column 1: the YAML parser failed: ${String(error)}`, { cause: error })
  }
  const errors = documents.length === 0 ? composer.streamInfo().errors : documents.flatMap((d) => d.errors)
  const firstError: YAMLError | undefined = errors[0]
  if (firstError !== undefined) throw fail(firstError.pos[0], yamlReason(firstError))
  const [document, second] = documents
  if (document === undefined) return null
  if (second !== undefined) {
    throw fail(second.range?.[0] ?? second.contents?.range?.[0] ?? 0, 'a second YAML document starts here; a service definition file holds exactly one')
  }
  return new YamlReader(document, fail).root()
}

/** The offset of the first collection nested deeper than {@link MAX_DEPTH}, or -1; iterative, unlike composing. */
function tooDeepOffset(tokens: readonly CST.Token[]): number {
  const stack: [CST.Token | null | undefined, number][] = tokens.map((token) => [token, 0])
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [token, depth] = entry
    if (token === null || token === undefined) continue
    if (token.type === 'document') {
      stack.push([token.value, depth])
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth >= MAX_DEPTH) return token.offset
      for (const item of token.items) {
        if ('key' in item) stack.push([item.key, depth + 1])
        stack.push([item.value, depth + 1])
      }
    }
  }
  return -1
}

/** The `yaml` package's message, made to read as a sentence. */
function yamlReason(error: YAMLError): string {
  const message = error.message.replace(/\s+/g, ' ').trim()
  return message.charAt(0).toLowerCase() + message.slice(1)
}

interface Sized {
  readonly value: Value
  /** The number of values after expanding aliases, to bound alias bombs. */
  readonly size: number
}

class YamlReader {
  private readonly document: Document<Node, boolean>
  private readonly fail: (offset: number, reason: string) => RegsyncError
  private readonly anchored = new Map<Node, Sized>()
  private readonly reading = new Set<Node>()
  private firstAlias = -1

  constructor(document: Document<Node, boolean>, fail: (offset: number, reason: string) => RegsyncError) {
    this.document = document
    this.fail = fail
  }

  root(): Value {
    const { value, size } = this.read(this.document.contents)
    if (this.firstAlias >= 0 && size > MAX_EXPANDED_VALUES) {
      throw this.fail(this.firstAlias, `aliases expand this document to more than ${MAX_EXPANDED_VALUES} values`)
    }
    return value
  }

  private read(node: unknown): Sized {
    if (node === null || node === undefined) return { value: null, size: 1 }
    if (isAlias(node)) return this.alias(node)
    if (!isScalar(node) && !isMap(node) && !isSeq(node)) {
      throw this.fail(0, 'unsupported YAML node')
    }
    // Each anchored node is read once and shared by its aliases, which keeps reading linear.
    const known = this.anchored.get(node)
    if (known !== undefined) return known
    if (node.anchor !== undefined) this.reading.add(node)
    const sized = this.readNode(node)
    if (node.anchor !== undefined) {
      this.reading.delete(node)
      this.anchored.set(node, sized)
    }
    return sized
  }

  private alias(node: Alias): Sized {
    const offset = node.range?.[0] ?? 0
    if (this.firstAlias < 0) this.firstAlias = offset
    const target = node.resolve(this.document)
    if (target === undefined) throw this.fail(offset, `alias *${node.source} refers to no anchor &${node.source} before it`)
    if (this.reading.has(target)) throw this.fail(offset, `alias *${node.source} refers to a node that contains it`)
    return this.read(target)
  }

  private readNode(node: Node): Sized {
    const offset = node.range?.[0] ?? 0
    const tag = node.tag
    let inner: Sized
    if (isMap(node)) {
      const map: ObjectValue = new Map()
      let size = 1
      for (const pair of node.items) {
        const key = this.key(pair.key, offset)
        const child = this.read(pair.value)
        map.set(key, child.value)
        size += child.size
      }
      inner = { value: map, size }
    } else if (isSeq(node)) {
      const items: Value[] = []
      let size = 1
      for (const item of node.items) {
        const child = this.read(item)
        items.push(child.value)
        size += child.size
      }
      inner = { value: items, size }
    } else if (isScalar(node)) {
      const source = node.source ?? String(node.value ?? '')
      const plain = node.type === Scalar.PLAIN && tag !== NON_SPECIFIC_TAG
      return { value: wrap(tag, plain ? resolvePlain(source) : source), size: 1 }
    } else {
      throw this.fail(offset, 'unsupported YAML node')
    }
    return { value: wrap(tag, inner.value), size: inner.size }
  }

  private key(key: unknown, mapOffset: number): string {
    if (key === null || key === undefined) return ''
    const offset = isScalar(key) || isMap(key) || isSeq(key) || isAlias(key) ? (key.range?.[0] ?? mapOffset) : mapOffset
    if (!isScalar(key)) throw this.fail(offset, 'a mapping key must be a plain or quoted string, not a collection or alias')
    if (key.tag !== undefined && key.tag !== NON_SPECIFIC_TAG) {
      throw this.fail(offset, `a mapping key cannot carry a tag (!<${key.tag}>)`)
    }
    // Keys are names: `1:` and `true:` name the fields "1" and "true", as Jackson reads them.
    return key.source ?? String(key.value ?? '')
  }
}

function wrap(tag: string | undefined, value: Value): Value {
  return tag === undefined || tag === NON_SPECIFIC_TAG ? value : taggedValue(tag, value)
}

const YAML_NULL = /^(?:~|null|Null|NULL|)$/
const YAML_TRUE = /^(?:true|True|TRUE)$/
const YAML_FALSE = /^(?:false|False|FALSE)$/
const YAML_NUMBER =
  /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/

/** Resolves a plain scalar by the YAML 1.2 core schema, keeping a number's exact text. */
function resolvePlain(source: string): Value {
  if (YAML_NULL.test(source)) return null
  if (YAML_TRUE.test(source)) return true
  if (YAML_FALSE.test(source)) return false
  if (YAML_NUMBER.test(source)) return numberValue(source)
  return source
}

/** Canonical YAML in Jackson's layout, `--- !<tag>` first; `parseYaml` reads it back to an equal value. */
export function stringifyYaml(value: Value): string {
  const out: string[] = ['---']
  if (isTaggedValue(value)) {
    out.push(' ', tagText(value))
    writeBlock(value.value, 0, 0, out)
  } else {
    writeBlock(value, 0, 0, out)
  }
  return out.join('')
}

/**
 * Writes an untagged node that follows a key, `-`, `---` or tag on the current line: scalars and empty
 * collections stay on that line, a mapping or sequence starts on the next one.
 */
function writeBlock(value: Value, mappingIndent: number, sequenceIndent: number, out: string[]): void {
  if (value instanceof Map && value.size > 0) {
    out.push('\n')
    writeMapping(value, mappingIndent, out)
  } else if (Array.isArray(value) && value.length > 0) {
    out.push('\n')
    writeSequence(value, sequenceIndent, out)
  } else {
    out.push(' ', inlineText(value), '\n')
  }
}

function writeMapping(map: ObjectValue, indent: number, out: string[]): void {
  const pad = ' '.repeat(indent)
  for (const key of sortedKeys(map)) {
    const keyText = PLAIN_KEY.test(key) ? key : quoteYaml(key)
    if (keyText.length > MAX_IMPLICIT_KEY) {
      // YAML limits an implicit key to 1024 characters; longer ones need the explicit `? key` form.
      out.push(pad, '? ', keyText, '\n', pad, ':')
    } else {
      out.push(pad, keyText, ':')
    }
    // A nested mapping indents by two; a sequence stays at the key's indentation, as Jackson writes it.
    const child = map.get(key) ?? null
    if (isTaggedValue(child)) {
      out.push(' ', tagText(child))
      writeBlock(child.value, indent + 2, indent, out)
    } else {
      writeBlock(child, indent + 2, indent, out)
    }
  }
}

function writeSequence(items: Value[], indent: number, out: string[]): void {
  const pad = ' '.repeat(indent)
  for (const item of items) {
    out.push(pad, '-')
    writeItem(item, indent + 2, out)
  }
}

/** A sequence item whose content is at `indent`; an untagged collection starts on the `-` line. */
function writeItem(value: Value, indent: number, out: string[]): void {
  if ((value instanceof Map && value.size > 0) || (Array.isArray(value) && value.length > 0)) {
    const body: string[] = []
    if (value instanceof Map) writeMapping(value, indent, body)
    else writeSequence(value, indent, body)
    // The body's first line starts with `indent` spaces; the `- ` already written stands in for them.
    out.push(' ', body.join('').slice(indent))
  } else if (isTaggedValue(value)) {
    out.push(' ', tagText(value))
    writeBlock(value.value, indent, indent, out)
  } else {
    out.push(' ', inlineText(value), '\n')
  }
}

/** Scalars and empty collections, which fit on the line of their key. */
function inlineText(value: Value): string {
  if (value === null || typeof value === 'boolean') return String(value)
  if (typeof value === 'string') return quoteYaml(value)
  if (Array.isArray(value)) return '[]'
  if (value instanceof Map) return '{}'
  if (isNumberValue(value)) {
    if (!YAML_NUMBER.test(value.text)) throw new TypeError(`the number text ${JSON.stringify(value.text)} is not a YAML number`)
    return value.text
  }
  throw new TypeError(`the tagged value !<${value.tag}> cannot be written here`)
}

function tagText(value: TaggedValue): string {
  if (!VERBATIM_TAG.test(value.tag) || value.tag === '!' || value.tag === '!!') {
    throw new TypeError(`the tag ${JSON.stringify(value.tag)} cannot be written as a YAML verbatim tag`)
  }
  if (isTaggedValue(value.value)) {
    throw new TypeError(`!<${value.tag}> holds another tagged value (!<${value.value.tag}>), but a YAML node has one tag`)
  }
  return `!<${value.tag}>`
}

/** Keys that YAML reads back as the same string without quotes: the Java field names CAS uses. */
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/

const MAX_IMPLICIT_KEY = 1000

/** URI characters, which is what a verbatim tag `!<...>` may hold. */
const VERBATIM_TAG = /^[A-Za-z0-9\-#;/?:@&=+$,_.!~*'()[\]%]+$/

/**
 * A double-quoted YAML string. JSON's escapes are valid YAML; characters YAML does not allow raw (DEL,
 * C1 controls, BOM, U+FFFE/U+FFFF) and the Unicode line separators are escaped as well.
 */
function quoteYaml(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  )
}
