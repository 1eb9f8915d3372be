/**
 * Reads what is on disk at a path, as cheaply as the index allows: a file whose stat matches the
 * one recorded with its base is taken to hold the base, without reading it (as git does with its
 * index); anything else is read and hashed.
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

/** Reads one path. Never throws: failures come back as problems. */
export async function readDisk(
  directory: DirectoryAdapter,
  path: string,
  record: IndexRecord | undefined,
  maxFileBytes: number
): Promise<DiskRead> {
  let stat: FileStat | undefined
  try {
    stat = await directory.stat(path)
  } catch (error) {
    return { kind: 'problem', code: ErrorCodes.DIRECTORY, message: `cannot stat: ${messageOf(error)}`, hash: undefined }
  }
  if (stat === undefined) return { kind: 'ok', disk: { kind: 'absent' }, stat: undefined, hash: undefined, text: undefined }
  if (record?.base !== undefined && record.pending === undefined && sameStat(stat, record.stat)) {
    return { kind: 'ok', disk: { kind: 'present', hash: record.base }, stat, hash: record.base, text: undefined }
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
