// Every non-XID signal class of the default policy crossing its threshold through the fake
// library: the machine is changed with FakeMachine, GpuSource samples it through the real addon on
// a fake clock stepped one second (or as stated) per sample, and a fresh HealthJudge judges the GPU
// under test at the same `now`. For each: just below the threshold stays healthy; crossing flips at
// the exact sample the rule's `for` implies; clearing returns to healthy where the rule holds 0.
import t from 'tap'
import type { FakeGpu } from '../../../native/fake/machine.js'
import type { GpuEvent, GpuSample, Verdict } from '../../../proto/gen/shoal_pb.js'
import { GpuSource } from '../../../agent/gpu/source.js'
import { HealthJudge } from '../../../agent/health/judge.js'
import { openFake } from '../../support/fake-nvml.js'
import {
  DEFAULT_POLICY, GB200_FIRST, HOUR, MINUTE, NO_TIMERS, SECOND, T0, short, testMachine,
} from './fixtures/support.js'

const machine = testMachine()
const fake = openFake(machine)
let now = T0
const source = new GpuSource({ nvml: fake.nvml, clock: { wallMs: () => now }, timers: NO_TIMERS })
source.readInventory()
const events: GpuEvent[] = []
source.on('gpu:event', (e) => events.push(e))
t.teardown(() => fake.close())

const NOT_SUPPORTED = 3
const HEALTHY = { state: 'healthy', action: 'none' }
const WATCH = { state: 'degraded', action: 'watch' }

function set (gpu: number, patch: FakeGpu): void {
  machine.set(gpu, patch)
  fake.apply()
}

/** One GPU under a fresh judge; each step moves the clock, samples every GPU, judges this one. */
class Probe {
  readonly judge = new HealthJudge(DEFAULT_POLICY)
  last: GpuSample | undefined
  #count = 0

  constructor (readonly gpu: number) {
    this.judge.inventory(source.inventory)
    events.length = 0
  }

  step (ms = SECOND): Verdict {
    now += ms
    this.#count++
    const samples = source.sampleOnce()
    for (const e of events.splice(0)) if (e.gpuIndex === this.gpu) this.judge.event(e, now)
    this.last = samples[this.gpu]
    if (this.last === undefined) throw new Error(`no sample of GPU ${this.gpu}`)
    this.judge.samples([this.last], now)
    return this.judge.verdict()
  }

  /** Starts counting steps from 0 again. */
  mark (): void { this.#count = 0 }

  /** Steps until `done` holds; the step (since mark()) it first held at, or 0 if not within `max` steps. */
  until (max: number, done: (v: Verdict) => boolean, ms = SECOND): number {
    for (let i = 0; i < max; i++) if (done(this.step(ms))) return this.#count
    return 0
  }

  /** Steps `n` times and says whether the verdict stayed healthy throughout. */
  healthyFor (n: number, ms = SECOND): boolean {
    return this.until(n, (v) => short(v).state !== 'healthy', ms) === 0
  }

  has (rule: string): boolean {
    return this.judge.verdict().reasons.some((r) => r.rule === rule && r.gpuIndex === this.gpu)
  }

  firing (rule: string): (v: Verdict) => boolean {
    return () => this.has(rule)
  }
}

/** A probe that has seen the GPU healthy once (the baseline for counters). */
function probe (gpu: number): Probe {
  const p = new Probe(gpu)
  const v = p.step()
  if (short(v).state !== 'healthy') throw new Error(`GPU ${gpu} is not healthy at the start: ${v.reasons.map((r) => r.rule).join(', ')}`)
  return p
}

t.test('thermal: within 2 C of the slowdown threshold for 60 s', async (t) => {
  const p = probe(0)
  set(0, { tempMargin: 3 })
  t.ok(p.healthyFor(120), 'a margin of 3 C: healthy for 2 minutes')
  set(0, { tempMargin: 2 })
  p.mark()
  t.equal(p.until(200, p.firing('temperature-at-slowdown')), 61, 'a margin of 2 C: degraded on the 61st sample')
  t.same(short(p.judge.verdict()), WATCH)
  set(0, { tempMargin: 20 })
  t.same(short(p.step()), HEALTHY, 'healthy on the first sample with margin again')
})

t.test('thermal without a margin reading: the temperature against the slowdown threshold', async (t) => {
  machine.setRc('nvmlDeviceGetMarginTemperature', NOT_SUPPORTED, 1)
  set(1, { temp: 86, thresholdSlowdown: 89 })
  const p = probe(1)
  t.equal(p.last?.temperatureMarginC, undefined, 'no margin in the sample')
  t.ok(p.healthyFor(100), '3 C below slowdown: healthy')
  set(1, { temp: 87 })
  p.mark()
  t.equal(p.until(200, p.firing('temperature-at-slowdown')), 61, '2 C below slowdown: degraded on the 61st sample')
  set(1, { temp: 60 })
  t.same(short(p.step()), HEALTHY, 'cool again: healthy')
  machine.clearRc('nvmlDeviceGetMarginTemperature', 1)
  set(1, { temp: 33 })
})

t.test('HBM temperature at its maximum for 60 s', async (t) => {
  const p = probe(2)
  t.equal(p.last?.temperatureMemoryC, 36, 'the fake H100 HBM reads 36 C')
  machine.setField(2, 82, 94)
  fake.apply()
  t.ok(p.healthyFor(100), '94 C of 95: healthy')
  machine.setField(2, 82, 95)
  fake.apply()
  p.mark()
  t.equal(p.until(200, p.firing('memory-temperature')), 61, '95 C: degraded on the 61st sample')
  t.same(short(p.judge.verdict()), WATCH)
  machine.setField(2, 82, 50)
  fake.apply()
  t.same(short(p.step()), HEALTHY)
})

t.test('power over the enforced limit by 10% for 30 s', async (t) => {
  const p = probe(3)
  set(3, { power: 770_000, powerLimit: 700_000 })
  t.ok(p.healthyFor(100), '770 W of a 700 W limit (exactly 10% over): healthy')
  set(3, { power: 771_000 })
  p.mark()
  t.equal(p.until(100, p.firing('power-over-limit')), 31, '771 W: degraded on the 31st sample')
  t.same(short(p.judge.verdict()), WATCH)
  set(3, { power: 300_000 })
  t.same(short(p.step()), HEALTHY)
})

t.test('hardware slowdown 0x8, 0x40, 0x80: degraded after 30 s, replace after 10 minutes, not before', async (t) => {
  for (const mask of [0x8, 0x40, 0x80]) {
    const p = probe(4)
    set(4, { clockReasons: mask | 0x4 })
    p.mark()
    t.equal(p.until(700, p.firing('hw-slowdown')), 31, `0x${mask.toString(16)}: degraded on the 31st sample`)
    t.same(short(p.judge.verdict()), WATCH)
    if (mask === 0x80) t.ok(p.has('power-brake'), '0x80 is the power brake too')
    t.equal(p.until(700, p.firing('hw-slowdown-persistent')), 601, `0x${mask.toString(16)}: replace on the 601st sample`)
    t.same(short(p.judge.verdict()), { state: 'unhealthy', action: 'replace' })
    set(4, { clockReasons: 0x1 })
    const held = p.step()
    t.notOk(p.has('hw-slowdown'), 'the 30 s finding clears with the condition (hold 0)')
    t.same(short(held), { state: 'unhealthy', action: 'replace' }, 'the 10 minute one holds')
    if (mask === 0x8) {
      // A replace verdict stands until the node is replaced (hold: forever).
      p.judge.tick(now + 24 * HOUR)
      t.ok(p.has('hw-slowdown-persistent'), 'still standing a day later')
      t.same(short(p.judge.verdict()), { state: 'unhealthy', action: 'replace' })
    }
  }
})

t.test('hardware slowdown broken every 30 s never flips', async (t) => {
  const p = probe(5)
  let flagged = false
  for (let round = 0; round < 5; round++) {
    set(5, { clockReasons: 0x8 })
    for (let i = 0; i < 29; i++) flagged ||= short(p.step()).state !== 'healthy'
    set(5, { clockReasons: 0x1 })
    flagged ||= short(p.step()).state !== 'healthy'
  }
  t.notOk(flagged, '29 s on, 1 s off, five times: never degraded')
})

t.test('SW thermal slowdown, SW power cap and idle are not flagged', async (t) => {
  const p = probe(5)
  set(5, { clockReasons: 0x20 | 0x4 | 0x1 })
  t.ok(p.healthyFor(700), '0x25 for more than 11 minutes: healthy')
  set(5, { clockReasons: 0x1 })
})

t.test('ECC: 3 uncorrectable errors within 10 minutes replace; 2 do not', async (t) => {
  const p = probe(6)
  set(6, { ecc: { uncorrected: { volatile: 1 } } })
  t.ok(p.healthyFor(30, 10 * SECOND), 'one: healthy for 5 minutes')
  set(6, { ecc: { uncorrected: { volatile: 2 } } })
  t.ok(p.healthyFor(24, 10 * SECOND), 'two within 10 minutes: healthy')
  set(6, { ecc: { uncorrected: { volatile: 3 } } })
  p.mark()
  t.equal(p.until(10, p.firing('dbe-rate'), 10 * SECOND), 1, 'the third within 10 minutes: on the next sample')
  t.same(short(p.judge.verdict()), { state: 'unhealthy', action: 'replace' })

  const spaced = probe(7)
  let flagged = false
  for (let n = 1; n <= 4; n++) {
    set(7, { ecc: { uncorrected: { volatile: n } } })
    flagged ||= !spaced.healthyFor(36, 10 * SECOND)
  }
  t.notOk(flagged, 'one every 6 minutes: never 3 within 10 minutes')
  set(6, { ecc: { uncorrected: { volatile: 0 } } })
  set(7, { ecc: { uncorrected: { volatile: 0 } } })
})

t.test('ECC: more than 100 corrected errors in an hour degrade', async (t) => {
  const p = probe(6)
  set(6, { ecc: { corrected: { volatile: 100 } } })
  t.ok(p.healthyFor(30, MINUTE), '100 in the hour: healthy')
  set(6, { ecc: { corrected: { volatile: 101 } } })
  p.mark()
  t.equal(p.until(5, p.firing('sbe-rate'), MINUTE), 1, 'the 101st: on the next sample')
  t.same(short(p.judge.verdict()), WATCH)
  set(6, { ecc: { corrected: { volatile: 0 } } })
})

t.test('SRAM: one uncorrectable error resets; the finding holds an hour after it last held', async (t) => {
  const p = probe(2)
  t.ok(p.healthyFor(5, MINUTE), 'no SRAM errors: healthy')
  set(2, { eccLocation: { uncorrected: { volatile: { sram: 1 } } } })
  p.mark()
  t.equal(p.until(5, p.firing('sram-uncorrectable'), MINUTE), 1, 'on the next sample')
  t.same(short(p.judge.verdict()), { state: 'unhealthy', action: 'reset' })
  // The increase stays visible for 10 samples (10 minutes); the finding stands an hour after that.
  t.equal(p.until(100, (v) => short(v).state === 'healthy', MINUTE), 70, 'healthy on the 70th sample, an hour after the last that saw it')
  set(2, { eccLocation: { uncorrected: { volatile: { sram: 0 } } } })
})

t.test('remapped rows: pending resets, failure replaces for good, more than 512 uncorrected replace', async (t) => {
  const p = probe(3)
  set(3, { remapPending: true })
  t.same(short(p.step()), { state: 'degraded', action: 'reset' }, 'pending: degraded, reset to activate')
  t.ok(p.has('row-remap-pending'))
  set(3, { remapPending: false })
  t.same(short(p.step()), HEALTHY, 'remapped: healthy')

  set(3, { remapUncorrected: 512 })
  t.ok(p.healthyFor(10), '512 uncorrected: healthy')
  set(3, { remapUncorrected: 513 })
  p.step()
  t.ok(p.has('remapped-rows-high'), '513: replace')

  const f = probe(0)
  set(0, { remapFailure: true })
  t.same(short(f.step()), { state: 'unhealthy', action: 'replace' }, 'failure: replace')
  set(0, { remapFailure: false })
  f.step(HOUR)
  t.ok(f.has('row-remap-failure'), 'the failure finding stands after the flag clears')
  set(3, { remapUncorrected: 0 })
})

t.test('retired pages pending (pre-Ampere) degrade until the reset', async (t) => {
  const p = probe(1)
  set(1, { retiredPending: true })
  t.same(short(p.step()), { state: 'degraded', action: 'reset' })
  t.ok(p.has('retired-pages-pending'))
  set(1, { retiredPending: false })
  t.same(short(p.step()), HEALTHY)
})

t.test('PCIe replays above 8 a minute over 3 minutes, for 30 s', async (t) => {
  // After 3 flat minutes the window is full: the rate is the replays of the last 180 s over 180 s,
  // above 8 a minute from 25 replays on. One every 7 s reaches 25 at s = 175, fires 30 s later.
  const p = probe(5)
  t.ok(p.healthyFor(181), 'no replays: healthy')
  p.mark()
  let fired = 0
  let cleared = 0
  for (let s = 1; s <= 300 && cleared === 0; s++) {
    if (s % 7 === 0 && s <= 210) set(5, { pcieReplay: s / 7 })
    const v = p.step()
    if (fired === 0 && p.has('pcie-replay-rate')) fired = s
    if (fired !== 0 && short(v).state === 'healthy') cleared = s
  }
  t.equal(fired, 205, 'one replay every 7 s (8.6 a minute): degraded on the 205th sample')
  // Replays stop at s = 210 (30 in all); the window holds 24 of them (exactly 8 a minute) at 222.
  t.equal(cleared, 222, 'back to 8 a minute: healthy on the 222nd sample')

  const slow = probe(6)
  set(6, { pcieReplay: 0 })
  t.ok(slow.healthyFor(181), 'flat')
  let flagged = false
  for (let s = 1; s <= 400; s++) {
    if (s % 8 === 0) set(6, { pcieReplay: s / 8 })
    flagged ||= short(slow.step()).state !== 'healthy'
  }
  t.notOk(flagged, 'one replay every 8 s (7.5 a minute): never degraded')
  set(5, { pcieReplay: 0 })
  set(6, { pcieReplay: 0 })
})

t.test('PCIe link narrower than its maximum for 60 s; a lower generation alone is idle', async (t) => {
  const p = probe(7)
  set(7, { pcieGen: 1 })
  t.ok(p.healthyFor(100), 'Gen1 x16: healthy')
  set(7, { pcieGen: 5, pcieWidth: 8 })
  p.mark()
  t.equal(p.until(100, p.firing('pcie-link-downtrained')), 61, 'x8 of x16: degraded on the 61st sample')
  t.same(short(p.judge.verdict()), WATCH)
  set(7, { pcieWidth: 16 })
  t.same(short(p.step()), HEALTHY)
})

t.test('NVLink: a link down for 30 s resets', async (t) => {
  const p = probe(0)
  machine.setNvLink(0, 5, { state: 0 })
  fake.apply()
  p.mark()
  t.equal(p.until(100, p.firing('nvlink-down')), 31, 'link 5 inactive: unhealthy on the 31st sample')
  t.same(short(p.judge.verdict()), { state: 'unhealthy', action: 'reset' })
  machine.setNvLink(0, 5, { state: 1 })
  fake.apply()
  t.same(short(p.step()), HEALTHY, 'back up: healthy')
})

t.test('NVLink: a recovery within the last minute, held 30 s, degrades', async (t) => {
  const p = probe(1)
  t.ok(p.healthyFor(61), 'no recoveries')
  machine.setNvLink(1, 0, { recovery: 1 })
  fake.apply()
  p.mark()
  t.equal(p.until(100, p.firing('nvlink-errors')), 31, 'one recovery: degraded on the 31st sample')
  t.equal(p.until(100, (v) => short(v).state === 'healthy'), 61, 'healthy once it is a minute old')
})

t.test('NVLink: CRC flit errors above 100 a second over a minute, held 30 s', async (t) => {
  const p = probe(2)
  t.ok(p.healthyFor(61), 'a full minute without errors')
  let crc = 0
  let flagged = false
  for (let s = 1; s <= 120; s++) {
    crc += 100
    machine.setNvLink(2, 0, { crcFlit: crc })
    fake.apply()
    flagged ||= short(p.step()).state !== 'healthy'
  }
  t.notOk(flagged, '100 a second: healthy')
  t.same(short(p.step()), HEALTHY, 'a quiet second')
  let at = 0
  for (let s = 1; s <= 200 && at === 0; s++) {
    crc += 101
    machine.setNvLink(2, 0, { crcFlit: crc })
    fake.apply()
    p.step()
    if (p.has('nvlink-errors')) at = s
  }
  // The minute's window holds 60 seconds at 101 (6,060 > 6,000) from the 60th on; 30 s more to fire.
  t.equal(at, 90, '101 a second: degraded on the 90th sample')
})

t.test('NVLink: more than 100 replays within a minute, held 30 s', async (t) => {
  const p = probe(3)
  machine.setNvLink(3, 2, { replay: 100 })
  fake.apply()
  t.ok(p.healthyFor(90), '100 replays: healthy')
  machine.setNvLink(3, 2, { replay: 201 })
  fake.apply()
  p.mark()
  t.equal(p.until(100, p.firing('nvlink-errors')), 31, '101 more: degraded on the 31st sample')
  machine.setNvLink(3, 2, { replay: 0 })
})

t.test('NVLink5: a failed link recovery resets (GB200)', async (t) => {
  const gpu = GB200_FIRST
  const p = probe(gpu)
  t.equal(p.last?.nvlinkTotals?.recoveryFailed, 0, 'field 214 reads 0')
  t.ok(p.healthyFor(30), 'no failed recoveries')
  machine.setField(gpu, 214, 1)
  fake.apply()
  p.mark()
  t.equal(p.until(10, p.firing('nvlink-recovery-failed')), 1, 'on the next sample')
  t.same(short(p.judge.verdict()), { state: 'unhealthy', action: 'reset' })
  machine.setField(gpu, 214, 0)
  fake.apply()
})

t.test('recovery action (field 230): 1 resets, 2 reboots, 0 clears', async (t) => {
  const p = probe(4)
  machine.setField(4, 230, 1)
  fake.apply()
  t.same(short(p.step()), { state: 'unhealthy', action: 'reset' }, '1: reset')
  t.ok(p.has('recovery-action'))
  machine.setField(4, 230, 2)
  fake.apply()
  t.same(short(p.step()), { state: 'unhealthy', action: 'reboot' }, '2: reboot')
  t.ok(p.has('recovery-reboot'))
  machine.setField(4, 230, 0)
  fake.apply()
  t.same(short(p.step()), HEALTHY, '0: healthy')
})

t.test('RESET_REQUIRED on every call resets', async (t) => {
  const p = probe(5)
  machine.requireReset(5)
  fake.apply()
  const v = p.step()
  t.equal(p.last?.resetRequired, true)
  t.same(short(v), { state: 'unhealthy', action: 'reset' })
  t.ok(p.has('reset-required'))
  set(5, { resetRequired: false })
  t.same(short(p.step()), HEALTHY, 'answers again: healthy')
})

t.test('fabric registration completed with an error, for 30 s', async (t) => {
  const gpu = GB200_FIRST + 1
  const p = probe(gpu)
  set(gpu, { fabricState: 2, fabricStatus: 5 })
  t.ok(p.healthyFor(60), 'still in progress: healthy')
  set(gpu, { fabricState: 3 })
  p.mark()
  t.equal(p.until(100, p.firing('fabric-error')), 31, 'completed with status 5: unhealthy on the 31st sample')
  t.same(short(p.judge.verdict()), { state: 'unhealthy', action: 'reset' })
  set(gpu, { fabricStatus: 0 })
  t.same(short(p.step()), HEALTHY)
})

t.test('a lost GPU replaces, and the finding outlives the GPU answering again', async (t) => {
  const p = probe(7)
  machine.lose(7)
  fake.apply()
  const v = p.step()
  t.equal(p.last?.lost, true)
  t.same(short(v), { state: 'unhealthy', action: 'replace' })
  t.ok(p.has('gpu-lost'), 'the sample rule')
  t.ok(p.has('xid-replace'), 'and the GPU_LOST event GpuSource reported')
  set(7, { lost: false })
  t.same(short(p.step(HOUR)), { state: 'unhealthy', action: 'replace' }, 'an hour later, answering: still replace')
})
