// call(): which errors are retried, how long it waits (full jitter under an exponential ceiling,
// never below Retry-After), and the per-attempt timeout, all on a fake sleep and a fake timer.
import t from 'tap'
import { seededRng } from '../../../agent/lib/rng.js'
import type { CallPolicy } from '../../../coordinator/providers/options.js'
import { ProviderError, type ProviderErrorClass } from '../../../coordinator/providers/provider.js'
import { backoffMs, call, MAX_RETRY_AFTER_MS, type SetTimer } from '../../../coordinator/providers/retry.js'

const POLICY: CallPolicy = { timeoutMs: 1_000, maxAttempts: 4, baseBackoffMs: 100, maxBackoffMs: 1_000 }

/** A timer that never fires by itself; `fire()` fires the armed ones (the test decides when time is up). */
function manualTimer (): { setTimer: SetTimer, fire: () => void, armed: () => number } {
  const pending = new Set<() => void>()
  return {
    setTimer: (_ms, fn) => { pending.add(fn); return () => { pending.delete(fn) } },
    fire: () => { for (const fn of [...pending]) { pending.delete(fn); fn() } },
    armed: () => pending.size,
  }
}

function deps (timer = manualTimer()): { slept: number[], d: Parameters<typeof call>[2], timer: ReturnType<typeof manualTimer> } {
  const slept: number[] = []
  return { slept, timer, d: { sleep: async (ms) => { slept.push(ms) }, rng: seededRng(7), setTimer: timer.setTimer } }
}

t.test('which classes are retried', async (t) => {
  const rows: Array<[ProviderErrorClass, number]> = [
    ['transient', 4], ['rate-limited', 4], ['capacity', 1], ['quota', 1], ['not-found', 1], ['fatal', 1],
  ]
  for (const [cls, attempts] of rows) {
    const { d, slept, timer } = deps()
    let n = 0
    await t.rejects(call(POLICY, async () => { n++; throw new ProviderError(cls, 'X', 'm') }, d), { errorClass: cls, code: 'X' })
    t.equal(n, attempts, `${cls}: ${attempts} attempt(s)`)
    t.equal(slept.length, attempts - 1)
    t.equal(timer.armed(), 0, 'every timeout disarmed')
  }
})

t.test('a transient failure then success returns the value, same request each time', async (t) => {
  const { d } = deps()
  const seen: string[] = []
  const req = { token: 'tok-1' }
  const out = await call(POLICY, async () => {
    seen.push(req.token)
    if (seen.length < 3) throw new ProviderError('transient', 'InternalError', 'm')
    return 'ok'
  }, d)
  t.equal(out, 'ok')
  t.same(seen, ['tok-1', 'tok-1', 'tok-1'])
})

t.test('a non-ProviderError is a bug: it propagates at once', async (t) => {
  const { d } = deps()
  let n = 0
  await t.rejects(call(POLICY, async () => { n++; throw new TypeError('boom') }, d), TypeError)
  t.equal(n, 1)
})

t.test('a hang times out as transient "timeout", is retried, and the attempt is told to abort', async (t) => {
  const { d, timer } = deps()
  const aborted: unknown[] = []
  let n = 0
  const p = call({ ...POLICY, maxAttempts: 2 }, (signal) => {
    n++
    signal.addEventListener('abort', () => { aborted.push(signal.reason) })
    return new Promise<never>(() => {})
  }, d)
  for (let i = 0; i < 2; i++) {
    await new Promise<void>((resolve) => { setImmediate(resolve) })
    timer.fire()
  }
  await t.rejects(p, { errorClass: 'transient', code: 'timeout' })
  t.equal(n, 2)
  t.equal(aborted.length, 2)
  t.match(aborted[0], { code: 'timeout' })
})

t.test('beforeAttempt runs before every attempt (pacing)', async (t) => {
  const { d } = deps()
  const order: string[] = []
  let n = 0
  await call(POLICY, async () => {
    order.push('attempt')
    if (++n < 2) throw new ProviderError('rate-limited', 'R', 'm')
    return 1
  }, { ...d, beforeAttempt: async () => { order.push('pace') } })
  t.same(order, ['pace', 'attempt', 'pace', 'attempt'])
})

t.test('onAttemptError sees each failure and the delay that follows', async (t) => {
  const { d } = deps()
  const seen: Array<[number, number | null]> = []
  await t.rejects(call({ ...POLICY, maxAttempts: 2 }, async () => { throw new ProviderError('transient', 'X', 'm') },
    { ...d, onAttemptError: (_e, attempt, delay) => { seen.push([attempt, delay]) } }))
  t.equal(seen.length, 2)
  t.equal(seen[1]?.[1], null, 'the last failure has no retry')
  t.ok((seen[0]?.[1] ?? -1) >= 0)
})

t.test('backoff: full jitter under min(max, base·2^(n−1)), Retry-After as a floor (clamped)', async (t) => {
  const rng = seededRng(1)
  const ceilings = [100, 200, 400, 800, 1_000, 1_000, 1_000]
  for (let attempt = 1; attempt <= ceilings.length; attempt++) {
    const draws = Array.from({ length: 500 }, () => backoffMs(POLICY, attempt, rng))
    const max = Math.max(...draws)
    t.ok(Math.min(...draws) >= 0 && max < ceilings[attempt - 1]!, `attempt ${attempt}: every draw in [0, ${ceilings[attempt - 1]!})`)
    t.ok(max > ceilings[attempt - 1]! * 0.9, `attempt ${attempt} spreads over its range (max ${max})`)
  }
  t.equal(backoffMs(POLICY, 1, { next: () => 0 }, 5_000), 5_000, 'Retry-After wins over a shorter draw')
  t.equal(backoffMs(POLICY, 1, { next: () => 0 }, 24 * 3600_000), MAX_RETRY_AFTER_MS)
  t.equal(backoffMs(POLICY, 100, { next: () => 0.999 }), 999, 'no overflow on huge attempt numbers')
})

t.test('a rate-limited error waits at least its Retry-After', async (t) => {
  const { d, slept } = deps()
  let n = 0
  await call(POLICY, async () => {
    if (++n === 1) throw new ProviderError('rate-limited', 'RequestLimitExceeded', 'm', 2_500)
    return n
  }, d)
  t.ok((slept[0] ?? 0) >= 2_500)
})

t.test('bad policies are refused with the field named', async (t) => {
  const { d } = deps()
  await t.rejects(call({ ...POLICY, maxAttempts: 0 }, async () => 1, d), /maxAttempts/)
  await t.rejects(call({ ...POLICY, timeoutMs: 0 }, async () => 1, d), /timeoutMs/)
  await t.rejects(call({ ...POLICY, baseBackoffMs: 5_000 }, async () => 1, d), /baseBackoffMs/)
})

t.test('guard stops a call before its next attempt (a deposed coordinator stops retrying)', async (t) => {
  const { d } = deps()
  let attempts = 0
  let acting = true
  const guarded = { ...d, guard: () => { if (!acting) throw new ProviderError('transient', 'deposed', 'lost the lease') } }
  await t.rejects(call(POLICY, async () => {
    attempts++
    acting = false // the lease is lost while the first attempt fails
    throw new ProviderError('transient', 'InternalError', 'try again')
  }, guarded), { code: 'deposed' })
  t.equal(attempts, 1, 'no second attempt once the guard says no')
})
