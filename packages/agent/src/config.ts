/**
 * Settings of `regsync agent` and `regsync status`, from three places. Precedence, highest first:
 * command-line flags, then environment variables, then the config file, then defaults. A list
 * (`peer`) from a higher place replaces the lower one whole; lists are never merged.
 *
 * This module gets argv and the environment as arguments: `cli.ts` is the only code that reads
 * `process.argv` and `process.env`.
 */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { ErrorCodes, RegsyncError } from '@regsync/core'
import { parseDnsTarget } from '@regsync/net-ws'
import { FLAGS, envName, flagsOf } from './flags.js'
import type { Command, FlagSpec } from './flags.js'
import { localUrl, parseHostPort } from './hostPort.js'
import type { HostPort } from './hostPort.js'

/** pino's levels. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

const DAY_MS = 24 * 60 * 60 * 1000

/** Defaults, with why. */
export const DEFAULTS = {
  /** Loopback: nothing is exposed until the operator chooses an interface (and a secret). */
  listen: { host: '127.0.0.1', port: 7070 },
  /** 10 s: a new ECS task or Kubernetes pod is dialed within seconds, and DNS sees 6 queries a minute. */
  dnsIntervalMs: 10_000,
  cluster: 'cas',
  /** 64 MiB: a full state of 10,000 definitions is about 40 MiB, and it travels as one frame. */
  maxMessageBytes: 64 * 1024 * 1024,
  /** 60 s, CAS's own default reload interval: the rescan only catches events the watcher missed. */
  rescanIntervalMs: 60_000,
  /** 1 MiB: the largest real definitions are about 30 KB; a bigger file is almost surely not one. */
  maxFileBytes: 1024 * 1024,
  /**
   * 90 days: long enough to notice a lost edit and restore it, short enough that a journal that
   * keeps every peer's delete does not grow without end. 0 keeps everything.
   */
  journalRetentionDays: 90
} as const

/** Where the settings come from: `cli.ts` passes `process.argv`, `process.env` and `process.cwd()`. */
export interface ConfigSources {
  /** The arguments after the command name. */
  readonly args: readonly string[]
  readonly env: Readonly<Record<string, string | undefined>>
}

/** File paths of the TLS material; read at start. */
export interface TlsFiles {
  readonly cert: string
  readonly key: string
  /** Present: mutual TLS. */
  readonly ca: string | undefined
}

/** Everything `regsync agent` needs, validated. */
export interface AgentConfig {
  /** The config file read, if any. */
  readonly configFile: string | undefined
  readonly dir: string
  readonly data: string
  readonly listen: HostPort
  /** Explicit `--advertise`; otherwise derived from the bound listener. */
  readonly advertise: string | undefined
  readonly peers: readonly string[]
  readonly peersDns: { readonly name: string; readonly port: number } | undefined
  readonly dnsIntervalMs: number
  readonly cluster: string
  readonly secretFile: string | undefined
  readonly tls: TlsFiles | undefined
  readonly mode: 'active' | 'passive'
  readonly initialImport: 'auto' | 'immediate'
  readonly maxMessageBytes: number
  readonly rescanIntervalMs: number
  readonly maxFileBytes: number
  /** Journal entries older than this are removed; 0 keeps them all. */
  readonly journalRetentionMs: number
  readonly poll: boolean
  readonly logLevel: LogLevel
  readonly logFormat: 'json' | 'pretty' | undefined
  /** `REGSYNC_*` variables that name no setting (probably typos); the agent warns about them. */
  readonly unknownEnv: readonly string[]
}

/** Everything `regsync status` needs, validated. */
export interface StatusConfig {
  readonly url: string
  readonly secretFile: string | undefined
  readonly json: boolean
  /** TLS client material; each part optional (a CA alone verifies the agent). */
  readonly tls: { readonly ca?: string; readonly cert?: string; readonly key?: string }
}

type RawValue = string | boolean | string[]

/** One setting's value and where it was found, for error messages. */
interface Setting {
  readonly value: RawValue
  /** `--listen`, `REGSYNC_LISTEN` or `listen in /etc/regsync.yml`. */
  readonly where: string
}

/** Parses and validates the settings of `regsync agent`. Throws REGSYNC_CONFIG with one line. */
export async function loadAgentConfig(sources: ConfigSources): Promise<AgentConfig> {
  const { settings, configFile, unknownEnv } = await collect('agent', sources)
  const get = (name: string): Setting | undefined => settings.get(name)

  const dir = requiredString(get('dir'), 'missing --dir DIR (the services directory)')
  const data = requiredString(get('data'), 'missing --data DIR (the data directory)')
  const listen = listenOf(get('listen'))

  const tlsCert = optionalString(get('tls-cert'))
  const tlsKey = optionalString(get('tls-key'))
  const tlsCa = optionalString(get('tls-ca'))
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw configError(`${describe(get('tls-cert') ?? get('tls-key'))} needs its partner: give both --tls-cert and --tls-key, or neither`)
  }
  if (tlsCa !== undefined && tlsCert === undefined) {
    throw configError(`${describe(get('tls-ca'))} turns on mutual TLS, which needs --tls-cert and --tls-key too`)
  }
  const tls = tlsCert !== undefined && tlsKey !== undefined ? { cert: tlsCert, key: tlsKey, ca: tlsCa } : undefined

  const peerSetting = get('peer')
  const peers = peerSetting === undefined ? [] : (peerSetting.value as string[])
  for (const peer of peers) {
    let url: URL | undefined
    try {
      url = new URL(peer)
    } catch {
      url = undefined
    }
    if (url === undefined || (url.protocol !== 'ws:' && url.protocol !== 'wss:') || url.host === '') {
      throw configError(`${describe(peerSetting)} must be a ws:// or wss:// URL, not ${JSON.stringify(peer)}`)
    }
  }

  const dnsSetting = get('peers-dns')
  let peersDns: AgentConfig['peersDns']
  if (dnsSetting !== undefined) {
    try {
      // A wildcard port 0 (tests) has no meaning for peers: they then need an explicit port.
      peersDns = parseDnsTarget(dnsSetting.value as string, listen.port)
    } catch (error) {
      throw configError(`${describe(dnsSetting)}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  const advertiseSetting = get('advertise')
  if (advertiseSetting !== undefined) {
    const value = advertiseSetting.value as string
    if (!/^wss?:\/\/[^/]+/.test(value)) throw configError(`${describe(advertiseSetting)} must be a ws:// or wss:// URL, not ${JSON.stringify(value)}`)
  }

  const cluster = optionalString(get('cluster')) ?? DEFAULTS.cluster
  if (!/^[A-Za-z0-9._-]+$/.test(cluster)) {
    throw configError(`${describe(get('cluster'))} may hold only letters, digits, ".", "_" and "-", not ${JSON.stringify(cluster)}`)
  }

  const secretFile = optionalString(get('secret-file'))
  if (secretFile === '') throw configError(`${describe(get('secret-file'))} must not be empty`)

  return {
    configFile,
    dir,
    data,
    listen,
    advertise: advertiseSetting?.value as string | undefined,
    peers,
    peersDns,
    dnsIntervalMs: integer(get('dns-interval'), DEFAULTS.dnsIntervalMs, 100),
    cluster,
    secretFile,
    tls,
    mode: oneOf(get('mode'), ['active', 'passive'] as const, 'active'),
    initialImport: oneOf(get('initial-import'), ['auto', 'immediate'] as const, 'auto'),
    maxMessageBytes: integer(get('max-message-size'), DEFAULTS.maxMessageBytes, 1024),
    rescanIntervalMs: integer(get('rescan-interval'), DEFAULTS.rescanIntervalMs, 0),
    maxFileBytes: integer(get('max-file-size'), DEFAULTS.maxFileBytes, 1),
    journalRetentionMs: integer(get('journal-retention'), DEFAULTS.journalRetentionDays, 0) * DAY_MS,
    poll: (get('poll')?.value as boolean | undefined) ?? false,
    logLevel: oneOf(get('log-level'), LOG_LEVELS, 'info'),
    logFormat: oneOf(get('log-format'), ['json', 'pretty'] as const, undefined),
    unknownEnv
  }
}

/** Parses and validates the settings of `regsync status`. Throws REGSYNC_CONFIG with one line. */
export async function loadStatusConfig(sources: ConfigSources): Promise<StatusConfig> {
  const { settings } = await collect('status', sources)
  const get = (name: string): Setting | undefined => settings.get(name)
  const urlSetting = get('url')
  let url: string
  if (urlSetting !== undefined) {
    url = urlSetting.value as string
    if (!/^https?:\/\/[^/]+/.test(url)) throw configError(`${describe(urlSetting)} must be an http:// or https:// URL, not ${JSON.stringify(url)}`)
  } else {
    url = localUrl(listenOf(get('listen')), get('tls-cert') !== undefined)
  }
  const tls: { ca?: string; cert?: string; key?: string } = {}
  const ca = optionalString(get('tls-ca'))
  const cert = optionalString(get('tls-cert'))
  const key = optionalString(get('tls-key'))
  if (ca !== undefined) tls.ca = ca
  if (cert !== undefined) tls.cert = cert
  if (key !== undefined) tls.key = key
  return {
    url: url.replace(/\/+$/, ''),
    secretFile: optionalString(get('secret-file')),
    json: (get('json')?.value as boolean | undefined) ?? false,
    tls
  }
}

/** Flags over environment over config file; each value tagged with where it came from. */
async function collect(
  command: Command,
  sources: ConfigSources
): Promise<{ settings: Map<string, Setting>; configFile: string | undefined; unknownEnv: string[] }> {
  const specs = flagsOf(command)
  const flags = parseFlags(specs, sources.args)
  const env = readEnv(specs, sources.env)
  const known = new Set(FLAGS.map((flag) => envName(flag.name)))
  const unknownEnv = Object.keys(sources.env)
    .filter((name) => name.startsWith('REGSYNC_') && !known.has(name))
    .sort()

  const configSetting = flags.get('config') ?? env.get('config')
  const configFile = configSetting === undefined ? undefined : resolve(configSetting.value as string)
  const file = configFile === undefined ? new Map<string, Setting>() : await readConfigFile(configFile, specs, configSetting!)

  const settings = new Map<string, Setting>()
  for (const spec of specs) {
    const setting = flags.get(spec.name) ?? env.get(spec.name) ?? file.get(spec.name)
    if (setting === undefined) continue
    // Absolute paths from here on, so logs and /status say which directory is meant. Flags and
    // variables are relative to the working directory; the file's values were resolved against it.
    const absolute = spec.path === true && typeof setting.value === 'string' && setting.value !== '' ? resolve(setting.value) : setting.value
    settings.set(spec.name, { value: absolute, where: setting.where })
  }
  return { settings, configFile, unknownEnv }
}

function parseFlags(specs: readonly FlagSpec[], args: readonly string[]): Map<string, Setting> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {}
  for (const spec of specs) {
    options[spec.name] = spec.type === 'list' ? { type: 'string', multiple: true } : { type: spec.type }
  }
  let values: Record<string, RawValue | undefined>
  try {
    ;({ values } = parseArgs({ args: [...args], options, strict: true, allowPositionals: false }) as { values: Record<string, RawValue | undefined> })
  } catch (error) {
    throw configError(usageMessage(error))
  }
  const out = new Map<string, Setting>()
  for (const spec of specs) {
    const value = values[spec.name]
    if (value !== undefined) out.set(spec.name, { value, where: `--${spec.name}` })
  }
  return out
}

/** Empty variables count as unset, so `REGSYNC_PEER=` in a unit file changes nothing. */
function readEnv(specs: readonly FlagSpec[], env: ConfigSources['env']): Map<string, Setting> {
  const out = new Map<string, Setting>()
  for (const spec of specs) {
    const where = envName(spec.name)
    const raw = env[where]
    if (raw === undefined || raw.trim() === '') continue
    let value: RawValue
    if (spec.type === 'boolean') {
      const text = raw.trim().toLowerCase()
      if (['1', 'true', 'yes', 'on'].includes(text)) value = true
      else if (['0', 'false', 'no', 'off'].includes(text)) value = false
      else throw configError(`${where} must be true or false (or 1/0, yes/no, on/off), not ${JSON.stringify(raw)}`)
    } else if (spec.type === 'list') {
      value = raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
    } else {
      value = raw
    }
    out.set(spec.name, { value, where })
  }
  return out
}

async function readConfigFile(path: string, specs: readonly FlagSpec[], from: Setting): Promise<Map<string, Setting>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const reason = (error as { code?: string }).code === 'ENOENT' ? 'no such file' : error instanceof Error ? error.message : String(error)
    throw configError(`cannot read the config file ${path} (from ${from.where}): ${reason}`)
  }
  let document: unknown
  try {
    // YAML 1.2 reads JSON too. Duplicate keys are an error rather than a silent last-one-wins.
    document = parseYaml(text, { uniqueKeys: true, prettyErrors: false })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw configError(`the config file ${path} is not valid YAML or JSON: ${message.split('\n')[0] ?? message}`)
  }
  const out = new Map<string, Setting>()
  if (document === null || document === undefined) return out
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw configError(`the config file ${path} must hold a mapping of settings (listen: ..., peer: [...]), not a ${Array.isArray(document) ? 'list' : typeof document}`)
  }
  const forCommand = new Set(specs.map((spec) => spec.name))
  for (const [key, value] of Object.entries(document as Record<string, unknown>)) {
    const spec = FLAGS.find((flag) => flag.name === key)
    if (spec === undefined || spec.notInFile === true) {
      const hint = spec?.notInFile === true ? ' (it only works as a flag or environment variable)' : ''
      throw configError(`unknown key ${JSON.stringify(key)} in the config file ${path}${hint}`)
    }
    // Keys of the other command (dir for `status`, url for `agent`) are fine: one file serves both.
    if (!forCommand.has(key) || value === null) continue
    const where = `${key} in ${path}`
    const converted = fileValue(spec, value, where)
    out.set(key, { value: spec.path === true ? resolve(dirname(path), converted as string) : converted, where })
  }
  return out
}

function fileValue(spec: FlagSpec, value: unknown, where: string): RawValue {
  const scalar = (item: unknown): string | undefined =>
    typeof item === 'string' ? item : typeof item === 'number' || typeof item === 'bigint' ? String(item) : undefined
  if (spec.type === 'boolean') {
    if (typeof value !== 'boolean') throw configError(`${where} must be true or false, not ${JSON.stringify(value)}`)
    return value
  }
  if (spec.type === 'list') {
    const items = Array.isArray(value) ? value : [value]
    return items.map((item) => {
      const text = scalar(item)
      if (text === undefined) throw configError(`${where} must be a list of strings, not ${JSON.stringify(value)}`)
      return text
    })
  }
  const text = scalar(value)
  if (text === undefined) throw configError(`${where} must be a single value, not ${JSON.stringify(value)}`)
  return text
}

function listenOf(setting: Setting | undefined): HostPort {
  if (setting === undefined) return DEFAULTS.listen
  const parsed = parseHostPort(setting.value as string)
  if (typeof parsed === 'string') throw configError(`${describe(setting)} ${parsed}, not ${JSON.stringify(setting.value)}`)
  return parsed
}

function requiredString(setting: Setting | undefined, missing: string): string {
  const value = setting?.value
  if (typeof value !== 'string' || value === '') throw configError(missing)
  return value
}

function optionalString(setting: Setting | undefined): string | undefined {
  return setting?.value as string | undefined
}

function oneOf<const T extends string, D extends T | undefined>(setting: Setting | undefined, allowed: readonly T[], fallback: D): T | D {
  if (setting === undefined) return fallback
  const value = setting.value as string
  if (!(allowed as readonly string[]).includes(value)) {
    throw configError(`${describe(setting)} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`)
  }
  return value as T
}

function integer(setting: Setting | undefined, fallback: number, min: number): number {
  if (setting === undefined) return fallback
  const raw = (setting.value as string).trim()
  if (!/^\d+$/.test(raw)) throw configError(`${describe(setting)} must be a whole number, not ${JSON.stringify(setting.value)}`)
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min) throw configError(`${describe(setting)} must be at least ${min}, not ${raw}`)
  return value
}

function describe(setting: Setting | undefined): string {
  return setting?.where ?? 'a setting'
}

function configError(message: string): RegsyncError {
  return new RegsyncError(ErrorCodes.CONFIG, message)
}

function usageMessage(error: unknown): string {
  const code = (error as { code?: string }).code
  const message = error instanceof Error ? error.message : String(error)
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? ''
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${quoted}`.trim()
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument ${quoted}`.trim()
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // "Option '--listen <value>' argument missing" and its kin: name the flag, keep one line.
    const flag = /'(--[a-z-]+)/.exec(message)?.[1]
    if (flag !== undefined && /argument missing/.test(message)) return `${flag} needs a value`
    if (flag !== undefined && /does not take an argument/.test(message)) return `${flag} takes no value`
  }
  return message.split('\n')[0] ?? message
}
