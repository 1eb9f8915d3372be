/**
 * The `regsync` command. With `config.ts`, the only code that touches argv and the environment:
 * `bin/regsync.js` passes them in here.
 */
import { fileURLToPath } from 'node:url'
import { RegsyncError } from '@regsync/core'
import { loadAgentConfig, loadStatusConfig } from './config.js'
import { HELP } from './help.js'
import { createLogger } from './logger.js'
import { runAgent } from './runAgent.js'
import { runStatus } from './statusCommand.js'
import type { StatusOutput } from './statusCommand.js'
import { VERSION } from './version.js'
import { runDemo } from './demo.js'
import { runJournal } from './journalCommand.js'

/** The sample definitions the demo starts node 1 with. */
const SAMPLES = fileURLToPath(new URL('../samples/services/', import.meta.url))

/** Runs `regsync ...args`. Returns the exit code. */
export async function main(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  out: StatusOutput = { stdout: process.stdout, stderr: process.stderr }
): Promise<number> {
  const [command, ...rest] = args
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    out.stdout.write(HELP)
    return command === undefined ? 2 : 0
  }
  if (command === '-v' || command === '--version' || command === 'version') {
    out.stdout.write(`regsync ${VERSION}\n`)
    return 0
  }
  if (command === 'demo') {
    if (rest.length > 0 && !(rest.length === 2 && rest[0] === '--root')) {
      out.stderr.write(`regsync: demo takes only --root DIR. See 'regsync --help'.\n`)
      return 2
    }
    return runDemo({ root: rest[1] ?? '.regsync-demo', samples: SAMPLES })
  }
  if (command === 'journal' || command === 'restore') {
    if (rest.includes('--help') || rest.includes('-h')) {
      out.stdout.write(HELP)
      return 0
    }
    const id = command === 'restore' ? rest[0] : undefined
    if (command === 'restore' && (id === undefined || id.startsWith('-'))) {
      out.stderr.write(`regsync: restore needs a journal entry id (see 'regsync journal'). See 'regsync --help'.\n`)
      return 2
    }
    let config
    try {
      config = await loadStatusConfig({ args: command === 'restore' ? rest.slice(1) : rest, env })
    } catch (error) {
      if (!(error instanceof RegsyncError)) throw error
      out.stderr.write(`regsync: ${error.message}. See 'regsync --help'.\n`)
      return 2
    }
    return runJournal(config, id === undefined ? { kind: 'list' } : { kind: 'restore', id }, out)
  }
  if (command !== 'agent' && command !== 'status') {
    out.stderr.write(`regsync: unknown command ${JSON.stringify(command)}. See 'regsync --help'.\n`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out.stdout.write(HELP)
    return 0
  }
  const usage = (error: unknown): number => {
    if (!(error instanceof RegsyncError)) throw error
    out.stderr.write(`regsync: ${error.message}. See 'regsync --help'.\n`)
    return 2
  }
  if (command === 'status') {
    let config
    try {
      config = await loadStatusConfig({ args: rest, env })
    } catch (error) {
      return usage(error)
    }
    return runStatus(config, out)
  }
  let config
  try {
    config = await loadAgentConfig({ args: rest, env })
  } catch (error) {
    return usage(error)
  }
  const log = createLogger({ level: config.logLevel, format: config.logFormat })
  return runAgent(config, log)
}
