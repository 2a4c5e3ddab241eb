// The kernel log parsers on good and bad input: PCI addresses (agent/gpu/pci.ts), /dev/kmsg records
// (kmsg/record.ts, Documentation/ABI/testing/dev-kmsg) and hostile lines for the NVIDIA classifier
// (kmsg/nvidia.ts). Malformed input that looks like ours is rejected with a reason naming what is
// wrong, everything else is ignored, and nothing ever throws. One file, not three: tap starts a
// process per file, and that start costs more than all of these tests together.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import { PciAddressSchema } from '../../../proto/gen/shoal_pb.js'
import { formatPci, parsePci, pciKey } from '../../../agent/gpu/pci.js'
import { classifyNvidiaLine, type NvidiaClassification } from '../../../agent/gpu/kmsg/nvidia.js'
import { KMSG_RECORD_MAX_CHARS, parseKmsgRecord, unescapeKmsg } from '../../../agent/gpu/kmsg/record.js'
import { KMSG_FIXTURES } from './fixtures/kmsg-lines.js'
import { kmsgRecord, mulberry32, type TapTest } from './fixtures/support.js'

// ---- PCI addresses: every form the kernel and NVML print lands on the same integers ----

t.test('pci: accepted forms', async (t) => {
  const rows: Array<[string, number, number, number, number]> = [
    ['PCI:0000:18:00', 0, 0x18, 0, 0], // kernel XID line
    ['0000:18:00', 0, 0x18, 0, 0], // old driver XID line
    ['00000000:18:00.0', 0, 0x18, 0, 0], // NVML busId
    ['00000000:B3:00.0', 0, 0xb3, 0, 0], // NVML busId, upper case
    ['0000:18:00.0', 0, 0x18, 0, 0], // NVML busIdLegacy, sysfs
    ['0018:01:00', 0x18, 1, 0, 0], // Grace domain
    ['000f:01:00', 0xf, 1, 0, 0],
    ['18:00.0', 0, 0x18, 0, 0], // no domain
    ['18:00', 0, 0x18, 0, 0],
    ['PCI:0000:0a:00.0', 0, 0x0a, 0, 0], // SXID
    ['0000:10:1c', 0, 0x10, 0x1c, 0], // fixture #22
    ['0000:3b:00.7', 0, 0x3b, 0, 7],
    ['10000:01:00.0', 0x10000, 1, 0, 0], // VMD domain
    ['  0000:18:00  ', 0, 0x18, 0, 0],
  ]
  for (const [text, domain, bus, device, fn] of rows) {
    const r = parsePci(text)
    if (!r.ok) {
      t.fail(`${text}: ${r.reason}`)
      continue
    }
    t.same([r.pci.domain, r.pci.bus, r.pci.device, r.pci.function], [domain, bus, device, fn], text)
  }
})

t.test('pci: rejected forms, each with a reason naming the part', async (t) => {
  const rows: Array<[string, RegExp]> = [
    ['', /empty/],
    ['PCI:', /empty/],
    ['invalid', /not \[domain:\]bus:device/],
    ['0000:18', /bus "0000" in "0000:18"/], // two parts are bus:device
    ['0000:18:00:00', /not \[domain:\]bus:device/],
    ['000:18:00', /domain "000"/],
    ['000000000:18:00', /domain/],
    ['0000:1:00', /bus "1"/],
    ['0000:18:0', /device "0"/],
    ['0000:18:20', /device 0x20 .*exceeds 0x1f/],
    ['0000:18:00.8', /function "8"/],
    ['0000:18:00.', /function ""/],
    ['0000:18:00.0.1', /function "0.1"/],
    ['0000:zz:00', /bus "zz"/],
    ['0000:１８:00', /bus/],
    ['PCI:0000:66:00 GPU-I:05', /device/],
    ['x'.repeat(1000), /longer than 32/],
  ]
  for (const [text, reason] of rows) {
    const r = parsePci(text)
    t.equal(r.ok, false, JSON.stringify(text.slice(0, 40)))
    if (!r.ok) t.match(r.reason, reason, JSON.stringify(text.slice(0, 40)))
  }
})

t.test('pci: pciKey ignores the function and the text form; formatPci writes both styles', async (t) => {
  const keys = ['PCI:0000:18:00', '00000000:18:00.0', '0000:18:00.0', '18:00'].map((s) => {
    const r = parsePci(s)
    return r.ok ? pciKey(r.pci) : r.reason
  })
  t.same(keys, ['0000:18:00', '0000:18:00', '0000:18:00', '0000:18:00'])
  const addr = create(PciAddressSchema, { domain: 0x18, bus: 0xb3, device: 0x1c, function: 1 })
  t.equal(pciKey(addr), '0018:b3:1c')
  t.equal(formatPci(addr), '0018:b3:1c.1')
  t.equal(formatPci(addr, 'nvml'), '00000018:B3:1C.1')
  for (const style of ['kernel', 'nvml'] as const) {
    const back = parsePci(formatPci(addr, style))
    t.same(back.ok && [back.pci.domain, back.pci.bus, back.pci.device, back.pci.function], [0x18, 0xb3, 0x1c, 1], `${style} round trip`)
  }
})

// ---- /dev/kmsg records ----

t.test('record: a record with continuation lines', async (t) => {
  const r = parseKmsgRecord('4,1234,5678901234,-;NVRM: Xid (PCI:0000:18:00): 79\n SUBSYSTEM=pci\n DEVICE=+pci:0000:18:00.0\n')
  if (!r.ok) return t.fail(r.reason)
  t.same(
    [r.record.priority, r.record.facility, r.record.level, r.record.seq, r.record.timestampUs, r.record.flags],
    [4, 0, 4, 1234, 5678901234, '-'],
  )
  t.equal(r.record.message, 'NVRM: Xid (PCI:0000:18:00): 79')
  t.same([...r.record.properties], [['SUBSYSTEM', 'pci'], ['DEVICE', '+pci:0000:18:00.0']])
})

t.test('record: facility and level come from the priority; extra header fields are tolerated', async (t) => {
  const r = parseKmsgRecord('30,7,8,c,caller=T123;systemd: started')
  if (!r.ok) return t.fail(r.reason)
  t.same([r.record.facility, r.record.level, r.record.flags, r.record.message], [3, 6, 'c', 'systemd: started'])
})

t.test('record: escapes: \\xNN, multi-byte UTF-8 runs, the backslash itself', async (t) => {
  const r = parseKmsgRecord('6,1,2,-;a\\x0ab\\x09c \\xe2\\x80\\x94 \\x5cx41 \\xc3\\xa9\n KEY=v\\x3dw\n')
  if (!r.ok) return t.fail(r.reason)
  t.equal(r.record.message, 'a\nb\tc \u2014 \\x41 \u00e9')
  t.equal(r.record.properties.get('KEY'), 'v=w')
  const invalidUtf8 = unescapeKmsg('\\xff\\xfe')
  t.same(invalidUtf8.ok && [...invalidUtf8.text].length, 2, 'invalid UTF-8 becomes replacement characters')
})

t.test('record: an empty message is a record', async (t) => {
  const r = parseKmsgRecord('6,1,2,-;\n')
  t.same(r.ok && r.record.message, '')
})

t.test('record: rejections name what is wrong', async (t) => {
  const rows: Array<[string, string, RegExp]> = [
    ['empty', '', /no ';'/],
    ['no semicolon', '4,1,2,- NVRM: Xid', /no ';'/],
    ['semicolon too late', `${'1'.repeat(200)};x`, /first 128/],
    ['three fields', '4,1,2;x', /fewer than 4 fields/],
    ['non-numeric priority', 'x,1,2,-;m', /priority "x"/],
    ['non-numeric seq', '4,abc,2,-;m', /sequence number "abc"/],
    ['negative seq', '4,-1,2,-;m', /sequence number "-1"/],
    ['seq beyond 2^53', '4,12345678901234567,2,-;m', /sequence number/],
    ['unicode seq', '4,١٢٣,2,-;m', /sequence number/],
    ['non-numeric timestamp', '4,1,2.5,-;m', /timestamp "2.5"/],
    ['newline in header', '4,1\n,2,-;m', /newline/],
    ['bad escape', '4,1,2,-;NVRM: \\xZZ', /message: bad escape "\\\\xZZ" at offset 6/],
    ['truncated escape', '4,1,2,-;NVRM: \\x4', /bad escape/],
    ['lone backslash', '4,1,2,-;C:\\temp', /bad escape/],
    ['continuation without space', '4,1,2,-;m\nKEY=v', /line 2 .* does not start with a space/],
    ['continuation without =', '4,1,2,-;m\n KEYv', /not ' KEY=value'/],
    ['continuation bad escape', '4,1,2,-;m\n K=\\q', /continuation line 2: bad escape/],
    ['1 MB record', `4,1,2,-;${'x'.repeat(1 << 20)}`, /over the 8192/],
  ]
  for (const [name, text, reason] of rows) {
    const r = parseKmsgRecord(text)
    t.equal(r.ok, false, name)
    if (!r.ok) t.match(r.reason, reason, name)
  }
})

t.test('record: the length limit is the kernel\'s: exactly 8192 passes, 8193 does not', async (t) => {
  const head = '4,1,2,-;'
  t.equal(parseKmsgRecord(head + 'x'.repeat(KMSG_RECORD_MAX_CHARS - head.length)).ok, true)
  t.equal(parseKmsgRecord(head + 'x'.repeat(KMSG_RECORD_MAX_CHARS - head.length + 1)).ok, false)
})

// ---- hostile and negative lines ----

function rejected (t: TapTest, line: string, reason: RegExp, name: string): void {
  const r = classifyNvidiaLine(line)
  if (r === null || r.ok) return void t.fail(`${name}: expected a rejection, got ${r === null ? 'not ours' : 'an event'}`)
  t.match(r.reason, reason, name)
}

t.test('hostile: the catalog\'s suggested negatives (gpud / NVSentinel tests)', async (t) => {
  rejected(t, 'NVRM: Xid (invalid): some error', /^XID line: .*"invalid".* not \[domain:\]bus:device/, 'Xid (invalid)')
  rejected(t, 'NVRM: Xid (PCI:0000:66:00): abc, pid=2280636', /^XID line: code "abc" is not a decimal number/, 'code abc')
  rejected(t, 'nvidia-nvswitch0: SXid (invalid): some error', /^SXID line: .*"invalid"/, 'SXid (invalid)')
  t.equal(classifyNvidiaLine('NVRM: GPU4 RPC history (CPU -> GSP):'), null, 'GSP RPC history is not an XID')
})

t.test('hostile: lines that are not ours', async (t) => {
  const lines = [
    '',
    ' ',
    'NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15',
    'NVRM: GPU4 RPC history (CPU -> GSP):',
    'NVRM:     entry    function                   sequence data0              data1',
    'pcieport 0000:00:01.1: AER: Corrected error received: 0000:01:00.0',
    'mt7921e 0000:02:00.0: chip has fallen off the bus', // not NVRM
    'usb 1-1: new high-speed USB device number 2 using xhci_hcd',
    '('.repeat(8_000),
    '\u0000\u0001\u0002\u00ff',
    'Xid 79 mentioned in a user message',
  ]
  for (const line of lines) t.equal(classifyNvidiaLine(line), null, JSON.stringify(line.slice(0, 40)))
})

t.test('hostile: malformed lines that look like ours are rejected with a reason', async (t) => {
  const rows: Array<[string, RegExp]> = [
    ['NVRM: Xid', /expected ' \(' after 'NVRM: Xid'/],
    ['NVRM: Xid 13, something', /expected ' \('/],
    ['NVRM: Xid (PCI:0000:01:00', /no '\)' closing the PCI field within 64/],
    [`NVRM: Xid ${'('.repeat(8_000)}`, /no '\)' closing the PCI field/],
    ['('.repeat(10_000), /line is 10000 characters, over the 8192/],
    [`NVRM: Xid (${'0'.repeat(100)}): 13`, /no '\)' closing the PCI field within 64/],
    ['NVRM: Xid (PCI:0000:01:00) 13, x', /expected ': <code>'/],
    ['NVRM: Xid (PCI:0000:01:00): , x', /code "" is not a decimal/],
    ['NVRM: Xid (PCI:0000:01:00): 1234567, x', /code "1234567" is not a decimal number of 1 to 6 digits/],
    ['NVRM: Xid (PCI:0000:01:00): 0, x', /code 0 does not exist/],
    ['NVRM: Xid (PCI:0000:01:00): ١٣, x', /code "١٣"/],
    ['NVRM: Xid (PCI:0000:01:20): 13, x', /device 0x20/],
    ['NVRM: Xid (PCI:0000:１:00): 13, x', /bus/],
    ['nvidia-nvswitch0: SXid (PCI:0000:05:00.0) 20034', /SXID line: expected ': <code>'/],
    ['nvidia-nvswitch0: SXid (PCI:0000:05:00.0): x, Fatal', /SXID line: code "x"/],
    ['NVRM: fallen off the bus and is not responding to commands.', /names no GPU .*one record/],
    ['NVRM: GPU zz:00.0: GPU has fallen off the bus.', /fallen-off-the-bus line: /],
    [`NVRM: Xid (PCI:0000:01:00): 13, ${'x'.repeat(1 << 20)}`, /over the 8192/],
    ['x'.repeat(1 << 20), /over the 8192/],
  ]
  for (const [line, reason] of rows) rejected(t, line, reason, JSON.stringify(line.slice(0, 50)))
})

t.test('hostile: tolerated variants are still read', async (t) => {
  const ok = (line: string): NvidiaClassification => classifyNvidiaLine(line)
  const a = ok('NVRM: Xid (PCI:0000:01:00): 13, 进程 💥 exploded')
  t.equal(a?.ok && a.event.detail, '进程 💥 exploded', 'unicode detail')
  const b = ok('NVRM: Xid (PCI:0000:01:00 GPU-I:05 FUTURE:1): 94, Contained')
  t.equal(b?.ok && b.event.gpuInstanceId, 5, 'unknown attribution token ignored')
  const c = ok('NVRM: Xid (PCI:0000:01:00): 149, something new in a future driver')
  t.same(c?.ok && [c.event.xid, c.event.fatal, c.event.link], [149, undefined, undefined], 'unknown NVL5 shape')
  const d = ok('NVRM: Xid (PCI:0000:01:00): 79')
  t.same(d?.ok && [d.event.xid, d.event.detail], [79, ''], 'bare')
  const e = ok('SXid (PCI:0000:05:00.0): 20034, Fatal, Link 3 something')
  t.same(e?.ok && [e.event.nvswitch, e.event.fatal, e.event.link], [undefined, true, 3], 'SXID without switch prefix')
})

t.test('hostile: hostile /dev/kmsg records', async (t) => {
  const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256)).toString('latin1')
  const texts = [
    '', ';', ';;;;', '\n\n\n', '4,1,2,-', garbage, `4,1,2,-;${garbage}`, '4,1,2,-;\\xZZ\\x', '4,1,2,-;\\',
    `4,1,2,-;${'('.repeat(10_000)}`, `4,1,2,-;NVRM: Xid ${'('.repeat(8000)}`,
  ]
  for (const text of texts) {
    const r = parseKmsgRecord(text)
    t.ok(r.ok || r.reason.length > 0, JSON.stringify(text.slice(0, 30)))
    if (r.ok) t.doesNotThrow(() => classifyNvidiaLine(r.record.message))
  }
})

// Mutation ops over a fixture line; the alphabet leans to the characters the parsers split on.
const ALPHABET = ['(', ')', ':', ',', ' ', '.', '0', '9', 'a', 'f', 'x', '\\', '\n', ';', '=', '-', 'P', 'C', 'I', '\u0000', 'é', '💥', 'NVRM: Xid (', 'SXid (', 'GPU-I:', 'fallen off the bus']

function mutate (line: string, rand: () => number): string {
  const pick = (n: number): number => Math.floor(rand() * n)
  let s = line
  const ops = 1 + pick(4)
  for (let i = 0; i < ops; i++) {
    const at = pick(s.length + 1)
    switch (pick(6)) {
      case 0: s = s.slice(0, at) + (ALPHABET[pick(ALPHABET.length)] ?? '') + s.slice(at); break
      case 1: s = s.slice(0, at) + s.slice(at + 1 + pick(8)); break
      case 2: s = s.slice(0, at); break
      case 3: s = s.slice(0, at) + s.slice(at, at + pick(30)).repeat(1 + pick(50)) + s.slice(at); break
      case 4: s = s.slice(0, at) + String.fromCharCode(pick(0x10000)) + s.slice(at + 1); break
      default: s = s.slice(at) + s.slice(0, at); break
    }
  }
  return s
}

t.test('hostile: 2,000 seeded mutations of the fixtures never throw and always answer in shape', async (t) => {
  const seed = 0x5ea15eed
  t.comment(`seed ${seed}`)
  const rand = mulberry32(seed)
  let events = 0
  let rejections = 0
  let bad = 0
  for (let i = 0; i < 2000; i++) {
    const base = KMSG_FIXTURES[i % KMSG_FIXTURES.length]?.line ?? ''
    const line = mutate(base, rand)
    try {
      const r = classifyNvidiaLine(line, { seq: i, timeMs: i })
      if (r?.ok === true) {
        events++
        if (r.event.rawLine !== line || r.event.pci === undefined || r.event.xid < 1) bad++
      } else if (r !== null) {
        rejections++
        if (r.reason.length === 0) bad++
      }
      const asRecord = parseKmsgRecord(kmsgRecord(i, i, line))
      // A lone surrogate has no UTF-8 form: the kernel's bytes would carry U+FFFD instead.
      const asBytes = Buffer.from(line, 'utf8').toString('utf8')
      if (!asRecord.ok || asRecord.record.message !== asBytes) {
        t.comment(i, asRecord.ok ? 'differs' : asRecord.reason, JSON.stringify(line.slice(0, 80)))
        bad++
      }
      const raw = parseKmsgRecord(line)
      if (raw.ok) classifyNvidiaLine(raw.record.message)
    } catch (err) {
      bad++
      t.fail(`mutation ${i} threw: ${String(err)} on ${JSON.stringify(line.slice(0, 200))}`)
    }
  }
  t.equal(bad, 0, 'no throw, no malformed answer, every wrapped line round-trips')
  t.ok(events > 0 && rejections > 0, `both outcomes exercised (${events} events, ${rejections} rejections)`)
})
