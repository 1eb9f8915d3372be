/**
 * The directory port: the services directory as the engine sees it. Paths are relative,
 * `/`-separated and already validated by the engine. Adapters never follow links.
 */
export interface DirectoryAdapter {
  /** A readable description for logs, such as the absolute path. */
  readonly location: string
  /**
   * Every candidate file below the root (recursively). Dot-files are left out. With `stats`, each
   * file comes with its stat as the listing found it (files that went in the meantime are left out).
   */
  list(options?: ListOptions): Promise<FileInfo[]>
  /** The stat of one file, or `undefined` when it does not exist (or is not a regular file). */
  stat(path: string): Promise<FileStat | undefined>
  /** The bytes and stat of one file, or `undefined` when it does not exist. */
  read(path: string): Promise<{ bytes: Uint8Array; stat: FileStat } | undefined>
  /**
   * Writes a file atomically: a dot-prefixed temp file in the same directory, fsync, rename.
   * Creates parent folders. Returns the new stat.
   *
   * With `expect`, the file must still have that stat (`null`: must not exist) at the last moment
   * before the rename; otherwise nothing is written and the result is `undefined`. This keeps a
   * write from the cluster from clobbering a local edit made while the write was being prepared.
   */
  write(path: string, bytes: Uint8Array, expect?: FileStat | null): Promise<FileStat | undefined>
  /**
   * Optional: several {@link write}s, each to a different path and with the same guarantees, for an
   * adapter that can do them together more cheaply. One result per request, in order; one failing
   * does not stop the others.
   */
  writeMany?(writes: readonly WriteRequest[]): Promise<WriteResult[]>
  /**
   * Removes a file; a missing file is not an error. With `expect`, the file is removed only if it
   * still has that stat; the result says whether the precondition held.
   */
  remove(path: string, expect?: FileStat): Promise<boolean>
}

/** One write of {@link DirectoryAdapter.writeMany}: the arguments of a {@link DirectoryAdapter.write}. */
export interface WriteRequest {
  readonly path: string
  readonly bytes: Uint8Array
  readonly expect?: FileStat | null
}

/**
 * How one write of {@link DirectoryAdapter.writeMany} went: the new stat; neither field when
 * `expect` no longer held and nothing was written; or the error.
 */
export interface WriteResult {
  readonly stat?: FileStat
  readonly error?: unknown
}

/** What the engine compares to tell whether a file may have changed without reading it. */
export interface FileStat {
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
}

/** Options of {@link DirectoryAdapter.list}. */
export interface ListOptions {
  /** Stat every listed file as well. */
  readonly stats?: boolean
}

/** A listed file. */
export interface FileInfo {
  readonly path: string
  /** Its stat when the listing was taken, if stats were asked for. */
  readonly stat?: FileStat
}

/** Tells whether two stats describe the same unchanged file. */
export function sameStat(a: FileStat | undefined, b: FileStat | undefined): boolean {
  return a !== undefined && b !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino
}
