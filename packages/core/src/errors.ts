/**
 * Stable error codes. Each keeps its meaning forever; `docs/errors.md` lists them.
 */
export const ErrorCodes = {
  /** The replica is not open (not yet opened, or closing, or closed). */
  NOT_OPEN: 'REGSYNC_NOT_OPEN',
  /** A file could not be parsed as CAS JSON (Hjson) or YAML. */
  PARSE: 'REGSYNC_PARSE',
  /** A path is not a safe relative path inside the directory. */
  BAD_PATH: 'REGSYNC_BAD_PATH',
  /** A file is larger than the configured maximum. */
  TOO_LARGE: 'REGSYNC_TOO_LARGE',
  /** The data directory is locked by another process. */
  DATA_LOCKED: 'REGSYNC_DATA_LOCKED',
  /** The data directory could not be opened or read. */
  STORAGE: 'REGSYNC_STORAGE',
  /** The services directory could not be read or written. */
  DIRECTORY: 'REGSYNC_DIRECTORY',
  /** No such file in the registry. */
  NOT_FOUND: 'REGSYNC_NOT_FOUND',
  /** No such journal entry. */
  JOURNAL_NOT_FOUND: 'REGSYNC_JOURNAL_NOT_FOUND',
  /** The data directory was written by an incompatible version. */
  DATA_VERSION: 'REGSYNC_DATA_VERSION',
  /** A configuration value or command-line flag is invalid. */
  CONFIG: 'REGSYNC_CONFIG',
  /** A passive node takes no local edits: it applies the cluster's state only. */
  PASSIVE: 'REGSYNC_PASSIVE'
} as const

/** One of the {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** The one error class of regsync: a stable `code`, a message for people, and an optional `cause`. */
export class RegsyncError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'RegsyncError'
    this.code = code
  }
}
