// xid-catalog.md §7: every fixture line classifies to the expected kind, code, PCI key and special
// fields, both as a pasted dmesg line and wrapped in a /dev/kmsg record as the kernel writes it.
import t from 'tap'
import { GpuEventKind, GpuEventSource, type GpuEvent } from '../../../proto/gen/shoal_pb.js'
import { classifyNvidiaLine } from '../../../agent/gpu/kmsg/nvidia.js'
import { parseKmsgRecord } from '../../../agent/gpu/kmsg/record.js'
import { pciKey } from '../../../agent/gpu/pci.js'
import { KMSG_FIXTURES, type KmsgFixture } from './fixtures/kmsg-lines.js'
import { kmsgRecord, type TapTest } from './fixtures/support.js'

const KIND = { xid: GpuEventKind.XID, 'gpu-lost': GpuEventKind.GPU_LOST, sxid: GpuEventKind.SXID } as const

function classified (t: TapTest, line: string, seq: number, timeMs: number): GpuEvent | undefined {
  const result = classifyNvidiaLine(line, { seq, timeMs })
  if (result === null || !result.ok) {
    t.fail(`not classified: ${result === null ? 'not ours' : result.reason}`)
    return undefined
  }
  return result.event
}

function checkEvent (t: TapTest, f: KmsgFixture, e: GpuEvent): void {
  const x = f.expect
  t.equal(e.kind, KIND[x.kind], 'kind')
  t.equal(e.xid, x.xid, 'xid')
  t.equal(e.pci === undefined ? undefined : pciKey(e.pci), x.pci, 'pci key')
  t.equal(e.pci?.function, x.function ?? 0, 'pci function')
  t.equal(e.gpuInstanceId, x.gpuInstance, 'gpu instance')
  t.equal(e.link, x.link, 'link')
  t.equal(e.fatal, x.fatal, 'fatal')
  t.equal(e.nvswitch, x.nvswitch, 'nvswitch')
  t.equal(e.continuation, x.continuation ?? false, 'continuation')
  t.equal(e.source, GpuEventSource.KMSG, 'source')
  t.equal(e.rawLine, f.line, 'raw line is the message')
}

t.test('the fixture table holds all 56 rows of §7, numbered 1..56', async (t) => {
  t.same(KMSG_FIXTURES.map((f) => f.n), Array.from({ length: 56 }, (_, i) => i + 1))
})

t.test('each fixture as a plain line', async (t) => {
  for (const f of KMSG_FIXTURES) {
    await t.test(`#${f.n} ${f.expect.kind} ${f.expect.xid}`, async (t) => {
      const e = classified(t, f.line, f.n, 1_000 + f.n)
      if (e === undefined) return
      checkEvent(t, f, e)
      t.equal(e.kmsgSeq, f.n, 'seq from the context')
      t.equal(e.timeMs, 1_000 + f.n, 'time from the context')
    })
  }
})

t.test('each fixture wrapped in a /dev/kmsg record', async (t) => {
  for (const f of KMSG_FIXTURES) {
    await t.test(`#${f.n}`, async (t) => {
      const text = kmsgRecord(100 + f.n, 4_000_000 + f.n, f.line)
      const parsed = parseKmsgRecord(text)
      if (!parsed.ok) return t.fail(parsed.reason)
      t.equal(parsed.record.seq, 100 + f.n)
      t.equal(parsed.record.timestampUs, 4_000_000 + f.n)
      t.equal(parsed.record.message, f.line, 'unescaped message equals the line')
      const e = classified(t, parsed.record.message, parsed.record.seq, 0)
      if (e !== undefined) checkEvent(t, f, e)
    })
  }
})

t.test('#50 arrives as one record with \\x0a escapes, as the kernel writes it', async (t) => {
  const f = KMSG_FIXTURES.find((x) => x.n === 50)
  if (f === undefined) return t.fail('fixture 50 missing')
  const text = kmsgRecord(7, 8, f.line)
  t.match(text, /0000:b3:00\.0\\x0aNVRM: \(PCI ID: 10de:26b5\) installed in this system has\\x0aNVRM: fallen/)
  t.notOk(text.slice(0, -1).includes('\n'), 'no raw newline inside the record')
  const parsed = parseKmsgRecord(text)
  if (!parsed.ok) return t.fail(parsed.reason)
  const r = classifyNvidiaLine(parsed.record.message)
  t.equal(r?.ok && r.event.kind, GpuEventKind.GPU_LOST)
  t.equal(r?.ok && r.event.pci !== undefined && pciKey(r.event.pci), '0000:b3:00')
})

t.test('details: pid and name removed, the rest kept whole', async (t) => {
  const detail = (n: number): string | undefined => {
    const f = KMSG_FIXTURES.find((x) => x.n === n)
    const r = f === undefined ? null : classifyNvidiaLine(f.line)
    return r?.ok === true ? r.event.detail : undefined
  }
  const cases: Array<[number, string]> = [
    [1, 'Graphics SM Warp Exception on (GPC 7, TPC 7, SM 0): Illegal Instruction Parameter'],
    [5, 'Graphics Exception: ChID 0052, Class 00000000, Offset 00001b0c, Data 1000f010'],
    [6, 'Ch 00000008, errorString CTX SWITCH TIMEOUT, Info 0x58005'],
    [9, 'Ch 00000053, intr 10000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_2 faulted @ 0x0_00000000. Fault is of type FAULT_PDE ACCESS_TYPE_READ'],
    [16, 'Ch 00000001 caused by previous Xid 149'],
    [20, 'GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)'],
    [24, 'GPU has fallen off the bus'],
    [30, 'Contained: CE User Channel (0x9). RST: No, D-RST: No'],
    [39, 'RLW_RXPIPE Nonfatal XC0 i0 Link 13 (0x0409a0c2 0x00000008 0x00000001 0x00000000 0x00100000 0x00000004)'],
    [42, 'NETIR_LINK_EVT  Fatal   XC0 i0 Link 01 (0x021425c6 0x00000000 0x00000000 0x00000000 0x00000000 0x00000000)'],
    [49, 'Channel 00000001'],
    [51, 'Non-fatal, Link 57 Minion Link DLREQ interrupt'],
    [55, 'Severity 1 Engine instance 37 Sub-engine instance 00'],
  ]
  for (const [n, want] of cases) t.equal(detail(n), want, `#${n}`)
})

t.test('the GPU-CI of a MIG line fills compute_instance_id', async (t) => {
  const r = classifyNvidiaLine('NVRM: Xid (PCI:0000:01:00 GPU-I:05 GPU-CI:01): 94, pid=7194, Contained: CE User Channel (0x9). RST: No, D-RST: No')
  t.equal(r?.ok && r.event.gpuInstanceId, 5)
  t.equal(r?.ok && r.event.computeInstanceId, 1)
})
