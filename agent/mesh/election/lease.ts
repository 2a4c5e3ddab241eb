// The majority lease (docs/election.md, "Why two coordinators never act at once").
//
// A voter that acks a renew (or grants a vote) promises no vote for anyone else until receipt +
// leaseMs by its own clock. The coordinator sent that renew earlier, at sendMs by its own clock;
// once a majority of the council (itself included) acked it, the coordinator may act until
// sendMs + leaseMs × (1 − drift) − margin. Measured on any other clock that interval is at most
// leaseMs × (1 − drift) × (1 + drift) − margin < leaseMs, and it starts before any voter's receipt,
// so it ends before the promise of every voter in that majority does.
import { assert } from '../../lib/assert.js'
import type { NodeId } from '../types.js'
import { usableLeaseMs, type ElectionConfig } from './config.js'
import { hasMajority } from './council.js'

/** Until when a coordinator may act on a renew sent at sendMs that a majority acked (its clock). */
export function leaseUntilMs (sendMs: number, config: ElectionConfig): number {
  return sendMs + usableLeaseMs(config)
}

/** Until when a voter that acked (or voted) at receivedMs refuses anyone else (its clock). */
export function promiseUntilMs (receivedMs: number, config: ElectionConfig): number {
  return receivedMs + config.leaseMs
}

/** What a voter owes: no vote for anyone but `to` before `until`. `to` null: nobody (after a restart). */
export interface VoterPromise {
  readonly to: NodeId | null
  readonly until: number
}

interface RenewRecord {
  readonly sendMs: number
  /** The council the renew was counted against: the one in force when it was sent. */
  readonly members: readonly NodeId[]
  readonly acks: Set<NodeId>
  done: boolean
}

/**
 * The coordinator's renews in flight, by lease_seq. Bounded: a renew older than leaseMs can no
 * longer extend the lease, and at most MAX_RENEWS_IN_FLIGHT are kept (the oldest go first).
 */
export const MAX_RENEWS_IN_FLIGHT = 32

export class LeaseTracker {
  readonly #self: NodeId
  readonly #records = new Map<number, RenewRecord>()

  constructor (self: NodeId) {
    this.#self = self
  }

  get size (): number { return this.#records.size }

  /** A renew left at sendMs. Returns its send time when the coordinator alone is a majority. */
  sent (seq: number, sendMs: number, members: readonly NodeId[], leaseMs: number): number | undefined {
    assert(!this.#records.has(seq), `lease_seq ${seq} sent twice`)
    assert(members.includes(this.#self), 'a coordinator renews a council it is not in')
    for (const [s, r] of this.#records) {
      if (r.sendMs + leaseMs <= sendMs || this.#records.size >= MAX_RENEWS_IN_FLIGHT) this.#records.delete(s)
    }
    const record: RenewRecord = { sendMs, members, acks: new Set([this.#self]), done: false }
    this.#records.set(seq, record)
    return this.#check(record)
  }

  /** A granted ack. Returns the renew's send time when this ack completed its majority. */
  acked (seq: number, voter: NodeId): number | undefined {
    const record = this.#records.get(seq)
    if (record === undefined || !record.members.includes(voter)) return undefined
    record.acks.add(voter)
    return this.#check(record)
  }

  clear (): void { this.#records.clear() }

  #check (record: RenewRecord): number | undefined {
    if (record.done || !hasMajority(record.members, record.acks)) return undefined
    record.done = true
    return record.sendMs
  }
}
