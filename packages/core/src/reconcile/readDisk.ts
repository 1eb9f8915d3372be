/**
 * Reads what is on disk at a path, as cheaply as the index allows: a file whose stat matches the
 * one recorded with its base, and that has not changed in the last {@link RACY_MS}, is taken to hold
 * the base without reading it (as git does with its index); anything else is read and hashed.
 */
import { ErrorCodes } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import { decodeText, hashBytes } from '../hash.js'
import type { DirectoryAdapter, FileStat } from '../ports/DirectoryAdapter.js'
import { sameStat } from '../ports/DirectoryAdapter.js'
import type { IndexRecord } from '../storage/ReplicaStore.js'
import type { DiskState } from './decide.js'

/** What {@link readDisk} found. */
export type DiskRead =
  | {
      readonly kind: 'ok'
      readonly disk: DiskState
      readonly stat: FileStat | undefined
      readonly hash: string | undefined
      /** The text, when the file was read (not when the stat alone vouched for it); `undefined` for bytes that are not UTF-8. */
      readonly text: string | undefined
    }
  | { readonly kind: 'problem'; readonly code: ErrorCode; readonly message: string; readonly hash: string | undefined }

/**
 * How old a file's mtime must be for its stat to vouch for its content. A file written twice in
 * place, at the same size, within one tick of the file system's clock keeps its stat; git calls such
 * an index entry racily clean. Kernels stamp times from a coarse clock (milliseconds) and some file
 * systems in steps of 1-2 s, so a file changed in the last 2 s is read whatever its stat says. Files
 * the watcher reports are looked at within milliseconds of the write, so this catches the second
 * write; it costs one read of each file in the 2 s after it changed.
 */
export const RACY_MS = 2000

/**
 * Whether `record` vouches, by its stat alone, that a file with `stat` still holds its base: the
 * stats match, and the recorded one was taken at least {@link RACY_MS} after the file's mtime. A
 * stat taken sooner may hide a second write in the same tick, even if no watcher report of that
 * write ever comes; such a file is read until a look records its stat again.
 */
export function statVouches(stat: FileStat | undefined, record: IndexRecord | undefined, now: number): boolean {
  return (
    stat !== undefined &&
    record?.base !== undefined &&
    record.pending === undefined &&
    sameStat(stat, record.stat) &&
    (record.seenAt ?? now) - stat.mtimeMs >= RACY_MS
  )
}

/** Whether the file is still exactly as this node's own write of the record's base left it. */
function ownWrite(stat: FileStat, record: IndexRecord | undefined, written: FileStat | undefined): boolean {
  return record?.base !== undefined && record.pending === undefined && sameStat(stat, written) && sameStat(stat, record.stat)
}

/** Whether a record's stat was taken too soon after the file's mtime to vouch for it. */
export function racilyRecorded(record: IndexRecord | undefined): boolean {
  return record?.stat !== undefined && record.seenAt !== undefined && record.seenAt - record.stat.mtimeMs < RACY_MS
}

/**
 * Reads one path. Never throws: failures come back as problems. `now` is the time in ms since the
 * epoch. `written` is the stat this node's own write of the base left, if it made that write: while
 * the file still has exactly that stat it is taken to hold the base unread, even though the stat is
 * too young to vouch. That spares reading back every file this node writes when the watcher reports
 * it; the caller must look at the path again once the stat can vouch (a second write in the same
 * tick, at the same size, is found then). With `mustRead`, a file is read whatever its stat says.
 */
export async function readDisk(
  directory: DirectoryAdapter,
  path: string,
  record: IndexRecord | undefined,
  maxFileBytes: number,
  now: number,
  written?: FileStat,
  mustRead = false
): Promise<DiskRead> {
  let stat: FileStat | undefined
  try {
    stat = await directory.stat(path)
  } catch (error) {
    return { kind: 'problem', code: ErrorCodes.DIRECTORY, message: `cannot stat: ${messageOf(error)}`, hash: undefined }
  }
  if (stat === undefined) return { kind: 'ok', disk: { kind: 'absent' }, stat: undefined, hash: undefined, text: undefined }
  if (!mustRead && (statVouches(stat, record, now) || ownWrite(stat, record, written))) {
    return { kind: 'ok', disk: { kind: 'present', hash: record!.base! }, stat, hash: record!.base, text: undefined }
  }
  if (stat.size > maxFileBytes) {
    return { kind: 'problem', code: ErrorCodes.TOO_LARGE, message: `${stat.size} bytes, over the limit of ${maxFileBytes}`, hash: `size:${stat.size}` }
  }
  let read: Awaited<ReturnType<DirectoryAdapter['read']>>
  try {
    read = await directory.read(path)
  } catch (error) {
    return { kind: 'problem', code: ErrorCodes.DIRECTORY, message: `cannot read: ${messageOf(error)}`, hash: undefined }
  }
  if (read === undefined) return { kind: 'ok', disk: { kind: 'absent' }, stat: undefined, hash: undefined, text: undefined }
  const hash = hashBytes(read.bytes)
  return { kind: 'ok', disk: { kind: 'present', hash }, stat: read.stat, hash, text: decodeText(read.bytes) }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
