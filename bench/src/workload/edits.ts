/** Workload building blocks: unique edits, and ops timed until every node shows them. */
import { definition, fileName } from '../definitions.js'
import type { SyncSystem } from '../systems/SyncSystem.js'
import type { Op, WorkloadLog } from './WorkloadLog.js'

/** A unique marker for a write: a field value no other write uses. */
export function marker(seed: number, seq: number, random: () => number): string {
  return `op-${seed}-${seq}-${Math.floor(random() * 2 ** 32).toString(36)}`
}

/** Definition `id` with `value` as its description: a whole-file edit. */
export function editedDefinition(id: number, value: string): string {
  return definition(id, value)
}

/** `text` with its theme set to `value`: an edit of another field than the description. */
export function withTheme(text: string, value: string): string {
  return text.replace(/"theme" : "[^"]*"/, `"theme" : "${value}"`)
}

/** `text` with its description set to `value`. */
export function withDescription(text: string, value: string): string {
  return text.replace(/"description" : "[^"]*"/, `"description" : "${value}"`)
}

/** The starting files: definitions 1..count. */
export function startingFiles(count: number): Map<string, string> {
  const files = new Map<string, string>()
  for (let id = 1; id <= count; id++) files.set(fileName(id), definition(id))
  return files
}

/** The id in a file name made by `fileName`. */
export function idOf(path: string): number {
  return Number(/-(\d+)\.json$/.exec(path)?.[1] ?? Number.NaN)
}

/** Records the observation times of an op that every node in `nodes` showed. */
export function observed(op: Op, times: ReadonlyArray<number | undefined>): number {
  let last = op.issuedAt
  times.forEach((time, node) => {
    if (time === undefined) return
    op.observedAt[node] = time
    last = Math.max(last, time)
  })
  return last - op.issuedAt
}

/**
 * Writes `text` to `path` on `node` and resolves with the ms until every node of `nodes` holds the
 * same bytes.
 */
export async function timedWrite(system: SyncSystem, log: WorkloadLog, node: number, path: string, text: string, mark: string, nodes: readonly number[], timeoutMs: number): Promise<number> {
  const waiting = system.view.waitFor(path, text, nodes, timeoutMs)
  const op = log.write(node, path, text, mark)
  await system.write(node, path, text)
  return observed(op, await waiting)
}

/** Deletes `path` on `node` and resolves with the ms until it is gone from every node of `nodes`. */
export async function timedDelete(system: SyncSystem, log: WorkloadLog, node: number, path: string, nodes: readonly number[], timeoutMs: number): Promise<number> {
  const waiting = system.view.waitFor(path, undefined, nodes, timeoutMs)
  const op = log.delete(node, path)
  await system.remove(node, path)
  return observed(op, await waiting)
}
