// Keeps this host connected to its bootstrap peers: dial each on start, redial on failure and on
// disconnect with a doubling, jittered, capped delay. (@libp2p/bootstrap is not in the dependency
// set, and it dials once: a fleet whose first host restarts must find it again.) Everything else
// the mesh learns (members' addresses from gossip) is dialled on demand by direct sends.
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Rng } from '../../lib/rng.js'
import type { NodeId } from '../types.js'
import type { MeshHostConfig } from './config.js'

export interface BootstrapTarget {
  readonly peer: NodeId
  readonly addrs: readonly Multiaddr[]
}

export class BootstrapAddressError extends Error {
  override name = 'BootstrapAddressError'
}

/**
 * Groups bootstrap multiaddrs by peer. Each must end in /p2p/<peer id>: the id is what Noise checks,
 * so a host answering at that address with another key is refused. Entries naming `self` are
 * dropped (every host can share one bootstrap list).
 */
export function parseBootstrap (addrs: readonly string[], self: NodeId): BootstrapTarget[] {
  const byPeer = new Map<NodeId, Multiaddr[]>()
  for (const text of addrs) {
    let ma: Multiaddr
    try {
      ma = multiaddr(text)
    } catch (err) {
      throw new BootstrapAddressError(`bootstrap address ${JSON.stringify(text)} is not a multiaddr: ${(err as Error).message}`)
    }
    const peer = ma.getComponents().findLast((c) => c.name === 'p2p')?.value
    if (peer === undefined) {
      throw new BootstrapAddressError(`bootstrap address ${JSON.stringify(text)} has no /p2p/<peer id> at the end`)
    }
    if (peer === self) continue
    const list = byPeer.get(peer) ?? []
    list.push(ma)
    byPeer.set(peer, list)
  }
  return [...byPeer].map(([peer, list]) => ({ peer, addrs: list }))
}

/**
 * The delay before redial number `attempt` (1 = after the first failure): min × 2^(attempt−1),
 * capped at max, then scaled by a jitter in [0.5, 1) so hosts that lost the same peer together do
 * not redial in lockstep.
 */
export function redialDelayMs (attempt: number, minMs: number, maxMs: number, rng: Rng): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30))
  return Math.round(base * (0.5 + rng.next() / 2))
}

type Backoff = Pick<MeshHostConfig, 'bootstrapBackoffMinMs' | 'bootstrapBackoffMaxMs'>

interface PeerState {
  readonly target: BootstrapTarget
  attempts: number
  timer: ReturnType<typeof setTimeout> | undefined
  connectedAt: number | undefined
}

export class Bootstrapper {
  readonly #peers = new Map<NodeId, PeerState>()
  readonly #dial: (target: BootstrapTarget) => Promise<void>
  readonly #backoff: Backoff
  readonly #rng: Rng
  readonly #clock: () => number
  readonly #log: (obj: object, msg: string) => void
  #stopped = false

  constructor (
    targets: readonly BootstrapTarget[],
    dial: (target: BootstrapTarget) => Promise<void>,
    backoff: Backoff,
    rng: Rng,
    clock: () => number,
    log: (obj: object, msg: string) => void,
  ) {
    for (const target of targets) this.#peers.set(target.peer, { target, attempts: 0, timer: undefined, connectedAt: undefined })
    this.#dial = dial
    this.#backoff = backoff
    this.#rng = rng
    this.#clock = clock
    this.#log = log
  }

  start (): void {
    for (const state of this.#peers.values()) {
      if (state.connectedAt === undefined) this.#schedule(state, 0)
    }
  }

  stop (): void {
    this.#stopped = true
    for (const state of this.#peers.values()) {
      clearTimeout(state.timer)
      state.timer = undefined
    }
  }

  onConnect (peer: NodeId): void {
    const state = this.#peers.get(peer)
    if (state === undefined) return
    state.connectedAt = this.#clock()
    clearTimeout(state.timer)
    state.timer = undefined
  }

  onDisconnect (peer: NodeId): void {
    const state = this.#peers.get(peer)
    if (state === undefined || this.#stopped) return
    // A connection that lasted past the longest backoff was a real one: start over. One that keeps
    // dropping at once (the peer prunes us) keeps its backoff, so a flap is not a redial storm.
    if (state.connectedAt !== undefined && this.#clock() - state.connectedAt >= this.#backoff.bootstrapBackoffMaxMs) {
      state.attempts = 0
    }
    state.connectedAt = undefined
    state.attempts++
    this.#schedule(state, this.#delay(state.attempts))
  }

  #delay (attempt: number): number {
    return redialDelayMs(attempt, this.#backoff.bootstrapBackoffMinMs, this.#backoff.bootstrapBackoffMaxMs, this.#rng)
  }

  #schedule (state: PeerState, ms: number): void {
    if (this.#stopped || state.timer !== undefined) return
    state.timer = setTimeout(() => {
      state.timer = undefined
      void this.#attempt(state)
    }, ms)
  }

  async #attempt (state: PeerState): Promise<void> {
    if (this.#stopped || state.connectedAt !== undefined) return
    try {
      await this.#dial(state.target)
    } catch (err) {
      if (this.#stopped || state.connectedAt !== undefined) return
      state.attempts++
      const delayMs = this.#delay(state.attempts)
      this.#log({ peer: state.target.peer, attempt: state.attempts, retryInMs: delayMs, err: (err as Error).message },
        'bootstrap peer dial failed')
      this.#schedule(state, delayMs)
    }
  }
}
