// `shoal agent --config FILE [--fake]`: run the daemon until SIGTERM or SIGINT; SIGHUP reloads the
// health policy. Everything it needs is read and checked before anything starts.
import { readFileSync } from 'node:fs'
import { FAKE_LIBRARY } from '../../native/fake/machine.js'
import { ConfigError } from '../config/errors.js'
import { loadConfig } from '../config/load.js'
import { Agent } from '../daemon/agent.js'
import { createLogger } from '../log.js'
import { systemTimers, systemWallClock } from '../lib/time.js'
import type { Output } from './gpus.js'

export interface AgentCommandOptions {
  configPath: string | undefined
  fake: boolean
}

/** What the daemon needs from its process: signals, so tests can send them without a process. */
export interface ProcessSignals {
  on(signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP', fn: () => void): void
  off(signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP', fn: () => void): void
}

export async function agentCommand (o: AgentCommandOptions, io: Output, signals: ProcessSignals): Promise<number> {
  if (o.configPath === undefined) {
    io.err('shoal agent: --config FILE is required (docs/agent.example.yaml is a start)\n')
    return 2
  }
  let text: string
  try {
    text = readFileSync(o.configPath, 'utf8')
  } catch (err) {
    io.err(`shoal agent: cannot read ${o.configPath}: ${(err as Error).message}\n`)
    return 2
  }
  let config
  try {
    config = loadConfig(text, o.configPath)
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`shoal agent: ${err.message}\n`)
      return 2
    }
    throw err
  }
  const logger = createLogger({ level: config.log.level })
  let agent: Agent
  try {
    agent = await Agent.start({
      config,
      configText: text,
      configSource: o.configPath,
      logger,
      clock: systemWallClock,
      timers: systemTimers,
      nvmlLibrary: o.fake ? FAKE_LIBRARY : undefined,
    })
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    logger.fatal({ err: message }, 'agent did not start')
    io.err(`shoal agent: ${message}\n`)
    return 1
  }
  let resolve: (code: number) => void = () => {}
  const promise = new Promise<number>((r) => { resolve = r })
  const stop = (signal: string) => () => {
    agent.stop(signal).then(() => { resolve(0) }, (err: unknown) => {
      logger.error({ err: (err as Error).message }, 'agent did not stop cleanly')
      resolve(1)
    })
  }
  const onTerm = stop('SIGTERM')
  const onInt = stop('SIGINT')
  const onHup = (): void => { agent.reloadPolicy('SIGHUP') }
  signals.on('SIGTERM', onTerm)
  signals.on('SIGINT', onInt)
  signals.on('SIGHUP', onHup)
  try {
    return await promise
  } finally {
    signals.off('SIGTERM', onTerm)
    signals.off('SIGINT', onInt)
    signals.off('SIGHUP', onHup)
  }
}
