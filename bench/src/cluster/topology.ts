/** Which nodes each node dials. */

/**
 * Up to 6 nodes: a full mesh (every node dials every other). Beyond that, node i dials i+1, i+2 and
 * i+N/2 (mod N): three links per node, a small diameter, and every update still reaches everyone
 * because nodes relay.
 */
export function peersOf(node: number, size: number): number[] {
  if (size <= 6) return Array.from({ length: size }, (_, j) => j).filter((j) => j !== node)
  const out = new Set([(node + 1) % size, (node + 2) % size, (node + Math.floor(size / 2)) % size])
  out.delete(node)
  return [...out]
}
