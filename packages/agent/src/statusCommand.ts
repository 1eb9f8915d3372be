/**
 * `regsync status`: asks a running agent for `GET /status` and prints it for a person, or as the
 * raw JSON with `--json`. Exit codes: 0 when the agent answered, 1 when it cannot be reached or
 * refused, 2 for bad usage (handled by the CLI before this runs).
 */
import { adminRequest, loadClientCredentials, unreachableReason } from './adminClient.js'
import type { StatusConfig } from './config.js'
import type { StatusReport } from './statusReport.js'

/** Where `regsync status` writes. */
export interface StatusOutput {
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
}

/** Runs `regsync status`. Returns the exit code. */
export async function runStatus(config: StatusConfig, out: StatusOutput): Promise<number> {
  const fail = (line: string): number => {
    out.stderr.write(`regsync status: ${line}\n`)
    return 1
  }
  let credentials
  try {
    credentials = await loadClientCredentials(config)
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error))
  }
  const { secret, tls } = credentials

  let response: { status: number; body: string }
  try {
    response = await adminRequest('GET', `${config.url}/status`, secret, tls)
  } catch (error) {
    return fail(`cannot reach the agent at ${config.url} (${unreachableReason(error, config.url)})`)
  }
  if (response.status === 401) return fail('wrong or missing secret (use --secret-file)')
  if (response.status !== 200) {
    return fail(`the agent at ${config.url} answered HTTP ${response.status}: ${response.body.trim().split('\n')[0] ?? ''}`)
  }
  let report: StatusReport
  try {
    report = JSON.parse(response.body) as StatusReport
  } catch {
    return fail(`${config.url} did not answer with regsync status JSON; is it a regsync agent?`)
  }
  out.stdout.write(config.json ? response.body.trimEnd() + '\n' : formatStatus(report))
  return 0
}

/** The report as lines for a person. */
export function formatStatus(report: StatusReport): string {
  const now = Date.parse(report.time)
  const lines: string[] = []
  const row = (label: string, value: string): void => void lines.push(`${label.padEnd(11)}${value}`)
  row('node', `${report.nodeId} (${report.mode}, cluster ${report.cluster}, regsync ${report.version})`)
  row('listen', `${report.listen}, advertised as ${report.advertise}`)
  row('directory', report.dir)
  row('ready', report.ready ? 'yes' : `no: ${report.notReady ?? 'unknown'}`)
  row('files', String(report.files))
  row('journal', `${report.journal} ${report.journal === 1 ? 'entry' : 'entries'}`)
  row('problems', String(report.problems.length))
  for (const problem of report.problems) lines.push(`  ${problem.path}: ${problem.message} (${problem.code})`)
  const outbound = report.peers.filter((peer) => peer.direction === 'outbound')
  const inbound = report.peers.filter((peer) => peer.direction === 'inbound')
  row('peers', outbound.length === 0 ? 'none configured' : String(outbound.length))
  for (const peer of outbound) lines.push(`  ${peer.url}  ${peerState(peer, now)}`)
  if (inbound.length > 0) {
    row('inbound', String(inbound.length))
    for (const peer of inbound) lines.push(`  ${peer.url}  ${peerState(peer, now)}`)
  }
  const others = report.nodes.filter((node) => node.nodeId !== report.nodeId)
  row('nodes', others.length === 0 ? 'no other node heard of' : `${others.length} other${others.length === 1 ? '' : 's'} heard of`)
  for (const node of others) lines.push(`  ${node.nodeId}  ${[node.mode, node.address, node.version === null ? null : `regsync ${node.version}`].filter((part) => part !== null).join(', ')}`)
  row('last error', report.lastError === null ? 'none' : `${report.lastError.message} (${report.lastError.source}${report.lastError.at === null ? '' : `, ${ago(now, Date.parse(report.lastError.at))}`})`)
  row('uptime', duration(report.uptime))
  return lines.join('\n') + '\n'
}

function peerState(peer: StatusReport['peers'][number], now: number): string {
  const parts = [peer.connected ? 'connected' : 'not connected', peer.synced ? 'synced' : 'not synced']
  parts.push(peer.lastSeen === null ? 'never seen' : `last seen ${ago(now, Date.parse(peer.lastSeen))}`)
  if (peer.nodeId !== null) parts.push(`node ${peer.nodeId}`)
  if (peer.lastError !== null) parts.push(`last error: ${peer.lastError}`)
  return parts.join(', ')
}

/** "3 s ago", "4 min ago", "2 h ago", "5 d ago". */
export function ago(now: number, then: number): string {
  return `${duration(Math.max(0, Math.round((now - then) / 1000)))} ago`
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`
  if (seconds < 2 * 3600) return `${Math.floor(seconds / 60)} min`
  if (seconds < 2 * 86400) return `${Math.floor(seconds / 3600)} h`
  return `${Math.floor(seconds / 86400)} d`
}
