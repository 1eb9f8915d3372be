/**
 * The client side of the admin endpoints, shared by `regsync status`, `regsync journal` and
 * `regsync restore`.
 */
import { readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { StatusConfig } from './config.js'
import { readSecretFile } from './secretFile.js'

/** 5 s: a healthy agent answers in milliseconds; a hung one should not hang a script. */
const TIMEOUT_MS = 5000

/** TLS material for an https agent. */
export interface ClientTls {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
}

/** Reads the secret and TLS files a client command was given. */
export async function loadClientCredentials(config: StatusConfig): Promise<{ secret: string | undefined; tls: ClientTls }> {
  const secret = config.secretFile === undefined ? undefined : await readSecretFile(config.secretFile)
  const tls: ClientTls = {}
  if (config.tls.ca !== undefined) tls.ca = await readFile(config.tls.ca)
  if (config.tls.cert !== undefined) tls.cert = await readFile(config.tls.cert)
  if (config.tls.key !== undefined) tls.key = await readFile(config.tls.key)
  return { secret, tls }
}

/** The error code, with a hint where the cause is usually TLS. */
export function unreachableReason(error: unknown, url: string): string {
  const code = (error as { code?: string }).code
  const reason = code ?? (error instanceof Error ? error.message : String(error))
  const tlsProblem = code !== undefined && /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO)/.test(code)
  if (tlsProblem) return `${reason}; TLS failed: check --tls-ca, --tls-cert and --tls-key`
  if (code === 'ECONNRESET' && url.startsWith('http:')) return `${reason}; if the agent uses TLS, use an https:// URL`
  return reason
}

/** One request to an agent's listener, with the secret as a bearer token. */
export function adminRequest(method: 'GET' | 'POST', url: string, secret: string | undefined, tls: ClientTls): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (secret !== undefined) headers.authorization = `Bearer ${secret}`
    const onResponse = (response: IncomingMessage): void => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      response.on('error', reject)
    }
    const options = { method, headers, timeout: TIMEOUT_MS }
    const req = target.protocol === 'https:' ? httpsRequest(target, { ...options, ...tls }, onResponse) : httpRequest(target, options, onResponse)
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })))
    req.on('error', reject)
    req.end()
  })
}
