/**
 * How an entry's field overrides are keyed and what they hold (see `bodyOverlay.ts`).
 *
 * A key names one position in the body: the JSON array `[g0, n1, g1, n2, …, g(k-1), nk]`, where each
 * `n` is a field name on the way down and each `g` is the generation of the object that holds the
 * next name. The root itself is `[]`. An object that comes from the entry's base has generation `""`;
 * an object written by an override (a field that became an object, or an object replaced whole) gets a
 * new generation, unique in the document. So a key says not only where a field is but in which object:
 * once an object is replaced or removed, the fields written into the old one no longer apply, on every
 * node, whatever order the updates arrived in.
 *
 * A value is the field's leaf encoding (`encodeLeaf`), or a marker: {@link DELETED}, or
 * {@link OBJECT_PREFIX} followed by the new object's generation. No leaf encoding starts with `~`.
 */

/** The value of an override that removes its field. */
export const DELETED = '~d'
/** The value of an override that makes its field a new, empty object: this prefix, then its generation. */
const OBJECT_PREFIX = '~o'
/** The name under which an object's YAML tag is kept as a field. NUL cannot occur in a real key. */
export const TAG_KEY = '\u0000tag'

/** A decoded override key: the generations and names on the way to the position, alternating. */
export type FieldKey = readonly string[]

/** Whether an entry key is a field override (every other entry key is a plain word). */
export function isFieldKey(key: string): boolean {
  return key.charCodeAt(0) === 0x5b // '['
}

/** The entry key of a position. */
export function encodeFieldKey(key: FieldKey): string {
  return JSON.stringify(key)
}

/**
 * Reads an entry key as a position, or `undefined` when it is not one this version writes (a peer's
 * malformed key is ignored, never thrown on).
 */
export function decodeFieldKey(key: string): FieldKey | undefined {
  if (!isFieldKey(key)) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(key)
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed) || parsed.length % 2 !== 0) return undefined
  for (const part of parsed) if (typeof part !== 'string') return undefined
  return parsed as string[]
}

/** The field names of a position, without the generations: what a person calls the field. */
export function fieldNames(key: FieldKey): string[] {
  return key.filter((_, i) => i % 2 === 1)
}

/** Whether `key` is below `ancestor` (strictly). */
export function isBelow(key: FieldKey, ancestor: FieldKey): boolean {
  if (key.length <= ancestor.length) return false
  for (let i = 0; i < ancestor.length; i++) if (key[i] !== ancestor[i]) return false
  return true
}

/** The override value of a new object with generation `generation`. */
export function objectMarker(generation: string): string {
  return OBJECT_PREFIX + generation
}

/** The generation of an object marker, or `undefined` for any other value. */
export function markerGeneration(value: string): string | undefined {
  return value.startsWith(OBJECT_PREFIX) ? value.slice(OBJECT_PREFIX.length) : undefined
}
