/**
 * `regsync journal` lists a running agent's conflict journal; `regsync restore ID` puts one entry
 * back (as a new local write, so it replicates). Exit codes as for `regsync status`, plus 1 when the
 * entry does not exist or the node is passive.
 */
import type { JournalEntry } from '@regsync/core'
import { adminRequest, loadClientCredentials, unreachableReason } from './adminClient.js'
import type { StatusConfig } from './config.js'
import type { StatusOutput } from './statusCommand.js'

/** What to do with the journal. */
export type JournalAction = { readonly kind: 'list' } | { readonly kind: 'restore'; readonly id: string }

/** Runs `regsync journal` or `regsync restore ID`. Returns the exit code. */
export async function runJournal(config: StatusConfig, action: JournalAction, out: StatusOutput): Promise<number> {
  const name = action.kind === 'list' ? 'journal' : 'restore'
  const fail = (line: string): number => {
    out.stderr.write(`regsync ${name}: ${line}\n`)
    return 1
  }
  let credentials
  try {
    credentials = await loadClientCredentials(config)
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error))
  }
  const url = action.kind === 'list' ? `${config.url}/journal` : `${config.url}/journal/${encodeURIComponent(action.id)}/restore`
  let response
  try {
    response = await adminRequest(action.kind === 'list' ? 'GET' : 'POST', url, credentials.secret, credentials.tls)
  } catch (error) {
    return fail(`cannot reach the agent at ${config.url} (${unreachableReason(error, config.url)})`)
  }
  if (response.status === 401) return fail('wrong or missing secret (use --secret-file)')
  if (response.status !== 200) return fail(response.body.trim().split('\n')[0] ?? `HTTP ${response.status}`)
  if (config.json || action.kind === 'restore') {
    out.stdout.write(action.kind === 'restore' && !config.json ? `restored ${action.id}\n` : response.body.trimEnd() + '\n')
    return 0
  }
  const { entries } = JSON.parse(response.body) as { entries: JournalEntry[] }
  out.stdout.write(formatJournal(entries))
  return 0
}

/** One line per entry, newest last: id, time, kind, path and field, where from. */
export function formatJournal(entries: readonly JournalEntry[]): string {
  if (entries.length === 0) return 'the journal is empty\n'
  return (
    entries
      .map((entry) => {
        const field = entry.field === undefined ? '' : ` ${entry.field.join('.')}`
        const value = entry.value === undefined ? '' : ` = ${entry.value.length > 60 ? entry.value.slice(0, 57) + '...' : entry.value}`
        return `${entry.id}  ${new Date(entry.at).toISOString()}  ${entry.kind.padEnd(10)} ${entry.path}${field}${value}  (from ${entry.from})`
      })
      .join('\n') + '\n'
  )
}
