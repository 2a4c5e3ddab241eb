// agent/config/duration.ts: durations as operators write them, whole milliseconds in code.
import t from 'tap'
import { DURATION_MAX_MS, formatDuration, parseDuration } from '../../../agent/lib/duration.js'

const good: Array<[string, number]> = [
  ['0', 0],
  ['0ms', 0],
  ['500ms', 500],
  ['1s', 1000],
  ['1.5s', 1500],
  ['5m', 300_000],
  ['1h', 3_600_000],
  ['1h30m', 5_400_000],
  ['30d', 2_592_000_000],
  ['1d2h3m4s5ms', 93_784_005],
  ['1000d', DURATION_MAX_MS],
]
for (const [text, ms] of good) {
  t.test(`parses ${text}`, async (t) => { t.equal(parseDuration(text), ms) })
}

const bad: Array<[string, RegExp]> = [
  ['', /is not a duration \(use 500ms, 1s, 5m, 1h\)/],
  ['10 parsecs', /"10 parsecs" is not a duration \(use 500ms, 1s, 5m, 1h\)/],
  ['1000', /is not a duration/],
  ['1 s', /is not a duration/],
  [' 1s', /is not a duration/],
  ['1S', /is not a duration/],
  ['1us', /is not a duration/],
  ['1e3s', /is not a duration/],
  ['.5s', /is not a duration/],
  ['-1s', /is negative/],
  ['1s1h', /largest to smallest/],
  ['1s1s', /largest to smallest/],
  ['1001d', /is too long \(at most 1000d\)/],
  ['99999999999999999999999h', /is too long/],
  ['1.5ms', /not a whole number of milliseconds/],
  ['x'.repeat(100), /is not a duration/],
]
for (const [text, want] of bad) {
  t.test(`rejects ${JSON.stringify(text.slice(0, 20))}`, async (t) => {
    t.throws(() => parseDuration(text), want)
  })
}

t.test('formatDuration: largest units first, parseDuration inverts it', async (t) => {
  t.equal(formatDuration(0), '0ms')
  t.equal(formatDuration(500), '500ms')
  t.equal(formatDuration(90_000), '1m30s')
  t.equal(formatDuration(2_592_000_000), '30d')
  t.throws(() => formatDuration(-1), RangeError)
  t.throws(() => formatDuration(1.5), RangeError)
  // Seeded round trip over the whole range, weighted toward small values.
  let x = 0x2f6b1d3
  for (let i = 0; i < 2000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    const ms = i % 2 === 0 ? x % 100_000 : Math.floor((x / 0xffffffff) * DURATION_MAX_MS)
    if (parseDuration(formatDuration(ms)) !== ms) t.fail(`round trip ${ms} -> ${formatDuration(ms)}`)
  }
  t.pass('2000 round trips')
})
