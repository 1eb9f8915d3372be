/**
 * The two file formats of a CAS services directory, chosen by file extension as CAS chooses its
 * serializer: `.json` files are read as Hjson, `.yml` and `.yaml` files as YAML.
 */
import { ErrorCodes, RegsyncError } from '../errors.js'
import { isTaggedValue, type ObjectValue, type TaggedValue, type Value } from '../value.js'
import { stringifyJson } from './canonicalJson.js'
import { parseHjson } from './hjson.js'
import { parseYaml, stringifyYaml } from './yamlCodec.js'

/** The format of a service definition file. */
export type FileFormat = 'json' | 'yaml'

/** The format of a path by its extension (any case), or `undefined` for a file CAS would not load. */
export function formatOf(path: string): FileFormat | undefined {
  const dot = path.lastIndexOf('.')
  if (dot < 0 || dot < path.lastIndexOf('/')) return undefined
  const extension = path.slice(dot + 1).toLowerCase()
  if (extension === 'json') return 'json'
  if (extension === 'yml' || extension === 'yaml') return 'yaml'
  return undefined
}

/**
 * Parses a definition. Throws `REGSYNC_PARSE`, with `empty file` for text with no content at all,
 * which CAS skips rather than rejects. Any root is accepted: CAS loads only objects, but a file that
 * parses is still mirrored byte for byte, like every other file of the directory.
 */
export function parseDefinition(format: FileFormat, text: string): Value {
  if (format === 'json' ? isBlankHjson(text) : isBlankYaml(text)) throw new RegsyncError(ErrorCodes.PARSE, 'empty file')
  return format === 'json' ? parseHjson(text) : parseYaml(text)
}

/** True when CAS would load the root as a service: an object, or a YAML mapping tagged with its class. */
export function isDefinitionRoot(value: Value): value is ObjectValue | TaggedValue {
  return value instanceof Map || (isTaggedValue(value) && value.value instanceof Map)
}

/** The canonical text of a value in a format. */
export function canonicalText(format: FileFormat, value: Value): string {
  return format === 'json' ? stringifyJson(value) : stringifyYaml(value)
}

/** True for text that is only a BOM, whitespace and complete Hjson comments. */
function isBlankHjson(text: string): boolean {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  while (i < text.length) {
    const c = text[i]
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++
    } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      const eol = text.indexOf('\n', i)
      if (eol < 0) return true
      i = eol + 1
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2)
      // An unterminated comment is an error worth reporting, not an empty file.
      if (end < 0) return false
      i = end + 2
    } else {
      return false
    }
  }
  return true
}

/** True for text that is only a BOM, blank lines and `#` comment lines. */
function isBlankYaml(text: string): boolean {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  return body.split('\n').every((line) => /^[ \t\r]*(?:#.*)?$/.test(line))
}
