// npm run bench:nvml — what one NVML call costs from JS against the same call from C, on the same
// fake library, and how long a full 8-GPU health sample takes through the typed face.
// Targets (DESIGN.md §10): ratio ≤ 10, sample8_ms ≤ 1. Last line: one JSON object.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { openNvml } from '../../native/nvml.js'
import { FAKE_LIBRARY, FAKE_STATE_ENV } from '../../native/fake/machine.js'
import { GpuSource } from '../../agent/gpu/source.js'
import { systemTimers, systemWallClock } from '../../agent/lib/time.js'

const CALLS = 1_000_000
// Alternating JS and C rounds, best of each: on a shared 2-core machine one quiet round per side
// is the figure that compares the two, not whichever side happened to run during a stall.
const ROUNDS = 5
const SAMPLE_CYCLES = 1_000

// The default fake machine: 8 x H100, 18 NVLinks each (no state file).
delete process.env[FAKE_STATE_ENV]
const nvml = openNvml({ libraryPath: FAKE_LIBRARY })
nvml.refresh()

let sink = 0
function jsRoundNs (): number {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < CALLS; i++) sink += nvml.temperature(0)
  return Number(process.hrtime.bigint() - t0) / CALLS
}

function cRoundNs (): { ns: number, symbol: string } {
  const bin = join(FAKE_LIBRARY, '..', 'bench_call')
  const out = execFileSync(bin, [FAKE_LIBRARY, String(CALLS)], { encoding: 'utf8' })
  const line = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { c_call_ns: number, symbol: string }
  return { ns: line.c_call_ns, symbol: line.symbol }
}

function sample8 (): { medianMs: number, p99Ms: number, gpus: number } {
  const source = new GpuSource({ nvml, clock: systemWallClock, timers: systemTimers })
  source.readInventory()
  for (let i = 0; i < 100; i++) source.sampleOnce()
  const times: number[] = []
  let samples = source.sampleOnce()
  for (let i = 0; i < SAMPLE_CYCLES; i++) {
    const t0 = process.hrtime.bigint()
    samples = source.sampleOnce()
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  times.sort((a, b) => a - b)
  const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN
  return { medianMs: at(0.5), p99Ms: at(0.99), gpus: samples.length }
}

for (let i = 0; i < 100_000; i++) sink += nvml.temperature(0)
let js = Infinity
let c = { ns: Infinity, symbol: '' }
for (let r = 0; r < ROUNDS; r++) {
  js = Math.min(js, jsRoundNs())
  const round = cRoundNs()
  if (round.ns < c.ns) c = round
}
if (sink === 0) throw new Error('temperature loop read nothing')
const s = sample8()
await nvml.close()

const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d
console.log(`NVML call (${c.symbol}, GPU 0), ${CALLS.toLocaleString()} calls, best of ${ROUNDS} alternating rounds:`)
console.log(`  from JS through the addon  ${round(js)} ns`)
console.log(`  from C through dlsym       ${round(c.ns)} ns`)
console.log(`  ratio                      ${round(js / c.ns)}x   (target ≤ 10)`)
console.log(`Full health sample of ${s.gpus} GPUs (refresh + every signal + proto message), ${SAMPLE_CYCLES} cycles:`)
console.log(`  median ${round(s.medianMs, 3)} ms, p99 ${round(s.p99Ms, 3)} ms   (target ≤ 1 ms)`)
console.log(JSON.stringify({
  bench: 'nvml',
  js_call_ns: round(js),
  c_call_ns: round(c.ns),
  ratio: round(js / c.ns),
  sample8_ms: round(s.medianMs, 3),
  sample8_p99_ms: round(s.p99Ms, 3),
}))
