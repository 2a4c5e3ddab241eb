// agent/gpu/kmsg/reader.ts on real files and FIFOs (the byte-stream mode) and on a scripted file
// system (the record-per-read mode of /dev/kmsg, EPIPE, EACCES), then the splitter it uses for
// byte streams (kmsg/splitter.ts). Driven by poll(): no sleeps.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { GpuEventKind, type GpuEvent } from '../../../proto/gen/shoal_pb.js'
import { RecordSplitter, type SplitItem } from '../../../agent/gpu/kmsg/splitter.js'
import type { Timers } from '../../../agent/lib/time.js'
import { KmsgReader, kmsgReader, type KmsgFs, type KmsgReaderEvents, type KmsgReaderOptions } from '../../../agent/gpu/kmsg/reader.js'
import { systemKmsgFs } from '../../../agent/gpu/kmsg/system.js'
import { pciKey } from '../../../agent/gpu/pci.js'
import { KMSG_FIXTURES } from './fixtures/kmsg-lines.js'
import { FakeClock, kmsgRecord, type TapTest } from './fixtures/support.js'

const XID79 = 'NVRM: Xid (PCI:0000:18:00): 79, GPU has fallen off the bus.'
const xidLine = (bus: number, xid = 13): string => `NVRM: Xid (PCI:0000:${bus.toString(16).padStart(2, '0')}:00): ${xid}, test`

const manualTimer = (): Timers & { callback?: () => void; cleared: number; ms?: number } => {
  const timer: Timers & { callback?: () => void; cleared: number; ms?: number } = {
    cleared: 0,
    setInterval (callback, ms) { timer.callback = callback; timer.ms = ms; return 'handle' },
    clearInterval (handle) { if (handle === 'handle') timer.cleared++ },
  }
  return timer
}

interface Seen {
  events: GpuEvent[]
  rejected: Array<KmsgReaderEvents['kmsg:rejected']>
  gaps: Array<KmsgReaderEvents['kmsg:gap']>
  errors: Array<KmsgReaderEvents['kmsg:error']>
}

function reader (options: KmsgReaderOptions, fsImpl?: KmsgFs, clock = new FakeClock()): { r: KmsgReader; seen: Seen } {
  const r = kmsgReader(options)({ clock, timer: manualTimer(), ...(fsImpl === undefined ? {} : { fs: fsImpl }) })
  const seen: Seen = { events: [], rejected: [], gaps: [], errors: [] }
  r.on('gpu:event', (e) => seen.events.push(e))
  r.on('kmsg:rejected', (e) => seen.rejected.push(e))
  r.on('kmsg:gap', (e) => seen.gaps.push(e))
  r.on('kmsg:error', (e) => seen.errors.push(e))
  return { r, seen }
}

function tempDir (t: TapTest): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shoal-kmsg-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A file system whose reads follow a script: a string is one read's bytes, a code is a throw. */
function scriptedFs (script: Array<string | { code: string }>, kind: 'char' | 'file' = 'char'): KmsgFs & { reads: number } {
  const fake = {
    reads: 0,
    openSync: () => 3,
    fstatSync: () => ({ isCharacterDevice: () => kind === 'char', isDirectory: () => false }),
    readSync (_fd: number, buffer: Uint8Array): number {
      fake.reads++
      const next = script.shift()
      if (next === undefined) throw Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' })
      if (typeof next !== 'string') throw Object.assign(new Error(next.code), { code: next.code })
      return Buffer.from(next).copy(buffer)
    },
    closeSync: () => {},
  }
  return fake
}

t.test('a regular file of all 56 fixtures, with noise between them', async (t) => {
  const file = path.join(tempDir(t), 'kmsg')
  let text = kmsgRecord(1, 10, 'Linux version 6.8.0 (buildd@lcy02)')
  KMSG_FIXTURES.forEach((f, i) => {
    text += kmsgRecord(10 + 2 * i, 1_000 + i, f.line, i % 7 === 0 ? { SUBSYSTEM: 'pci', DEVICE: '+pci:0000:18:00.0' } : {})
    text += kmsgRecord(11 + 2 * i, 1_000 + i, 'systemd[1]: Started session.')
  })
  fs.writeFileSync(file, text)
  const { r, seen } = reader({ path: file })
  r.poll()
  t.equal(seen.events.length, 56)
  t.same(seen.events.map((e) => Number(e.kmsgSeq)), KMSG_FIXTURES.map((_, i) => 10 + 2 * i))
  t.same(seen.events.map((e) => e.xid), KMSG_FIXTURES.map((f) => f.expect.xid))
  t.same(seen.rejected, [])
  t.equal(r.stats.recordsRead, 113)
  t.equal(r.stats.events, 56)
  t.equal(r.lastSeq, 121)
  r.poll()
  t.equal(seen.events.length, 56, 'nothing new at EOF')
  fs.appendFileSync(file, kmsgRecord(200, 2_000, XID79))
  r.poll()
  t.equal(seen.events.length, 57, 'an appended record is read on the next poll')
  r.stop()
})

t.test('records split across reads; continuation lines attach to their record', async (t) => {
  const file = path.join(tempDir(t), 'kmsg')
  const record = kmsgRecord(5, 10, XID79, { SUBSYSTEM: 'pci', DEVICE: '+pci:0000:18:00.0' })
  const cuts = [7, record.indexOf('\n') + 4, record.length - 3]
  fs.writeFileSync(file, '')
  const { r, seen } = reader({ path: file })
  let from = 0
  for (const cut of cuts) {
    fs.appendFileSync(file, record.slice(from, cut))
    from = cut
    r.poll()
    t.equal(seen.events.length, 0, `held at byte ${cut}`)
  }
  fs.appendFileSync(file, record.slice(from))
  r.poll()
  t.equal(seen.events.length, 1, 'complete')
  t.equal(seen.events[0]?.kind, GpuEventKind.GPU_LOST)
  t.same(seen.rejected, [], 'the continuation lines were not orphaned')
  r.stop()
})

t.test('afterSeq skips what was already read; a reopen does not replay', async (t) => {
  const file = path.join(tempDir(t), 'kmsg')
  fs.writeFileSync(file, [1, 2, 3, 4, 5].map((seq) => kmsgRecord(seq, seq, xidLine(seq))).join(''))
  const { r, seen } = reader({ path: file, afterSeq: 3 })
  r.poll()
  t.same(seen.events.map((e) => Number(e.kmsgSeq)), [4, 5])
  t.equal(r.stats.recordsSkipped, 3)
  t.equal(r.lastSeq, 5)
  r.stop()
  r.start()
  r.poll()
  t.equal(seen.events.length, 2, 'reopened at the start of the file: every record at or below 5 skipped')
  t.equal(r.stats.recordsSkipped, 8)
  r.stop()
})

t.test('a FIFO: non-blocking open without a writer, partial writes, EAGAIN, EOF', async (t) => {
  const fifo = path.join(tempDir(t), 'kmsg.fifo')
  execFileSync('mkfifo', [fifo])
  const { r, seen } = reader({ path: fifo })
  r.poll()
  t.same(seen.errors, [], 'opened with no writer (O_NONBLOCK)')
  const writer = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
  t.teardown(() => { try { fs.closeSync(writer) } catch {} })
  const both = kmsgRecord(1, 1, xidLine(0x18)) + kmsgRecord(2, 2, xidLine(0x19, 48))
  fs.writeSync(writer, both.slice(0, 30))
  r.poll()
  t.equal(seen.events.length, 0, 'half a record: held (the read ended in EAGAIN)')
  fs.writeSync(writer, both.slice(30))
  r.poll()
  t.same(seen.events.map((e) => [e.xid, e.pci && pciKey(e.pci)]), [[13, '0000:18:00'], [48, '0000:19:00']])
  fs.closeSync(writer)
  r.poll()
  t.equal(seen.events.length, 2, 'writer gone: EOF, nothing more')
  t.same(seen.errors, [])
  r.stop()
})

t.test('unreadable paths: a clear error, no throw, no retry every tick', async (t) => {
  const dir = tempDir(t)
  const missing = reader({ path: path.join(dir, 'nope') })
  missing.r.poll()
  missing.r.poll()
  t.same(missing.seen.errors.map((e) => [e.phase, e.code]), [['open', 'ENOENT']], 'reported once')
  t.match(missing.seen.errors[0]?.message, /no such file/)

  const directory = reader({ path: dir })
  directory.r.poll()
  t.same(directory.seen.errors.map((e) => [e.phase, e.code]), [['open', 'EISDIR']])

  const denied: KmsgFs = {
    ...systemKmsgFs,
    openSync: () => { throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }) },
  }
  const eacces = reader({}, denied)
  eacces.r.start()
  t.equal(eacces.seen.errors[0]?.code, 'EACCES')
  t.match(eacces.seen.errors[0]?.message, /\/dev\/kmsg: permission denied .*root or CAP_SYSLOG.*NVML events still work/)
  eacces.r.poll()
  t.equal(eacces.seen.errors.length, 1, 'not re-reported by the next tick')
  eacces.r.stop()
  eacces.r.start()
  t.equal(eacces.seen.errors.length, 2, 'stop() and start() try again')
  eacces.r.stop()

  const eperm = reader({}, { ...denied, openSync: () => { throw Object.assign(new Error('x'), { code: 'EPERM' }) } })
  eperm.r.poll()
  t.match(eperm.seen.errors[0]?.message, /CAP_SYSLOG/)

  const file = path.join(dir, 'secret')
  fs.writeFileSync(file, kmsgRecord(1, 1, XID79))
  fs.chmodSync(file, 0o000)
  const chmodded = reader({ path: file })
  chmodded.r.poll()
  if (process.getuid?.() === 0) {
    t.equal(chmodded.seen.events.length, 1, 'root reads a mode-000 file: covered by the injected EACCES above')
  } else {
    t.same(chmodded.seen.errors.map((e) => e.code), ['EACCES'])
  }
  chmodded.r.stop()
})

t.test('/dev/kmsg mode: one record per read, emitted without waiting for the next', async (t) => {
  const script = [kmsgRecord(1, 1, xidLine(1)), kmsgRecord(2, 2, 'unrelated'), kmsgRecord(3, 3, XID79, { SUBSYSTEM: 'pci' })]
  const fake = scriptedFs(script)
  const { r, seen } = reader({}, fake)
  r.poll()
  t.same(seen.events.map((e) => e.xid), [13, 79])
  t.equal(fake.reads, 4, 'three records, then EAGAIN')
})

t.test('EPIPE: a gap is counted and reading goes on; EINTR is retried', async (t) => {
  const fake = scriptedFs([kmsgRecord(1, 1, xidLine(1)), { code: 'EPIPE' }, { code: 'EINTR' }, kmsgRecord(900, 2, xidLine(2))])
  const { r, seen } = reader({}, fake)
  r.poll()
  t.same(seen.gaps, [{ afterSeq: 1, gaps: 1 }])
  t.same(seen.events.map((e) => Number(e.kmsgSeq)), [1, 900])
  t.equal(r.stats.gaps, 1)
})

t.test('a persistent read error is reported once until a read succeeds', async (t) => {
  const fake = scriptedFs([{ code: 'EIO' }, { code: 'EIO' }, kmsgRecord(1, 1, xidLine(1)), { code: 'EIO' }])
  const { r, seen } = reader({}, fake)
  r.poll()
  r.poll()
  r.poll()
  r.poll()
  t.same(seen.errors.map((e) => [e.phase, e.code]), [['read', 'EIO'], ['read', 'EIO']])
  t.equal(seen.events.length, 1)
})

t.test('time_ms = wall - (monotonic - ts) / 1000, never in the future', async (t) => {
  const clock = new FakeClock(1_700_000_000_000, 5_000_000_000)
  const fake = scriptedFs([
    kmsgRecord(1, 4_999_000_000, xidLine(1)), // 1 s old
    kmsgRecord(2, 5_000_000_000, xidLine(2)), // now
    kmsgRecord(3, 4_999_999_500, xidLine(3)), // 0.5 ms old
    kmsgRecord(4, 9_000_000_000, xidLine(4)), // from the future: another boot's file
  ])
  const { r, seen } = reader({}, fake, clock)
  r.poll()
  t.same(seen.events.map((e) => Number(e.timeMs)), [1_699_999_999_000, 1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_000])
})

t.test('rejections: bad records and malformed NVIDIA lines, each with its stage and reason', async (t) => {
  const file = path.join(tempDir(t), 'kmsg')
  const long = `4,9,9,-;${'x'.repeat(20_000)}\n`
  fs.writeFileSync(file, [
    ' ORPHAN=1\n',
    'not a record\n',
    '4,abc,1,-;m\n',
    kmsgRecord(2, 2, 'NVRM: Xid (invalid): some error'),
    long,
    '4,3,3,-;bad \\xZZ escape\n',
    kmsgRecord(4, 4, XID79),
  ].join(''))
  const { r, seen } = reader({ path: file })
  r.poll()
  t.same(seen.rejected.map((x) => x.stage), ['record', 'record', 'record', 'nvidia', 'record', 'record'])
  t.match(seen.rejected[0]?.reason, /continuation line without a record/)
  t.match(seen.rejected[1]?.reason, /no ';'/)
  t.match(seen.rejected[2]?.reason, /sequence number "abc"/)
  t.match(seen.rejected[3]?.reason, /XID line: .*invalid/)
  t.match(seen.rejected[4]?.reason, /longer than the 8192 bytes/)
  t.ok((seen.rejected[4]?.line.length ?? 0) <= 513, 'the quoted line is cut')
  t.match(seen.rejected[5]?.reason, /bad escape/)
  t.equal(seen.events.length, 1, 'the good record after them is still read')
  t.same([r.stats.recordsRejected, r.stats.linesRejected, r.stats.events], [5, 1, 1])
})

t.test('a poll reads at most maxReadsPerPoll times', async (t) => {
  const script = Array.from({ length: 10 }, (_, i) => kmsgRecord(i + 1, 1, xidLine(i + 1)))
  const fake = scriptedFs(script)
  const { r, seen } = reader({ maxReadsPerPoll: 4 }, fake)
  r.poll()
  t.equal(seen.events.length, 4)
  r.poll()
  r.poll()
  t.equal(seen.events.length, 10)
})

t.test('start() schedules poll on the timer; stop() clears it and closes', async (t) => {
  const timer = manualTimer()
  const fake = scriptedFs([kmsgRecord(1, 1, xidLine(1))])
  let closed = 0
  fake.closeSync = () => { closed++ }
  const r = new KmsgReader({ pollIntervalMs: 100 }, { clock: new FakeClock(), timer, fs: fake })
  const events: GpuEvent[] = []
  const off = r.on('gpu:event', (e) => events.push(e))
  r.start()
  r.start()
  t.equal(timer.ms, 100)
  timer.callback?.()
  t.equal(events.length, 1)
  off()
  r.stop()
  t.equal(timer.cleared, 1)
  t.equal(closed, 1)
})

t.test('a listener may stop the reader in the middle of a poll', async (t) => {
  const fake = scriptedFs([kmsgRecord(1, 1, xidLine(1)) + kmsgRecord(2, 2, xidLine(2)), kmsgRecord(3, 3, xidLine(3))], 'file')
  const { r, seen } = reader({}, fake)
  r.on('gpu:event', () => { r.stop() })
  r.poll()
  t.equal(seen.events.length, 1, 'nothing emitted after stop()')
  t.same(seen.errors, [], 'no read on the closed descriptor')
  t.equal(fake.reads, 1)
})

t.test('bad options fail at construction with a sentence', async (t) => {
  const components = { clock: new FakeClock(), timer: manualTimer() }
  t.throws(() => new KmsgReader({ pollIntervalMs: 0 }, components), /pollIntervalMs must be 1\.\.60000 ms, got 0/)
  t.throws(() => new KmsgReader({ maxReadsPerPoll: 0 }, components), /maxReadsPerPoll/)
  t.throws(() => new KmsgReader({ afterSeq: 1.5 }, components), /afterSeq must be an integer/)
})

// ---- the splitter: records out of a byte splitStream cut at arbitrary points ----

const splitTexts = (items: readonly SplitItem[]): string[] => items.map((i) => (i.ok ? i.text : `!${i.reason}`))

const splitStream = [
  kmsgRecord(1, 1, 'NVRM: Xid (PCI:0000:18:00): 79', { SUBSYSTEM: 'pci', DEVICE: '+pci:0000:18:00.0' }),
  kmsgRecord(2, 2, 'plain'),
  kmsgRecord(3, 3, 'NVRM: The NVIDIA GPU 0000:b3:00.0\nNVRM: fallen off the bus', { K: 'é' }),
].join('')

const splitExpected = [
  '4,1,1,-;NVRM: Xid (PCI:0000:18:00): 79\n SUBSYSTEM=pci\n DEVICE=+pci:0000:18:00.0',
  '4,2,2,-;plain',
  '4,3,3,-;NVRM: The NVIDIA GPU 0000:b3:00.0\\x0aNVRM: fallen off the bus\n K=\\xc3\\xa9',
]

t.test('splitter: one byte at a time, drained only at the end: the same records', async (t) => {
  const s = new RecordSplitter()
  const out: SplitItem[] = []
  for (const byte of Buffer.from(splitStream)) out.push(...s.push(Uint8Array.of(byte)))
  out.push(...s.flush())
  t.same(splitTexts(out), splitExpected)
})

t.test('splitter: drained after every byte: a cut inside a continuation line still waits for it', async (t) => {
  const s = new RecordSplitter()
  const out: SplitItem[] = []
  const bytes = Buffer.from(splitStream)
  for (let i = 0; i < bytes.length; i++) {
    out.push(...s.push(bytes.subarray(i, i + 1)))
    // Draining right after a newline that a continuation line follows is the one cut that orphans
    // it (the trade for emitting a record without waiting for the next one); the reader drains
    // only at EAGAIN/EOF, and a read of /dev/kmsg always holds the whole record.
    const beforeContinuation = bytes[i] === 0x0a && bytes[i + 1] === 0x20
    if (!beforeContinuation) out.push(...s.flush())
  }
  out.push(...s.flush())
  t.same(splitTexts(out), splitExpected)
})

t.test('splitter: an over-long line is rejected whole and the splitStream recovers', async (t) => {
  const s = new RecordSplitter()
  const out = [
    ...s.push(Buffer.from(kmsgRecord(1, 1, 'before'))),
    ...s.push(Buffer.from(`4,2,2,-;${'y'.repeat(9000)}`)),
    ...s.push(Buffer.from(`${'y'.repeat(9000)}\n`)),
    ...s.push(Buffer.from(kmsgRecord(3, 3, 'after'))),
    ...s.flush(),
  ]
  t.same(splitTexts(out), ['4,1,1,-;before', '!line longer than the 8192 bytes of a kernel record', '4,3,3,-;after'])
  const rejected = out[1]
  t.ok(rejected !== undefined && !rejected.ok && rejected.line.length === 256, 'only a sample of it is kept')
})

t.test('splitter: blank lines are skipped; an orphan continuation is rejected', async (t) => {
  const s = new RecordSplitter()
  t.same(splitTexts([...s.push(Buffer.from('\n\n KEY=v\n\n4,1,1,-;m\n')), ...s.flush()]), [
    '!continuation line without a record before it',
    '4,1,1,-;m',
  ])
})
