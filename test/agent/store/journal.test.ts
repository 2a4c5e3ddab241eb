// The journal's contract: seqs strictly increasing (also under concurrent appends, across reopen
// and after pruning), reads ordered and bounded, retention by count and by age, oldest first.
import t from 'tap'
import { MAX_APPEND_ENTRIES, MAX_READ_ENTRIES } from '../../../agent/store/journal.js'
import { seqKey } from '../../../agent/store/seq-key.js'
import { Store, type StoreConfig } from '../../../agent/store/store.js'
import { FakeClock, T0, note, storeConfig, tempDir, withRawLevel, type TapTest } from './fixtures/support.js'

const DAY_MS = 24 * 3600 * 1000
// Automatic pruning out of the way, for tests that prune by hand.
const MANUAL = { pruneEveryEntries: 1_000_000 }

async function open (t: TapTest, config: StoreConfig, clock = new FakeClock()): Promise<Store> {
  const store = await Store.open(config, clock)
  t.teardown(() => store.close())
  return store
}

async function seqs (store: Store): Promise<number[]> {
  return (await store.journal.since(0, MAX_READ_ENTRIES)).map((e) => e.seq)
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

t.test('append assigns seqs in order, the time if missing, and returns the entries written', async (t) => {
  const clock = new FakeClock()
  const store = await open(t, storeConfig(await tempDir(t)), clock)
  t.equal(store.journal.lastSeq, 0, 'empty journal: lastSeq 0')
  const made = await store.journal.append([note('a'), note('b', 0), note('c', T0 - 5)])
  t.same(made.map((e) => [e.seq, e.timeMs]), [[1, T0], [2, T0], [3, T0 - 5]], 'time_ms 0 or absent: the clock')
  t.equal(store.journal.lastSeq, 3)
  clock.advance(10)
  const [d] = await store.journal.append([note('d')])
  t.same([d?.seq, d?.timeMs], [4, T0 + 10])
  t.same(await store.journal.append([]), [], 'an empty append writes nothing')
  t.equal(store.journal.lastSeq, 4)
  const [back] = await store.journal.since(3, 1)
  t.equal(back?.entry.case, 'note')
  t.equal(back?.entry.value, 'd', 'read back as written')
})

t.test('append rejects what it cannot write, with a reason, and writes nothing', async (t) => {
  const store = await open(t, storeConfig(await tempDir(t)))
  const tooMany = Array.from({ length: MAX_APPEND_ENTRIES + 1 }, (_, i) => note(`n${i}`))
  await t.rejects(store.journal.append(tooMany), { name: 'RangeError', message: `journal append of 1001 entries: at most 1000 per call` })
  await t.rejects(store.journal.append([{ entry: { case: undefined } }]), { name: 'RangeError', message: 'without content' })
  await t.rejects(store.journal.append([note('x', -1)]), { name: 'RangeError', message: 'time_ms -1' })
  await t.rejects(store.journal.append([note('x', Number.NaN)]), { name: 'RangeError' })
  t.equal(store.journal.lastSeq, 0)
  t.equal((await store.journal.append(tooMany.slice(1))).length, MAX_APPEND_ENTRIES, 'exactly the bound is accepted')
})

t.test('concurrent appends get distinct, contiguous seqs in call order', async (t) => {
  const store = await open(t, storeConfig(await tempDir(t)))
  const sizes = [3, 1, 5, 2, 4, 1, 1, 5, 3, 2, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3]
  const results = await Promise.all(sizes.map((n, call) =>
    store.journal.append(Array.from({ length: n }, (_, i) => note(`call ${call} item ${i}`)))))
  const total = sizes.reduce((a, b) => a + b, 0)
  t.same(results.flat().map((e) => e.seq), range(1, total), 'no seq given twice, none skipped, in call order')
  t.same(await seqs(store), range(1, total))
  const stored = await store.journal.since(0, total)
  t.ok(stored.every((e, i) => e.entry.value === results.flat()[i]?.entry.value), 'each seq holds the entry it was returned with')
})

t.test('recent is newest first, since is oldest first after the given seq; both bounded', async (t) => {
  const store = await open(t, storeConfig(await tempDir(t)))
  await store.journal.append(range(1, 30).map((i) => note(`n${i}`)))
  t.same((await store.journal.recent(5)).map((e) => e.seq), [30, 29, 28, 27, 26])
  t.same((await store.journal.recent(100)).length, 30)
  t.same(await store.journal.recent(0), [])
  t.same((await store.journal.since(10, 5)).map((e) => e.seq), [11, 12, 13, 14, 15])
  t.same((await store.journal.since(28, 10)).map((e) => e.seq), [29, 30])
  t.same(await store.journal.since(30, 10), [])
  t.same((await store.journal.since(0, 1)).map((e) => e.entry.value), ['n1'])
  for (const bad of [-1, 1.5, MAX_READ_ENTRIES + 1]) {
    await t.rejects(store.journal.recent(bad), { name: 'RangeError', message: `journal read limit ${bad}` })
  }
  await t.rejects(store.journal.since(-1, 1), { name: 'RangeError', message: 'since(-1)' })
})

t.test('lastSeq continues across a reopen', async (t) => {
  const dir = await tempDir(t)
  const first = await Store.open(storeConfig(dir), new FakeClock())
  await first.journal.append([note('a'), note('b')])
  await first.close()
  const store = await open(t, storeConfig(dir))
  t.equal(store.journal.lastSeq, 2)
  t.same((await store.journal.append([note('c')])).map((e) => e.seq), [3])
})

t.test('retention by count drops the oldest beyond maxEntries', async (t) => {
  const store = await open(t, storeConfig(await tempDir(t), { maxEntries: 10, ...MANUAL }))
  await store.journal.append(range(1, 25).map((i) => note(`n${i}`)))
  t.equal(await store.journal.prune(), 15)
  t.same(await seqs(store), range(16, 25))
  t.equal(await store.journal.prune(), 0, 'nothing more to drop')
  t.same((await store.journal.append([note('next')])).map((e) => e.seq), [26], 'seq not reused')
})

t.test('retention by age drops entries older than maxAgeMs, oldest first, stopping at the first young one', async (t) => {
  const clock = new FakeClock()
  const store = await open(t, storeConfig(await tempDir(t), { maxAgeMs: 30 * DAY_MS, ...MANUAL }), clock)
  // Days 0..9, then an entry stamped day 0 behind a young one: it stays (the journal stays contiguous).
  for (let day = 0; day < 10; day++) await store.journal.append([note(`day ${day}`, T0 + day * DAY_MS)])
  await store.journal.append([note('late, stamped day 0', T0)])
  clock.nowMs = T0 + 35 * DAY_MS
  t.equal(await store.journal.prune(), 5, 'days 0-4 are more than 30 days old at day 35')
  t.same((await store.journal.since(0, 100)).map((e) => e.entry.value),
    ['day 5', 'day 6', 'day 7', 'day 8', 'day 9', 'late, stamped day 0'])
  clock.nowMs = T0 + 30 * DAY_MS + 5 * DAY_MS + DAY_MS / 2
  t.equal(await store.journal.prune(), 1, 'day 5 goes half a day later')
  clock.nowMs = T0 + 60 * DAY_MS
  t.equal(await store.journal.prune(), 5, 'everything goes when all is old')
  t.same(await seqs(store), [])
  t.equal(store.journal.lastSeq, 11)
  t.same((await store.journal.append([note('after')])).map((e) => e.seq), [12], 'seq not reused')
})

t.test('count and age limits together: whichever drops more', async (t) => {
  const clock = new FakeClock()
  const store = await open(t, storeConfig(await tempDir(t), { maxEntries: 6, maxAgeMs: 10_000, ...MANUAL }), clock)
  await store.journal.append(range(1, 10).map((i) => note(`n${i}`, T0 + i * 1000)))
  clock.nowMs = T0 + 12_500  // age cutoff 2,500: drops seqs 1-2; count drops 1-4
  t.equal(await store.journal.prune(), 4)
  t.same(await seqs(store), range(5, 10))
  clock.nowMs = T0 + 17_500  // age cutoff 7,500: drops 5-7
  t.equal(await store.journal.prune(), 3)
  t.same(await seqs(store), range(8, 10))
})

t.test('a journal pruned empty keeps its seq across a reopen', async (t) => {
  const dir = await tempDir(t)
  const clock = new FakeClock()
  const config = storeConfig(dir, { maxAgeMs: 1000, ...MANUAL })
  const first = await Store.open(config, clock)
  await first.journal.append([note('a'), note('b'), note('c')])
  clock.advance(5000)
  t.equal(await first.journal.prune(), 3)
  await first.close()
  const store = await open(t, config, clock)
  t.equal(store.journal.lastSeq, 3, 'read from the high-water mark, there being no entries')
  t.same((await store.journal.append([note('d')])).map((e) => e.seq), [4])
})

t.test('append prunes by itself every pruneEveryEntries entries, after acknowledging', async (t) => {
  const store = await open(t, storeConfig(await tempDir(t), { maxEntries: 5, pruneEveryEntries: 10 }))
  for (let i = 1; i <= 9; i++) await store.journal.append([note(`n${i}`)])
  t.same(await seqs(store), range(1, 9), 'no prune before 10 entries')
  await store.journal.append([note('n10')])
  await store.journal.append([note('n11')])  // queued behind the prune the 10th entry started
  t.same(await seqs(store), range(6, 11), 'pruned to 5 after the 10th, then the 11th')
  t.equal(store.journal.lastPruneError, undefined)
})

t.test('a large prune is written in bounded batches and drops everything due', async (t) => {
  const store = await open(t, storeConfig(await tempDir(t), { maxEntries: 10, ...MANUAL }))
  for (let i = 0; i < 3; i++) await store.journal.append(range(1, 900).map((n) => note(`n${n}`)))
  t.equal(await store.journal.prune(), 2690)
  t.same(await seqs(store), range(2691, 2700))
})

t.test('the skipped count does not fall when damaged entries are pruned', async (t) => {
  const dir = await tempDir(t)
  const first = await Store.open(storeConfig(dir), new FakeClock())
  await first.journal.append(range(1, 4).map((i) => note(`n${i}`)))
  await first.close()
  await withRawLevel(dir, (db) => db.sublevel<string, Uint8Array>('journal', { valueEncoding: 'view' }).put(seqKey(1), Uint8Array.of(0xff)))
  const store = await open(t, storeConfig(dir, { maxEntries: 2, ...MANUAL }))
  t.same(await seqs(store), [2, 3, 4])
  t.equal(store.journal.skipped, 1)
  t.equal(await store.journal.prune(), 2, 'the damaged entry is pruned like any other')
  t.same(await seqs(store), [3, 4])
  t.equal(store.journal.skipped, 1, 'a count of what readers met, not of what is left')
})
