import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The `regsync` bin of the workspace. */
export const REGSYNC_BIN = fileURLToPath(new URL('../../packages/agent/bin/regsync.js', import.meta.url))

/** A running `regsync` process with its output. */
export interface AgentProcess {
  readonly child: ChildProcess
  readonly lines: Array<Record<string, unknown>>
  stdout: string
  stderr: string
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>
  /** Resolves when a JSON log line with this `msg` appears. */
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<Record<string, unknown>>
}

/** Starts `regsync ...args` as a separate process, with JSON logs. */
export function runRegsync(args: readonly string[]): AgentProcess {
  const child = spawn(process.execPath, [REGSYNC_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: Array<Record<string, unknown>> = []
  const watchers: Array<() => void> = []
  const proc: AgentProcess = {
    child,
    lines,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1))),
    waitForLog(msg, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const match = (): boolean => {
          const line = lines.find((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg))))
          if (line !== undefined) {
            clearTimeout(timer)
            resolve(line)
            return true
          }
          return false
        }
        const timer = setTimeout(() => reject(new Error(`no log line ${String(msg)} within ${timeoutMs} ms; stderr: ${proc.stderr}; stdout: ${proc.stdout.slice(-2000)}`)), timeoutMs)
        if (!match()) watchers.push(() => void match())
      })
    }
  }
  let buffer = ''
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    proc.stdout += chunk
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
    proc.stderr += chunk
  })
  return proc
}

/** Starts an agent and waits until it is ready. */
export async function startAgent(dir: string, data: string, extra: readonly string[] = []): Promise<AgentProcess> {
  const proc = runRegsync(['agent', '--dir', dir, '--data', data, '--listen', '127.0.0.1:0', '--log-format', 'json', ...extra])
  await proc.waitForLog('regsync agent ready')
  return proc
}
