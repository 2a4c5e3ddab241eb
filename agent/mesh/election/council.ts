// The council: the voters, numbered by epoch. It is the election's only "log" (Raft §4.1 with
// configuration entries only), so two rules carry its safety:
//
// - Changes go one member at a time, so any majority of a council and any majority of the next
//   one share a member (Raft §4.1, single-server changes).
// - An epoch names one membership, and epochs order councils the way Raft's (term, index) orders
//   log entries: epoch = term × EPOCH_TERM_STRIDE + n, where term is the coordinator's term that
//   proposed it and n counts its proposals in that term. A council proposed in a later term always
//   has the higher epoch, so a voter holding a newer council refuses a candidate holding a
//   leftover proposal of an older term, even one with a plain "epoch + 1" that a later coordinator
//   reused for a different change (docs/election.md, "Why epochs carry the term").
import { create } from '@bufbuild/protobuf'
import { CouncilSchema, type Council } from '../../../proto/gen/shoal_pb.js'
import { assert } from '../../lib/assert.js'
import type { NodeId } from '../types.js'
import { MAX_COUNCIL_SIZE } from './config.js'

/** Proposals one term may make: 999 council changes without an election is far past any fleet's churn. */
export const EPOCH_TERM_STRIDE = 1000

/** The founding council's epoch: term 0 (before any election), first configuration. */
export const FOUNDING_EPOCH = 1

export interface CouncilView {
  readonly epoch: number
  readonly members: readonly NodeId[]
}

/** Votes or acks needed from a council of n. */
export function majority (n: number): number {
  assert(Number.isSafeInteger(n) && n >= 1, `majority of ${n} members`)
  return Math.floor(n / 2) + 1
}

/** Whether `votes` holds a majority of `members` (votes from non-members do not count). */
export function hasMajority (members: readonly NodeId[], votes: ReadonlySet<NodeId>): boolean {
  let n = 0
  for (const m of members) if (votes.has(m)) n++
  return n >= majority(members.length)
}

/** The term whose coordinator proposed this council (0 for the founding council). */
export function epochTerm (epoch: number): number {
  return Math.floor(epoch / EPOCH_TERM_STRIDE)
}

/** "1003 (term 1, change 3)": how status and events show an epoch. */
export function formatEpoch (epoch: number): string {
  return `${epoch} (term ${epochTerm(epoch)}, change ${epoch % EPOCH_TERM_STRIDE})`
}

/**
 * The epoch of the next council a coordinator of `term` proposes after `epoch`, or undefined when
 * this term has made all the changes it may (the next election starts a fresh range).
 */
export function nextEpoch (epoch: number, term: number): number | undefined {
  assert(epochTerm(epoch) <= term, `council epoch ${epoch} is from a term after ${term}`)
  const base = term * EPOCH_TERM_STRIDE
  assert(Number.isSafeInteger(base + EPOCH_TERM_STRIDE), `term ${term} is past what an epoch can carry`)
  const next = Math.max(epoch + 1, base + 1)
  return next < base + EPOCH_TERM_STRIDE ? next : undefined
}

export interface CouncilChange {
  readonly kind: 'add' | 'remove'
  readonly node: NodeId
  readonly members: readonly NodeId[]
}

/**
 * The one change the coordinator should propose next, or undefined. Removal first: a member that
 * is no longer a candidate (dead, unhealthy, not eligible) weakens the council more than a missing
 * seat. Then trim past `size`, then add the first candidate not yet seated. The coordinator never
 * removes itself: it steps down instead (Election.setEligible).
 */
export function nextChange (council: CouncilView, candidates: ReadonlySet<NodeId>, order: readonly NodeId[],
  self: NodeId, size: number): CouncilChange | undefined {
  const members = council.members
  const gone = members.find((m) => m !== self && !candidates.has(m))
  if (gone !== undefined) return { kind: 'remove', node: gone, members: members.filter((m) => m !== gone) }
  if (members.length > size) {
    const extra = [...members].reverse().find((m) => m !== self)
    if (extra !== undefined) return { kind: 'remove', node: extra, members: members.filter((m) => m !== extra) }
  }
  if (members.length < size) {
    const seated = new Set(members)
    const next = order.find((c) => !seated.has(c))
    if (next !== undefined) return { kind: 'add', node: next, members: [...members, next] }
  }
  return undefined
}

/** A council off the wire, checked: undefined when malformed (peer input is never asserted). */
export function councilFromWire (c: Council | undefined): CouncilView | undefined {
  if (c === undefined) return undefined
  if (!Number.isSafeInteger(c.epoch) || c.epoch < FOUNDING_EPOCH) return undefined
  if (c.members.length < 1 || c.members.length > MAX_COUNCIL_SIZE) return undefined
  if (new Set(c.members).size !== c.members.length || c.members.some((m) => m === '')) return undefined
  return { epoch: c.epoch, members: [...c.members] }
}

export function councilToWire (v: CouncilView): Council {
  return create(CouncilSchema, { epoch: v.epoch, members: [...v.members] })
}

/** The invariant every held council keeps. */
export function assertCouncil (v: CouncilView, where: string): void {
  assert(Number.isSafeInteger(v.epoch) && v.epoch >= FOUNDING_EPOCH, `${where}: council epoch ${v.epoch}`)
  assert(v.members.length >= 1 && v.members.length <= MAX_COUNCIL_SIZE, `${where}: council of ${v.members.length}`)
  assert(new Set(v.members).size === v.members.length, `${where}: council lists a member twice`)
}
