// Which offer a provision goes to (DESIGN.md §6): priority, cost, weighted round-robin or
// availability, always skipping offerings that are backed off. Pure: the round-robin position and
// the availability map are inputs, so a test (or a successor) reproduces a choice.
import type { Offer, ProviderStrategy } from './pool.js'
import { offeringKey } from './backoff.js'

export interface SelectInput {
  readonly strategy: ProviderStrategy
  readonly offers: readonly Offer[]
  /** Offering keys (backoff.ts offeringKey) not to use now. */
  readonly blocked: (key: string) => boolean
  /** Round-robin position for this pool; the caller advances it after a choice. */
  readonly turn: number
  /** Availability by offering key, from providers that publish it; missing = assume available. */
  readonly available: ReadonlyMap<string, boolean>
}

function byPriority (a: Offer, b: Offer): number {
  return a.priority - b.priority
}

/** The offer to use, or undefined when every offering is backed off. */
export function selectOffer (s: SelectInput): Offer | undefined {
  const open = s.offers.filter((o) => !s.blocked(offeringKey(o)))
  if (open.length === 0) return undefined
  switch (s.strategy) {
    case 'priority':
      return [...open].sort(byPriority)[0]
    case 'cost':
      return [...open].sort((a, b) => (a.costPerHour ?? Infinity) - (b.costPerHour ?? Infinity) || byPriority(a, b))[0]
    case 'availability': {
      const sorted = [...open].sort(byPriority)
      // Clouds advertise capacity per region; an offer that names a zone reads its region's word.
      const says = (o: Offer): boolean | undefined => s.available.get(offeringKey(o)) ?? s.available.get(offeringKey({ ...o, zone: '' }))
      return sorted.find((o) => says(o) !== false) ?? sorted[0]
    }
    case 'round-robin': {
      // Weighted ring over all offers (so weights keep their meaning while one is backed off);
      // from the turn's position, the first open one.
      const ring: Offer[] = []
      for (const o of s.offers) for (let i = 0; i < Math.max(1, Math.floor(o.weight)); i++) ring.push(o)
      for (let i = 0; i < ring.length; i++) {
        const o = ring[(s.turn + i) % ring.length]!
        if (open.includes(o)) return o
      }
      return undefined
    }
  }
}
