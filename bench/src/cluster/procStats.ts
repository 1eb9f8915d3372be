/** Per-process costs read from /proc, and directory sizes. */
import { readFile, readdir, lstat } from 'node:fs/promises'
import { join } from 'node:path'

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux we run on. */
const CLOCK_TICKS = 100

/** CPU seconds (user + system) a live process has used, or undefined when it is gone. */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // The command name is in parentheses and may hold spaces: split after the last `)`.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the state field.
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return (utime + stime) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/** Peak resident set size (VmHWM) of a live process in MiB, or undefined when it is gone. */
export async function peakRssMiB(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status)
    return match === null ? undefined : Number(match[1]) / 1024
  } catch {
    return undefined
  }
}

/** Bytes of the regular files under `path`, recursively; 0 when it does not exist. */
export async function dirBytes(path: string): Promise<number> {
  let total = 0
  let names: string[]
  try {
    names = await readdir(path)
  } catch {
    return 0
  }
  for (const name of names) {
    const full = join(path, name)
    try {
      const info = await lstat(full)
      if (info.isDirectory()) total += await dirBytes(full)
      else if (info.isFile()) total += info.size
    } catch {
      // Removed while we looked: a compaction in progress.
    }
  }
  return total
}

/** `pid` and all its descendants, from /proc/<pid>/task/<tid>/children. */
export async function processTree(pid: number): Promise<number[]> {
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    const current = out[i]!
    let tasks: string[]
    try {
      tasks = await readdir(`/proc/${current}/task`)
    } catch {
      continue
    }
    for (const task of tasks) {
      try {
        const children = await readFile(`/proc/${current}/task/${task}/children`, 'utf8')
        for (const child of children.split(' ')) if (child.trim() !== '') out.push(Number(child))
      } catch {
        // The task ended.
      }
    }
  }
  return out
}

/**
 * Resolves once the processes have been quiet together, using under `maxCpuShare` of one core
 * over a `windowMs` window, or after `timeoutMs` (it does not throw: a busy cluster is measured
 * as it is). Returns how long it waited. A cluster that has just taken its starting files is still
 * committing, compacting and relaying for a few seconds; a scenario measures from a settled one.
 */
export async function waitQuiet(
  pids: () => ReadonlyArray<number | undefined>,
  { windowMs = 500, maxCpuShare = 0.05, timeoutMs = 30_000 }: { windowMs?: number; maxCpuShare?: number; timeoutMs?: number } = {}
): Promise<number> {
  const started = performance.now()
  const total = async (): Promise<number> => {
    let sum = 0
    for (const pid of pids()) if (pid !== undefined) sum += (await cpuSeconds(pid)) ?? 0
    return sum
  }
  let before = await total()
  while (performance.now() - started < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, windowMs))
    const now = await total()
    // /proc counts in ticks of 10 ms: a window of 500 ms can tell 5 % of a core from nothing.
    if (now - before <= (maxCpuShare * windowMs) / 1000 + 1e-9) break
    before = now
  }
  return performance.now() - started
}
