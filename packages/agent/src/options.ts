/**
 * Command-line options of `regsync agent`. This file and `cli.ts` are the only code that reads argv.
 */
import { parseArgs } from 'node:util'
import { ErrorCodes, RegsyncError } from '@regsync/core'

/** Everything `regsync agent` needs, validated. */
export interface AgentOptions {
  readonly dir: string
  readonly data: string
  readonly rescanIntervalMs: number
  readonly maxFileBytes: number
  readonly logLevel: LogLevel
  readonly logFormat: 'json' | 'pretty' | undefined
  readonly poll: boolean
}

/** pino's levels. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

/** Defaults, with why. */
export const DEFAULTS = {
  /** 60 s, CAS's own default reload interval: the rescan only catches events the watcher missed. */
  rescanIntervalMs: 60_000,
  /** 1 MiB: the largest real definitions are about 30 KB; a bigger file is almost surely not one. */
  maxFileBytes: 1024 * 1024
} as const

/** The text of `regsync --help`. */
export const HELP = `regsync: keeps an Apereo CAS service-registry directory replicated, with merges and no resurrected deletes.

Usage:
  regsync agent --dir DIR --data DIR [options]
  regsync --help | --version

Commands:
  agent              Run the agent: mirror DIR into a LevelDB-backed document under --data,
                     both ways, until SIGTERM or SIGINT.

Options of agent:
  --dir DIR               The services directory (for example /etc/cas/services). Required.
  --data DIR              The data directory for the LevelDB database. Required. One agent per data dir.
  --rescan-interval MS    Full rescan period in milliseconds; 0 turns it off. Default ${DEFAULTS.rescanIntervalMs}.
  --max-file-size BYTES   Files larger than this are not imported (logged as errors). Default ${DEFAULTS.maxFileBytes}.
  --poll                  Poll the directory instead of using inotify (for network file systems).
  --log-level LEVEL       trace, debug, info, warn, error, fatal or silent. Default info.
  --log-format FORMAT     json or pretty. Default: pretty on a terminal, json otherwise.
  -h, --help              Show this help.
  -v, --version           Show the version.

Exit codes: 0 after a clean shutdown, 1 when the agent cannot start, 2 for bad usage.
`

/** Parses `regsync agent` arguments. Throws REGSYNC_CONFIG with one line naming the problem. */
export function parseAgentOptions(args: readonly string[]): AgentOptions {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        dir: { type: 'string' },
        data: { type: 'string' },
        'rescan-interval': { type: 'string' },
        'max-file-size': { type: 'string' },
        poll: { type: 'boolean' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' }
      }
    }))
  } catch (error) {
    throw new RegsyncError(ErrorCodes.CONFIG, usageMessage(error))
  }
  if (values.dir === undefined || values.dir === '') throw new RegsyncError(ErrorCodes.CONFIG, 'missing --dir DIR (the services directory)')
  if (values.data === undefined || values.data === '') throw new RegsyncError(ErrorCodes.CONFIG, 'missing --data DIR (the data directory)')
  const logLevel = (values['log-level'] ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new RegsyncError(ErrorCodes.CONFIG, `--log-level must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(values['log-level'])}`)
  }
  const logFormat = values['log-format']
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'pretty') {
    throw new RegsyncError(ErrorCodes.CONFIG, `--log-format must be json or pretty, not ${JSON.stringify(logFormat)}`)
  }
  return {
    dir: values.dir,
    data: values.data,
    rescanIntervalMs: integerOption('--rescan-interval', values['rescan-interval'], DEFAULTS.rescanIntervalMs, 0),
    maxFileBytes: integerOption('--max-file-size', values['max-file-size'], DEFAULTS.maxFileBytes, 1),
    logLevel,
    logFormat,
    poll: values.poll ?? false
  }
}

function integerOption(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw new RegsyncError(ErrorCodes.CONFIG, `${name} must be a whole number, not ${JSON.stringify(raw)}`)
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min) throw new RegsyncError(ErrorCodes.CONFIG, `${name} must be at least ${min}, not ${raw}`)
  return value
}

function usageMessage(error: unknown): string {
  const code = (error as { code?: string }).code
  const message = error instanceof Error ? error.message : String(error)
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const match = /'([^']+)'/.exec(message)
    return `unknown option ${match?.[1] ?? ''}`.trim()
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const match = /'([^']+)'/.exec(message)
    return `unexpected argument ${match?.[1] ?? ''}`.trim()
  }
  return message.split('\n')[0] ?? message
}
