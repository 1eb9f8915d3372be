/**
 * Byte-for-byte comparison of several services directories, as CAS would read them: recursive, and
 * blind to dot-files and dot-directories (the agent's temp files, CAS's own skips). Differences are
 * described for a human: which file, on which node, and the first bytes that differ.
 */
import { lstat, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** The regular files of a directory tree: relative POSIX path → bytes, in sorted order. */
export type DirectorySnapshot = ReadonlyMap<string, Buffer>

/** A snapshot with the name it is reported under, for example `node2`. */
export interface LabelledSnapshot {
  readonly label: string
  readonly files: DirectorySnapshot
}

/**
 * Reads every regular file under `dir`, recursively, skipping names that start with a dot. Symbolic
 * links and other special files are skipped as CAS would not read them as definitions. A file that
 * vanishes while being read is left out: the caller polls. A missing `dir` reads as empty.
 */
export async function snapshotTree(dir: string): Promise<DirectorySnapshot> {
  const out = new Map<string, Buffer>()
  await walk(dir, '', out)
  return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

async function walk(root: string, prefix: string, out: Map<string, Buffer>): Promise<void> {
  let names: string[]
  try {
    names = await readdir(join(root, prefix))
  } catch (error) {
    if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return
    throw error
  }
  for (const name of names) {
    if (name.startsWith('.')) continue
    const relative = prefix === '' ? name : `${prefix}/${name}`
    const path = join(root, relative)
    try {
      const info = await lstat(path)
      if (info.isDirectory()) await walk(root, relative, out)
      else if (info.isFile()) out.set(relative, await readFile(path))
    } catch (error) {
      if (isCode(error, 'ENOENT')) continue
      throw error
    }
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code
}

/**
 * Every difference between the snapshots, one readable line each; empty when they are identical.
 * Each file that differs is reported once, grouping the nodes that agree.
 */
export function diffSnapshots(snapshots: readonly LabelledSnapshot[]): string[] {
  const names = new Set<string>()
  for (const snapshot of snapshots) for (const name of snapshot.files.keys()) names.add(name)
  const out: string[] = []
  for (const name of [...names].sort()) {
    const missing = snapshots.filter((s) => !s.files.has(name)).map((s) => s.label)
    // Nodes holding the same bytes, in order of first appearance.
    const groups: Array<{ bytes: Buffer; labels: string[] }> = []
    for (const snapshot of snapshots) {
      const bytes = snapshot.files.get(name)
      if (bytes === undefined) continue
      const group = groups.find((g) => g.bytes.equals(bytes))
      if (group === undefined) groups.push({ bytes, labels: [snapshot.label] })
      else group.labels.push(snapshot.label)
    }
    if (missing.length === 0 && groups.length <= 1) continue
    const parts: string[] = []
    if (missing.length > 0) parts.push(`missing on ${missing.join(', ')}; present on ${groups.flatMap((g) => g.labels).join(', ')}`)
    const first = groups[0]
    if (first !== undefined) {
      for (const other of groups.slice(1)) {
        parts.push(`${first.labels.join(',')} vs ${other.labels.join(',')}: ${describeDifference(first.bytes, other.bytes)}`)
      }
    }
    out.push(`${name}: ${parts.join('; ')}`)
  }
  return out
}

/** Where two byte strings first differ, with a little context from each: "at byte 57 (line 3, column 12) …". */
export function describeDifference(a: Buffer, b: Buffer): string {
  const length = Math.min(a.length, b.length)
  let offset = 0
  while (offset < length && a[offset] === b[offset]) offset++
  if (offset === length && a.length === b.length) return 'identical'
  const before = a.subarray(0, offset)
  const line = before.filter((byte) => byte === 0x0a).length + 1
  const column = offset - (before.lastIndexOf(0x0a) + 1) + 1
  const excerpt = (bytes: Buffer): string => {
    const start = Math.max(0, offset - 16)
    const text = JSON.stringify(bytes.subarray(start, offset + 24).toString('utf8'))
    return `${start > 0 ? '…' : ''}${text}${offset + 24 < bytes.length ? '…' : ''}`
  }
  const tail = offset === length ? ` (one is a prefix of the other: ${a.length} vs ${b.length} bytes)` : ` (${a.length} vs ${b.length} bytes)`
  return `first difference at byte ${offset} (line ${line}, column ${column})${tail}: ${excerpt(a)} vs ${excerpt(b)}`
}

/** Snapshots of several directories, labelled `node0`, `node1`, … unless labels are given. */
export async function snapshotDirectories(dirs: readonly string[], labels?: readonly string[]): Promise<LabelledSnapshot[]> {
  if (labels !== undefined && labels.length !== dirs.length) throw new TypeError(`got ${labels.length} labels for ${dirs.length} directories`)
  return Promise.all(dirs.map(async (dir, i) => ({ label: labels?.[i] ?? `node${i}`, files: await snapshotTree(dir) })))
}

/** The outcome of comparing directories: the shared snapshot when they agree, the differences when not. */
export type DirectoryComparison =
  | { readonly equal: true; readonly snapshot: DirectorySnapshot; readonly snapshots: readonly LabelledSnapshot[] }
  | { readonly equal: false; readonly differences: readonly string[]; readonly snapshots: readonly LabelledSnapshot[] }

/** Compares directories byte for byte (recursive, dot-files ignored). */
export async function compareDirectories(dirs: readonly string[], labels?: readonly string[]): Promise<DirectoryComparison> {
  if (dirs.length === 0) throw new TypeError('no directories to compare')
  const snapshots = await snapshotDirectories(dirs, labels)
  const differences = diffSnapshots(snapshots)
  if (differences.length > 0) return { equal: false, differences, snapshots }
  return { equal: true, snapshot: snapshots[0]!.files, snapshots }
}

/** Renders a comparison failure for an error message: the differences, then each node's file list. */
export function formatDifferences(comparison: { readonly differences: readonly string[]; readonly snapshots: readonly LabelledSnapshot[] }, limit = 20): string {
  const lines = comparison.differences.slice(0, limit).map((line) => `  ${line}`)
  if (comparison.differences.length > limit) lines.push(`  … and ${comparison.differences.length - limit} more`)
  lines.push('files per node:')
  for (const snapshot of comparison.snapshots) {
    const names = [...snapshot.files.keys()]
    const shown = names.slice(0, limit).join(', ')
    lines.push(`  ${snapshot.label} (${names.length}): ${shown}${names.length > limit ? ', …' : ''}`)
  }
  return lines.join('\n')
}

/** Throws, with a readable diff, unless every directory holds the same files with the same bytes. Returns the shared snapshot. */
export async function assertSameDirectories(dirs: readonly string[], labels?: readonly string[]): Promise<DirectorySnapshot> {
  const comparison = await compareDirectories(dirs, labels)
  if (comparison.equal) return comparison.snapshot
  throw new Error(`directories differ:\n${formatDifferences(comparison)}`)
}
