// The coordinator election (DESIGN.md §5, docs/election.md): Raft's election rules over a small
// council, a majority lease, one-at-a-time council changes and terms as fencing tokens. A
// synchronous state machine: messages and the passing of time go in with `now`; sends, publishes,
// the state to persist and events come out. No I/O, no clock, randomness from the injected Rng.
//
// Roles: a council member is a voter; an eligible voter whose coordinator falls silent first asks
// for pre-votes (PreVote, Raft thesis §9.6: nothing raised, nothing persisted) and, with a majority
// of them, becomes a candidate; the candidate with a majority of votes is the coordinator, and acts
// only while a majority of the council has acked a recent renew (acting()). Everyone else is an
// observer that follows the coord topic's announcements and never votes.
//
// Two terms: the Raft term (persisted, the highest seen; votes and candidacies use it) and the term
// this node speaks in and fences commands with (`term`). They differ only while it follows a
// coordinator of a lower term whose newer council it adopted after being cut off (docs/election.md,
// "Rejoining after a partition").
import { create } from '@bufbuild/protobuf'
import {
  CoordinatorAnnounceSchema, LeaseAckSchema, LeaseRenewSchema, VoteReplySchema, VoteRequestSchema,
  type CoordinatorAnnounce, type LeaseAck, type LeaseRenew, type VoteReply, type VoteRequest,
} from '../../../proto/gen/shoal_pb.js'
import { assert } from '../../lib/assert.js'
import type { Rng } from '../../lib/rng.js'
import type { Body, NodeId, Publish, Send } from '../types.js'
import { validateElectionConfig, type ElectionConfig } from './config.js'
import {
  FOUNDING_EPOCH, assertCouncil, councilFromWire, councilToWire, epochTerm, formatEpoch, hasMajority, nextChange,
  nextEpoch, type CouncilView,
} from './council.js'
import { LeaseTracker, MAX_RENEWS_IN_FLIGHT, leaseUntilMs, promiseUntilMs, type VoterPromise } from './lease.js'
import { isStaleTerm, isWireNumber, isWireTerm } from './term.js'

export { DEFAULT_ELECTION_CONFIG, ElectionConfigError, MAX_COUNCIL_SIZE, failoverBoundMs, usableLeaseMs, validateElectionConfig, type ElectionConfig } from './config.js'
export { EPOCH_TERM_STRIDE, FOUNDING_EPOCH, epochTerm, formatEpoch, majority, type CouncilView } from './council.js'
export { leaseUntilMs, promiseUntilMs } from './lease.js'
export { MAX_TERM, isStaleTerm } from './term.js'

/**
 * What must survive a restart (DESIGN.md §7, sublevel election). `council` is the latest council
 * this node holds, a proposal it acked included (Raft §4.1: a server uses the latest configuration
 * it has, committed or not).
 */
export interface ElectionState {
  term: number
  votedFor: NodeId | null
  council: { epoch: number, members: NodeId[] } | null
}

export interface ElectionEvent {
  kind: 'term' | 'coordinator' | 'council' | 'lease-lost' | 'lease-acquired' | 'stepped-down'
  term: number
  detail: string
  node?: NodeId
}

export interface ElectionEffects {
  send: Send[]
  publish: Publish[]
  /** The new durable state: the driver writes it BEFORE any send/publish of the same effects leaves the host. */
  persist?: ElectionState
  events: ElectionEvent[]
}

export type Role = 'coordinator' | 'candidate' | 'voter' | 'observer'

export interface ElectionStatus {
  role: Role
  term: number
  coordinator: NodeId | undefined
  council: { epoch: number, members: NodeId[] } | undefined
  acting: boolean
  leaseUntilMs: number
  sinceMs: number
}

/** A council change awaiting a majority of the council in force (and the newcomer's own ack). */
interface Proposal {
  readonly view: CouncilView
  readonly acks: Set<NodeId>
  readonly joining: NodeId | undefined
}

interface Out {
  readonly send: Send[]
  readonly publish: Publish[]
  readonly events: ElectionEvent[]
  dirty: boolean
}

const NO_PROMISE: VoterPromise = { to: null, until: -Infinity }

export class Election {
  readonly #self: NodeId
  readonly #config: ElectionConfig
  readonly #rng: Rng
  #eligible: boolean
  // Durable (ElectionState): the highest term seen, this term's vote, the latest council.
  #term = 0
  #votedFor: NodeId | null = null
  /** The coordinator's council in force; for everyone else the latest one they hold. */
  #council: CouncilView | null = null
  #role: Role = 'observer'
  #coordinator: NodeId | undefined
  #sinceMs: number
  /** Voter and candidate: when to stand (again). Infinity: never (observer, not eligible). */
  #electionAt = Infinity
  #promise: VoterPromise = NO_PROMISE
  /**
   * While this node follows a coordinator of a term below its Raft term (it adopted that
   * coordinator's newer council after its own term rose while cut off): that coordinator's term,
   * the one it speaks in and fences commands with. Not persisted: a restart starts without it.
   */
  #followTerm: number | undefined
  /**
   * The highest term in which this node heard from a coordinator (a renew, an announcement, a
   * command, its own win): never follow a coordinator below it. Terms raised by elections alone
   * (candidacies, vote requests and replies) do not count. Not persisted: a restart starts it at
   * the persisted term, as it can no longer tell where that term came from.
   */
  #fenceFloor = 0
  /** Set when this node founds a fleet: it elects itself at its first tick. */
  #foundAt: number | undefined
  // Pre-candidate (a voter asking for pre-votes): the term asked (Raft term + 1) and who granted.
  #preVoteTerm: number | undefined
  readonly #preVotes = new Set<NodeId>()
  // Candidate.
  readonly #votes = new Set<NodeId>()
  #campaignMs = 0
  // Coordinator.
  readonly #leases: LeaseTracker
  #leaseSeq = 0
  #leaseUntil = -Infinity
  #leaseHeld = false
  #lastMajorityMs = -Infinity
  #nextRenewAt = Infinity
  #nextAnnounceAt = Infinity
  #proposal: Proposal | undefined
  /** setCandidates since this node last won: no council change is made on an older list. */
  #candidatesFresh = false
  #candidates: readonly NodeId[] = []
  #candidateSet: ReadonlySet<NodeId> = new Set()
  #announcement: CoordinatorAnnounce | undefined
  #out: Out | undefined

  /** `found`: this node founds a new fleet (council of one: itself, epoch 1) when it has no persisted council. A node that does not found waits to learn the council. */
  constructor (self: NodeId, opts: { eligible: boolean, found: boolean }, config: ElectionConfig,
    persisted: ElectionState | null, rng: Rng, now: number) {
    validateElectionConfig(config)
    assert(self !== '', 'an election needs a node id')
    this.#self = self
    this.#config = config
    this.#rng = rng
    this.#eligible = opts.eligible
    this.#leases = new LeaseTracker(self)
    this.#sinceMs = now
    if (persisted !== null) {
      assert(isWireTerm(persisted.term), `persisted term ${persisted.term}`)
      this.#term = persisted.term
      this.#fenceFloor = persisted.term
      this.#votedFor = persisted.votedFor
      if (persisted.council !== null) {
        this.#council = { epoch: persisted.council.epoch, members: [...persisted.council.members] }
        assertCouncil(this.#council, 'persisted election state')
      }
      // The process before this one may have acked a renew just before it died, and promises are
      // not persisted: honour an unknown coordinator for one lease before voting for anyone.
      this.#promise = { to: null, until: promiseUntilMs(now, config) }
    }
    if (this.#council === null && opts.found) {
      assert(opts.eligible, 'only a coordinator-eligible node can found a fleet')
      this.#foundAt = now
    }
    this.#follow(now)
    this.#check()
  }

  // ---- inputs ---------------------------------------------------------------------------------

  /** Election timeouts, lease renewals, lease expiry, periodic announce. */
  tick (now: number): ElectionEffects {
    this.#open()
    if (this.#foundAt !== undefined && now >= this.#foundAt) this.#found(now)
    switch (this.#role) {
      case 'coordinator': this.#tickCoordinator(now); break
      case 'candidate':
      case 'voter': if (now >= this.#electionAt) this.#electionTimeout(now); break
      case 'observer': break
    }
    return this.#close()
  }

  nextWakeAt (): number {
    if (this.#foundAt !== undefined) return this.#foundAt
    switch (this.#role) {
      case 'coordinator':
        return Math.min(this.#nextRenewAt, this.#nextAnnounceAt, this.#lastMajorityMs + this.#config.stepDownAfterMs,
          this.#leaseHeld ? this.#leaseUntil : Infinity)
      case 'candidate':
      case 'voter':
        return this.#electionAt
      case 'observer':
        return Infinity
    }
  }

  /** vote_request, vote_reply, lease_renew, lease_ack over direct streams; anything else is ignored. */
  receive (from: NodeId, body: Body, now: number): ElectionEffects {
    this.#open()
    if (from !== this.#self) {
      switch (body.case) {
        case 'voteRequest': this.#onVoteRequest(from, body.value, now); break
        case 'voteReply': this.#onVoteReply(from, body.value, now); break
        case 'leaseRenew': this.#onRenew(from, body.value, now); break
        case 'leaseAck': this.#onAck(from, body.value, now); break
        default: break
      }
    }
    return this.#close()
  }

  /** From the 'coord' topic or push-pull repair; `from` is the signer and must be the coordinator. */
  announce (from: NodeId, a: CoordinatorAnnounce, now: number): ElectionEffects {
    this.#open()
    const view = councilFromWire(a.council)
    const valid = a.coordinator === from && isWireTerm(a.term) && a.term > 0 && view !== undefined && epochTerm(view.epoch) <= a.term
    if (!valid) return this.#close()
    if (a.coordinator === this.#self) {
      // Our own, echoed back or from before a restart: never a reason to resume coordinating.
      if (a.term > this.#term) this.#adoptTerm(a.term, now, 'our own announcement from before a restart')
    } else if (!isStaleTerm(a.term, this.term)) {
      if (this.#accepts(from, a.term, now, 'announcement')) {
        this.#setCoordinator(from, now)
        this.#adoptView(view, a.term, now)
        this.#keepAnnouncement(a)
      }
    } else if (this.#mayFollowLower(from, a.term, view, now)) {
      this.#followLower(from, a.term, view, now, 'announcement')
      this.#keepAnnouncement(a)
    }
    return this.#close()
  }

  /**
   * Whether an announcement could change whom this node follows: the driver's freshness check for
   * the coord topic and push-pull (a false one is neither applied nor passed on). True for a term
   * not below `term`, and for a lower term that carries a newer council (the rejoin rule).
   */
  wantsAnnouncement (a: CoordinatorAnnounce): boolean {
    if (!isWireTerm(a.term)) return false
    if (!isStaleTerm(a.term, this.term)) return true
    const view = councilFromWire(a.council)
    return view !== undefined && a.term >= this.#fenceFloor && this.#newerCouncil(view)
  }

  /** The coordinator's input for council changes: the coordinator-eligible members that are alive and healthy, in a stable order. Others in the council are candidates for removal. */
  setCandidates (eligible: readonly NodeId[], now: number): ElectionEffects {
    this.#open()
    assert(eligible.length <= this.#config.maxCandidates, `${eligible.length} council candidates (at most ${this.#config.maxCandidates})`)
    this.#candidates = [...eligible]
    this.#candidateSet = new Set(eligible)
    this.#candidatesFresh = true
    this.#propose(now)
    return this.#close()
  }

  /** This node may (or may no longer) coordinate. A coordinator that loses eligibility steps down. */
  setEligible (eligible: boolean, now: number): ElectionEffects {
    this.#open()
    this.#eligible = eligible
    if (!eligible) this.#cancelPreVote()
    if (!eligible && this.#role === 'coordinator') this.#stepDown(now, 'no longer coordinator-eligible')
    if (!eligible && this.#role === 'candidate') this.#follow(now)
    if (this.#role === 'voter') this.#electionAt = eligible ? Math.min(this.#electionAt, now + this.#timeout()) : Infinity
    return this.#close()
  }

  /** A command carried a term (its sender claims to coordinate it): raise our view of it (may persist). */
  observeTerm (term: number, now: number): ElectionEffects {
    this.#open()
    if (isWireTerm(term)) {
      if (term > this.#term) this.#adoptTerm(term, now, 'seen on a command')
      else this.#raiseFollowTerm(term, now)
      this.#fenceFloor = Math.max(this.#fenceFloor, term)
    }
    return this.#close()
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** True only for the coordinator while its majority lease is valid. */
  acting (now: number): boolean {
    return this.#role === 'coordinator' && now < this.#leaseUntil
  }

  status (now: number): ElectionStatus {
    const c = this.#council
    return {
      role: this.#role,
      term: this.term,
      coordinator: this.#coordinator,
      council: c === null ? undefined : { epoch: c.epoch, members: [...c.members] },
      acting: this.acting(now),
      leaseUntilMs: this.#role === 'coordinator' && Number.isFinite(this.#leaseUntil) ? this.#leaseUntil : 0,
      sinceMs: this.#sinceMs,
    }
  }

  /** The latest announcement known (ours when coordinating), for push-pull repair. */
  announcement (): CoordinatorAnnounce | undefined {
    return this.#announcement
  }

  /**
   * Fencing: the term this node speaks in; a command with a lower term must be refused. The Raft
   * term (the highest seen, persisted), except while this node follows a coordinator of a lower
   * term whose newer council it adopted: then that coordinator's term, so that its commands,
   * renews and announcements are not refused because this node's own term rose while cut off.
   */
  get term (): number {
    return this.#followTerm ?? this.#term
  }

  /** Raft's currentTerm: the highest term seen, persisted; votes and candidacies use it. Never below `term`. */
  get raftTerm (): number {
    return this.#term
  }

  // ---- votes ----------------------------------------------------------------------------------

  /** A voter's (or a candidate's, after a split vote) timer ran out: ask for pre-votes. */
  #electionTimeout (now: number): void {
    if (this.#role === 'candidate') this.#follow(now)
    if (!this.#eligible || !this.#isMember()) {
      this.#electionAt = Infinity
      return
    }
    // The timeout exceeds the lease, so this only waits out a restart's quiet lease.
    if (this.#promise.to !== this.#self && now < this.#promise.until) {
      this.#electionAt = this.#promise.until
      return
    }
    this.#preCampaign(now)
  }

  /**
   * PreVote (Raft thesis §9.6): ask the council whether it would vote for us in term + 1, without
   * raising or persisting anything. Only a pre-vote majority starts the real election, so a member
   * cut off from a majority keeps its term however often it times out, and cannot disrupt the
   * coordinator when it returns.
   */
  #preCampaign (now: number): void {
    const council = this.#council
    assert(council !== null && this.#role === 'voter' && this.#isMember() && this.#eligible, 'only an eligible voter asks for pre-votes')
    this.#preVoteTerm = this.#term + 1
    this.#preVotes.clear()
    this.#preVotes.add(this.#self)
    this.#electionAt = now + this.#timeout()
    const request = create(VoteRequestSchema, { term: this.#preVoteTerm, candidate: this.#self, epoch: council.epoch, preVote: true })
    for (const m of council.members) {
      if (m !== this.#self) this.#send(m, { case: 'voteRequest', value: request })
    }
    if (hasMajority(council.members, this.#preVotes)) this.#campaign(now)
  }

  #cancelPreVote (): void {
    this.#preVoteTerm = undefined
    this.#preVotes.clear()
  }

  /** Raft §5.2: a new term, a vote for ourselves (persisted before the requests leave), ask every member. */
  #campaign (now: number): void {
    const council = this.#council
    assert(council !== null && this.#isMember() && this.#eligible, 'only an eligible council member stands')
    const asked = this.#preVoteTerm
    assert(asked === undefined || asked === this.#term + 1, `pre-votes for term ${asked} at term ${this.#term}`)
    this.#cancelPreVote()
    this.#setTerm(this.#term + 1)
    this.#votedFor = this.#self
    this.#role = 'candidate'
    this.#setCoordinator(undefined, now)
    this.#votes.clear()
    this.#votes.add(this.#self)
    this.#campaignMs = now
    this.#electionAt = now + this.#timeout()
    this.#event('term', `stood for election with council epoch ${formatEpoch(council.epoch)}`)
    const request = create(VoteRequestSchema, { term: this.#term, candidate: this.#self, epoch: council.epoch })
    for (const m of council.members) {
      if (m !== this.#self) this.#send(m, { case: 'voteRequest', value: request })
    }
    if (hasMajority(council.members, this.#votes)) this.#win(now)
  }

  #onVoteRequest (from: NodeId, q: VoteRequest, now: number): void {
    if (q.candidate !== from || !isWireTerm(q.term) || !isWireNumber(q.epoch)) return
    if (q.preVote) return this.#replyPreVote(from, q.term, this.#grantsPreVote(from, q, now))
    const council = this.#council
    if (council === null || !this.#isMember()) return this.#replyVote(from, false)
    // Lease stickiness (Raft thesis §4.2.3): while a promise holds, neither vote nor raise the term,
    // so a candidate cut off from a live coordinator cannot depose it.
    if (this.#promise.to !== from && now < this.#promise.until) return this.#replyVote(from, false)
    if (isStaleTerm(q.term, this.#term)) return this.#replyVote(from, false)
    if (q.term > this.#term) this.#adoptTerm(q.term, now, `vote request from ${from}`)
    // Raft §5.4.1 with the council as the only log: never help a candidate that holds an older one.
    if (q.epoch < council.epoch) return this.#replyVote(from, false)
    if (this.#votedFor !== null && this.#votedFor !== from) return this.#replyVote(from, false)
    assert(this.#role === 'voter', `granting a vote as ${this.#role}`)
    this.#votedFor = from
    this.#out!.dirty = true
    // The vote is the candidate's first lease ack: the same promise as a renew's.
    this.#promise = { to: from, until: promiseUntilMs(now, this.#config) }
    this.#electionAt = this.#eligible ? now + this.#timeout() : Infinity
    this.#replyVote(from, true)
  }

  #replyVote (to: NodeId, granted: boolean): void {
    const reply = create(VoteReplySchema, { term: this.#term, voter: this.#self, granted, epoch: this.#council?.epoch ?? 0 })
    this.#send(to, { case: 'voteReply', value: reply })
  }

  /**
   * The pre-vote rules (docs/election.md, "PreVote"): a member grants when it would grant the real
   * vote as far as it can tell today, and changes nothing whatever it answers (no term, no vote, no
   * promise, no timer, nothing persisted).
   */
  #grantsPreVote (from: NodeId, q: VoteRequest, now: number): boolean {
    const council = this.#council
    if (council === null || !this.#isMember()) return false
    // Lease stickiness, as for a real vote: a coordinator that may still hold a lease keeps us.
    if (this.#promise.to !== from && now < this.#promise.until) return false
    if (q.epoch < council.epoch) return false
    if (q.term > this.#term) return true
    // The term we are in (the candidate is one behind): only if we could still vote for it in it.
    return q.term === this.#term && (this.#votedFor === from || (this.#votedFor === null && this.#coordinator === undefined))
  }

  /** A granted pre-vote echoes the asked term (so the asker can match it); a refusal carries ours. */
  #replyPreVote (to: NodeId, asked: number, granted: boolean): void {
    const reply = create(VoteReplySchema, {
      term: granted ? asked : this.#term, voter: this.#self, granted, epoch: this.#council?.epoch ?? 0, preVote: true,
    })
    this.#send(to, { case: 'voteReply', value: reply })
  }

  /** Never adopts a term: a refusal's higher term would let a cut-off member raise ours. */
  #onPreVoteReply (from: NodeId, r: VoteReply, now: number): void {
    const council = this.#council
    if (this.#preVoteTerm === undefined || r.term !== this.#preVoteTerm || !r.granted || council === null) return
    if (!council.members.includes(from)) return
    this.#preVotes.add(from)
    assert(this.#preVotes.size <= council.members.length, 'more pre-votes than council members')
    if (hasMajority(council.members, this.#preVotes)) this.#campaign(now)
  }

  #onVoteReply (from: NodeId, r: VoteReply, now: number): void {
    if (r.voter !== from || !isWireTerm(r.term)) return
    if (r.preVote) return this.#onPreVoteReply(from, r, now)
    if (r.term > this.#term) return this.#adoptTerm(r.term, now, `vote reply from ${from}`)
    const council = this.#council
    if (this.#role !== 'candidate' || r.term !== this.#term || !r.granted || council === null) return
    if (!council.members.includes(from)) return
    this.#votes.add(from)
    assert(this.#votes.size <= council.members.length, 'more votes than council members')
    if (hasMajority(council.members, this.#votes)) this.#win(now)
  }

  #win (now: number): void {
    const council = this.#council
    assert(council !== null && this.#role === 'candidate', 'only a candidate wins')
    this.#role = 'coordinator'
    this.#electionAt = Infinity
    this.#setCoordinator(this.#self, now)
    this.#proposal = undefined
    this.#candidatesFresh = false
    this.#leases.clear()
    this.#leaseUntil = -Infinity
    this.#leaseHeld = false
    this.#lastMajorityMs = -Infinity
    this.#fenceFloor = this.#term
    this.#event('coordinator', `won with votes from ${[...this.#votes].sort().join(', ')}`, this.#self)
    this.#votes.clear()
    // The votes are the first lease: promised from their receipt, counted from our request.
    this.#majority(this.#campaignMs, now)
    this.#announce(now)
    this.#renew(now)
  }

  // ---- coordinator: lease -------------------------------------------------------------------------

  #tickCoordinator (now: number): void {
    if (this.#leaseHeld && now >= this.#leaseUntil) {
      this.#leaseHeld = false
      this.#event('lease-lost', `no majority ack in time: the lease ended at ${this.#leaseUntil}`)
    }
    if (now >= this.#lastMajorityMs + this.#config.stepDownAfterMs) {
      return this.#stepDown(now, `no renew acked by a majority for ${this.#config.stepDownAfterMs} ms`)
    }
    if (now >= this.#nextRenewAt) this.#renew(now)
    if (now >= this.#nextAnnounceAt) this.#announce(now)
    this.#propose(now)
  }

  #renew (now: number): void {
    const council = this.#council
    assert(council !== null && this.#role === 'coordinator', 'only the coordinator renews')
    const seq = ++this.#leaseSeq
    this.#nextRenewAt = now + this.#config.renewIntervalMs
    const p = this.#proposal
    const renew = create(LeaseRenewSchema, {
      term: this.#term, coordinator: this.#self, leaseSeq: seq, council: councilToWire(council),
      proposed: p === undefined ? undefined : councilToWire(p.view),
    })
    // A proposal goes to the newcomer too: that is how it learns the council it is joining.
    const to = new Set([...council.members, ...(p?.view.members ?? [])])
    to.delete(this.#self)
    for (const m of to) this.#send(m, { case: 'leaseRenew', value: renew })
    const done = this.#leases.sent(seq, now, council.members, this.#config.leaseMs)
    if (done !== undefined) this.#majority(done, now)
  }

  #onAck (from: NodeId, a: LeaseAck, now: number): void {
    if (a.voter !== from || !isWireTerm(a.term) || !isWireNumber(a.leaseSeq)) return
    if (a.term > this.#term) return this.#adoptTerm(a.term, now, `lease ack from ${from}`)
    if (this.#role !== 'coordinator' || a.term !== this.#term || !a.granted) return
    const done = this.#leases.acked(a.leaseSeq, from)
    if (done !== undefined) this.#majority(done, now)
    const p = this.#proposal
    if (p !== undefined && a.epoch === p.view.epoch && (this.#council!.members.includes(from) || from === p.joining)) {
      p.acks.add(from)
      this.#commitIfReady(now)
    }
    this.#propose(now)
  }

  /** A majority acked the renew (or granted the votes) sent at sendMs. */
  #majority (sendMs: number, now: number): void {
    this.#leaseUntil = Math.max(this.#leaseUntil, leaseUntilMs(sendMs, this.#config))
    this.#lastMajorityMs = Math.max(this.#lastMajorityMs, sendMs)
    // Our own ack: we too vote for nobody else while our lease could be counted on.
    const until = promiseUntilMs(sendMs, this.#config)
    this.#promise = { to: this.#self, until: this.#promise.to === this.#self ? Math.max(this.#promise.until, until) : until }
    if (!this.#leaseHeld && now < this.#leaseUntil) {
      this.#leaseHeld = true
      this.#event('lease-acquired', `acting until ${this.#leaseUntil}`)
    }
  }

  #announce (now: number): void {
    const council = this.#council
    assert(council !== null && this.#role === 'coordinator', 'only the coordinator announces')
    const a = create(CoordinatorAnnounceSchema, { term: this.#term, coordinator: this.#self, council: councilToWire(council), timeMs: now })
    this.#announcement = a
    this.#nextAnnounceAt = now + this.#config.announceIntervalMs
    this.#out!.publish.push({ topic: 'coord', body: { case: 'coordinator', value: a } })
  }

  #stepDown (now: number, why: string): void {
    assert(this.#role === 'coordinator', 'only the coordinator steps down')
    const wasActing = this.acting(now)
    // Our proposal is the latest council we hold (and persisted): Raft keeps it too.
    if (this.#proposal !== undefined) this.#council = this.#proposal.view
    this.#proposal = undefined
    this.#leases.clear()
    this.#leaseUntil = -Infinity
    this.#leaseHeld = false
    this.#lastMajorityMs = -Infinity
    this.#nextRenewAt = Infinity
    this.#nextAnnounceAt = Infinity
    this.#promise = NO_PROMISE
    this.#role = this.#isMember() ? 'voter' : 'observer'
    this.#electionAt = this.#role === 'voter' && this.#eligible ? now + this.#timeout() : Infinity
    this.#setCoordinator(undefined, now)
    if (wasActing) this.#event('lease-lost', 'stepped down while acting')
    this.#event('stepped-down', why)
  }

  // ---- coordinator: council changes -----------------------------------------------------------

  /** One change at a time, only while acting, only on a candidate list given since we won. */
  #propose (now: number): void {
    const council = this.#council
    if (this.#role !== 'coordinator' || this.#proposal !== undefined || !this.#candidatesFresh || council === null) return
    if (!this.acting(now)) return
    const change = nextChange(council, this.#candidateSet, this.#candidates, this.#self, this.#config.councilSize)
    if (change === undefined) return
    const epoch = nextEpoch(council.epoch, this.#term)
    if (epoch === undefined) return
    this.#proposal = {
      view: { epoch, members: change.members },
      acks: new Set([this.#self]),
      joining: change.kind === 'add' ? change.node : undefined,
    }
    // We count ourselves among the old council's acks, so we hold the proposal durably like them.
    this.#out!.dirty = true
    this.#renew(now)
    this.#commitIfReady(now)
  }

  /**
   * Committed once a majority of the council in force acked a renew carrying the proposal (each
   * holds it durably) and, for an addition, the newcomer did too: a member that never answered
   * would otherwise join, and a council of two with a dead member can never change again.
   */
  #commitIfReady (now: number): void {
    const p = this.#proposal
    const council = this.#council
    if (p === undefined || council === null) return
    if (!hasMajority(council.members, p.acks)) return
    if (p.joining !== undefined && !p.acks.has(p.joining)) return
    const before = new Set(council.members)
    const added = p.view.members.filter((m) => !before.has(m))
    const removed = council.members.filter((m) => !p.view.members.includes(m))
    this.#council = p.view
    this.#proposal = undefined
    this.#out!.dirty = true
    this.#event('council', `council ${formatEpoch(p.view.epoch)}: ${p.view.members.join(', ')}` +
      `${added.length > 0 ? ` (added ${added.join(', ')})` : ''}${removed.length > 0 ? ` (removed ${removed.join(', ')})` : ''}`)
    this.#announce(now)
    this.#propose(now)
  }

  // ---- following a coordinator ------------------------------------------------------------------

  #onRenew (from: NodeId, r: LeaseRenew, now: number): void {
    if (r.coordinator !== from || !isWireTerm(r.term) || !isWireNumber(r.leaseSeq)) return
    const inForce = councilFromWire(r.council)
    const proposed = councilFromWire(r.proposed)
    if (inForce === undefined || (r.proposed !== undefined && (proposed === undefined || proposed.epoch <= inForce.epoch))) return
    // A council from a term after the renew's own cannot exist: malformed.
    if (epochTerm((proposed ?? inForce).epoch) > r.term) return
    if (!isStaleTerm(r.term, this.term)) {
      if (!this.#accepts(from, r.term, now, 'renew')) return
      this.#setCoordinator(from, now)
      this.#adoptView(proposed ?? inForce, r.term, now)
    } else if (this.#mayFollowLower(from, r.term, proposed ?? inForce, now)) {
      this.#followLower(from, r.term, proposed ?? inForce, now, 'renew')
    } else {
      // Raft: a stale coordinator learns our term from the refusal and steps down.
      return this.#replyAck(from, r.leaseSeq, false)
    }
    this.#promise = { to: from, until: promiseUntilMs(now, this.#config) }
    this.#electionAt = this.#role === 'voter' && this.#eligible ? now + this.#timeout() : Infinity
    this.#replyAck(from, r.leaseSeq, true)
  }

  /** In `term`: a node that follows a lower-term coordinator acks it in that term, never deposing it with its own. */
  #replyAck (to: NodeId, seq: number, granted: boolean): void {
    const ack = create(LeaseAckSchema, { term: this.term, voter: this.#self, leaseSeq: seq, granted, epoch: this.#council?.epoch ?? 0 })
    this.#send(to, { case: 'leaseAck', value: ack })
  }

  /**
   * A renew or announcement from `from` as coordinator of `term` (≥ ours): adopt the term, and
   * follow unless that term already has another coordinator (impossible: one vote per node per
   * term, one majority per term) or it is us.
   */
  #accepts (from: NodeId, term: number, now: number, what: string): boolean {
    if (term > this.#term) this.#adoptTerm(term, now, `${what} from ${from}`)
    else this.#raiseFollowTerm(term, now)
    this.#fenceFloor = Math.max(this.#fenceFloor, term)
    if (this.#role === 'coordinator') return false
    if (this.#coordinator !== undefined && this.#coordinator !== from) return false
    if (this.#role === 'candidate') this.#follow(now)
    return true
  }

  /**
   * The rejoin rule (docs/election.md, "Rejoining after a partition"). A coordinator of a term
   * below our Raft term is normally stale. But a member cut off from the majority may have raised
   * its term while the majority elected a coordinator and replaced members: that coordinator's
   * council is newer than ours (epochs order councils the way Raft orders logs). We follow it when
   * nothing we know says it was deposed: it is not below a term in which we heard from a
   * coordinator, we know no coordinator of our own term, and we owe no promise to anyone else.
   */
  #mayFollowLower (from: NodeId, term: number, view: CouncilView, now: number): boolean {
    if (this.#role === 'coordinator' || this.#coordinator !== undefined) return false
    if (term >= this.#term || term < this.#fenceFloor) return false
    if (this.#promise.to !== from && now < this.#promise.until) return false
    return this.#newerCouncil(view)
  }

  #newerCouncil (view: CouncilView): boolean {
    return this.#council === null || view.epoch > this.#council.epoch
  }

  /**
   * Follow `from` in its lower term: adopt its council (persisted), speak and fence in its term,
   * stop standing if no longer a member. The Raft term stays (it is never lowered); a vote request
   * still has to beat it, and this node's own next candidacy is above it.
   */
  #followLower (from: NodeId, term: number, view: CouncilView, now: number, what: string): void {
    assert(this.#mayFollowLower(from, term, view, now), 'following a lower term without cause')
    this.#followTerm = term
    this.#fenceFloor = term
    this.#cancelPreVote()
    if (this.#role === 'candidate') this.#follow(now)
    this.#setCoordinator(from, now,
      `following ${from} in term ${term} below our term ${this.#term}: its ${what} carries the newer council ${formatEpoch(view.epoch)}`)
    this.#adoptView(view, term, now)
  }

  /**
   * A coordinator (or a command) of a term above the one we follow, up to our Raft term: follow
   * that term instead (at our Raft term we no longer follow a lower one). Who leads it comes with
   * its renew or announcement.
   */
  #raiseFollowTerm (term: number, now: number): void {
    if (this.#followTerm === undefined || term <= this.#followTerm) return
    assert(term <= this.#term, `term ${term} above our Raft term ${this.#term} while following a lower one`)
    this.#followTerm = term < this.#term ? term : undefined
    this.#setCoordinator(undefined, now)
  }

  /**
   * Take a coordinator's council. A higher epoch always wins. A lower one wins only over a council
   * proposed in an earlier term than the sender's: that is a leftover proposal that never
   * committed (a committed one would have kept the sender from winning), and Raft drops it too. A
   * lower epoch from the sender's own term is a late, reordered renew.
   */
  #adoptView (view: CouncilView, sourceTerm: number, now: number): void {
    const cur = this.#council
    if (cur !== null) assert(epochTerm(cur.epoch) <= sourceTerm, `council ${cur.epoch} is newer than term ${sourceTerm}`)
    const newer = cur === null || view.epoch > cur.epoch
    const leftover = cur !== null && view.epoch < cur.epoch && epochTerm(cur.epoch) < sourceTerm
    if (!newer && !leftover) return
    this.#council = view
    this.#cancelPreVote()
    this.#out!.dirty = true
    this.#event('council', `council ${formatEpoch(view.epoch)}: ${view.members.join(', ')}`)
    this.#follow(now)
  }

  #keepAnnouncement (a: CoordinatorAnnounce): void {
    const cur = this.#announcement
    if (cur === undefined || a.term > cur.term || (a.term === cur.term && (a.council?.epoch ?? 0) >= (cur.council?.epoch ?? 0))) {
      this.#announcement = a
    }
  }

  // ---- terms and roles -----------------------------------------------------------------------------

  /** Raft §5.1: a higher term seen anywhere ends ours; no vote yet in the new one. */
  #adoptTerm (term: number, now: number, why: string): void {
    assert(term > this.#term, `term ${term} is not above ${this.#term}`)
    const was = this.#role
    this.#setTerm(term)
    this.#votedFor = null
    this.#event('term', `adopted (${why})`)
    if (was === 'coordinator') this.#stepDown(now, `term ${term} began (${why})`)
    else if (was === 'candidate') this.#follow(now)
    this.#setCoordinator(undefined, now)
  }

  /** A new Raft term ends any pre-election and any following of a lower term. */
  #setTerm (term: number): void {
    assert(Number.isSafeInteger(term) && term > this.#term, `term ${term} after ${this.#term}`)
    this.#term = term
    this.#followTerm = undefined
    this.#cancelPreVote()
    this.#out!.dirty = true
  }

  /** Voter or observer by membership of the council held; candidates fall back to it too. */
  #follow (now: number): void {
    if (this.#role === 'coordinator') return
    const next: Role = this.#isMember() ? 'voter' : 'observer'
    if (this.#role === 'candidate') this.#votes.clear()
    if (next === 'observer') this.#cancelPreVote()
    if (next === this.#role) return
    const wasVoter = this.#role === 'voter' || this.#role === 'candidate'
    this.#role = next
    if (next === 'observer') this.#electionAt = Infinity
    else if (!wasVoter || this.#electionAt === Infinity) this.#electionAt = this.#eligible ? now + this.#timeout() : Infinity
  }

  /** Hearing from a coordinator ends a pre-election: it is alive, and we will not stand against it. */
  #setCoordinator (node: NodeId | undefined, now: number, detail?: string): void {
    if (node !== undefined) this.#cancelPreVote()
    if (node === this.#coordinator) return
    this.#coordinator = node
    this.#sinceMs = now
    if (node !== undefined && node !== this.#self) this.#event('coordinator', detail ?? `following ${node}`, node)
  }

  #found (now: number): void {
    this.#foundAt = undefined
    this.#council = { epoch: FOUNDING_EPOCH, members: [this.#self] }
    this.#out!.dirty = true
    this.#event('council', `founded the fleet: council ${formatEpoch(FOUNDING_EPOCH)}: ${this.#self}`)
    this.#follow(now)
    this.#campaign(now)
  }

  #isMember (): boolean {
    return this.#council?.members.includes(this.#self) ?? false
  }

  #timeout (): number {
    const { electionTimeoutMinMs: min, electionTimeoutMaxMs: max } = this.#config
    return min + Math.floor(this.#rng.next() * (max - min + 1))
  }

  // ---- effects --------------------------------------------------------------------------------

  #open (): void {
    assert(this.#out === undefined, 'Election re-entered')
    this.#out = { send: [], publish: [], events: [], dirty: false }
  }

  #close (): ElectionEffects {
    const out = this.#out
    assert(out !== undefined, 'Election effects closed twice')
    this.#out = undefined
    this.#check()
    const effects: ElectionEffects = { send: out.send, publish: out.publish, events: out.events }
    if (out.dirty) effects.persist = this.#snapshot()
    return effects
  }

  #snapshot (): ElectionState {
    const c = this.#proposal?.view ?? this.#council
    return { term: this.#term, votedFor: this.#votedFor, council: c === null ? null : { epoch: c.epoch, members: [...c.members] } }
  }

  #send (to: NodeId, body: Body): void {
    this.#out!.send.push({ to, body })
  }

  #event (kind: ElectionEvent['kind'], detail: string, node?: NodeId): void {
    const e: ElectionEvent = { kind, term: this.#term, detail }
    if (node !== undefined) e.node = node
    this.#out!.events.push(e)
  }

  #check (): void {
    const c = this.#council
    if (c === null) {
      assert(this.#role === 'observer', `a ${this.#role} without a council`)
    } else {
      assertCouncil(c, 'election')
      assert(epochTerm(c.epoch) <= this.#term, `council epoch ${c.epoch} from a term after ${this.#term}`)
    }
    if (this.#role === 'coordinator' || this.#role === 'candidate') {
      assert(this.#isMember() && this.#eligible && this.#votedFor === this.#self, `${this.#role} must be an eligible member that voted for itself`)
    }
    if (this.#role === 'coordinator') assert(this.#coordinator === this.#self, 'the coordinator follows itself')
    const p = this.#proposal
    if (p !== undefined) {
      assert(this.#role === 'coordinator' && c !== null, 'only the coordinator proposes')
      assertCouncil(p.view, 'proposal')
      assert(p.view.epoch > c.epoch && epochTerm(p.view.epoch) === this.#term, `proposal epoch ${p.view.epoch} in term ${this.#term}`)
      assert(p.view.members.includes(this.#self), 'the coordinator never proposes its own removal')
    }
    assert(this.#votes.size <= (c?.members.length ?? 0), 'more votes than council members')
    assert(this.#preVotes.size <= (c?.members.length ?? 0), 'more pre-votes than council members')
    if (this.#preVoteTerm !== undefined) {
      assert(this.#role === 'voter' && this.#isMember() && this.#eligible && this.#preVoteTerm === this.#term + 1,
        `pre-votes for term ${this.#preVoteTerm} as ${this.#role} at term ${this.#term}`)
    }
    const f = this.#followTerm
    assert(this.#fenceFloor <= this.#term, `fence floor ${this.#fenceFloor} above term ${this.#term}`)
    if (f !== undefined) {
      assert(this.#role !== 'coordinator' && this.#role !== 'candidate', `a ${this.#role} following a lower term`)
      assert(f < this.#term && f >= this.#fenceFloor && c !== null && epochTerm(c.epoch) <= f, `following term ${f} at term ${this.#term}`)
    }
    assert(this.#leases.size <= MAX_RENEWS_IN_FLIGHT, 'renews in flight out of bounds')
  }
}
