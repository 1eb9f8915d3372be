/**
 * One `regsync agent` child process: spawned with `node <bin> agent ...`, its JSON log lines read
 * for `regsync agent ready` (and kept in a file, when asked), `/readyz` polled, and stopped with
 * SIGTERM or SIGKILL. Costs come from /proc while it runs; each life's figures are kept when it ends.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { finished } from 'node:stream/promises'
import { request } from 'node:http'
import { cpuSeconds, peakRssMiB } from './procStats.js'
import { sleep } from '../stats.js'

/** Starts tried when the agent finds its port taken. */
const ADDRESS_IN_USE_RETRIES = 3

/** Options of one agent life. */
export interface AgentSpawn {
  readonly bin: string
  readonly args: readonly string[]
  readonly port: number
  /** Options for node itself, before the script. */
  readonly nodeArgs?: readonly string[]
  /** A file that gets everything the agent prints, each life appended to the last. */
  readonly logFile?: string
  /**
   * The agent logs its ready line (its log level is `info` or lower). `/readyz` is then polled only
   * after the line: a poll every 5 ms while the agent starts takes CPU from the start it times (about
   * 70 ms of a 10,000-definition start on two cores).
   */
  readonly readyLine?: boolean
}

/** A live or stopped agent. */
export class AgentProcess {
  /** CPU seconds of earlier lives. */
  cpuBefore = 0
  /** Highest VmHWM of any life, MiB. */
  peakRss = 0
  /** The last lines the agent printed, for failure reports. */
  readonly tail: string[] = []
  /** Starts that found their port taken and were tried again. */
  addressInUseRetries = 0
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  #readyLine: number | undefined
  #unexpectedExit: string | undefined
  #stopping = false

  constructor(readonly name: string) {}

  /** The pid of the running life, if any. */
  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined
  }

  /** Set when the process ended without being asked to. */
  get unexpectedExit(): string | undefined {
    return this.#unexpectedExit
  }

  /**
   * Spawns the agent and resolves once `/readyz` answers 200, with the ms from the spawn to the
   * `regsync agent ready` line (when logged) and to `/readyz`.
   */
  async start(options: AgentSpawn, timeoutMs: number): Promise<{ readyMs: number; readyzMs: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#startOnce(options, timeoutMs)
      } catch (error) {
        // The port was free when reserved, but while an agent is down any outbound socket of this
        // machine may take it as its ephemeral port. Such a start is not the agent's failure: retry.
        if (attempt >= ADDRESS_IN_USE_RETRIES || !this.tail.some((line) => line.includes('EADDRINUSE'))) throw error
        this.addressInUseRetries++
        this.tail.length = 0
        await this.#exited
        this.#unexpectedExit = undefined
        await sleep(250)
      }
    }
  }

  async #startOnce(options: AgentSpawn, timeoutMs: number): Promise<{ readyMs: number; readyzMs: number }> {
    const started = performance.now()
    this.#readyLine = undefined
    this.#stopping = false
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.bin, 'agent', ...options.args], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    const log = options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' })
    log?.on('error', () => {})
    let lineSeen!: () => void
    const lineOrExit = new Promise<void>((resolve) => {
      lineSeen = resolve
    })
    let buffer = ''
    const onData = (chunk: string): void => {
      log?.write(chunk)
      buffer += chunk
      let newline: number
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        if (this.#readyLine === undefined && line.includes('regsync agent ready')) {
          this.#readyLine = performance.now()
          lineSeen()
        }
        this.tail.push(line)
        if (this.tail.length > 40) this.tail.shift()
      }
    }
    child.stdout!.setEncoding('utf8').on('data', onData)
    child.stderr!.setEncoding('utf8').on('data', onData)
    this.#exited = new Promise((resolve) => {
      // 'close': the output is read to its end, so the log file gets all of it.
      child.once('close', (code, signal) => {
        lineSeen()
        if (!this.#stopping) this.#unexpectedExit = `${this.name} exited with ${signal ?? code}: ${this.tail.slice(-3).join(' | ')}`
        if (log === undefined) return resolve()
        log.end()
        finished(log).then(resolve, () => resolve())
      })
    })
    const deadline = started + timeoutMs
    if (options.readyLine === true) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([lineOrExit, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
      clearTimeout(timer)
    }
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${this.name} exited during start: ${this.tail.slice(-5).join('\n')}`)
      if ((await httpStatus(options.port, '/readyz')) === 200) break
      if (performance.now() > deadline) throw new Error(`${this.name} was not ready within ${timeoutMs} ms: ${this.tail.slice(-5).join('\n')}`)
      await sleep(5)
    }
    const readyzMs = performance.now() - started
    return { readyMs: this.#readyLine === undefined ? readyzMs : this.#readyLine - started, readyzMs }
  }

  /** CPU seconds of every life so far. */
  async cpu(): Promise<number> {
    const pid = this.pid
    return this.cpuBefore + (pid === undefined ? 0 : ((await cpuSeconds(pid)) ?? 0))
  }

  /** Highest peak RSS of every life so far. */
  async rss(): Promise<number> {
    const pid = this.pid
    if (pid !== undefined) this.peakRss = Math.max(this.peakRss, (await peakRssMiB(pid)) ?? 0)
    return this.peakRss
  }

  /** SIGTERM (clean) or SIGKILL (a crash); resolves once the process is gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.#child
    const pid = this.pid
    if (child === undefined || pid === undefined) return this.#exited
    // /proc is gone once it exits: read this life's figures first.
    this.cpuBefore += (await cpuSeconds(pid)) ?? 0
    this.peakRss = Math.max(this.peakRss, (await peakRssMiB(pid)) ?? 0)
    this.#stopping = true
    child.kill(signal)
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await this.#exited
    clearTimeout(timer)
  }
}

/** The HTTP status of GET `path` on 127.0.0.1:`port`, or 0 when nothing answers. */
export function httpStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, headers, timeout: 2000 }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    req.on('error', () => resolve(0))
    req.on('timeout', () => {
      req.destroy()
      resolve(0)
    })
    req.end()
  })
}
