// What this node knows about one member, and the rule that decides whether an update replaces it
// (memberlist state.go; SWIM §4.2): a higher incarnation wins; at equal incarnation
// dead/left > suspect > alive. Only the node itself raises its incarnation, so alive needs a
// strictly higher one to override anything.
import { MemberState, type MemberUpdate, type NodeMeta } from '../../../proto/gen/shoal_pb.js'
import type { MemberStateName, NodeId } from '../types.js'

/** An immutable snapshot: a change replaces the record, so callers may keep it. */
export interface MemberRecord {
  readonly id: NodeId
  readonly state: MemberStateName
  readonly incarnation: number
  /** Last known addresses and meta: kept through suspect/dead/left; empty until first seen alive. */
  readonly addrs: readonly string[]
  readonly meta: NodeMeta | undefined
  /** When the state or incarnation last changed (this node's clock). */
  readonly changedMs: number
  /** Who reported the current (state, incarnation); the node itself for alive and left. */
  readonly reporter: NodeId
}

/**
 * Largest incarnation accepted from a peer. Leaves 2^20 exact increments in a double above it, so
 * even a forged accusation at the limit cannot push our own incarnation past exact arithmetic.
 */
export const MAX_INCARNATION = Number.MAX_SAFE_INTEGER - 2 ** 20

const NAME: Record<MemberState, MemberStateName | undefined> = {
  [MemberState.UNSPECIFIED]: undefined,
  [MemberState.ALIVE]: 'alive',
  [MemberState.SUSPECT]: 'suspect',
  [MemberState.DEAD]: 'dead',
  [MemberState.LEFT]: 'left',
}

const WIRE: Record<MemberStateName, MemberState> = {
  alive: MemberState.ALIVE,
  suspect: MemberState.SUSPECT,
  dead: MemberState.DEAD,
  left: MemberState.LEFT,
}

export function stateName (state: MemberState): MemberStateName | undefined {
  return NAME[state]
}

export function wireState (state: MemberStateName): MemberState {
  return WIRE[state]
}

const RANK: Record<MemberStateName, number> = { alive: 0, suspect: 1, dead: 2, left: 2 }

export function isLive (state: MemberStateName): boolean {
  return state === 'alive' || state === 'suspect'
}

export function isTombstone (state: MemberStateName): boolean {
  return state === 'dead' || state === 'left'
}

/** accept: the update replaces the record; confirm: same suspicion, maybe a new reporter; ignore. */
export type Precedence = 'accept' | 'confirm' | 'ignore'

export interface Versioned { readonly state: MemberStateName, readonly incarnation: number }

/** How an update about another node meets what we hold (undefined: an unknown node). */
export function precedence (current: Versioned | undefined, update: Versioned): Precedence {
  if (current === undefined) return 'accept'
  if (update.incarnation > current.incarnation) return 'accept'
  if (update.incarnation < current.incarnation) return 'ignore'
  if (RANK[update.state] > RANK[current.state]) return 'accept'
  if (update.state === 'suspect' && current.state === 'suspect') return 'confirm'
  return 'ignore'
}

/** Why an update from a peer is not even considered; undefined when it is well formed. */
export function malformed (update: MemberUpdate, maxAddrs: number): string | undefined {
  if (update.node === '') return 'no node'
  if (stateName(update.state) === undefined) return 'no state'
  const inc = update.incarnation
  if (!Number.isSafeInteger(inc) || inc < 0 || inc > MAX_INCARNATION) return `bad incarnation ${inc}`
  if (update.addrs.length > maxAddrs) return `${update.addrs.length} addresses (max ${maxAddrs})`
  return undefined
}
