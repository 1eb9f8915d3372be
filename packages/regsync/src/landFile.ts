import type * as Fs from 'node:fs'
import type { FileStat } from '@regsync/core'

/*
 * The steps of a write, in functions that use nothing from this module but each other: the write
 * worker (WriteWorker.ts) runs them from their source text, and the event loop calls them directly.
 * Each takes `fs` as given.
 */

/** A file to write: `bytes` go to `temp`, which then takes the place of `full`. */
export interface WriteJob {
  /** The path relative to the directory, for messages. */
  readonly path: string
  readonly full: string
  /** A dot-prefixed name in the same folder that nothing else uses. */
  readonly temp: string
  readonly bytes: Uint8Array
  /** The stat the target must still have (`null`: must not exist); `undefined`: no check. */
  readonly expect: FileStat | null | undefined
}

/** A temp file written and still open, to be put in place of `full`. */
export interface LandingJob {
  readonly fd: number
  readonly temp: string
  readonly full: string
  readonly expect: FileStat | null | undefined
}

/** How a write went: the new stat; `{}` when `expect` no longer held; or a plain error. */
export type Landing = { readonly stat?: FileStat } | { readonly error: PlainError }

/** An error as it crosses from the worker: its system code, if any, and its message. */
export interface PlainError {
  readonly code?: string
  readonly message: string
}

/** `error` as a {@link PlainError}. */
export function plainError(error: unknown): PlainError {
  const { code, message } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; message?: unknown }
  return typeof code === 'string' ? { code, message: String(message) } : { message: String(message ?? error) }
}

/**
 * Whether the file at `full` still has the stat `expect` (`null`: there is still no regular file).
 * Links are not followed; a path under a non-folder has no file.
 */
export function stillHolds(fs: typeof Fs, full: string, expect: FileStat | null): boolean {
  let current: Fs.Stats | undefined
  try {
    current = fs.lstatSync(full, { throwIfNoEntry: false })
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOTDIR') throw error
  }
  if (expect === null) return current === undefined || !current.isFile()
  return (
    current !== undefined &&
    current.isFile() &&
    current.size === expect.size &&
    current.mtimeMs === expect.mtimeMs &&
    current.ino === expect.ino
  )
}

/**
 * Step one of a write: the bytes in a new temp file, left open, with the mode of the file it will
 * replace. A target that is a link is refused. On an error, no temp file is left.
 */
export function openTemp(fs: typeof Fs, job: WriteJob): LandingJob | { readonly error: PlainError } {
  let mode: number | undefined
  // A file that must not exist yet has no mode to keep; if it does exist, the check before the
  // rename refuses the write anyway.
  if (job.expect !== null) {
    let existing: Fs.Stats | undefined
    try {
      existing = fs.lstatSync(job.full, { throwIfNoEntry: false })
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ENOTDIR') return { error: plainError(error) }
    }
    if (existing?.isSymbolicLink() === true) {
      return { error: { code: 'REGSYNC_BAD_PATH', message: `${job.path} is a symbolic link; not writing through it` } }
    }
    if (existing !== undefined) mode = existing.mode & 0o7777
  }
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants
  let fd: number
  try {
    fd = fs.openSync(job.temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode ?? 0o644)
  } catch (error) {
    return { error: plainError(error) }
  }
  try {
    // `writeSync` may write less than asked.
    let offset = 0
    while (offset < job.bytes.byteLength) offset += fs.writeSync(fd, job.bytes, offset, job.bytes.byteLength - offset)
    if (mode !== undefined) fs.fchmodSync(fd, mode)
  } catch (error) {
    try {
      fs.closeSync(fd)
      fs.unlinkSync(job.temp)
    } catch {
      // Already closed or gone.
    }
    return { error: plainError(error) }
  }
  return { fd, temp: job.temp, full: job.full, expect: job.expect }
}

/**
 * Puts a temp file whose data is flushed in place: its stat, then the check of the target and the
 * rename, back to back (a local edit landing between them would be overwritten unseen). Closes the
 * descriptor; removes the temp file unless it was renamed. With a `flushError`, the flush failed: the
 * temp file is only discarded.
 */
export function landFile(fs: typeof Fs, job: LandingJob, flushError?: unknown): Landing {
  const unlinkTemp = (): void => {
    try {
      fs.unlinkSync(job.temp)
    } catch {
      // Already gone.
    }
  }
  let stat: FileStat | undefined
  let failure: unknown = flushError ?? undefined
  if (failure === undefined) {
    try {
      // The stat of these bytes, taken before the rename (which keeps inode, size and mtime): after
      // it, another writer may already have replaced the file, and its stat must not pass for ours.
      const stats = fs.fstatSync(job.fd)
      stat = { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino }
    } catch (error) {
      failure = error
    }
  }
  try {
    fs.closeSync(job.fd)
  } catch {
    // Already closed; the bytes, if any, are flushed.
  }
  if (failure !== undefined || stat === undefined) {
    unlinkTemp()
    return { error: plainError(failure) }
  }
  try {
    if (job.expect !== undefined && !stillHolds(fs, job.full, job.expect)) {
      unlinkTemp()
      return {}
    }
    fs.renameSync(job.temp, job.full)
  } catch (error) {
    unlinkTemp()
    return { error: plainError(error) }
  }
  return { stat }
}

/**
 * Writes each file: its temp file, then (unless `flush` is false) its flush in the thread pool, then
 * its landing as the flush completes. At most 64 temp files are open at a time. Calls back once
 * with every landing, in order.
 */
export function writeJobs(fs: typeof Fs, jobs: readonly WriteJob[], flush: boolean, done: (landings: Landing[]) => void): void {
  const landings: Landing[] = new Array(jobs.length)
  let next = 0
  let flushing = 0
  let left = jobs.length
  const pump = (): void => {
    while (flushing < 64 && next < jobs.length) {
      const i = next++
      const opened = openTemp(fs, jobs[i]!)
      if ('error' in opened) {
        landings[i] = opened
        left--
      } else if (!flush) {
        landings[i] = landFile(fs, opened)
        left--
      } else {
        flushing++
        fs.fdatasync(opened.fd, (error) => {
          flushing--
          landings[i] = landFile(fs, opened, error ?? undefined)
          left--
          pump()
        })
      }
    }
    if (left === 0) done(landings)
  }
  pump()
}
