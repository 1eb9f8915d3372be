/**
 * The logging port: the subset of pino's interface the engine uses. The first argument carries
 * structured fields; the message says what happened in words an operator can act on.
 */
export interface Logger {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

/** A logger that drops everything, the default for embedded use. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {}
}
