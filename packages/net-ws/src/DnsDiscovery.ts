/**
 * Peer discovery by DNS, the way ECS/Cloud Map and Kubernetes headless services publish their
 * members. Each round looks up SRV, A and AAAA records of one name and turns the answers into
 * `ws://HOST:PORT` URLs (the sync path is appended by the caller).
 *
 * - SRV answers take precedence: when the name has SRV records, its A/AAAA records are ignored,
 *   because SRV carries the port and using both would list every peer twice. Every SRV target is
 *   a peer; priority and weight choose nothing (a mesh dials all members) and only fix the order.
 * - An SRV target goes into the URL by its host name, not its addresses, so `wss` can verify
 *   certificates issued for names (`*.regsync.ns.svc.cluster.local`). The target is still resolved
 *   each round: a target without addresses cannot be dialled and is left out, and the addresses are
 *   what `isSelf` can recognise the node by.
 * - DNS blips must not disconnect the cluster. ENODATA/ENOTFOUND mean "no such records" and are
 *   normal (most names have no AAAA). Any other failure of one lookup reuses that lookup's last
 *   answer; when every lookup fails, or the name suddenly has no records while peers were known,
 *   the previous list stays in effect. Each distinct problem is logged once and kept in `lastError`
 *   until a clean round.
 */
import { Resolver as NodeResolver } from 'node:dns/promises'
import { isIP, isIPv6 } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { NetworkInterfaceInfo } from 'node:os'
import { ErrorCodes, RegsyncError, silentLogger } from '@regsync/core'
import type { Logger } from '@regsync/core'

/** One SRV answer, as `node:dns` returns it. */
export interface SrvRecord {
  readonly name: string
  readonly port: number
  readonly priority: number
  readonly weight: number
}

/** The DNS queries discovery needs; `node:dns/promises`' `Resolver` satisfies it, tests inject a fake. */
export interface Resolver {
  resolve4(hostname: string): Promise<string[]>
  resolve6(hostname: string): Promise<string[]>
  resolveSrv(hostname: string): Promise<SrvRecord[]>
}

/** Options of a {@link DnsDiscovery}. */
export interface DnsDiscoveryOptions {
  /** The DNS name to resolve, without port. */
  readonly name: string
  /** Port for peers found through A/AAAA records; SRV records bring their own. */
  readonly port: number
  readonly scheme: 'ws' | 'wss'
  /** Re-resolve period in ms. */
  readonly intervalMs: number
  /** Default: a `node:dns/promises` `Resolver`, which queries DNS directly instead of going through getaddrinfo. */
  readonly resolver?: Resolver | undefined
  /** Whether a host (an address, or an SRV target name) and port are this node, which must not dial itself. */
  readonly isSelf: (host: string, port: number) => boolean
  /** Receives the full, sorted, de-duplicated list after the first successful round and whenever it changes. */
  readonly onPeers: (urls: string[]) => void
  readonly logger?: Logger | undefined
}

/** One lookup's failure, logged once per distinct message. */
interface Problem {
  readonly message: string
  readonly fields: object
}

/** What one round has seen so far. */
interface Round {
  succeeded: number
  readonly problems: Problem[]
  /** Address cache keys this round used; the others belong to SRV targets that are gone. */
  readonly used: Set<string>
}

/** A dialable endpoint, before self-exclusion. */
interface Candidate {
  readonly host: string
  readonly port: number
  readonly addresses: readonly string[]
}

/** Periodically resolves a DNS name into the peer URLs of a regsync cluster. */
export class DnsDiscovery {
  readonly #options: DnsDiscoveryOptions
  readonly #name: string
  readonly #resolver: Resolver
  /** Set when we created the resolver, so `close()` may cancel its queries. */
  readonly #ownResolver: NodeResolver | undefined
  readonly #logger: Logger
  #closed = false
  #started: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #inFlight: Promise<string[]> | undefined
  /** The list in effect: the last good answer, kept through failures. */
  #peers: string[] = []
  /** The last list handed to `onPeers`; undefined until the first successful round. */
  #published: string[] | undefined
  #lastError: string | undefined
  readonly #warned = new Set<string>()
  /** Last good answer per `A host` / `AAAA host` key, reused when that lookup fails. */
  readonly #addresses = new Map<string, string[]>()
  /** Last good SRV answer for the name (one key). */
  readonly #srv = new Map<string, SrvRecord[]>()

  constructor(options: DnsDiscoveryOptions) {
    // Queried as given: a trailing dot (an absolute name) keeps the resolver from trying search domains.
    const name = options.name.trim()
    if (!isDnsName(name)) throw new TypeError(`DNS discovery name "${options.name}" is not a DNS name`)
    assertPort(options.port, `DNS discovery port ${String(options.port)}`)
    if (options.scheme !== 'ws' && options.scheme !== 'wss') {
      throw new TypeError(`DNS discovery scheme must be "ws" or "wss", got "${String(options.scheme)}"`)
    }
    if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) {
      throw new TypeError(`DNS discovery intervalMs must be a positive number, got ${String(options.intervalMs)}`)
    }
    this.#options = options
    this.#name = name
    if (options.resolver === undefined) {
      this.#ownResolver = new NodeResolver()
      this.#resolver = this.#ownResolver
    } else {
      this.#ownResolver = undefined
      this.#resolver = options.resolver
    }
    this.#logger = options.logger ?? silentLogger
  }

  /** Why the last round was incomplete or kept the previous list; undefined after a clean round. */
  get lastError(): string | undefined {
    return this.#lastError
  }

  /**
   * Runs the first round and then one every `intervalMs`, timed from the end of the previous round
   * so slow DNS never stacks queries. Resolves after the first round whether or not DNS answered:
   * the node must come up while DNS is down. The timer is unref'd so it never keeps the process alive.
   */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    this.#started ??= this.#round().then(() => this.#schedule())
    return this.#started
  }

  /**
   * Resolves once and returns the list in effect (the previous one when DNS failed; see `lastError`).
   * A call during a round joins that round, so answers are never applied out of order.
   */
  resolveNow(): Promise<string[]> {
    if (this.#closed) return Promise.reject(closedError())
    this.#inFlight ??= this.#resolve().finally(() => {
      this.#inFlight = undefined
    })
    return this.#inFlight.then((peers) => [...peers])
  }

  /** Stops the timer and cancels queries of the default resolver. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#ownResolver?.cancel()
  }

  /** A timer round: an `onPeers` failure is logged here, as nobody awaits it. */
  async #round(): Promise<void> {
    try {
      await this.resolveNow()
    } catch (error) {
      if (this.#closed) return
      this.#logger.error({ err: error, name: this.#name }, 'dns discovery: delivering the peer list failed')
    }
  }

  #schedule(): void {
    if (this.#closed) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#round().then(() => this.#schedule())
    }, this.#options.intervalMs)
    this.#timer.unref()
  }

  async #resolve(): Promise<string[]> {
    const round: Round = { succeeded: 0, problems: [], used: new Set() }
    const name = this.#name
    const [srv, v4, v6] = await Promise.all([
      this.#query(round, 'SRV', name, this.#srv, () => this.#resolver.resolveSrv(name)),
      this.#addressQuery(round, 'A', name),
      this.#addressQuery(round, 'AAAA', name)
    ])
    const targets = srv.filter((record) => normalizeHost(record.name) !== '')
    const candidates =
      targets.length > 0
        ? await this.#srvCandidates(round, targets)
        : [...v4, ...v6].map((address) => ({ host: address, port: this.#options.port, addresses: [address] }))
    for (const key of this.#addresses.keys()) if (!round.used.has(key)) this.#addresses.delete(key)
    if (this.#closed) return this.#peers

    if (round.succeeded === 0) {
      this.#report(round.problems, 'keeping the previous peer list')
      return this.#peers
    }
    if (candidates.length === 0) {
      const message =
        targets.length > 0 ? `no SRV target of ${name} has an address` : `${name} has no A, AAAA or SRV records`
      const problems = [...round.problems, { message, fields: { name } }]
      // A member always sees at least itself, so an empty answer is more likely a registration
      // glitch (Cloud Map health flapping, CoreDNS restarting) than a cluster that is gone.
      if (this.#peers.length > 0) {
        this.#report(problems, 'keeping the previous peer list')
        return this.#peers
      }
      this.#report(problems, 'no peers yet')
    } else {
      this.#report(round.problems, 'using the last answer of each failed lookup')
    }

    const { isSelf, scheme } = this.#options
    const urls = new Set<string>()
    for (const { host, port, addresses } of candidates) {
      if (isSelf(host, port) || addresses.some((address) => isSelf(address, port))) continue
      urls.add(formatUrl(scheme, host, port))
    }
    this.#peers = [...urls].sort()
    this.#publish(this.#peers)
    return this.#peers
  }

  /** SRV targets as candidates, in priority-then-name order; targets without addresses are left out. */
  async #srvCandidates(round: Round, records: readonly SrvRecord[]): Promise<Candidate[]> {
    const sorted = [...records].sort(
      (a, b) => a.priority - b.priority || compare(normalizeHost(a.name), normalizeHost(b.name)) || a.port - b.port
    )
    const hosts = [...new Set(sorted.map((record) => normalizeHost(record.name)))]
    const resolved = await Promise.all(
      hosts.map(async (host) => {
        const [v4, v6] = await Promise.all([this.#addressQuery(round, 'A', host), this.#addressQuery(round, 'AAAA', host)])
        return [host, [...v4, ...v6]] as const
      })
    )
    const addressesOf = new Map(resolved)
    const candidates: Candidate[] = []
    for (const record of sorted) {
      const host = normalizeHost(record.name)
      const addresses = addressesOf.get(host) ?? []
      if (addresses.length === 0) {
        this.#logger.debug({ name: this.#name, target: host, port: record.port }, 'dns discovery: SRV target has no addresses, skipped')
        continue
      }
      candidates.push({ host, port: record.port, addresses })
    }
    return candidates
  }

  #addressQuery(round: Round, kind: 'A' | 'AAAA', host: string): Promise<string[]> {
    const key = `${kind} ${host}`
    round.used.add(key)
    const run = kind === 'A' ? () => this.#resolver.resolve4(host) : () => this.#resolver.resolve6(host)
    return this.#query(round, kind, host, this.#addresses, async () => (await run()).map((address) => address.toLowerCase()))
  }

  /** One lookup. "No such records" is an empty answer; other failures reuse the last good answer. */
  async #query<T>(round: Round, kind: string, host: string, cache: Map<string, T[]>, run: () => Promise<T[]>): Promise<T[]> {
    const key = `${kind} ${host}`
    try {
      const answer = await run()
      cache.set(key, answer)
      round.succeeded++
      return answer
    } catch (error) {
      if (isNoRecords(error)) {
        cache.set(key, [])
        round.succeeded++
        return []
      }
      const reason = error instanceof Error ? error.message : String(error)
      round.problems.push({
        message: `${kind} lookup of ${host} failed: ${reason}`,
        fields: { err: error, name: this.#name, lookup: kind, host }
      })
      return cache.get(key) ?? []
    }
  }

  /** Sets `lastError` and warns once per distinct message; a clean round clears both. */
  #report(problems: readonly Problem[], outcome: string): void {
    const last = problems.at(-1)
    if (last === undefined) {
      if (this.#lastError !== undefined) this.#logger.info({ name: this.#name }, 'dns discovery: DNS answers again')
      this.#lastError = undefined
      this.#warned.clear()
      return
    }
    this.#lastError = last.message
    for (const problem of problems) {
      if (this.#warned.has(problem.message)) continue
      this.#warned.add(problem.message)
      this.#logger.warn(problem.fields, `dns discovery: ${problem.message}; ${outcome}`)
    }
  }

  #publish(peers: string[]): void {
    const previous = this.#published
    if (previous !== undefined && sameList(previous, peers)) return
    this.#options.onPeers([...peers])
    this.#published = peers
    this.#logger.info({ name: this.#name, peers }, 'dns discovery: peer list changed')
  }
}

/**
 * Parses a `NAME` or `NAME:PORT` discovery target. IP literals are refused: a fixed address
 * belongs in the static peer list, and asking DNS for one only ever fails.
 */
export function parseDnsTarget(value: string, defaultPort: number): { name: string; port: number } {
  const text = value.trim()
  const colon = text.indexOf(':')
  const name = colon === -1 ? text : text.slice(0, colon)
  const portText = colon === -1 ? undefined : text.slice(colon + 1)
  if (isIP(name) !== 0 || isIP(text) !== 0) {
    throw new TypeError(`DNS target "${value}" is an IP address; list it as a static peer instead`)
  }
  if (!isDnsName(name)) throw new TypeError(`DNS target "${value}" must be NAME or NAME:PORT with NAME a DNS name`)
  if (portText === undefined) {
    assertPort(defaultPort, `default port ${String(defaultPort)}`)
    return { name, port: defaultPort }
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN
  assertPort(port, `DNS target "${value}" has port "${portText}", which`)
  return { name, port }
}

/**
 * The addresses of this host's interfaces, plus both loopbacks (a container may hide `lo`), for
 * building `isSelf`. Addresses are lower-case, as `node:dns` returns them.
 */
export function localAddresses(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()
): Set<string> {
  const addresses = new Set(['127.0.0.1', '::1'])
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) addresses.add(info.address.toLowerCase())
  }
  return addresses
}

/** `ws://host:port`, with IPv6 addresses in brackets as URLs require. */
function formatUrl(scheme: 'ws' | 'wss', host: string, port: number): string {
  return `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${String(port)}`
}

/** DNS is case-insensitive and `name.` is `name`: normalize so one peer yields one URL. */
function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/\.$/, '')
}

/** Labels of letters, digits, `-` and `_` (`_sync._tcp.` SRV names), 63 octets each, 253 in all. */
function isDnsName(name: string): boolean {
  const bare = name.replace(/\.$/, '')
  if (bare === '' || bare.length > 253) return false
  return bare.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label))
}

function assertPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`${what} is not a port: expected an integer from 1 to 65535`)
  }
}

/** ENODATA: the name exists without records of this type; ENOTFOUND: NXDOMAIN. */
function isNoRecords(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined
  return code === 'ENODATA' || code === 'ENOTFOUND'
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index])
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function closedError(): RegsyncError {
  return new RegsyncError(ErrorCodes.NOT_OPEN, 'dns discovery is closed')
}
