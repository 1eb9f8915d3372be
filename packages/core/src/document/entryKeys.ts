/**
 * The keys of a registry entry that are not field overrides (see `registryDocument.ts` and
 * `bodyOverlay.ts`).
 */

/**
 * The definition as it was before its first edit, as one leaf (`encodeLeaf`). Absent until a node
 * edits the entry: until then the body is what the text parses to, so a new entry holds its text once.
 */
export const BASE = 'base'
/** The exact text of the last local write, a `Y.Text`. */
export const TEXT = 'text'
/** The digest of the entry's items when its text was known to parse to its body. */
export const STAMP = 'stamp'
