import { hash } from 'node:crypto'

/**
 * SHA-256 of the bytes, hex. The reconcile index compares files by this, never by time. The one-shot
 * `crypto.hash` costs about half of a `createHash` object per call for files of a few KB, and a
 * start hashes every file's text.
 */
export function hashBytes(bytes: Uint8Array): string {
  return hash('sha256', bytes, 'hex')
}

const encoder = new TextEncoder()

/** UTF-8 bytes of a text. */
export function encodeText(text: string): Uint8Array {
  return encoder.encode(text)
}

/** SHA-256 of the UTF-8 bytes of a text. */
export function hashText(text: string): string {
  return hash('sha256', text, 'hex')
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Decodes UTF-8 strictly. `ignoreBOM` keeps a byte-order mark in the text, so that writing the
 * text back gives the same bytes. Returns `undefined` for bytes that are not UTF-8.
 */
export function decodeText(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}
