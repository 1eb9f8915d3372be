/**
 * Agent processes for the cross-package tests. The spawner is the agent package's own test helper,
 * so both suites start `regsync` the same way.
 */
import { runRegsync } from '../../packages/agent/test/agentProcess.js'
import type { RegsyncProcess } from '../../packages/agent/test/agentProcess.js'

export { runRegsync }
export type AgentProcess = RegsyncProcess

/** Starts an agent and waits until it is ready. */
export async function startAgent(dir: string, data: string, extra: readonly string[] = []): Promise<AgentProcess> {
  const proc = runRegsync(['agent', '--dir', dir, '--data', data, '--listen', '127.0.0.1:0', '--log-format', 'json', ...extra])
  await proc.waitForLog('regsync agent ready')
  return proc
}
