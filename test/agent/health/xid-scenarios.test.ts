// XIDs end to end (fixtures/xid-scenarios.ts): a kernel line through classifyNvidiaLine and
// GpuSource.ingest, or an NVML event from the fake library through the addon's event thread and
// GpuSource, to the default policy's HealthJudge. Each scenario starts from a fresh judge that has
// seen one healthy sample of every GPU; repeats come 10 minutes later (a new burst). Then the
// catalog's two burst fixtures, and the fleet-level promises: no application XID ever replaces a
// node, every replace-class fault does.
import t from 'tap'
import { GpuEventKind, HealthAction, type GpuEvent, type GpuSample } from '../../../proto/gen/shoal_pb.js'
import { classifyNvidiaLine } from '../../../agent/gpu/kmsg/nvidia.js'
import { parseKmsgRecord } from '../../../agent/gpu/kmsg/record.js'
import { RecordSplitter } from '../../../agent/gpu/kmsg/splitter.js'
import { pciKey } from '../../../agent/gpu/pci.js'
import { GpuSource } from '../../../agent/gpu/source.js'
import { HealthJudge } from '../../../agent/health/judge.js'
import { openFake } from '../../support/fake-nvml.js'
import { KMSG_FIXTURES } from '../gpu/fixtures/kmsg-lines.js'
import { kmsgRecord } from '../gpu/fixtures/support.js'
import {
  DAY, DEFAULT_POLICY, MINUTE, NO_TIMERS, T0, short, testMachine, type Short,
} from './fixtures/support.js'
import {
  XID_BURSTS, XID_SCENARIOS, type ScenarioGroup, type ScenarioInput,
} from './fixtures/xid-scenarios.js'

const machine = testMachine()
const fake = openFake(machine)
let now = T0
const source = new GpuSource(
  { nvml: fake.nvml, clock: { wallMs: () => now }, timers: NO_TIMERS },
  { events: { waitTimeoutMs: 50 } },
)

type Input = { event: GpuEvent } | { samples: GpuSample[] }
const inbox: Input[] = []
const waiters: Array<() => void> = []
source.on('gpu:event', (event) => {
  inbox.push({ event })
  waiters.splice(0).forEach((w) => w())
})
source.on('gpu:samples', (samples) => { inbox.push({ samples }) })
source.start()
t.teardown(async () => {
  await source.stop()
  await fake.close()
})

/** Everything GpuSource said since the last call goes to the judge, in order; returns the events. */
function feed (judge: HealthJudge, at = now): GpuEvent[] {
  const events: GpuEvent[] = []
  for (const input of inbox.splice(0)) {
    if ('event' in input) {
      judge.event(input.event, at)
      events.push(input.event)
    } else {
      judge.samples(input.samples, at)
    }
  }
  return events
}

async function until (ready: () => boolean): Promise<void> {
  while (!ready()) await new Promise<void>((resolve) => waiters.push(resolve))
}

/** The message as the kernel wrote it into /dev/kmsg and the record layer reads it back. */
function throughRecord (message: string): string {
  const splitter = new RecordSplitter()
  const items = [...splitter.push(Buffer.from(kmsgRecord(7, 123_456, message, { SUBSYSTEM: 'pci' }))), ...splitter.flush()]
  if (items.length !== 1 || items[0]?.ok !== true) throw new Error(`record did not split: ${JSON.stringify(items)}`)
  const parsed = parseKmsgRecord(items[0].text)
  if (!parsed.ok) throw new Error(`record did not parse: ${parsed.reason}`)
  return parsed.record.message
}

function lineOf (input: ScenarioInput): string | undefined {
  if ('kmsg' in input) {
    const f = KMSG_FIXTURES.find((x) => x.n === input.kmsg)
    if (f === undefined) throw new Error(`no kmsg fixture #${input.kmsg}`)
    return input.viaRecord === true ? throughRecord(f.line) : f.line
  }
  return 'line' in input ? input.line : undefined
}

function parse (line: string): GpuEvent {
  const r = classifyNvidiaLine(line, { timeMs: now })
  if (r?.ok !== true) throw new Error(`line did not parse: ${line} (${r === null ? 'not ours' : r.reason})`)
  return r.event
}

/**
 * A line whose PCI address is on no GPU here: give GPU `gpu` that address for the scenario (and
 * return how to put the old one back). Undefined `gpu`: the line stays on no GPU, node-wide.
 */
function place (line: string, gpu: number | undefined): () => void {
  const pci = parse(line).pci
  if (pci === undefined) throw new Error(`no PCI address in ${line}`)
  const owner = source.inventory.find((g) => g.pci !== undefined && pciKey(g.pci) === pciKey(pci))
  if (owner !== undefined || gpu === undefined) return () => {}
  const before = machine.gpu(gpu).pci
  if (before === undefined) throw new Error(`GPU ${gpu} has no PCI address`)
  machine.set(gpu, { pci: { domain: pci.domain, bus: pci.bus, device: pci.device } })
  fake.apply()
  source.readInventory()
  return () => {
    machine.set(gpu, { pci: before })
    fake.apply()
    source.readInventory()
  }
}

const isGpuEvent = (gpu: number) => (i: Input): boolean =>
  'event' in i && i.event.gpuIndex === gpu && i.event.kind !== GpuEventKind.WAIT_ERROR

/** Puts the input in front of GpuSource; NVML inputs are awaited until the event thread delivers them. */
async function deliver (input: ScenarioInput, gpu: number | undefined): Promise<void> {
  const line = lineOf(input)
  if (line !== undefined) {
    source.ingest(parse(line))
    return
  }
  if (gpu === undefined) throw new Error('an NVML input needs a GPU')
  if ('nvmlXid' in input) machine.injectXid(gpu, input.nvmlXid)
  else if ('nvmlEvent' in input) machine.injectEvent(gpu, input.nvmlEvent, 0)
  else machine.lose(gpu)
  fake.apply()
  await until(() => inbox.some(isGpuEvent(gpu)))
}

/** A judge that has seen every GPU healthy once. */
function freshJudge (): HealthJudge {
  const judge = new HealthJudge(DEFAULT_POLICY)
  judge.inventory(source.inventory)
  inbox.length = 0
  source.sampleOnce()
  feed(judge)
  return judge
}

interface Observed { group: ScenarioGroup, name: string, xid: number, outcomes: Short[] }
const observed: Observed[] = []

for (const sc of XID_SCENARIOS) {
  t.test(sc.name, async (t) => {
    now += DAY
    const line = lineOf(sc.input)
    const restore = line === undefined ? () => {} : place(line, sc.gpu)
    const seen: Observed = { group: sc.group, name: sc.name, xid: sc.xid, outcomes: [] }
    observed.push(seen)
    try {
      const judge = freshJudge()
      t.same(short(judge.verdict()), { state: 'healthy', action: 'none' }, 'healthy before')

      await deliver(sc.input, sc.gpu)
      const events = feed(judge).filter((e) => e.kind !== GpuEventKind.WAIT_ERROR)
      t.equal(events.length, 1, 'one occurrence')
      t.equal(events[0]?.xid, sc.xid, `code ${sc.xid}`)
      t.equal(events[0]?.gpuIndex, sc.gpu, sc.gpu === undefined ? 'on no GPU' : `on GPU ${sc.gpu}`)
      const v = judge.verdict()
      seen.outcomes.push(short(v))
      t.same(short(v), { state: sc.first.state, action: sc.first.action }, `first: ${sc.first.state}/${sc.first.action}`)
      t.ok(v.reasons.every((r) => r.gpuIndex === sc.gpu), 'every reason names the GPU')
      const incidents = judge.incidents(10)
      t.equal(incidents.length, 1, 'one incident')
      t.equal(incidents[0]?.class, sc.first.class, `incident class ${sc.first.class}`)
      t.same(incidents[0] === undefined ? undefined : short(incidents[0]), short(v), 'the incident carries the verdict\'s action')

      const later = [sc.repeat, sc.third].filter((o) => o !== undefined)
      for (const [i, expected] of later.entries()) {
        now += 10 * MINUTE
        judge.tick(now)
        await deliver(sc.input, sc.gpu)
        t.equal(feed(judge).filter((e) => e.xid === sc.xid).length, 1, `burst ${i + 2}: delivered`)
        seen.outcomes.push(short(judge.verdict()))
        t.same(short(judge.verdict()), expected, `burst ${i + 2}: ${expected.state}/${expected.action}`)
        t.equal(judge.incidents(10).length, i + 2, `burst ${i + 2} is its own incident`)
      }
    } finally {
      restore()
      if ('lose' in sc.input && sc.gpu !== undefined) {
        machine.set(sc.gpu, { lost: false })
        fake.apply()
        t.equal(source.sampleOnce()[sc.gpu]?.lost, false, 'the GPU answers again')
        inbox.length = 0
      }
    }
  })
}

t.test('the catalog\'s burst fixtures are one incident each', async (t) => {
  for (const b of XID_BURSTS) {
    await t.test(b.name, async (t) => {
      now += DAY
      const start = now
      const restores = b.steps.map((s) => place(lineOf({ kmsg: s.kmsg }) ?? '', b.retarget))
      try {
        const judge = freshJudge()
        const delivered: GpuEvent[] = []
        for (const step of b.steps) {
          now = start + step.atMs
          source.ingest(parse(lineOf({ kmsg: step.kmsg }) ?? ''))
          delivered.push(...feed(judge))
        }
        t.equal(delivered.length, b.steps.length, 'no line was folded into another')
        const incidents = judge.incidents(10)
        t.equal(incidents.length, 1, 'one incident')
        const incident = incidents[0]
        if (incident === undefined) return
        t.equal(incident.eventCount, b.steps.length, 'every line is in it')
        t.same(short(incident), b.outcome, `incident action ${b.outcome.action}`)
        t.same(short(judge.verdict()), b.outcome, 'the verdict agrees')
        const primary = incident.findings.find((f) => `${f.rule} (GPU ${f.gpuIndex})` === incident.primary)
        t.equal(primary?.gpuIndex, b.primaryGpu, `primary on GPU ${b.primaryGpu}`)
        t.match(primary?.message ?? '', new RegExp(`\\b${b.primaryXid}\\b`), `primary is XID ${b.primaryXid}`)
        t.equal(incident.events[0]?.xid, b.primaryXid, 'the first member is the primary XID')
        if (b.primaryUnit !== undefined) t.ok(incident.events[0]?.detail.startsWith(`${b.primaryUnit} `), `the primary is ${b.primaryUnit}`)
        t.notOk(incident.findings.some((f) => f.action === HealthAction.REPLACE), 'nothing in it replaces')
        now += 4 * MINUTE
        judge.tick(now)
        const closed = judge.incidents(10)
        t.equal(closed.length, 1, 'still one incident after the quiet gap')
        t.equal(closed[0]?.open, false, 'closed by the gap')
      } finally {
        restores.reverse().forEach((r) => r())
      }
    })
  }
})

t.test('fleet promises across every scenario', async (t) => {
  const xidScenarios = XID_SCENARIOS.filter((s) => !('nvmlEvent' in s.input))
  t.ok(xidScenarios.length >= 40, `${xidScenarios.length} XID scenarios (at least 40)`)
  t.equal(observed.length, XID_SCENARIOS.length, 'every scenario ran')
  const of = (g: ScenarioGroup): Observed[] => observed.filter((o) => o.group === g)

  const app = of('app')
  t.ok(app.length >= 10 && app.every((o) => o.outcomes.length >= 2), 'every application-level XID seen in 2 bursts or more')
  t.same(app.filter((o) => o.outcomes.some((x) => x.action === 'replace')).map((o) => o.name), [],
    'no application-level XID replaces a node, in any burst')

  const replace = of('replace')
  t.same(replace.filter((o) => o.outcomes[0]?.action !== 'replace').map((o) => o.name), [],
    'every replace-class fault replaces the node on its first occurrence')

  const reset = of('reset')
  t.same(reset.filter((o) => o.outcomes[0]?.action !== 'reset').map((o) => o.name), [],
    'every reset-class fault resets first')
  t.same(reset.filter((o) => o.outcomes[1]?.action !== 'replace').map((o) => o.name), [],
    'every reset-class fault back in a later burst replaces')

  t.same([...of('watch'), ...of('info')].filter((o) => o.outcomes.some((x) => x.action === 'replace')).map((o) => o.name), [],
    'no watched or informational XID (unknown codes included) replaces a node')
})
