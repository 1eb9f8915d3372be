import { RegsyncError } from '@regsync/core'
import { createLogger } from './logger.js'
import { HELP, parseAgentOptions } from './options.js'
import { VERSION, runAgent } from './runAgent.js'

/** The `regsync` command. Returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(HELP)
    return command === undefined ? 2 : 0
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`regsync ${VERSION}\n`)
    return 0
  }
  if (command !== 'agent') {
    process.stderr.write(`regsync: unknown command ${JSON.stringify(command)}. See 'regsync --help'.\n`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP)
    return 0
  }
  let options
  try {
    options = parseAgentOptions(rest)
  } catch (error) {
    const message = error instanceof RegsyncError ? error.message : String(error)
    process.stderr.write(`regsync: ${message}. See 'regsync --help'.\n`)
    return 2
  }
  const log = createLogger({ level: options.logLevel, format: options.logFormat })
  return runAgent(options, log)
}
