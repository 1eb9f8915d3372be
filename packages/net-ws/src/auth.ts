import { timingSafeEqual, createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/**
 * The secret a request presents: `Authorization: Bearer <secret>`, or the `token` query parameter
 * for browser clients, which cannot set headers on a websocket.
 */
export function presentedSecret(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim())
    if (match !== null) return match[1]
  }
  const url = new URL(request.url ?? '/', 'http://localhost')
  return url.searchParams.get('token') ?? undefined
}

/**
 * Whether the request carries the cluster secret. Compares SHA-256 digests with `timingSafeEqual`,
 * so neither the content nor the length of the secret leaks through timing. With no secret
 * configured every request is allowed (development only; the agent warns).
 */
export function isAuthorized(request: IncomingMessage, secret: string | undefined): boolean {
  if (secret === undefined) return true
  const presented = presentedSecret(request)
  if (presented === undefined) return false
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(secret).digest()
  return timingSafeEqual(a, b)
}
