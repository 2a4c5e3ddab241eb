// `shoal cordon | uncordon | drain ID`: an operator's write. The local agent resolves the node,
// forwards the command to the coordinator, and answers with the target's acknowledgement and the
// coordinator's term. Exit codes in FLEET_EXIT.
import { create, toJson } from '@bufbuild/protobuf'
import { AdminCommandSchema, CommandKind, CommandResultSchema, CommandStatus, type CommandResult } from '../../proto/gen/shoal_pb.js'
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

/** The agent refuses longer reasons (agent/admin/fleet.ts). */
const REASON_MAX_CHARS = 1024

export interface WriteOptions {
  socketPath: string
  json: boolean
  target: string
  reason: string | undefined
  timeout: string | undefined
  /** Names the operator in the default reason. */
  user: string | undefined
}

export async function writeCommand (verb: WriteVerb, o: WriteOptions, io: Output): Promise<number> {
  const usage = (message: string): number => {
    io.err(`shoal ${verb}: ${message}\n`)
    return FLEET_EXIT.usage
  }
  const timeoutMs = o.timeout === undefined ? WRITE_TIMEOUT_MS[verb] : parseDurationOption('timeout', o.timeout, TIMEOUT_MIN_MS, TIMEOUT_MAX_MS)
  if (typeof timeoutMs === 'string') return usage(timeoutMs)
  const reason = o.reason ?? `shoal ${verb} by ${o.user || 'an unknown user'}`
  if (reason.length > REASON_MAX_CHARS) return usage(`--reason is at most ${REASON_MAX_CHARS} characters, got ${reason.length}`)
  if (/\p{Cc}/u.test(reason)) return usage('--reason is one line of text, without control characters')
  // Resolve first: the answer names the node, and the write then names it by its whole id.
  const node = await askNode({ socketPath: o.socketPath, json: o.json, id: o.target }, io)
  if (typeof node === 'number') return node
  const request = create(AdminCommandSchema, { kind: KIND[verb], target: node.id, reason })
  const r = await ask({ socketPath: o.socketPath, request: { case: 'command', value: request }, expect: 'command', what: 'an acknowledgement', timeoutMs }, io)
  if (!r.ok) {
    if (r.kind === 'unreachable' ? r.client === 'timeout' : r.code === 'timeout') {
      io.err(`shoal: the ${verb} may still be applied: see \`shoal node ${node.meta?.name || node.id}\` or \`shoal events --node ${node.meta?.name || node.id}\`\n`)
    }
    return exitOf(r, true)
  }
  if (o.json) io.out(JSON.stringify(toJson(CommandResultSchema, r.value), null, 2) + '\n')
  return report(verb, nodeLabel(node), r.value, o.json, io)
}

function report (verb: WriteVerb, label: string, result: CommandResult, json: boolean, io: Output): number {
  const ack = result.ack
  const term = result.term || ack?.term || 0
  const detail = ack?.detail ?? ''
  switch (ack?.status) {
    case CommandStatus.APPLIED:
      if (!json) io.out(`${DONE[verb]} ${label}: applied in term ${term}\n${detail === '' ? '' : `  ${detail}\n`}`)
      return FLEET_EXIT.ok
    case CommandStatus.FAILED:
      io.err(`shoal: ${verb} ${label} FAILED in term ${term}: ${detail || 'no detail given'}\n`)
      return FLEET_EXIT.failed
    case CommandStatus.REFUSED:
      io.err(`shoal: ${verb} ${label} REFUSED in term ${term}: ${detail || 'no detail given'}\n`)
      return FLEET_EXIT.refused
    default:
      io.err(`shoal: the agent answered the ${verb} of ${label} without an acknowledgement\n`)
      return FLEET_EXIT.unreachable
  }
}
