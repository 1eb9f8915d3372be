/**
 * Argument checks every storage adapter applies, so that adapters reject the same bad input
 * the same way (bad arguments are `TypeError`s).
 */
import type { StorageOperation } from './StorageAdapter.js'

/** Matches a lone surrogate, which UTF-8 cannot encode: LevelDB would store U+FFFD instead. */
const LONE_SURROGATE = /\p{Surrogate}/u

/** Throws unless `key` is a well-formed string. */
export function assertStorageKey(key: unknown, name: string): asserts key is string {
  if (typeof key !== 'string') throw new TypeError(`${name} must be a string`)
  if (LONE_SURROGATE.test(key)) throw new TypeError(`${name} must be well-formed UTF-16`)
}

/** Validates a whole batch before any of it is applied. */
export function assertStorageOperations(operations: readonly StorageOperation[]): void {
  if (!Array.isArray(operations)) throw new TypeError('operations must be an array')
  for (const [i, operation] of operations.entries()) {
    const op: unknown = operation
    if (typeof op !== 'object' || op === null) throw new TypeError(`operations[${i}] must be an object`)
    const { type, key, value } = op as { type?: unknown; key?: unknown; value?: unknown }
    assertStorageKey(key, `operations[${i}].key`)
    if (type === 'put') {
      if (!(value instanceof Uint8Array)) throw new TypeError(`operations[${i}].value must be a Uint8Array`)
    } else if (type !== 'del') {
      throw new TypeError(`operations[${i}].type must be 'put' or 'del'`)
    }
  }
}


/** Blob names are short, lower-case and safe as file names: `snap-00000000000001a4`. */
const BLOB_NAME = /^[a-z0-9][a-z0-9.-]{0,99}$/

/** Throws unless `name` is a valid blob name. */
export function assertBlobName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !BLOB_NAME.test(name)) {
    throw new TypeError(`a blob name must be 1 to 100 of a-z, 0-9, '.' and '-', starting with a letter or digit, not ${JSON.stringify(name)}`)
  }
}
