import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The built `regsync` bin of this package. */
export const BIN = fileURLToPath(new URL('../bin/regsync.js', import.meta.url))

/** A `regsync` process and what it printed. */
export interface RegsyncProcess {
  readonly child: ChildProcess
  /** JSON log lines. */
  readonly lines: Array<Record<string, unknown>>
  readonly output: { stdout: string; stderr: string }
  /** Resolves with the exit code, or the signal name. */
  readonly exited: Promise<number | string>
  /** Resolves with the first JSON line whose `msg` matches. */
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<Record<string, unknown>>
}

/**
 * With `REGSYNC_TEST_AGENT_LOGS=<dir>`, every agent a test starts logs at debug level, and each
 * process's output is kept in `<dir>/<pid>.log`, after a first line with its arguments: for reading
 * what the agents did in a failure that does not replay.
 */
const LOG_DIR = process.env.REGSYNC_TEST_AGENT_LOGS

/** Starts `regsync ...args` with the given environment added to a clean one (no REGSYNC_* of ours leak in). */
export function runRegsync(args: readonly string[], env: Record<string, string> = {}): RegsyncProcess {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('REGSYNC_')))
  const debug = LOG_DIR !== undefined && args[0] === 'agent' ? ['--log-level', 'debug'] : []
  const child = spawn(process.execPath, [BIN, ...args, ...debug], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } })
  const keep = (chunk: string): void => {
    if (LOG_DIR !== undefined) appendFileSync(join(LOG_DIR, `${child.pid}.log`), chunk)
  }
  keep(`${JSON.stringify({ args })}\n`)
  const lines: Array<Record<string, unknown>> = []
  const output = { stdout: '', stderr: '' }
  const watchers = new Set<() => void>()
  let buffer = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    output.stdout += chunk
    keep(chunk)
    buffer += chunk
    let newline
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        // not JSON: kept in stdout
      }
    }
    for (const watcher of watchers) watcher()
  })
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => {
    output.stderr += chunk
    keep(chunk)
  })
  const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? -1)))
  return {
    child,
    lines,
    output,
    exited,
    waitForLog(msg, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const find = (): boolean => {
          const line = lines.find((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg))))
          if (line === undefined) return false
          clearTimeout(timer)
          watchers.delete(check)
          resolve(line)
          return true
        }
        const check = (): void => void find()
        const timer = setTimeout(() => {
          watchers.delete(check)
          reject(new Error(`no log line ${String(msg)} within ${timeoutMs} ms\nstdout: ${output.stdout.slice(-3000)}\nstderr: ${output.stderr}`))
        }, timeoutMs)
        if (!find()) watchers.add(check)
        void exited.then(() => {
          if (!find()) {
            clearTimeout(timer)
            watchers.delete(check)
            reject(new Error(`regsync exited before logging ${String(msg)}\nstdout: ${output.stdout.slice(-3000)}\nstderr: ${output.stderr}`))
          }
        })
      })
    }
  }
}
