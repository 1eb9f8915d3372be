import { afterEach, describe, expect, it } from 'vitest'
import { DnsDiscovery, localAddresses, parseDnsTarget } from '../src/DnsDiscovery.js'
import type { DnsDiscoveryOptions, Resolver, SrvRecord } from '../src/DnsDiscovery.js'

/** A DNS error as `node:dns` raises it. */
function dnsError(syscall: string, code: string, hostname: string): Error {
  return Object.assign(new Error(`${syscall} ${code} ${hostname}`), { code, syscall, hostname })
}

/** An in-memory zone; a missing record set answers like a real server (ENOTFOUND or ENODATA). */
class FakeResolver implements Resolver {
  readonly a = new Map<string, string[]>()
  readonly aaaa = new Map<string, string[]>()
  readonly srv = new Map<string, SrvRecord[]>()
  /** When set, every query fails with this code. */
  failWith: string | undefined
  /** Per-query failures, keyed `A host`, `AAAA host` or `SRV host`. */
  readonly failing = new Map<string, string>()
  queries = 0

  resolve4(hostname: string): Promise<string[]> {
    return this.#answer('A', 'queryA', hostname, this.a)
  }

  resolve6(hostname: string): Promise<string[]> {
    return this.#answer('AAAA', 'queryAaaa', hostname, this.aaaa)
  }

  resolveSrv(hostname: string): Promise<SrvRecord[]> {
    return this.#answer('SRV', 'querySrv', hostname, this.srv)
  }

  async #answer<T>(kind: string, syscall: string, hostname: string, records: Map<string, T[]>): Promise<T[]> {
    this.queries++
    await Promise.resolve()
    const code = this.failWith ?? this.failing.get(`${kind} ${hostname}`)
    if (code !== undefined) throw dnsError(syscall, code, hostname)
    const answer = records.get(hostname)
    if (answer !== undefined) return [...answer]
    const exists = this.a.has(hostname) || this.aaaa.has(hostname) || this.srv.has(hostname)
    throw dnsError(syscall, exists ? 'ENODATA' : 'ENOTFOUND', hostname)
  }
}

interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly fields: object
  readonly msg: string
}

function recordingLogger(lines: LogLine[]): NonNullable<DnsDiscoveryOptions['logger']> {
  return {
    debug: (fields, msg) => lines.push({ level: 'debug', fields, msg }),
    info: (fields, msg) => lines.push({ level: 'info', fields, msg }),
    warn: (fields, msg) => lines.push({ level: 'warn', fields, msg }),
    error: (fields, msg) => lines.push({ level: 'error', fields, msg })
  }
}

const NAME = 'regsync.svc.local'
const open: DnsDiscovery[] = []

function setup(overrides: Partial<DnsDiscoveryOptions> = {}) {
  const resolver = new FakeResolver()
  const published: string[][] = []
  const logs: LogLine[] = []
  const discovery = new DnsDiscovery({
    name: NAME,
    port: 7070,
    scheme: 'ws',
    intervalMs: 60_000,
    resolver,
    isSelf: () => false,
    onPeers: (urls) => published.push(urls),
    logger: recordingLogger(logs),
    ...overrides
  })
  open.push(discovery)
  const warnings = () => logs.filter((line) => line.level === 'warn').map((line) => line.msg)
  return { discovery, resolver, published, logs, warnings }
}

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${String(timeoutMs)} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

afterEach(() => {
  for (const discovery of open.splice(0)) discovery.close()
})

describe('DnsDiscovery', () => {
  it('combines A and AAAA answers with the configured port, sorted, in brackets for IPv6', async () => {
    const { discovery, resolver, published } = setup()
    resolver.a.set(NAME, ['10.0.0.2', '10.0.0.1', '10.0.0.2'])
    resolver.aaaa.set(NAME, ['fd00::1'])

    const urls = await discovery.resolveNow()

    expect(urls).toEqual(['ws://10.0.0.1:7070', 'ws://10.0.0.2:7070', 'ws://[fd00::1]:7070'])
    expect(published).toEqual([urls])
    expect(discovery.lastError).toBeUndefined()
  })

  it('uses the wss scheme and brackets every IPv6 address', async () => {
    const { discovery, resolver } = setup({ scheme: 'wss', port: 8443 })
    resolver.aaaa.set(NAME, ['fd00::2', '2001:db8::1'])

    expect(await discovery.resolveNow()).toEqual(['wss://[2001:db8::1]:8443', 'wss://[fd00::2]:8443'])
  })

  it('treats a name without AAAA records (ENODATA) as normal, not as an error', async () => {
    const { discovery, resolver, warnings } = setup()
    resolver.a.set(NAME, ['10.0.0.1'])

    expect(await discovery.resolveNow()).toEqual(['ws://10.0.0.1:7070'])
    expect(discovery.lastError).toBeUndefined()
    expect(warnings()).toEqual([])
  })

  it('takes SRV targets by name with their own ports, in preference to A records', async () => {
    const { discovery, resolver, logs } = setup()
    resolver.a.set(NAME, ['10.0.0.9'])
    resolver.srv.set(NAME, [
      { name: 'node-b.regsync.svc.local', port: 7001, priority: 10, weight: 5 },
      { name: 'Node-A.regsync.svc.local.', port: 7000, priority: 0, weight: 5 },
      { name: 'node-c.regsync.svc.local', port: 7002, priority: 0, weight: 5 },
      { name: 'gone.regsync.svc.local', port: 7003, priority: 0, weight: 5 }
    ])
    resolver.a.set('node-a.regsync.svc.local', ['10.0.0.1'])
    resolver.a.set('node-b.regsync.svc.local', ['10.0.0.2'])
    resolver.aaaa.set('node-c.regsync.svc.local', ['fd00::3'])

    const urls = await discovery.resolveNow()

    expect(urls).toEqual([
      'ws://node-a.regsync.svc.local:7000',
      'ws://node-b.regsync.svc.local:7001',
      'ws://node-c.regsync.svc.local:7002'
    ])
    expect(discovery.lastError).toBeUndefined()
    expect(logs.some((line) => line.level === 'debug' && line.msg.includes('SRV target has no addresses'))).toBe(true)
  })

  it('excludes itself by address and port, and SRV targets by name or by address', async () => {
    const self = new Set(['10.0.0.1:7070', 'node-b.svc:7000', '10.0.0.3:7000'])
    const { discovery, resolver } = setup({ isSelf: (host, port) => self.has(`${host}:${String(port)}`) })
    resolver.a.set(NAME, ['10.0.0.1', '10.0.0.2'])

    expect(await discovery.resolveNow()).toEqual(['ws://10.0.0.2:7070'])

    resolver.srv.set(NAME, [
      { name: 'node-a.svc', port: 7000, priority: 0, weight: 0 },
      { name: 'node-b.svc', port: 7000, priority: 0, weight: 0 },
      { name: 'node-c.svc', port: 7000, priority: 0, weight: 0 },
      // The same host on another port is another process, not this node.
      { name: 'node-c.svc', port: 7001, priority: 0, weight: 0 }
    ])
    resolver.a.set('node-a.svc', ['10.0.0.1'])
    resolver.a.set('node-b.svc', ['10.0.0.2'])
    resolver.a.set('node-c.svc', ['10.0.0.3'])

    expect(await discovery.resolveNow()).toEqual(['ws://node-a.svc:7000', 'ws://node-c.svc:7001'])
  })

  it('keeps the previous list when every lookup fails, sets lastError and warns once per message', async () => {
    const { discovery, resolver, published, warnings, logs } = setup()
    resolver.a.set(NAME, ['10.0.0.1', '10.0.0.2'])
    const before = await discovery.resolveNow()

    resolver.failWith = 'ETIMEOUT'
    expect(await discovery.resolveNow()).toEqual(before)
    expect(await discovery.resolveNow()).toEqual(before)

    expect(published).toEqual([before])
    expect(discovery.lastError).toMatch(/ETIMEOUT/)
    expect(discovery.lastError).toContain(NAME)
    // Three lookups (SRV, A, AAAA) with three distinct messages, each logged once over two rounds.
    expect(warnings()).toHaveLength(3)
    expect(warnings().every((msg) => msg.includes('keeping the previous peer list'))).toBe(true)

    resolver.failWith = 'ESERVFAIL'
    await discovery.resolveNow()
    expect(warnings()).toHaveLength(6)

    resolver.failWith = undefined
    resolver.a.set(NAME, ['10.0.0.1', '10.0.0.3'])
    expect(await discovery.resolveNow()).toEqual(['ws://10.0.0.1:7070', 'ws://10.0.0.3:7070'])
    expect(discovery.lastError).toBeUndefined()
    expect(logs.some((line) => line.level === 'info' && line.msg.includes('DNS answers again'))).toBe(true)
  })

  it('reuses the last answer of a lookup that fails while others answer', async () => {
    const { discovery, resolver, published } = setup()
    resolver.a.set(NAME, ['10.0.0.1'])
    resolver.aaaa.set(NAME, ['fd00::1'])
    await discovery.resolveNow()

    resolver.failing.set(`A ${NAME}`, 'ESERVFAIL')
    resolver.aaaa.set(NAME, ['fd00::1', 'fd00::2'])

    expect(await discovery.resolveNow()).toEqual(['ws://10.0.0.1:7070', 'ws://[fd00::1]:7070', 'ws://[fd00::2]:7070'])
    expect(published).toHaveLength(2)
    expect(discovery.lastError).toBe(`A lookup of ${NAME} failed: queryA ESERVFAIL ${NAME}`)
  })

  it('does not call onPeers before the first successful round, and start() still resolves', async () => {
    const { discovery, resolver, published } = setup()
    resolver.failWith = 'ECONNREFUSED'

    await discovery.start()

    expect(published).toEqual([])
    expect(discovery.lastError).toMatch(/ECONNREFUSED/)

    resolver.failWith = undefined
    resolver.a.set(NAME, ['10.0.0.1'])
    await discovery.resolveNow()
    expect(published).toEqual([['ws://10.0.0.1:7070']])
  })

  it('keeps the previous list when the name stops existing (NXDOMAIN), and says so', async () => {
    const { discovery, resolver, published, warnings } = setup()
    resolver.a.set(NAME, ['10.0.0.1'])
    await discovery.resolveNow()

    resolver.a.delete(NAME)

    expect(await discovery.resolveNow()).toEqual(['ws://10.0.0.1:7070'])
    expect(published).toHaveLength(1)
    expect(discovery.lastError).toBe(`${NAME} has no A, AAAA or SRV records`)
    expect(warnings()).toEqual([`dns discovery: ${NAME} has no A, AAAA or SRV records; keeping the previous peer list`])
  })

  it('publishes an empty list once when the name has no records from the start', async () => {
    const { discovery, published } = setup()

    expect(await discovery.resolveNow()).toEqual([])
    expect(await discovery.resolveNow()).toEqual([])
    expect(published).toEqual([[]])
    expect(discovery.lastError).toBe(`${NAME} has no A, AAAA or SRV records`)
  })

  it('publishes an empty list when the only member left is this node', async () => {
    const { discovery, resolver, published } = setup({ isSelf: (host) => host === '10.0.0.1' })
    resolver.a.set(NAME, ['10.0.0.1', '10.0.0.2'])
    await discovery.resolveNow()

    resolver.a.set(NAME, ['10.0.0.1'])
    await discovery.resolveNow()

    expect(published).toEqual([['ws://10.0.0.2:7070'], []])
    expect(discovery.lastError).toBeUndefined()
  })

  it('calls onPeers only when the list changes', async () => {
    const { discovery, resolver, published } = setup()
    resolver.a.set(NAME, ['10.0.0.1', '10.0.0.2'])
    await discovery.resolveNow()
    await discovery.resolveNow()
    resolver.a.set(NAME, ['10.0.0.2', '10.0.0.1'])
    await discovery.resolveNow()
    expect(published).toHaveLength(1)

    resolver.a.set(NAME, ['10.0.0.2'])
    await discovery.resolveNow()
    await discovery.resolveNow()
    expect(published).toEqual([['ws://10.0.0.1:7070', 'ws://10.0.0.2:7070'], ['ws://10.0.0.2:7070']])
  })

  it('joins concurrent resolveNow() calls into one round', async () => {
    const { discovery, resolver, published } = setup()
    resolver.a.set(NAME, ['10.0.0.1'])

    const [first, second] = await Promise.all([discovery.resolveNow(), discovery.resolveNow()])

    expect(first).toEqual(second)
    expect(resolver.queries).toBe(3)
    expect(published).toHaveLength(1)
  })

  it('re-resolves every intervalMs after start()', async () => {
    const { discovery, resolver, published } = setup({ intervalMs: 20 })
    resolver.a.set(NAME, ['10.0.0.1'])

    await discovery.start()
    expect(published).toEqual([['ws://10.0.0.1:7070']])

    resolver.a.set(NAME, ['10.0.0.1', '10.0.0.2'])
    await waitFor(() => published.length === 2)
    expect(published[1]).toEqual(['ws://10.0.0.1:7070', 'ws://10.0.0.2:7070'])

    const queries = resolver.queries
    await waitFor(() => resolver.queries >= queries + 6)
    expect(published).toHaveLength(2)
  })

  it('stops re-resolving after close(), which is idempotent', async () => {
    const { discovery, resolver, published } = setup({ intervalMs: 20 })
    resolver.a.set(NAME, ['10.0.0.1'])
    await discovery.start()
    await waitFor(() => resolver.queries >= 6)

    discovery.close()
    discovery.close()
    await sleep(10)
    const queries = resolver.queries
    resolver.a.set(NAME, ['10.0.0.2'])
    await sleep(100)

    expect(resolver.queries).toBe(queries)
    expect(published).toEqual([['ws://10.0.0.1:7070']])
    await expect(discovery.resolveNow()).rejects.toMatchObject({ code: 'REGSYNC_NOT_OPEN' })
    await expect(discovery.start()).rejects.toMatchObject({ code: 'REGSYNC_NOT_OPEN' })
  })

  it('does not publish the answer of a round that close() overtook', async () => {
    const { discovery, resolver, published } = setup()
    resolver.a.set(NAME, ['10.0.0.1'])

    const round = discovery.resolveNow()
    discovery.close()

    expect(await round).toEqual([])
    expect(published).toEqual([])
  })

  it('logs, and retries next round, when onPeers throws during a timer round', async () => {
    let calls = 0
    const { discovery, resolver, logs } = setup({
      intervalMs: 20,
      onPeers: () => {
        calls++
        if (calls === 1) throw new Error('agent not ready')
      }
    })
    resolver.a.set(NAME, ['10.0.0.1'])

    await discovery.start()
    await waitFor(() => calls === 2)

    expect(logs.filter((line) => line.level === 'error')).toHaveLength(1)
    expect(logs.find((line) => line.level === 'error')?.fields).toMatchObject({ err: { message: 'agent not ready' } })
  })

  it('rejects bad options with a TypeError', () => {
    const base: DnsDiscoveryOptions = {
      name: NAME,
      port: 7070,
      scheme: 'ws',
      intervalMs: 1000,
      resolver: new FakeResolver(),
      isSelf: () => false,
      onPeers: () => {}
    }
    expect(() => new DnsDiscovery({ ...base, name: '' })).toThrow(TypeError)
    expect(() => new DnsDiscovery({ ...base, name: 'bad name' })).toThrow(TypeError)
    expect(() => new DnsDiscovery({ ...base, port: 0 })).toThrow(TypeError)
    expect(() => new DnsDiscovery({ ...base, port: 70000 })).toThrow(TypeError)
    expect(() => new DnsDiscovery({ ...base, intervalMs: 0 })).toThrow(TypeError)
    expect(() => new DnsDiscovery({ ...base, scheme: 'http' as 'ws' })).toThrow(TypeError)
  })
})

describe('parseDnsTarget', () => {
  it('takes the default port for a bare name', () => {
    expect(parseDnsTarget('regsync.ns.svc.cluster.local', 7070)).toEqual({ name: 'regsync.ns.svc.cluster.local', port: 7070 })
  })

  it('takes the port after the colon', () => {
    expect(parseDnsTarget('regsync.local:9000', 7070)).toEqual({ name: 'regsync.local', port: 9000 })
    expect(parseDnsTarget(' _sync._tcp.regsync.local.:65535 ', 7070)).toEqual({ name: '_sync._tcp.regsync.local.', port: 65535 })
  })

  it.each(['regsync.local:', 'regsync.local:0', 'regsync.local:65536', 'regsync.local:abc', 'regsync.local:-1', 'regsync.local:70.5'])(
    'rejects a bad port in %j',
    (value) => {
      expect(() => parseDnsTarget(value, 7070)).toThrow(TypeError)
      expect(() => parseDnsTarget(value, 7070)).toThrow(/port .* expected an integer from 1 to 65535/)
    }
  )

  it.each(['', ':7070', 'ws://regsync.local', 'regsync.local/sync', 'a:b:c', 'bad name'])('rejects a bad name in %j', (value) => {
    expect(() => parseDnsTarget(value, 7070)).toThrow(TypeError)
  })

  it('refuses IP literals, which belong in the static peer list', () => {
    expect(() => parseDnsTarget('10.0.0.1:7070', 7070)).toThrow(/IP address/)
    expect(() => parseDnsTarget('fd00::1', 7070)).toThrow(/IP address/)
  })
})

describe('localAddresses', () => {
  it('lists every interface address plus both loopbacks', () => {
    const addresses = localAddresses({
      eth0: [
        { address: '10.0.0.5', netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: null },
        { address: 'FD00::5', netmask: 'ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal: false, cidr: null, scopeid: 0 }
      ]
    })
    expect([...addresses].sort()).toEqual(['10.0.0.5', '127.0.0.1', '::1', 'fd00::5'])
  })

  it('reads the real interfaces by default', () => {
    expect(localAddresses().has('127.0.0.1')).toBe(true)
  })
})
