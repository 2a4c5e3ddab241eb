// The gate every mesh message passes before any core sees it (DESIGN.md §4, §11): size, decode,
// fleet, sender = the key that vouches for it, the body allowed on its channel, the body speaking
// only for its sender, bounded lists and counters, and a sane clock. Pure: the host runs it inside
// gossipsub's topic validator and on each direct stream, the fuzz tests run it on garbage.
//
// reject = the sender broke the protocol (gossipsub charges the forwarding peer, P4); ignore = not
// provably the sender's fault (our clock, a body a newer agent knows): dropped without a penalty.
// Freshness (incarnation, seq, term against what this node has seen) is the core's call, not ours.
import { fromBinary } from '@bufbuild/protobuf'
import {
  MemberState, MeshMessageSchema,
  type CommandAck, type CoordinatorAnnounce, type Council, type DigestEntry, type HealthUpdate,
  type MemberUpdate, type MeshMessage, type PushPull,
} from '../../../proto/gen/shoal_pb.js'
import { assert } from '../../lib/assert.js'
import type { Body, BodyCase, NodeId, Topic } from '../types.js'
import { MAX_DIRECT_MESSAGE_BYTES, MAX_MESSAGE_BYTES, WIRE_LIMITS as L } from './limits.js'

/** Where a message arrived: a gossip topic, or a direct stream from one peer. */
export type Channel = Topic | 'direct'

/**
 * The bodies each channel carries. Gossip topics carry one kind each, signed by its subject; direct
 * streams carry the rest. A health update travels directly only inside a push-pull; a member update
 * also travels alone, to the one node it concerns (a suspicion it should refute, the news that it is
 * held dead), signed like any direct message by its reporter.
 */
export const CHANNEL_BODIES: Readonly<Record<Channel, ReadonlySet<BodyCase>>> = {
  members: new Set(['member']),
  health: new Set(['health']),
  coord: new Set(['coordinator', 'pools']),
  direct: new Set([
    'member', 'ping', 'ack', 'nack', 'pingReq', 'pushPull', 'voteRequest', 'voteReply', 'leaseRenew', 'leaseAck',
    'command', 'commandAck', 'commandRequest', 'commandResult',
  ]),
}

export interface ValidateContext {
  readonly fleet: string
  /** Who vouches for the bytes: the gossip signer, or the direct stream's Noise-authenticated peer. */
  readonly from: NodeId
  readonly channel: Channel
  /** This host's wall clock, ms. */
  readonly now: number
  readonly maxSkewMs: number
}

/** Split in three (not `'reject' | 'ignore'` in one) so that TypeScript narrows on `result`. */
export type Verdict =
  | { result: 'accept', message: MeshMessage }
  | { result: 'reject', reason: string }
  | { result: 'ignore', reason: string }

export function maxMessageBytes (channel: Channel): number {
  return channel === 'direct' ? MAX_DIRECT_MESSAGE_BYTES : MAX_MESSAGE_BYTES
}

/** Every check but freshness. Never throws on any input bytes. */
export function validateMessage (bytes: Uint8Array, ctx: ValidateContext): Verdict {
  assert(Number.isFinite(ctx.now) && ctx.maxSkewMs >= 0, 'validateMessage needs a finite now and a non-negative skew')
  const max = maxMessageBytes(ctx.channel)
  if (bytes.length > max) return reject(`${bytes.length} bytes, more than the ${max} allowed on ${ctx.channel}`)
  let m: MeshMessage
  try {
    // Unknown fields are dropped, not kept: a newer agent's additions are not ours to hold or echo.
    m = fromBinary(MeshMessageSchema, bytes, { readUnknownFields: false })
  } catch (err) {
    return reject(`does not decode as a MeshMessage: ${clip(err instanceof Error ? err.message : String(err))}`)
  }
  if (m.fleet !== ctx.fleet) return reject(`fleet ${q(m.fleet)}, not ${q(ctx.fleet)}`)
  if (m.sender !== ctx.from) {
    return reject(`sender ${q(m.sender)} is not the ${ctx.channel === 'direct' ? 'stream peer' : 'signer'} ${q(ctx.from)}`)
  }
  if (!isTime(m.timeMs)) return reject(`time_ms ${m.timeMs} is not a time`)
  const body = m.body
  if (body.case === undefined) return ignore('no body this agent knows (from a newer agent?)')
  if (!CHANNEL_BODIES[ctx.channel].has(body.case)) return reject(`a ${body.case} body does not belong on ${ctx.channel}`)
  const problem = checkBody(body, m.sender)
  if (problem !== undefined) return reject(problem)
  const skew = m.timeMs - ctx.now
  if (Math.abs(skew) > ctx.maxSkewMs) {
    return ignore(`time_ms is ${Math.round(skew)} ms from this host's clock, beyond ±${ctx.maxSkewMs} ms`)
  }
  return { result: 'accept', message: m }
}

/** The first problem with a body, or undefined. */
function checkBody (body: Body, sender: NodeId): string | undefined {
  switch (body.case) {
    case 'member': return self('member.reporter', body.value.reporter, sender) ?? member(body.value, 'member')
    case 'health': return self('health.node', body.value.node, sender) ?? health(body.value, 'health')
    case 'coordinator':
      return self('coordinator.coordinator', body.value.coordinator, sender) ?? announce(body.value, 'coordinator')
    case 'ping': case 'ack': case 'nack': case 'pingReq':
      return counter(`${body.case}.seq`, body.value.seq) ?? id(`${body.case}.target`, body.value.target)
    case 'pushPull': return pushPull(body.value)
    case 'voteRequest': {
      const v = body.value
      return self('voteRequest.candidate', v.candidate, sender) ?? counter('voteRequest.term', v.term) ??
        counter('voteRequest.epoch', v.epoch)
    }
    case 'voteReply': {
      const v = body.value
      return self('voteReply.voter', v.voter, sender) ?? counter('voteReply.term', v.term) ?? counter('voteReply.epoch', v.epoch)
    }
    case 'leaseRenew': {
      const v = body.value
      return self('leaseRenew.coordinator', v.coordinator, sender) ?? counter('leaseRenew.term', v.term) ??
        counter('leaseRenew.leaseSeq', v.leaseSeq) ?? council('leaseRenew.council', v.council) ??
        council('leaseRenew.proposed', v.proposed)
    }
    case 'leaseAck': {
      const v = body.value
      return self('leaseAck.voter', v.voter, sender) ?? counter('leaseAck.term', v.term) ??
        counter('leaseAck.leaseSeq', v.leaseSeq) ?? counter('leaseAck.epoch', v.epoch)
    }
    case 'command': {
      const v = body.value
      return self('command.coordinator', v.coordinator, sender) ?? counter('command.term', v.term) ??
        id('command.target', v.target) ?? time('command.timeMs', v.timeMs)
    }
    case 'commandAck': return self('commandAck.node', body.value.node, sender) ?? commandAck(body.value, 'commandAck')
    case 'commandRequest': return text('commandRequest.target', body.value.target, 253) ?? finite('commandRequest.value', body.value.value)
    case 'pools': {
      const v = body.value
      return self('pools.coordinator', v.coordinator, sender) ?? counter('pools.term', v.term) ?? counter('pools.seq', v.seq) ??
        time('pools.timeMs', v.timeMs) ?? most('pools.pools', v.pools.length, L.pools) ??
        most('pools.slots', v.pools.reduce((n, p) => n + p.slots.length, 0), L.poolSlots) ?? most('pools.events', v.events.length, L.poolEvents)
    }
    case 'commandResult': {
      const v = body.value
      return counter('commandResult.term', v.term) ?? optionalId('commandResult.coordinator', v.coordinator) ??
        (v.ack === undefined ? undefined : commandAck(v.ack, 'commandResult.ack'))
    }
  }
}

function finite (at: string, v: number): string | undefined {
  return Number.isFinite(v) ? undefined : `${at} ${v} is not a finite number`
}

function pushPull (v: PushPull): string | undefined {
  const p = 'pushPull'
  return most(`${p}.digest`, v.digest.length, L.fleetNodes) ??
    most(`${p}.members`, v.members.length, L.fleetNodes) ??
    most(`${p}.health`, v.health.length, L.fleetNodes) ??
    first(v.digest, (e, i) => digest(e, `${p}.digest[${i}]`)) ??
    // Relayed state: the reporter or node is whoever first said it, not the push-pull's sender.
    first(v.members, (m, i) => member(m, `${p}.members[${i}]`)) ??
    first(v.health, (h, i) => health(h, `${p}.health[${i}]`)) ??
    (v.coordinator === undefined ? undefined : announce(v.coordinator, `${p}.coordinator`, true))
}

function member (v: MemberUpdate, at: string): string | undefined {
  return id(`${at}.node`, v.node) ?? memberState(`${at}.state`, v.state) ?? counter(`${at}.incarnation`, v.incarnation) ??
    id(`${at}.reporter`, v.reporter) ?? most(`${at}.addrs`, v.addrs.length, L.addrs) ??
    first(v.addrs, (a, i) => text(`${at}.addrs[${i}]`, a, L.addrChars)) ??
    most(`${at}.meta.labels`, v.meta === undefined ? 0 : Object.keys(v.meta.labels).length, L.labels)
}

function health (v: HealthUpdate, at: string): string | undefined {
  return id(`${at}.node`, v.node) ?? counter(`${at}.incarnation`, v.incarnation) ?? counter(`${at}.seq`, v.seq) ??
    time(`${at}.timeMs`, v.timeMs) ?? most(`${at}.verdict.reasons`, v.verdict?.reasons.length ?? 0, L.reasons) ??
    most(`${at}.incidents`, v.incidents.length, L.incidents) ??
    first(v.incidents, (inc, i) => most(`${at}.incidents[${i}].events`, inc.events.length, L.incidentMembers) ??
      most(`${at}.incidents[${i}].findings`, inc.findings.length, L.incidentMembers)) ??
    most(`${at}.gpus`, v.gpus.length, L.gpus) ??
    most(`${at}.bootGate.failures`, v.bootGate?.failures.length ?? 0, L.bootGateEntries) ??
    most(`${at}.bootGate.models`, v.bootGate?.models.length ?? 0, L.bootGateEntries)
}

/** relayed: inside a push-pull, where "no coordinator known" (an empty id) is a fair answer. */
function announce (v: CoordinatorAnnounce, at: string, relayed = false): string | undefined {
  return counter(`${at}.term`, v.term) ??
    (relayed ? optionalId(`${at}.coordinator`, v.coordinator) : id(`${at}.coordinator`, v.coordinator)) ??
    council(`${at}.council`, v.council) ?? time(`${at}.timeMs`, v.timeMs)
}

function council (at: string, v: Council | undefined): string | undefined {
  if (v === undefined) return undefined
  return counter(`${at}.epoch`, v.epoch) ?? most(`${at}.members`, v.members.length, L.councilMembers) ??
    first(v.members, (m, i) => id(`${at}.members[${i}]`, m))
}

function commandAck (v: CommandAck, at: string): string | undefined {
  return id(`${at}.node`, v.node) ?? counter(`${at}.term`, v.term) ?? time(`${at}.timeMs`, v.timeMs)
}

function digest (e: DigestEntry, at: string): string | undefined {
  return id(`${at}.node`, e.node) ?? memberState(`${at}.state`, e.state) ?? counter(`${at}.incarnation`, e.incarnation) ??
    counter(`${at}.healthIncarnation`, e.healthIncarnation) ?? counter(`${at}.healthSeq`, e.healthSeq)
}

// ---- leaves: each returns a sentence naming the field, or undefined ----

function self (field: string, value: string, sender: NodeId): string | undefined {
  return value === sender ? undefined : `${field} ${q(value)} is not the sender ${q(sender)}`
}

const ID = /^[A-Za-z0-9]+$/

function id (field: string, value: string): string | undefined {
  if (value === '') return `${field} is empty`
  if (value.length > L.idChars) return `${field} has ${value.length} characters, more than ${L.idChars}`
  return ID.test(value) ? undefined : `${field} ${q(value)} is not a node id`
}

function optionalId (field: string, value: string): string | undefined {
  return value === '' ? undefined : id(field, value)
}

function text (field: string, value: string, maxChars: number): string | undefined {
  return value.length > maxChars ? `${field} has ${value.length} characters, more than ${maxChars}` : undefined
}

/** Incarnations, sequence numbers, terms, epochs: whole, non-negative, exact in a double. */
function counter (field: string, value: number): string | undefined {
  return Number.isSafeInteger(value) && value >= 0 ? undefined : `${field} ${value} is not a counter`
}

function isTime (value: number): boolean {
  return Number.isFinite(value) && value >= 0
}

function time (field: string, value: number): string | undefined {
  return isTime(value) ? undefined : `${field} ${value} is not a time`
}

const MEMBER_STATES = new Set<number>([MemberState.ALIVE, MemberState.SUSPECT, MemberState.DEAD, MemberState.LEFT])

function memberState (field: string, value: MemberState): string | undefined {
  return MEMBER_STATES.has(value) ? undefined : `${field} ${value} is not a member state`
}

function most (field: string, count: number, max: number): string | undefined {
  return count > max ? `${field} has ${count} entries, more than ${max}` : undefined
}

function first<T> (items: readonly T[], check: (item: T, index: number) => string | undefined): string | undefined {
  for (let i = 0; i < items.length; i++) {
    const problem = check(items[i]!, i)
    if (problem !== undefined) return problem
  }
  return undefined
}

function reject (reason: string): Verdict {
  return { result: 'reject', reason }
}

function ignore (reason: string): Verdict {
  return { result: 'ignore', reason }
}

function clip (text: string): string {
  return text.length > 120 ? `${text.slice(0, 120)}…` : text
}

/** Peer-supplied text in a reason: quoted, clipped, so a log line stays one short line. */
function q (text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)
}
