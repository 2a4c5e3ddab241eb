// GpuSource over the fake: the inventory, a sampling cycle, a GPU that vanishes from the count,
// kernel-log events attributed to GPUs by PCI address, and the timer lifecycle.
import t from 'tap'
import { GpuEventKind, type GpuEvent, type GpuSample } from '../../../proto/gen/shoal_pb.js'
import { FakeMachine, PRESETS } from '../../../native/fake/machine.js'
import { GpuSource } from '../../../agent/gpu/source.js'
import { classifyNvidiaLine } from '../../../agent/gpu/kmsg/nvidia.js'
import { openFake } from '../../support/fake-nvml.js'

const fake = openFake(FakeMachine.preset('hgx-a100'))
const { nvml, machine } = fake
const scheduled: Array<{ fn: () => void, ms: number }> = []
const timers = {
  setInterval: (fn: () => void, ms: number) => { scheduled.push({ fn, ms }); return scheduled.length },
  clearInterval: (h: unknown) => { scheduled.splice(Number(h) - 1, 1) },
}
const source = new GpuSource({ nvml, clock: { wallMs: () => 42_000 }, timers }, { sampleIntervalMs: 250 })
const events: GpuEvent[] = []
source.on('gpu:event', (e) => events.push(e))
t.teardown(() => fake.close())

t.test('inventory: every GPU of the preset, with system versions', async (t) => {
  const inv = source.readInventory()
  const preset = PRESETS['hgx-a100'].gpus
  t.equal(inv.length, 8)
  t.same(inv.map((g) => g.uuid), preset.map((g) => g.uuid))
  t.same(inv.map((g) => g.pci?.bus), preset.map((g) => g.pci?.bus))
  t.ok(inv.every((g) => g.name === 'NVIDIA A100-SXM4-80GB' && g.nvlinkCount === 12))
  t.ok(inv.every((g) => g.driverVersion !== '' && g.cudaDriverVersion !== ''))
})

t.test('a sampling cycle reads every GPU at the clock time', async (t) => {
  const got: GpuSample[][] = []
  const off = source.on('gpu:samples', (s) => got.push(s))
  const samples = source.sampleOnce()
  off()
  t.equal(samples.length, 8)
  t.ok(samples.every((s) => s.timeMs === 42_000 && !s.lost))
  t.equal(got.length, 1)
})

t.test('a GPU that vanishes from the count stays in its slot, lost, reported once', async (t) => {
  const uuid7 = machine.gpu(7).uuid
  machine.setGpuCount(7)
  fake.apply()
  const first = source.sampleOnce()
  t.equal(first.length, 8)
  t.match(first[7], { lost: true, uuid: uuid7 })
  const lost = events.filter((e) => e.kind === GpuEventKind.GPU_LOST)
  t.equal(lost.length, 1)
  t.match(lost[0], { gpuIndex: 7, xid: 79 })
  source.sampleOnce()
  t.equal(events.filter((e) => e.kind === GpuEventKind.GPU_LOST).length, 1, 'not reported again')
  machine.setGpuCount(8)
  fake.apply()
  t.equal(source.sampleOnce()[7]?.lost, false, 'back when the driver counts it again')
})

t.test('a kernel-log event is attributed to its GPU by PCI address', async (t) => {
  const gpu = machine.gpu(2)
  const bus = (gpu.pci?.bus ?? 0).toString(16).padStart(2, '0')
  const parsed = classifyNvidiaLine(`NVRM: Xid (PCI:0000:${bus}:00): 31, pid=11461, Ch 00000053, intr 10000000. MMU Fault`)
  if (parsed?.ok !== true) throw new Error('fixture did not parse')
  source.ingest(parsed.event)
  t.match(events.at(-1), { kind: GpuEventKind.XID, xid: 31, uuid: gpu.uuid, gpuIndex: 2 })
  const unknown = classifyNvidiaLine('NVRM: Xid (PCI:0000:ee:00): 13, Graphics Exception')
  if (unknown?.ok !== true) throw new Error('fixture did not parse')
  source.ingest(unknown.event)
  t.match(events.at(-1), { xid: 13, uuid: '', gpuIndex: undefined }, 'a PCI address not on this host stays unattributed')
})

t.test('start samples on the configured interval; stop clears it', async (t) => {
  source.start()
  t.equal(scheduled.length, 1)
  t.equal(scheduled[0]?.ms, 250)
  let cycles = 0
  const off = source.on('gpu:samples', () => cycles++)
  scheduled[0]?.fn()
  scheduled[0]?.fn()
  off()
  t.equal(cycles, 2)
  await source.stop()
  t.equal(scheduled.length, 0)
})
