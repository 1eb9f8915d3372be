/**
 * The one table of regsync's settings. Each setting has one name, used three ways: the long flag
 * (`--peers-dns`), the config file key (`peers-dns`) and the environment variable
 * (`REGSYNC_PEERS_DNS`). `--help`, the parser and the config file checks all read this table, so a
 * setting cannot exist in one place and be missing from another.
 */

/** The commands that take settings. */
export type Command = 'agent' | 'status'

/** How a setting's value is written. */
export type FlagType = 'string' | 'boolean' | 'list'

/** One setting. */
export interface FlagSpec {
  /** The long flag without its dashes; also the config file key. */
  readonly name: string
  readonly type: FlagType
  readonly commands: readonly Command[]
  /** The placeholder in `--help`, for example `HOST:PORT`. */
  readonly arg?: string
  /** One or two lines for `--help`. */
  readonly help: string
  /** A file or directory: a relative path in a config file is taken relative to that file. */
  readonly path?: boolean
  /** Only on the command line or in the environment (a config file cannot name another). */
  readonly notInFile?: boolean
}

/** Every setting, in `--help` order. */
export const FLAGS: readonly FlagSpec[] = [
  { name: 'config', type: 'string', commands: ['agent', 'status'], arg: 'FILE', path: true, notInFile: true, help: 'Read settings from this YAML or JSON file (keys are the long flag names).' },
  { name: 'dir', type: 'string', commands: ['agent'], arg: 'DIR', path: true, help: 'The services directory (for example /etc/cas/services). Required.' },
  { name: 'data', type: 'string', commands: ['agent'], arg: 'DIR', path: true, help: 'The data directory for the LevelDB database. Required. One agent per data dir.' },
  { name: 'listen', type: 'string', commands: ['agent', 'status'], arg: 'HOST:PORT', help: 'Address of the one listener: peer links, /healthz, /readyz, /status, /metrics. IPv6 as [::1]:7070. Default 127.0.0.1:7070.' },
  { name: 'advertise', type: 'string', commands: ['agent'], arg: 'URL', help: 'The URL other nodes reach this node at, shown in awareness and /status. Default ws[s]://HOST:PORT from --listen (the host name when HOST is 0.0.0.0 or ::).' },
  { name: 'peer', type: 'list', commands: ['agent'], arg: 'URL', help: 'A peer to dial, ws://HOST:PORT or wss://HOST:PORT. Repeat for more peers.' },
  { name: 'peers-dns', type: 'string', commands: ['agent'], arg: 'NAME[:PORT]', help: 'Find peers by resolving this DNS name (SRV, A, AAAA) every --dns-interval. PORT (for A/AAAA answers) defaults to the --listen port.' },
  { name: 'dns-interval', type: 'string', commands: ['agent'], arg: 'MS', help: 'How often --peers-dns is resolved, in milliseconds. Default 10000.' },
  { name: 'cluster', type: 'string', commands: ['agent'], arg: 'NAME', help: 'The cluster name: links use the path /sync/NAME. Default cas.' },
  { name: 'secret-file', type: 'string', commands: ['agent', 'status'], arg: 'FILE', path: true, help: 'File holding the cluster secret (trailing newline trimmed), read once at start. Peers and /status and /metrics clients must present it. Without it everything is open (the agent warns).' },
  { name: 'tls-cert', type: 'string', commands: ['agent', 'status'], arg: 'FILE', path: true, help: 'PEM certificate: the listener speaks HTTPS/WSS. Needs --tls-key. Also the client certificate of outbound wss links (and of `status` against a mutual-TLS agent).' },
  { name: 'tls-key', type: 'string', commands: ['agent', 'status'], arg: 'FILE', path: true, help: 'PEM private key of --tls-cert.' },
  { name: 'tls-ca', type: 'string', commands: ['agent', 'status'], arg: 'FILE', path: true, help: 'PEM CA bundle. Turns on mutual TLS: the listener requires client certificates signed by it, and outbound wss links (and `status`) verify the server against it.' },
  { name: 'mode', type: 'string', commands: ['agent'], arg: 'MODE', help: 'active (publishes local edits) or passive (applies the cluster\'s state only, reverting local edits). Default active.' },
  { name: 'initial-import', type: 'string', commands: ['agent'], arg: 'WHEN', help: 'auto: a fresh data dir with peers configured syncs with a peer before importing the directory, so stale files cannot undo deletes. immediate: import at once. Default auto.' },
  { name: 'max-message-size', type: 'string', commands: ['agent'], arg: 'BYTES', help: 'Messages larger than this (once inflated) close the link. Default 67108864 (64 MiB).' },
  { name: 'rescan-interval', type: 'string', commands: ['agent'], arg: 'MS', help: 'Full rescan period in milliseconds; 0 turns it off. Default 60000.' },
  { name: 'max-file-size', type: 'string', commands: ['agent'], arg: 'BYTES', help: 'Files larger than this are not imported (logged as errors). Default 1048576.' },
  { name: 'journal-retention', type: 'string', commands: ['agent'], arg: 'DAYS', help: 'Remove conflict journal entries older than this many days, at start and every hour. 0 keeps them all. Default 90.' },
  { name: 'poll', type: 'boolean', commands: ['agent'], help: 'Poll the directory (with chokidar) instead of watching it with inotify, for network file systems.' },
  { name: 'log-level', type: 'string', commands: ['agent'], arg: 'LEVEL', help: 'trace, debug, info, warn, error, fatal or silent. Default info.' },
  { name: 'log-format', type: 'string', commands: ['agent'], arg: 'FORMAT', help: 'json or pretty. Default: pretty on a terminal, json otherwise.' },
  { name: 'url', type: 'string', commands: ['status'], arg: 'URL', help: 'The agent to ask. Default http(s)://HOST:PORT from --listen and --tls-cert, that is http://127.0.0.1:7070 (a wildcard HOST becomes the loopback address).' },
  { name: 'json', type: 'boolean', commands: ['status'], help: 'Print the raw /status JSON.' }
]

/** The environment variable of a setting: `REGSYNC_` and the name in upper snake case. */
export function envName(name: string): string {
  return `REGSYNC_${name.toUpperCase().replace(/-/g, '_')}`
}

/** The settings a command takes. */
export function flagsOf(command: Command): FlagSpec[] {
  return FLAGS.filter((flag) => flag.commands.includes(command))
}
