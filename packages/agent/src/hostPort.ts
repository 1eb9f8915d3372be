/**
 * `HOST:PORT` addresses: parsing `--listen`, printing a bound address, and deriving the URLs other
 * programs use to reach it.
 */
import { isIP } from 'node:net'
import { hostname } from 'node:os'

/** A host and a port; `host` holds IPv6 addresses without brackets. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

/**
 * Parses `HOST:PORT` or `[IPv6]:PORT`. Port 0 asks the system for a free port (for tests).
 * Returns an error message instead of throwing, so the caller can name where the value came from.
 */
export function parseHostPort(value: string): HostPort | string {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]+):(\d{1,5})$/.exec(value)
  if (match === null) return 'must be HOST:PORT, or [IPv6]:PORT'
  const host = match[1]!
  const port = Number(match[2])
  if (value.startsWith('[') && isIP(host) !== 6) return `has "${host}" in brackets, which is not an IPv6 address`
  if (port > 65535) return `has port ${port}, over 65535`
  return { host, port }
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatHostPort({ host, port }: HostPort): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

/** True for 0.0.0.0 and ::, which listen on every interface and are no address to connect to. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]'
}

/**
 * The URL peers reach a listener at: `ws://` or `wss://` and the listen address, with this
 * machine's host name in place of a wildcard host (a peer cannot dial 0.0.0.0).
 */
export function advertiseUrl(listen: HostPort, tls: boolean): string {
  const host = isWildcard(listen.host) ? hostname() : listen.host
  return `${tls ? 'wss' : 'ws'}://${formatHostPort({ host, port: listen.port })}`
}

/** The URL a local client reaches a listener at: a wildcard host becomes the loopback address. */
export function localUrl(listen: HostPort, tls: boolean): string {
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : isWildcard(listen.host) ? '::1' : listen.host
  return `${tls ? 'https' : 'http'}://${formatHostPort({ host, port: listen.port })}`
}
