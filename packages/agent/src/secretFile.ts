/**
 * Reading the files the agent needs at start: the cluster secret and the TLS material. Each
 * failure is one line that names the file and the flag.
 */
import { readFile } from 'node:fs/promises'
import type { TlsFiles } from './config.js'

/**
 * Reads the cluster secret: the file's text with trailing newlines (`\n`, `\r\n`) trimmed, as
 * `echo secret > file` and editors leave them; other whitespace is part of the secret. An empty file is refused, as it would be a secret
 * anyone can guess. Throws an Error whose message names the file.
 */
export async function readSecretFile(path: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new Error(`cannot read the secret file ${path} (--secret-file): ${reasonOf(error)}`, { cause: error })
  }
  const secret = text.replace(/[\r\n]+$/, '')
  if (secret.trim() === '') throw new Error(`the secret file ${path} (--secret-file) is empty`)
  return secret
}

/** Reads the PEM files named by `--tls-cert`, `--tls-key` and `--tls-ca`. */
export async function readTlsFiles(files: TlsFiles): Promise<{ cert: Buffer; key: Buffer; ca: Buffer | undefined }> {
  const read = async (path: string, flag: string): Promise<Buffer> => {
    try {
      return await readFile(path)
    } catch (error) {
      throw new Error(`cannot read ${path} (${flag}): ${reasonOf(error)}`, { cause: error })
    }
  }
  return {
    cert: await read(files.cert, '--tls-cert'),
    key: await read(files.key, '--tls-key'),
    ca: files.ca === undefined ? undefined : await read(files.ca, '--tls-ca')
  }
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: string }).code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EACCES') return 'permission denied'
  if (code === 'EISDIR') return 'it is a directory'
  return error instanceof Error ? error.message : String(error)
}
