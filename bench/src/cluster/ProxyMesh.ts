/**
 * One {@link FaultProxy} per directed link (node i dials node j through `proxy(i, j)`), so that a
 * partition cuts every link between two groups whoever dials, and each link's bytes are counted.
 */
import { FaultProxy } from './FaultProxy.js'

/** The proxies of a cluster. */
export class ProxyMesh {
  readonly #proxies = new Map<string, FaultProxy>()
  readonly #cut = new Set<FaultProxy>()

  /** Creates (or returns) the proxy for i → j, forwarding to `targetPort`. */
  async link(from: number, to: number, targetPort: number): Promise<FaultProxy> {
    const key = `${from}>${to}`
    const existing = this.#proxies.get(key)
    if (existing !== undefined) return existing
    const proxy = new FaultProxy(targetPort)
    await proxy.start()
    this.#proxies.set(key, proxy)
    return proxy
  }

  /** Cuts every link whose ends are in different groups. */
  partition(groups: ReadonlyArray<readonly number[]>): void {
    const groupOf = new Map<number, number>()
    groups.forEach((group, index) => group.forEach((node) => groupOf.set(node, index)))
    for (const [key, proxy] of this.#proxies) {
      const [from, to] = key.split('>').map(Number) as [number, number]
      const a = groupOf.get(from)
      const b = groupOf.get(to)
      if (a !== undefined && b !== undefined && a !== b) {
        proxy.cut()
        this.#cut.add(proxy)
      }
    }
  }

  /** Heals every cut link. */
  heal(): void {
    for (const proxy of this.#cut) proxy.heal()
    this.#cut.clear()
  }

  /** Sets the latency of every link. */
  setLatency(ms: number): void {
    for (const proxy of this.#proxies.values()) proxy.setLatency(ms)
  }

  /** Bytes node `node` sent over its links: what it wrote on links it dialed, and answered on links to it. */
  bytesSentBy(node: number): number {
    let total = 0
    for (const [key, proxy] of this.#proxies) {
      const [from, to] = key.split('>').map(Number) as [number, number]
      if (from === node) total += proxy.bytesToTarget
      if (to === node) total += proxy.bytesToClient
    }
    return total
  }

  /** Closes every proxy. */
  async close(): Promise<void> {
    await Promise.all([...this.#proxies.values()].map((proxy) => proxy.close()))
    this.#proxies.clear()
  }
}
