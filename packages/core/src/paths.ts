import { formatOf } from './codec/codec.js'
import { ErrorCodes, RegsyncError } from './errors.js'

/** A validated relative path inside the services directory, `/`-separated. */
export type RelativePath = string & { readonly __brand: 'RelativePath' }

/**
 * Why `path` is not a safe registry path, or `undefined` when it is. Safe means: relative,
 * `/`-separated, no empty, `.` or `..` segment, no dot-file segment (CAS skips dot-files, and the
 * agent's temp files are dot-files), no NUL or backslash or drive letter, and a `.json`, `.yml` or
 * `.yaml` name.
 */
export function pathProblem(path: string): string | undefined {
  if (typeof path !== 'string' || path.length === 0) return 'empty path'
  if (path.length > 1024) return 'path longer than 1024 characters'
  if (path.includes('\0')) return 'path contains a NUL byte'
  if (path.includes('\\')) return 'path contains a backslash'
  if (path.startsWith('/')) return 'absolute path'
  if (/^[A-Za-z]:/.test(path)) return 'path starts with a drive letter'
  for (const segment of path.split('/')) {
    if (segment === '') return 'empty path segment'
    if (segment === '.' || segment === '..') return `path segment "${segment}"`
    if (segment.startsWith('.')) return 'dot-file or dot-folder'
  }
  if (formatOf(path) === undefined) return 'not a .json, .yml or .yaml file'
  return undefined
}

/** Returns `path` as a {@link RelativePath}, or throws `REGSYNC_BAD_PATH`. */
export function toRelativePath(path: string): RelativePath {
  const problem = pathProblem(path)
  if (problem !== undefined) throw new RegsyncError(ErrorCodes.BAD_PATH, `bad path ${JSON.stringify(path)}: ${problem}`)
  return path as RelativePath
}
