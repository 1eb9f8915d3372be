import type * as Fs from 'node:fs'
import type { FileStat } from '@regsync/core'

/*
 * The last step of a write, in three functions that use nothing from this module but each other:
 * the write worker (WriteWorker.ts) runs them from their source text, and the event loop calls them
 * directly. Each takes `fs` as given.
 */

/** A temp file written and still open, to be put in place of `full`. */
export interface LandingJob {
  readonly fd: number
  readonly temp: string
  readonly full: string
  /** The stat the target must still have (`null`: must not exist); `undefined`: no check. */
  readonly expect: FileStat | null | undefined
}

/** How a landing went: the new stat; `{}` when `expect` no longer held; or a plain error. */
export type Landing = { readonly stat?: FileStat } | { readonly error: { readonly code?: string; readonly message: string } }

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
 * Puts a temp file whose data is flushed in place: its stat, then the check of the target and the
 * rename, back to back (a local edit landing between them would be overwritten unseen). Closes the
 * descriptor; removes the temp file unless it was renamed. With a `flushError`, the flush failed: the
 * temp file is only discarded.
 */
export function landFile(fs: typeof Fs, job: LandingJob, flushError?: unknown): Landing {
  const plain = (error: unknown): { code?: string; message: string } => {
    const { code, message } = error as { code?: unknown; message?: unknown }
    return typeof code === 'string' ? { code, message: String(message) } : { message: String(message ?? error) }
  }
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
    return { error: plain(failure) }
  }
  try {
    if (job.expect !== undefined && !stillHolds(fs, job.full, job.expect)) {
      unlinkTemp()
      return {}
    }
    fs.renameSync(job.temp, job.full)
  } catch (error) {
    unlinkTemp()
    return { error: plain(error) }
  }
  return { stat }
}

/**
 * Flushes each temp file (unless `flush` is false; all at once, in the thread pool) and lands it as
 * its flush completes; calls back once with every landing, in order.
 */
export function landJobs(fs: typeof Fs, jobs: readonly LandingJob[], flush: boolean, done: (landings: Landing[]) => void): void {
  const landings: Landing[] = new Array(jobs.length)
  let left = jobs.length
  if (left === 0) {
    done(landings)
    return
  }
  jobs.forEach((job, i) => {
    const land = (error: unknown): void => {
      landings[i] = landFile(fs, job, error)
      if (--left === 0) done(landings)
    }
    if (flush) fs.fdatasync(job.fd, land)
    else land(null)
  })
}
