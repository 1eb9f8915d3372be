import type * as Fs from 'node:fs'
import type { FileStat } from '@regsync/core'

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
 * Puts a temp file whose data is flushed in place: its stat, then the check of the target and the
 * rename, back to back (a local edit landing between them would be overwritten unseen). Closes the
 * descriptor; removes the temp file unless it was renamed. With `flushError`, the flush failed: the
 * temp file is only discarded.
 *
 * Self-contained, with `fs` given: the same source runs in the write worker (see WriteWorker.ts), so
 * it may use nothing from its module.
 */
export function landFile(fs: typeof Fs, job: LandingJob, flushError?: { code?: string; message: string } | null): Landing {
  const plain = (error: unknown): { code?: string; message: string } => {
    const { code, message } = error as { code?: unknown; message?: unknown }
    return typeof code === 'string' ? { code, message: String(message) } : { message: String(message ?? error) }
  }
  const discard = (): void => {
    try {
      fs.closeSync(job.fd)
    } catch {
      // Already closed.
    }
    try {
      fs.unlinkSync(job.temp)
    } catch {
      // Already gone.
    }
  }
  if (flushError !== undefined && flushError !== null) {
    discard()
    return { error: flushError }
  }
  let stat: FileStat
  try {
    // The stat of these bytes, taken before the rename (which keeps inode, size and mtime): after it,
    // another writer may already have replaced the file, and its stat must not pass for ours.
    const stats = fs.fstatSync(job.fd)
    stat = { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino }
  } catch (error) {
    discard()
    return { error: plain(error) }
  }
  try {
    fs.closeSync(job.fd)
  } catch {
    // Nothing to do about it; the bytes are flushed.
  }
  try {
    if (job.expect !== undefined) {
      let current: Fs.Stats | undefined
      try {
        current = fs.lstatSync(job.full, { throwIfNoEntry: false })
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'ENOTDIR') throw error
      }
      const holds =
        job.expect === null
          ? current === undefined || !current.isFile()
          : current !== undefined &&
            current.isFile() &&
            current.size === job.expect.size &&
            current.mtimeMs === job.expect.mtimeMs &&
            current.ino === job.expect.ino
      if (!holds) {
        fs.unlinkSync(job.temp)
        return {}
      }
    }
    fs.renameSync(job.temp, job.full)
  } catch (error) {
    try {
      fs.unlinkSync(job.temp)
    } catch {
      // Already gone.
    }
    return { error: plain(error) }
  }
  return { stat }
}
