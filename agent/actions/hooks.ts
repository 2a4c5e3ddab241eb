// The hook runner (a driver): applies a coordinator command on this node by running the operator's
// program for it (hooks: in agent.yaml; docs/hooks.md is the contract) and says how it went, as
// the status and detail of the command's ack. A drain runs the drain hook, then polls drain_status
// until it reports no workloads or the drain times out. With no hook configured the command is
// recorded and acknowledged as applied: Shoal's own view (cordoned, draining) is the effect.
import { setMaxListeners } from 'node:events'
import { setTimeout as sleepFor } from 'node:timers/promises'
import { CommandKind, CommandStatus, type Command } from '../../proto/gen/shoal_pb.js'
import type { HooksConfig } from '../config/load.js'
import { formatDuration } from '../lib/duration.js'
import { kindName } from '../mesh/command-id.js'
import { describeFailure, hookLabel, oneLineOutput, runHookProcess, withOutput, type HookOutcome } from './process.js'

export interface HookResult {
  status: CommandStatus.APPLIED | CommandStatus.FAILED
  detail: string
  /** Drains only: the workloads are gone (an applied drain always is). */
  drained?: boolean
}

export interface HookRunnerDeps {
  /** This node's peer id (SHOAL_NODE). */
  node: string
  /** This node's name (SHOAL_NODE_NAME). */
  nodeName: string
  /** Monotonic milliseconds, for the drain deadline. Default: performance.now. */
  now?: () => number
  /** Waits between drain_status polls; resolves early when `signal` aborts. Default: a real timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** The hooks' environment before the SHOAL_* variables. Default: the agent's own. */
  env?: NodeJS.ProcessEnv
}

/** Real time, the default; tests pass a fake clock and sleep so a drain takes no wall time. */
export const systemHookTiming: Required<Pick<HookRunnerDeps, 'now' | 'sleep'>> = {
  now: () => performance.now(),
  sleep: async (ms, signal) => { await sleepFor(ms, undefined, { signal }).catch(() => {}) },
}

/**
 * drain_status runs that fail (non-zero exit, unreadable output, timeout) in a row before the drain
 * fails. One failure is a scheduler hiccup; three polls apart it is a broken hook, better reported
 * now than after the whole drain timeout.
 */
export const DRAIN_STATUS_ERRORS_MAX = 3

/** A reason travels in an environment variable; keep it a line of sane length. */
const REASON_ENV_MAX_CHARS = 1024

type Action = 'cordon' | 'uncordon' | 'drain' | 'drain_status'

export class HookRunner {
  readonly #config: HooksConfig
  readonly #deps: HookRunnerDeps & Required<Pick<HookRunnerDeps, 'now' | 'sleep'>>
  readonly #stop = new AbortController()

  constructor (config: HooksConfig, deps: HookRunnerDeps) {
    this.#config = config
    this.#deps = { ...systemHookTiming, ...deps }
    // Each running hook listens for the stop; the ledger allows 64 commands at once, plus their polls.
    setMaxListeners(256, this.#stop.signal)
  }

  /** Applies `cmd` on this node. Never throws for a hook's failure: that is a FAILED result. */
  async run (cmd: Command): Promise<HookResult> {
    switch (cmd.kind) {
      case CommandKind.CORDON: return await this.#simple('cordon', this.#config.cordon, cmd)
      case CommandKind.UNCORDON: return await this.#simple('uncordon', this.#config.uncordon, cmd)
      case CommandKind.DRAIN: return await this.#drain(cmd)
      default: return { status: CommandStatus.FAILED, detail: `unknown command kind ${cmd.kind}: this agent applies cordon, uncordon, drain` }
    }
  }

  /** Kills running hooks (their process groups) and ends drain waits; later runs fail at once. */
  close (): void {
    this.#stop.abort()
  }

  async #simple (action: Action, argv: readonly string[] | null, cmd: Command): Promise<HookResult> {
    if (argv === null) return { status: CommandStatus.APPLIED, detail: 'no hook configured' }
    const label = hookLabel(action, argv)
    const outcome = await this.#exec(action, argv, cmd, this.#config.timeoutMs)
    if (outcome.kind === 'exit' && outcome.code === 0) return { status: CommandStatus.APPLIED, detail: withOutput(`${label} exited 0`, outcome) }
    return { status: CommandStatus.FAILED, detail: describeFailure(label, outcome, this.#config.timeoutMs) }
  }

  async #drain (cmd: Command): Promise<HookResult> {
    const { drain, drainStatus, drainTimeoutMs } = this.#config
    const deadline = this.#deps.now() + drainTimeoutMs
    let said = 'no hook configured'
    if (drain !== null) {
      // The drain hook may wait for the workloads itself (kubectl drain does): it gets the whole drain.
      const label = hookLabel('drain', drain)
      const outcome = await this.#exec('drain', drain, cmd, drainTimeoutMs)
      if (!(outcome.kind === 'exit' && outcome.code === 0)) {
        return { status: CommandStatus.FAILED, detail: describeFailure(label, outcome, drainTimeoutMs), drained: false }
      }
      said = withOutput(`${label} exited 0`, outcome)
    }
    if (drainStatus === null) return { status: CommandStatus.APPLIED, detail: said, drained: true }
    return await this.#poll(cmd, drainStatus, deadline)
  }

  /** drain_status until it reports 0, fails DRAIN_STATUS_ERRORS_MAX times in a row, or time runs out. */
  async #poll (cmd: Command, argv: readonly string[], deadline: number): Promise<HookResult> {
    const { timeoutMs, drainPollMs, drainTimeoutMs } = this.#config
    const label = hookLabel('drain_status', argv)
    let errors = 0
    let lastError = ''
    let running: number | undefined
    for (let polls = 1; ; polls++) {
      const outcome = await this.#exec('drain_status', argv, cmd, timeoutMs)
      if (outcome.kind === 'stopped') return { status: CommandStatus.FAILED, detail: describeFailure(label, outcome, timeoutMs), drained: false }
      const count = workloadCount(outcome)
      if (typeof count === 'number') {
        if (count === 0) {
          return { status: CommandStatus.APPLIED, detail: `drained: ${label} reports no workloads (poll ${polls})`, drained: true }
        }
        running = count
        errors = 0
      } else {
        errors++
        lastError = count.error === undefined ? describeFailure(label, outcome, timeoutMs) : `${label} ${count.error}`
        if (errors >= DRAIN_STATUS_ERRORS_MAX) {
          return { status: CommandStatus.FAILED, detail: `${label} failed ${errors} times in a row: ${lastError}`, drained: false }
        }
      }
      const left = deadline - this.#deps.now()
      if (left <= 0) {
        const detail = running !== undefined
          ? `${running} workload${running === 1 ? '' : 's'} still running after ${formatDuration(drainTimeoutMs)}`
          : `drain not confirmed after ${formatDuration(drainTimeoutMs)}: ${lastError}`
        return { status: CommandStatus.FAILED, detail, drained: false }
      }
      await this.#deps.sleep(Math.min(drainPollMs, left), this.#stop.signal)
      if (this.#stop.signal.aborted) {
        return { status: CommandStatus.FAILED, detail: `the drain was stopped: the agent is shutting down (${running ?? 'unknown'} workloads running)`, drained: false }
      }
    }
  }

  async #exec (action: Action, argv: readonly string[], cmd: Command, timeoutMs: number): Promise<HookOutcome> {
    return await runHookProcess({ argv, env: this.#env(action, cmd), timeoutMs, signal: this.#stop.signal })
  }

  #env (action: Action, cmd: Command): NodeJS.ProcessEnv {
    const reason = cmd.reason.replace(/[\0\n\r]+/g, ' ')
    return {
      ...(this.#deps.env ?? process.env),
      SHOAL_NODE: this.#deps.node,
      SHOAL_NODE_NAME: this.#deps.nodeName,
      SHOAL_ACTION: action,
      SHOAL_COMMAND: kindName(cmd.kind),
      SHOAL_COMMAND_ID: cmd.id,
      SHOAL_TERM: String(cmd.term),
      SHOAL_COORDINATOR: cmd.coordinator,
      SHOAL_REASON: reason.length > REASON_ENV_MAX_CHARS ? reason.slice(0, REASON_ENV_MAX_CHARS) : reason,
    }
  }
}

/**
 * The drain_status protocol: exit 0, and stdout's first word is the number of workloads still
 * running (a whole number; 0 = drained). Anything else is a failed poll, with why.
 */
export function workloadCount (outcome: HookOutcome): number | { error?: string } {
  if (outcome.kind !== 'exit' || outcome.code !== 0) return {}
  const first = outcome.stdout.trim().split(/\s+/)[0] ?? ''
  if (!/^\d{1,9}$/.test(first)) {
    return { error: `exited 0 but printed ${first === '' ? 'nothing' : JSON.stringify(oneLineOutput(first).slice(0, 40))}, not a workload count (first word of stdout: a whole number, 0 = drained)` }
  }
  return Number(first)
}
