import type * as Fs from 'node:fs'

/*
 * The listing of a services directory, in one function that uses nothing from this module: the
 * file worker (FileWorker.ts) runs it from its source text, and the event loop calls it directly
 * when the worker cannot run. It takes `fs` as given.
 */

/** What to list, and what to clear away on the way. */
export interface ListingRequest {
  /** The directory, resolved. */
  readonly root: string
  /** Take each file's `lstat`. */
  readonly stats: boolean
  /** Dot-files ending so are temp files of interrupted writes... */
  readonly tempSuffix: string
  /** ...removed once their mtime is this old. */
  readonly leftoverAgeMs: number
}

/**
 * What {@link listTree} found: every regular file that is no dot-file and under no dot-folder,
 * flattened as `path, size, mtimeMs, ino` (the numbers -1 without stats), and the temp files it
 * removed. Or the failure that stopped it: the root unreadable, or a file that could not be stat'ed.
 */
export type Listing =
  | { readonly files: Array<string | number>; readonly removed: string[] }
  | { readonly error: { readonly code?: string; readonly message: string } }

/**
 * Walks `root` without following links (a link is neither a file nor a folder here). A sub-folder
 * that is gone by the time it is read is skipped; a file that is gone, or is no longer a regular
 * file, by the time of its `lstat` is left out.
 */
export function listTree(fs: typeof Fs, request: ListingRequest): Listing {
  const { root, stats, tempSuffix, leftoverAgeMs } = request
  const files: Array<string | number> = []
  const removed: string[] = []
  const fail = (message: string, error: unknown): Listing => {
    const { code } = error as { code?: unknown }
    return { error: typeof code === 'string' ? { code, message } : { message } }
  }
  const walk = (relative: string): Listing | undefined => {
    const folder = relative === '' ? root : `${root}/${relative}`
    let entries: Fs.Dirent[]
    try {
      entries = fs.readdirSync(folder, { withFileTypes: true })
    } catch (error) {
      if (relative !== '' && (error as { code?: unknown }).code === 'ENOENT') return undefined
      return fail(`cannot read ${folder}: ${(error as Error).message}`, error)
    }
    for (const entry of entries) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`
      if (entry.name.startsWith('.')) {
        if (entry.isFile() && entry.name.endsWith(tempSuffix)) {
          try {
            const found = fs.lstatSync(`${root}/${path}`, { throwIfNoEntry: false })
            if (found !== undefined && found.isFile() && Date.now() - found.mtimeMs >= leftoverAgeMs) {
              fs.unlinkSync(`${root}/${path}`)
              removed.push(path)
            }
          } catch {
            // Gone meanwhile, or not ours to remove: the next listing tries again.
          }
        }
        continue
      }
      if (entry.isDirectory()) {
        const failure = walk(path)
        if (failure !== undefined) return failure
      } else if (entry.isFile()) {
        if (!stats) {
          files.push(path, -1, -1, -1)
          continue
        }
        let found: Fs.Stats | undefined
        try {
          found = fs.lstatSync(`${root}/${path}`, { throwIfNoEntry: false })
        } catch (error) {
          if ((error as { code?: unknown }).code !== 'ENOTDIR') return fail(`cannot stat ${path}: ${(error as Error).message}`, error)
        }
        if (found !== undefined && found.isFile()) files.push(path, found.size, found.mtimeMs, found.ino)
      }
    }
    return undefined
  }
  return walk('') ?? { files, removed }
}
