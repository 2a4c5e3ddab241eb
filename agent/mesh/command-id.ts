// A command's id comes from the intent (who asked, their request id, what, on whom), so the same
// intent sent twice, or re-issued by a new coordinator, is one command that the target applies once.
import { CommandKind } from '../../proto/gen/shoal_pb.js'
import { fnv1a } from '../lib/hash.js'
import type { NodeId } from './types.js'

export function commandId (origin: NodeId, requestId: string, kind: CommandKind, target: NodeId): string {
  return `${kindName(kind)}-${hex(fnv53(`${origin}|${requestId}|${kind}|${target}`))}`
}

export function kindName (kind: CommandKind): string {
  switch (kind) {
    case CommandKind.CORDON: return 'cordon'
    case CommandKind.UNCORDON: return 'uncordon'
    case CommandKind.DRAIN: return 'drain'
    case CommandKind.SCALE: return 'scale'
    case CommandKind.QUEUE: return 'queue'
    default: return `kind-${kind}`
  }
}

/** Two FNV-1a lanes (different seeds and primes) folded into 53 bits: collision odds are negligible for a fleet's commands. */
function fnv53 (text: string): number {
  const a = fnv1a(text)
  const b = fnv1a(text, 0x01000193 ^ text.length, 0x5bd1e995)
  return (b & 0x1fffff) * 2 ** 32 + a
}

function hex (n: number): string {
  return n.toString(16).padStart(14, '0')
}
