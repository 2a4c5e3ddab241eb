// Push-pull repair (a core helper): what one side must send so that the other catches up on
// membership and health it missed (a restart, a partition heal, a lost gossip message). A digest is
// one small entry per node; converged peers compare a hash of it and exchange nothing else.
import { create } from '@bufbuild/protobuf'
import { DigestEntrySchema, MemberState, type DigestEntry, type HealthUpdate, type MemberUpdate } from '../../proto/gen/shoal_pb.js'
import { fnv1a } from '../lib/hash.js'
import { newerHealth } from './fleet-view.js'
import type { NodeId } from './types.js'

/** Bounds one repair message: a 10,000-node fleet converges over several rounds, not one huge frame. */
export const MAX_SYNC_MEMBERS = 5000
export const MAX_SYNC_HEALTH = 1000

export interface SyncSource {
  memberEntries (): Iterable<{ id: NodeId, state: MemberState, incarnation: number }>
  health (id: NodeId): HealthUpdate | undefined
  memberUpdate (id: NodeId): MemberUpdate | undefined
}

export function digestOf (src: SyncSource): DigestEntry[] {
  const out: DigestEntry[] = []
  for (const m of src.memberEntries()) {
    const h = src.health(m.id)
    out.push(create(DigestEntrySchema, {
      node: m.id,
      state: m.state,
      incarnation: m.incarnation,
      healthIncarnation: h?.incarnation ?? 0,
      healthSeq: h?.seq ?? 0,
    }))
  }
  return out
}

/** Order-independent, so both sides hash without sorting: a sum of per-entry FNV-1a hashes mod 2^48. */
export function digestHash (entries: Iterable<DigestEntry>): number {
  let sum = 0
  for (const e of entries) {
    sum = (sum + fnv1a(`${e.node}|${e.state}|${e.incarnation}|${e.healthIncarnation}|${e.healthSeq}`)) % 2 ** 48
  }
  return sum
}

/** The member precedence SWIM uses: incarnation, then dead/left over suspect over alive. */
export function memberRank (state: MemberState): number {
  switch (state) {
    case MemberState.ALIVE: return 1
    case MemberState.SUSPECT: return 2
    case MemberState.DEAD: case MemberState.LEFT: return 3
    default: return 0
  }
}

function memberNewer (ours: { state: MemberState, incarnation: number }, theirs: DigestEntry | undefined): boolean {
  if (theirs === undefined) return true
  if (ours.incarnation !== theirs.incarnation) return ours.incarnation > theirs.incarnation
  return memberRank(ours.state) > memberRank(theirs.state)
}

/** The updates we hold that `theirs` shows the other side lacks or has older. */
export function whatTheyLack (theirs: readonly DigestEntry[], src: SyncSource): { members: MemberUpdate[], health: HealthUpdate[] } {
  const byNode = new Map<NodeId, DigestEntry>()
  for (const e of theirs) byNode.set(e.node, e)
  const members: MemberUpdate[] = []
  const health: HealthUpdate[] = []
  for (const m of src.memberEntries()) {
    const t = byNode.get(m.id)
    if (members.length < MAX_SYNC_MEMBERS && memberNewer(m, t)) {
      const u = src.memberUpdate(m.id)
      if (u !== undefined) members.push(u)
    }
    const h = src.health(m.id)
    if (h !== undefined && health.length < MAX_SYNC_HEALTH &&
      newerHealth(h, t === undefined ? undefined : { incarnation: t.healthIncarnation, seq: t.healthSeq })) {
      health.push(h)
    }
  }
  return { members, health }
}
