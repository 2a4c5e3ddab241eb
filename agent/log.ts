// The agent's structured log: one JSON object per line on stdout (journald keeps it), with the level
// as a word, `time` in epoch ms, and pid and hostname on every line. Cores never log; drivers do,
// often from a core's `trace` effects.
import { hostname as osHostname } from 'node:os'
import { pino, type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from './config/schema.js'

export type { Logger } from 'pino'

export interface LoggerOptions {
  readonly level: LogLevel
  /** Where lines go. Default: stdout. Tests pass a stream and read the lines back. */
  readonly destination?: DestinationStream
  /** Default: os.hostname(). */
  readonly hostname?: string
}

export function createLogger (options: LoggerOptions): Logger {
  const config = {
    level: options.level,
    base: { pid: process.pid, hostname: options.hostname ?? osHostname() },
    timestamp: pino.stdTimeFunctions.epochTime,
    // "level":"warn" reads and greps better than pino's default "level":40.
    formatters: { level: (label: string) => ({ level: label }) },
  }
  // pino's own stdout writer is synchronous: a fatal line is out before the process exits.
  return options.destination === undefined ? pino(config) : pino(config, options.destination)
}
