import t from 'tap'
import { selectOffer } from '../../coordinator/selector.js'
import { OfferingBackoff, offeringKey } from '../../coordinator/backoff.js'
import type { ProviderStrategy } from '../../coordinator/pool.js'
import { offer } from './fixtures/world.js'

const aws = offer({ provider: 'aws', priority: 2, costPerHour: 98, weight: 3 })
const gcp = offer({ provider: 'gcp', region: 'us-central1', instanceType: 'a3-highgpu-8g', priority: 1, costPerHour: 88, weight: 1 })
const lambda = offer({ provider: 'lambda', region: 'us-east-3', instanceType: 'gpu_8x_h100_sxm5', priority: 3, costPerHour: undefined, weight: 1 })
const offers = [aws, gcp, lambda]

const cases: Array<{ name: string, strategy: ProviderStrategy, blocked?: string[], turn?: number, unavailable?: string[], want: string | undefined }> = [
  { name: 'priority: lowest number', strategy: 'priority', want: 'gcp' },
  { name: 'priority skips a backed-off offering', strategy: 'priority', blocked: ['gcp'], want: 'aws' },
  { name: 'cost: cheapest', strategy: 'cost', want: 'gcp' },
  { name: 'cost: unknown price last', strategy: 'cost', blocked: ['gcp', 'aws'], want: 'lambda' },
  { name: 'availability: first in priority the provider says has capacity', strategy: 'availability', unavailable: ['gcp'], want: 'aws' },
  { name: 'availability: nothing advertised, still priority order', strategy: 'availability', unavailable: ['gcp', 'aws', 'lambda'], want: 'gcp' },
  { name: 'round-robin: turn 0 → aws (weight 3)', strategy: 'round-robin', turn: 0, want: 'aws' },
  { name: 'round-robin: turn 2 → aws', strategy: 'round-robin', turn: 2, want: 'aws' },
  { name: 'round-robin: turn 3 → gcp', strategy: 'round-robin', turn: 3, want: 'gcp' },
  { name: 'round-robin: turn 4 → lambda', strategy: 'round-robin', turn: 4, want: 'lambda' },
  { name: 'round-robin: a blocked turn moves on', strategy: 'round-robin', turn: 3, blocked: ['gcp'], want: 'lambda' },
  { name: 'everything blocked: none', strategy: 'priority', blocked: ['gcp', 'aws', 'lambda'], want: undefined },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const keyOf = (p: string): string => offeringKey(offers.find((o) => o.provider === p)!)
    const blocked = new Set((c.blocked ?? []).map(keyOf))
    const chosen = selectOffer({
      strategy: c.strategy, offers, turn: c.turn ?? 0, blocked: (k) => blocked.has(k),
      available: new Map((c.unavailable ?? []).map((p) => [keyOf(p), false])),
    })
    t.equal(chosen?.provider, c.want)
  })
}

t.test('round-robin over 5 turns follows the weights', async (t) => {
  const picks = [0, 1, 2, 3, 4].map((turn) => selectOffer({ strategy: 'round-robin', offers, turn, blocked: () => false, available: new Map() })!.provider)
  t.same(picks, ['aws', 'aws', 'aws', 'gcp', 'lambda'])
})

t.test('capacity backoff: 3 min, doubling to 30, forgotten on success or after 3 h quiet', async (t) => {
  const b = new OfferingBackoff()
  const k = 'aws/us-east-1/p5.48xlarge'
  const lengths = [0, 1, 2, 3, 4, 5].map((n) => b.capacityError(k, n * 1000) / 60_000)
  t.same(lengths, [3, 6, 12, 24, 30, 30])
  t.ok(b.blocked(k, 6_000))
  b.success(k)
  t.notOk(b.blocked(k, 6_000))
  t.equal(b.capacityError(k, 10_000) / 60_000, 3, 'after a success it starts again at 3 min')
  t.equal(b.capacityError(k, 10_000 + 3 * 3_600_000 + 1) / 60_000, 3, 'after 3 h without an error too')
  t.same(b.active(10_000 + 3 * 3_600_000 + 2).map((e) => e.key), [k])
})
