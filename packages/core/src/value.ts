/**
 * The parsed form of a service definition, shared by every codec.
 *
 * Numbers keep their source text, so ids above 2^53 survive byte for byte. Objects are `Map`s,
 * which keep insertion order and have no prototype keys. YAML tags (`!<java.util.ArrayList>`) are
 * kept as {@link TaggedValue}s; JSON has no tags and never produces one.
 */
export type Value = null | boolean | string | NumberValue | Value[] | ObjectValue | TaggedValue

/** An object; insertion order is the order the author wrote. */
export type ObjectValue = Map<string, Value>

/** A number exactly as written in the source, for example `23897492873423934` or `1e3`. */
export interface NumberValue {
  readonly kind: 'number'
  readonly text: string
}

/** A YAML node with an explicit tag, such as `!<org.apereo.cas.services.CasRegisteredService>`. */
export interface TaggedValue {
  readonly kind: 'tagged'
  /** The tag without the `!<` and `>`. */
  readonly tag: string
  readonly value: Value
}

/** Makes a {@link NumberValue} from its source text. */
export function numberValue(text: string): NumberValue {
  return { kind: 'number', text }
}

/** Makes a {@link TaggedValue}. */
export function taggedValue(tag: string, value: Value): TaggedValue {
  return { kind: 'tagged', tag, value }
}

/** True for an object (a `Map`). */
export function isObjectValue(value: Value): value is ObjectValue {
  return value instanceof Map
}

/** True for a number kept as source text. */
export function isNumberValue(value: Value): value is NumberValue {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map) && value.kind === 'number'
}

/** True for a YAML-tagged node. */
export function isTaggedValue(value: Value): value is TaggedValue {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map) && value.kind === 'tagged'
}
