// `shoal cordon | uncordon | drain ID`: an operator's write. The local agent resolves the node,
// forwards the command to the coordinator, and answers with the target's acknowledgement and the
// coordinator's term. Exit codes in FLEET_EXIT. The pieces every write shares (--timeout, --reason,
// sending, the acknowledgement) are here too; pools.ts uses them for scale and queue.
import { create, toJson } from '@bufbuild/protobuf'
import { AdminCommandSchema, CommandKind, CommandResultSchema, CommandStatus, type AdminCommand, type CommandResult } from '../../proto/gen/shoal_pb.js'
import { MAX_REASON_CHARS } from '../admin/fleet.js'
import { ask } from './ask.js'
import { askNode, exitOf, FLEET_EXIT, parseDurationOption } from './fleet.js'
import { nodeLabel } from './fleet-render.js'
import type { Output } from './gpus.js'

export type WriteVerb = 'cordon' | 'uncordon' | 'drain'

const KIND: Readonly<Record<WriteVerb, CommandKind>> = {
  cordon: CommandKind.CORDON,
  uncordon: CommandKind.UNCORDON,
  drain: CommandKind.DRAIN,
}

const DONE: Readonly<Record<WriteVerb, string>> = { cordon: 'cordoned', uncordon: 'uncordoned', drain: 'drained' }

/**
 * How long the CLI waits for the acknowledgement unless --timeout says otherwise. Longer than the
 * agent's own wait (30 s for the coordinator; a drain adds hooks.drain_timeout, 10 m by default),
 * so the agent's clearer `timeout` answer arrives before the CLI gives up.
 */
export const WRITE_TIMEOUT_MS: Readonly<Record<WriteVerb, number>> = {
  cordon: 40_000,
  uncordon: 40_000,
  drain: 15 * 60_000,
}
const TIMEOUT_MIN_MS = 1000
const TIMEOUT_MAX_MS = 24 * 3_600_000

export interface WriteOptions {
  socketPath: string
  json: boolean
  target: string
  reason: string | undefined
  timeout: string | undefined
  /** Names the operator in the default reason. */
  user: string | undefined
}

/** --timeout and --reason of a write, checked: what to send, or a usage message. */
export function writeSettings (verb: string, o: WriteOptions, defaultTimeoutMs: number): { timeoutMs: number, reason: string } | string {
  const timeoutMs = o.timeout === undefined ? defaultTimeoutMs : parseDurationOption('timeout', o.timeout, TIMEOUT_MIN_MS, TIMEOUT_MAX_MS)
  if (typeof timeoutMs === 'string') return timeoutMs
  const reason = o.reason ?? `shoal ${verb} by ${o.user || 'an unknown user'}`
  if (reason.length > MAX_REASON_CHARS) return `--reason is at most ${MAX_REASON_CHARS} characters, got ${reason.length}`
  if (/\p{Cc}/u.test(reason)) return '--reason is one line of text, without control characters'
  return { timeoutMs, reason }
}

/**
 * Sends one command and waits for its result: the result, or the exit code of a failure (already
 * reported; a timeout adds `whereToLook`, since the write may still land).
 */
export async function sendWrite (verb: string, socketPath: string, command: AdminCommand, timeoutMs: number, whereToLook: string, io: Output): Promise<CommandResult | number> {
  const r = await ask({ socketPath, request: { case: 'command', value: command }, expect: 'command', what: 'an acknowledgement', timeoutMs }, io)
  if (r.ok) return r.value
  if (r.kind === 'unreachable' ? r.client === 'timeout' : r.code === 'timeout') io.err(`shoal: the ${verb} may still be applied: see ${whereToLook}\n`)
  return exitOf(r, true)
}

export async function writeCommand (verb: WriteVerb, o: WriteOptions, io: Output): Promise<number> {
  const settings = writeSettings(verb, o, WRITE_TIMEOUT_MS[verb])
  if (typeof settings === 'string') {
    io.err(`shoal ${verb}: ${settings}\n`)
    return FLEET_EXIT.usage
  }
  // Resolve first: the answer names the node, and the write then names it by its whole id.
  const node = await askNode({ socketPath: o.socketPath, json: o.json, id: o.target }, io)
  if (typeof node === 'number') return node
  const request = create(AdminCommandSchema, { kind: KIND[verb], target: node.id, reason: settings.reason })
  const name = node.meta?.name || node.id
  const result = await sendWrite(verb, o.socketPath, request, settings.timeoutMs, `\`shoal node ${name}\` or \`shoal events --node ${name}\``, io)
  if (typeof result === 'number') return result
  const label = nodeLabel(node)
  return reportAck({ verb, subject: label, done: `${DONE[verb]} ${label}`, by: '' }, result, o.json, io)
}

/** How an acknowledgement is told: "<verb> <subject> FAILED ...", or `done` on the applied line. */
export interface AckWords {
  verb: string
  subject: string
  done: string
  /** After the term: who applied it (" by coordinator gpu-b (E5f6g7h8)"), or empty. */
  by: string
}

/** Prints a write's result (as JSON with --json) and says how it went in the exit code. */
export function reportAck (words: AckWords, result: CommandResult, json: boolean, io: Output): number {
  if (json) io.out(JSON.stringify(toJson(CommandResultSchema, result), null, 2) + '\n')
  const ack = result.ack
  const term = result.term || ack?.term || 0
  const detail = ack?.detail ?? ''
  switch (ack?.status) {
    case CommandStatus.APPLIED:
      if (!json) io.out(`${words.done}: applied in term ${term}${words.by}\n${detail === '' ? '' : `  ${detail}\n`}`)
      return FLEET_EXIT.ok
    case CommandStatus.FAILED:
      io.err(`shoal: ${words.verb} ${words.subject} FAILED in term ${term}: ${detail || 'no detail given'}\n`)
      return FLEET_EXIT.failed
    case CommandStatus.REFUSED:
      io.err(`shoal: ${words.verb} ${words.subject} REFUSED in term ${term}: ${detail || 'no detail given'}\n`)
      return FLEET_EXIT.refused
    default:
      io.err(`shoal: the agent answered the ${words.verb} of ${words.subject} without an acknowledgement\n`)
      return FLEET_EXIT.unreachable
  }
}
