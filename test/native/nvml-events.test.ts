// NVML events through the native watcher thread: every event bit the fake supports arrives as the
// right GpuEvent, XIDs carry their code, a lost GPU that breaks the wait is found at once, and the
// watcher starts and stops cleanly. Tests await the event itself; no sleeps.
import t from 'tap'
import { GpuEventKind, GpuEventSource, type GpuEvent } from '../../proto/gen/shoal_pb.js'
import { NvmlEventBits } from '../../native/events.js'
import { FakeMachine } from '../../native/fake/machine.js'
import { GpuSource } from '../../agent/gpu/source.js'
import { openFake } from '../support/fake-nvml.js'

const fake = openFake(FakeMachine.preset('dgx-h100'))
const { nvml, machine } = fake
let now = 1_000_000
const timers = { setInterval: () => 'timer', clearInterval: () => {} }
const source = new GpuSource({ nvml, clock: { wallMs: () => now }, timers }, { events: { waitTimeoutMs: 50 } })
const seen: GpuEvent[] = []
const waiters: Array<() => void> = []
source.on('gpu:event', (e) => { seen.push(e); waiters.splice(0).forEach((w) => w()) })

/** Resolves once `count` events have been seen in total. */
async function eventsSeen (count: number): Promise<GpuEvent[]> {
  while (seen.length < count) await new Promise<void>((resolve) => waiters.push(resolve))
  return seen.slice(0, count)
}

t.teardown(async () => { await source.stop(); await fake.close() })
source.start()

t.test('an XID from NVML arrives with its code, GPU and source', async (t) => {
  machine.injectXid(3, 48)
  fake.apply()
  const [e] = await eventsSeen(1)
  t.match(e, {
    kind: GpuEventKind.XID, xid: 48, gpuIndex: 3, uuid: machine.gpu(3).uuid,
    source: GpuEventSource.NVML, nvmlEventType: NvmlEventBits.XID_CRITICAL,
    pci: { bus: machine.gpu(3).pci?.bus },
  })
})

t.test('every supported event bit maps to its kind', async (t) => {
  const cases: Array<[number, GpuEventKind]> = [
    [NvmlEventBits.SINGLE_BIT_ECC, GpuEventKind.ECC_SINGLE_BIT],
    [NvmlEventBits.DOUBLE_BIT_ECC, GpuEventKind.ECC_DOUBLE_BIT],
    [NvmlEventBits.SBE_STORM, GpuEventKind.ECC_SBE_STORM],
    [NvmlEventBits.DRAM_RETIREMENT, GpuEventKind.DRAM_RETIREMENT],
    [NvmlEventBits.DRAM_RETIREMENT_FAILURE, GpuEventKind.DRAM_RETIREMENT_FAILURE],
    [NvmlEventBits.NON_FATAL_POISON, GpuEventKind.POISON_NONFATAL],
    [NvmlEventBits.FATAL_POISON, GpuEventKind.POISON_FATAL],
    [NvmlEventBits.GPU_UNAVAILABLE, GpuEventKind.GPU_UNAVAILABLE],
    [NvmlEventBits.GPU_RECOVERY_ACTION, GpuEventKind.RECOVERY_ACTION],
  ]
  const start = seen.length
  cases.forEach(([bit], i) => machine.injectEvent(i % 8, bit, 0))
  fake.apply()
  const got = (await eventsSeen(start + cases.length)).slice(start)
  t.same(got.map((e) => e.kind), cases.map(([, kind]) => kind), 'in order, one event each')
  t.same(got.map((e) => e.gpuIndex), cases.map((_, i) => i % 8))
})

t.test('MIG attribution is kept; "not MIG" (0xFFFFFFFF) is absent', async (t) => {
  const start = seen.length
  machine.injectEvent(1, NvmlEventBits.XID_CRITICAL, 94, { gpuInstanceId: 5, computeInstanceId: 0 })
  machine.injectXid(2, 43)
  fake.apply()
  const [mig, plain] = (await eventsSeen(start + 2)).slice(start)
  t.match(mig, { xid: 94, gpuInstanceId: 5, computeInstanceId: 0 })
  t.equal(plain?.gpuInstanceId, undefined)
})

t.test('NVML XID 79 and the kernel line for the same GPU are one GPU_LOST event', async (t) => {
  const start = seen.length
  machine.injectXid(4, 79)
  fake.apply()
  const [lost] = (await eventsSeen(start + 1)).slice(start)
  t.match(lost, { kind: GpuEventKind.GPU_LOST, xid: 79, gpuIndex: 4 })
  const { classifyNvidiaLine } = await import('../../agent/gpu/kmsg/nvidia.js')
  const bus = (machine.gpu(4).pci?.bus ?? 0).toString(16).padStart(2, '0')
  const line = classifyNvidiaLine(`NVRM: Xid (PCI:0000:${bus}:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.`)
  t.ok(line?.ok)
  if (line?.ok !== true) return
  const suppressed = source.dedupStats.suppressed
  now += 2_000
  source.ingest(line.event)
  t.equal(seen.length, start + 1, 'no second event')
  t.equal(source.dedupStats.suppressed, suppressed + 1)
})

t.test('a lost GPU that breaks the wait is reported, then found by an immediate sample', async (t) => {
  const start = seen.length
  machine.lose(6)
  fake.apply()
  const got = (await eventsSeen(start + 2)).slice(start)
  t.match(got[0], { kind: GpuEventKind.WAIT_ERROR, nvmlReturn: 15 })
  t.match(got[1], { kind: GpuEventKind.GPU_LOST, gpuIndex: 6, uuid: machine.gpu(6).uuid, xid: 79 })
})

t.test('the watcher refuses a second start and stops cleanly', async (t) => {
  t.throws(() => nvml.watch(() => {}), { code: 'ERR_NVML_STATE' })
  await nvml.unwatch()
  const regs = nvml.watch(() => {}, { mask: NvmlEventBits.XID_CRITICAL | NvmlEventBits.PSTATE })
  t.equal(regs.length, 8)
  t.same(regs.filter((r) => r.nvmlReturn === 0).map((r) => r.mask),
    regs.filter((r) => r.nvmlReturn === 0).map(() => NvmlEventBits.XID_CRITICAL), 'only supported bits registered')
  await nvml.unwatch()
  await nvml.unwatch()
  t.pass('unwatch is idempotent')
})
