// agent/gpu/dedup.ts: xid-catalog.md §8. Key (domain, bus, device, xid) as integers, or uuid when
// the PCI address is unknown; first record of a window emitted at once, the rest folded.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import {
  GpuEventKind,
  GpuEventSchema,
  GpuEventSource,
  type GpuEvent,
} from '../../../proto/gen/shoal_pb.js'
import { XidDeduper, XID_DEDUP_WINDOW_MS_DEFAULT, dedupKey } from '../../../agent/gpu/dedup.js'
import { classifyNvidiaLine } from '../../../agent/gpu/kmsg/nvidia.js'

interface Spec {
  kind?: GpuEventKind
  xid?: number
  bus?: number
  domain?: number
  uuid?: string
  noPci?: boolean
  source?: GpuEventSource
  continuation?: boolean
}

function ev (s: Spec = {}): GpuEvent {
  return create(GpuEventSchema, {
    kind: s.kind ?? GpuEventKind.XID,
    xid: s.xid ?? 79,
    uuid: s.uuid ?? '',
    pci: s.noPci === true ? undefined : { domain: s.domain ?? 0, bus: s.bus ?? 0x18, device: 0, function: 0 },
    source: s.source ?? GpuEventSource.KMSG,
    continuation: s.continuation ?? false,
  })
}

const nvml = (s: Spec = {}): GpuEvent => ev({ ...s, source: GpuEventSource.NVML })

function kmsg (line: string): GpuEvent {
  const r = classifyNvidiaLine(line)
  if (r === null || !r.ok) throw new Error(`fixture line did not classify: ${line}`)
  return r.event
}

t.test('the window: W inclusive, measured from the emitted record', async (t) => {
  const d = new XidDeduper()
  const W = XID_DEDUP_WINDOW_MS_DEFAULT
  t.equal(d.offer(ev(), 1_000).emit, true, 'first: emitted at once')
  const second = d.offer(ev(), 1_000 + W)
  t.equal(second.emit, false, 'at exactly W: folded')
  t.same(!second.emit && second.duplicateOf, { key: 'xid/pci/0/24/0/79', firstAtMs: 1_000, firstSource: GpuEventSource.KMSG, suppressed: 1 })
  t.equal(d.offer(ev(), 1_000 + W + 1).emit, true, 'past W from the first: a new occurrence')
  t.equal(d.offer(ev(), 1_000 + 2 * W).emit, false, 'the new occurrence opened its own window')
  t.same(d.stats, { offered: 4, emitted: 2, suppressed: 2, unkeyed: 0, evicted: 0 })
})

t.test('a steady storm is one occurrence per window, not one forever', async (t) => {
  const d = new XidDeduper({ windowMs: 1_000 })
  const emitted = Array.from({ length: 10 }, (_, i) => d.offer(ev({ xid: 13 }), i * 400).emit)
  t.same(emitted, [true, false, false, true, false, false, true, false, false, true])
})

t.test('different GPUs, codes and domains are different keys', async (t) => {
  const d = new XidDeduper()
  t.equal(d.offer(ev({ bus: 0x18 }), 0).emit, true)
  t.equal(d.offer(ev({ bus: 0x19 }), 1).emit, true, 'other bus')
  t.equal(d.offer(ev({ bus: 0x18, domain: 8 }), 2).emit, true, 'other domain (Grace)')
  t.equal(d.offer(ev({ bus: 0x18, xid: 13 }), 3).emit, true, 'other code')
  t.equal(d.offer(ev({ bus: 0x18 }), 4).emit, false, 'same again')
})

t.test('NVML then kmsg, kmsg then NVML: one occurrence either way', async (t) => {
  const line = 'NVRM: Xid (PCI:0000:9b:00): 119, pid=1240590, name=gpud, Timeout after 6s of waiting for RPC response from GPU4 GSP!'
  const fromNvml = nvml({ xid: 119, bus: 0x9b })
  fromNvml.uuid = 'GPU-4d1c'
  const a = new XidDeduper()
  t.equal(a.offer(fromNvml, 100).emit, true)
  const later = a.offer(kmsg(line), 350)
  t.equal(later.emit, false, 'kmsg folded into the NVML record')
  t.equal(!later.emit && later.duplicateOf.firstSource, GpuEventSource.NVML)

  const b = new XidDeduper()
  t.equal(b.offer(kmsg(line), 100).emit, true)
  const after = b.offer(fromNvml, 2_000)
  t.equal(!after.emit && after.duplicateOf.firstSource, GpuEventSource.KMSG, 'NVML folded into kmsg')
})

t.test('every lost-GPU form and XID 79 share one key', async (t) => {
  const d = new XidDeduper()
  t.equal(d.offer(nvml({ kind: GpuEventKind.GPU_LOST, xid: 0 }), 0).emit, true, 'NVML GPU_IS_LOST without a code')
  t.equal(d.offer(kmsg('NVRM: Xid (PCI:0000:18:00): 79, GPU has fallen off the bus.'), 10).emit, false)
  t.equal(d.offer(kmsg('NVRM: GPU 0000:18:00.0: GPU has fallen off the bus.'), 20).emit, false)
  t.equal(d.offer(kmsg('NVRM: GPU at 0000:18:00.0 has fallen off the bus.'), 30).emit, false)
  t.equal(d.offer(ev({ xid: 79 }), 40).emit, false, 'XID 79 of kind XID')
  t.equal(d.stats.suppressed, 4)
})

t.test('the function and the text form of the address do not split a key', async (t) => {
  const d = new XidDeduper()
  t.equal(d.offer(kmsg('NVRM: Xid (PCI:0000:18:00): 48, DBE'), 0).emit, true)
  const fromNvml = nvml({ xid: 48 })
  if (fromNvml.pci !== undefined) fromNvml.pci.function = 0
  t.equal(d.offer(fromNvml, 5).emit, false)
  t.equal(d.offer(kmsg('NVRM: Xid (00000000:18:00.0): 48, DBE'), 6).emit, false, '8-digit domain, old form')
})

t.test('no PCI address: keyed by uuid; neither: passed through and counted', async (t) => {
  const d = new XidDeduper()
  t.equal(d.offer(nvml({ noPci: true, uuid: 'GPU-a', xid: 31 }), 0).emit, true)
  t.equal(d.offer(nvml({ noPci: true, uuid: 'GPU-a', xid: 31 }), 1).emit, false, 'same uuid')
  t.equal(d.offer(nvml({ noPci: true, uuid: 'GPU-b', xid: 31 }), 2).emit, true, 'other uuid')
  t.equal(d.offer(nvml({ noPci: true, xid: 31 }), 3).emit, true)
  t.equal(d.offer(nvml({ noPci: true, xid: 31 }), 4).emit, true, 'nothing to key on: never folded')
  t.equal(d.stats.unkeyed, 2)
  t.equal(dedupKey(nvml({ noPci: true, uuid: 'GPU-a', xid: 31 })), 'xid/uuid/GPU-a/31')
})

t.test('SXID records fold; continuation records and other kinds never do', async (t) => {
  const d = new XidDeduper()
  const sx = 'nvidia-nvswitch2: SXid (PCI:0000:07:00.0): 20034, Fatal, Link 37 LTSSM Fault Up'
  const sev = 'nvidia-nvswitch2: SXid (PCI:0000:07:00.0): 20034, Severity 1 Engine instance 37 Sub-engine instance 00'
  t.equal(d.offer(kmsg(sx), 0).emit, true)
  t.equal(d.offer(kmsg(sx), 1).emit, false, 'same SXID again')
  t.equal(d.offer(kmsg(sev), 2).emit, true, 'continuation always passes')
  t.equal(d.offer(kmsg(sev), 3).emit, true, 'even twice')
  t.equal(dedupKey(kmsg(sev)), null)
  t.equal(d.offer(ev({ xid: 20034 }), 4).emit, true, 'an XID with the same number is another family')
  t.equal(d.offer(ev({ kind: GpuEventKind.CLOCK_EVENT, xid: 0 }), 5).emit, true)
  t.equal(d.offer(ev({ kind: GpuEventKind.CLOCK_EVENT, xid: 0 }), 6).emit, true)
  t.equal(dedupKey(ev({ kind: GpuEventKind.ECC_DOUBLE_BIT })), null)
})

t.test('bounded: the oldest key is evicted first', async (t) => {
  const d = new XidDeduper({ maxKeys: 3 })
  for (const bus of [1, 2, 3]) d.offer(ev({ bus }), bus)
  t.equal(d.size, 3)
  d.offer(ev({ bus: 4 }), 4)
  t.equal(d.size, 3)
  t.equal(d.stats.evicted, 1)
  t.equal(d.offer(ev({ bus: 1 }), 5).emit, true, 'bus 1 was forgotten: emitted again')
  t.equal(d.offer(ev({ bus: 4 }), 6).emit, false, 'bus 4 still remembered')
  t.equal(d.offer(ev({ bus: 3 }), 7).emit, false, 'bus 3 still remembered')
  t.equal(d.offer(ev({ bus: 2 }), 8).emit, true, 'bus 2 evicted by the re-insert of bus 1')
  t.ok(d.size <= 3)
})

t.test('an expired key is renewed in place, not evicting another', async (t) => {
  const d = new XidDeduper({ maxKeys: 2, windowMs: 10 })
  d.offer(ev({ bus: 1 }), 0)
  d.offer(ev({ bus: 2 }), 0)
  t.equal(d.offer(ev({ bus: 1 }), 100).emit, true)
  t.equal(d.stats.evicted, 0)
  t.equal(d.offer(ev({ bus: 2 }), 105).emit, true, 'bus 2 expired too')
  t.equal(d.offer(ev({ bus: 1 }), 105).emit, false, 'bus 1 renewed at 100')
})

t.test('the catalog\'s replayed burst: repeats of the same line fold, distinct codes do not', async (t) => {
  const d = new XidDeduper()
  const lines = [
    'NVRM: Xid (PCI:0000:cb:00): 13, pid=\'<unknown>\', name=<unknown>, Graphics SM Warp Exception on (GPC 7, TPC 7, SM 0): Illegal Instruction Parameter',
    'NVRM: Xid (PCI:0000:cb:00): 13, pid=\'<unknown>\', name=<unknown>, Graphics SM Global Exception on (GPC 7, TPC 7, SM 0): Multiple Warp Errors',
    'NVRM: Xid (PCI:0000:cb:00): 109, pid=1797828, name=pt_main_thread, Ch 00000008, errorString CTX SWITCH TIMEOUT, Info 0x58005',
  ]
  t.same(lines.map((l, i) => d.offer(kmsg(l), i).emit), [true, false, true])
})

t.test('bad options fail at construction with a sentence', async (t) => {
  t.throws(() => new XidDeduper({ windowMs: -1 }), /windowMs must be 0\.\.600000 ms, got -1/)
  t.throws(() => new XidDeduper({ windowMs: Number.NaN }), /windowMs/)
  t.throws(() => new XidDeduper({ maxKeys: 0 }), /maxKeys must be an integer 1\.\./)
  t.throws(() => new XidDeduper({ maxKeys: 1.5 }), /maxKeys/)
  t.doesNotThrow(() => new XidDeduper({ windowMs: 0, maxKeys: 1 }))
})

t.test('NVML first, then the kernel line with the text an NVLink5 or 154 decode needs: the line goes through once', async (t) => {
  const d = new XidDeduper()
  const line = kmsg('NVRM: Xid (PCI:0000:18:00): 145, RLW_RXPIPE Nonfatal XC0 i0 Link 13 (0x0409a0c2 0x00000008 0x00000001 0x00000000 0x00100000 0x00000004)')
  t.equal(d.offer(nvml({ xid: 145 }), 0).emit, true, 'NVML event, no text')
  t.equal(d.offer(line, 100).emit, true, 'the richer kernel line is let through')
  t.equal(d.offer(line, 200).emit, false, 'a second copy is a duplicate again')
  const d2 = new XidDeduper()
  t.equal(d2.offer(nvml({ xid: 79 }), 0).emit, true)
  t.equal(d2.offer(kmsg('NVRM: Xid (PCI:0000:18:00): 79, GPU has fallen off the bus.'), 100).emit, false,
    'a code whose meaning is not in the text stays folded')
})
