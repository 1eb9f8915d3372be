import type * as Y from 'yjs'
import { canonicalText, formatOf, parseDefinition } from '../codec/codec.js'
import { valuesEqual } from '../codec/canonicalJson.js'
import { readBody, readText, textMatchesBody } from './registryDocument.js'

/**
 * The bytes every node writes for an entry. When the author's text still parses to the body, it
 * is written as is, which keeps comments and layout. Otherwise (after a merge) the canonical form of
 * the body is written: sorted keys, `@class` first. Both depend only on the document state, so every
 * node that has the same state writes the same bytes.
 *
 * Whether the text still parses to the body is known from the entry's stamp in most cases (a
 * received definition that no one has edited since its author wrote it); otherwise the text is
 * parsed and compared.
 *
 * Returns `undefined` when the body cannot be written in the path's format (a YAML tag in a `.json`
 * file can only come from a hostile peer), or the entry has no body this version can read.
 */
export function materialize(path: string, entry: Y.Map<unknown>): string | undefined {
  const format = formatOf(path)
  if (format === undefined) return undefined
  const text = readText(entry)
  if (text.length > 0 && textMatchesBody(entry)) return text
  const body = readBody(entry, format)
  if (body === undefined) return undefined
  if (text.length > 0) {
    try {
      if (valuesEqual(parseDefinition(format, text), body)) return text
    } catch {
      // Not the body's text any more (for instance two edits were merged): fall through.
    }
  }
  try {
    return canonicalText(format, body)
  } catch {
    return undefined
  }
}
