// Every signal the addon reads, through the fake library: a distinct value is scripted for each, and
// each must arrive in the right proto field. Then the ways a signal can be missing: NOT_SUPPORTED, a
// missing symbol with and without a fallback, GPU_IS_LOST, RESET_REQUIRED.
import t from 'tap'
import { equals, fromBinary, fromJson, toBinary, toJson } from '@bufbuild/protobuf'
import { GpuInfoSchema, GpuSampleSchema, NvLinkState, RecoveryAction } from '../../proto/gen/shoal_pb.js'
import { rawBindingForTests } from '../../native/nvml.js'
import { FakeMachine } from '../../native/fake/machine.js'
import { openFake } from '../support/fake-nvml.js'

const GIB = 1024 ** 3
const machine = FakeMachine.preset('dgx-h100')
machine.set(1, {
  temp: 71, tempMargin: 12, power: 456_000, powerLimit: 650_000, energy: 123_456_789,
  utilGpu: 97, utilMem: 41, memoryTotal: 80 * GIB, memoryUsed: 40 * GIB,
  clockGraphics: 1755, clockSm: 1760, clockMem: 2619, clockVideo: 1545, pstate: 2, clockReasons: 0x48,
  ecc: { corrected: { volatile: 11, aggregate: 301 }, uncorrected: { volatile: 2, aggregate: 5 } },
  eccLocation: {
    uncorrected: { volatile: { dram: 1, sram: 1 }, aggregate: { dram: 3, sram: 2 } },
    corrected: { aggregate: { dram: 250, sram: 51 } },
  },
  remapCorrected: 7, remapUncorrected: 1, remapPending: true, remapFailure: false,
  remapHistogram: { max: 600, high: 10, partial: 3, low: 2, none: 1 },
  retiredSbe: 4, retiredDbe: 2, retiredPending: true,
  pcieReplay: 17, pcieGen: 4, pcieWidth: 8, pcieMaxGen: 5, pcieMaxWidth: 16,
  fabricState: 3, fabricStatus: 0, fabricHealthMask: 5, fabricClique: 7,
  repairChannel: true, repairTpc: false,
  name: 'NVIDIA H100 80GB HBM3 (test)', serial: '1650923000042', vbios: '96.00.99.00.01',
  pci: { domain: 0, bus: 0x2a, device: 0 }, pciDeviceId: 0x233010de,
  thresholdShutdown: 92, thresholdSlowdown: 89, thresholdMemMax: 95, thresholdGpuMax: 87,
  maxClockGraphics: 1980, maxClockSm: 1981, maxClockMem: 2620, maxClockVideo: 1700,
  powerMgmtLimit: 700_000, persistence: true, eccMode: true, eccPending: false, migMode: false,
  inforomValid: false, supportedEvents: 0x8 | 0x2, supportedClockReasons: 0x1ff,
})
const fieldValues: Array<[number, number]> = [
  [82, 83], [95, 1], [230, 2],
  [173, 1173], [174, 1174], [175, 1175], [176, 1176], [177, 1177], [178, 1178], [179, 1179], [180, 1180], [181, 1181], [182, 1182],
  [74, 7400], [75, 7500], [76, 7600], [77, 7700], [79, 7900], [269, 26900], [270, 27000], [271, 27100],
  [38, 3800], [45, 4500], [52, 5200], [59, 5900], [160, 16000], [213, 21300], [214, 21400], [219, 21900], [221, 22100],
]
for (const [id, value] of fieldValues) machine.setField(1, id, value)
machine.setNvLink(1, 3, { state: 0, replay: 5, recovery: 1, crcFlit: 9, crcData: 4, eccData: 6 })

const fake = openFake(machine)
t.teardown(() => fake.close())
const { nvml } = fake

/** The addon's object as protobuf JSON would spell it: without the $typeName markers. */
function plain (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain)
  if (v === null || typeof v !== 'object') return v
  return Object.fromEntries(Object.entries(v).filter(([k]) => k !== '$typeName').map(([k, x]) => [k, plain(x)]))
}

t.test('the addon emits exactly the proto shape (no unknown or misspelt field)', async (t) => {
  const raw = rawBindingForTests()
  for (const i of [0, 1]) {
    t.doesNotThrow(() => fromJson(GpuSampleSchema, { ...plain(raw.sample(i)) as object, timeMs: 1 } as never), `sample ${i}`)
    t.doesNotThrow(() => fromJson(GpuInfoSchema, plain(raw.info(i)) as never), `info ${i}`)
  }
})

t.test('a sample is a complete message as built, with no copy through create()', async (t) => {
  for (const i of [0, 1]) {
    const s = nvml.sample(i, 1_700_000_000_000)
    t.ok(equals(GpuSampleSchema, s, fromBinary(GpuSampleSchema, toBinary(GpuSampleSchema, s))), `binary round trip ${i}`)
    t.ok(equals(GpuSampleSchema, s, fromJson(GpuSampleSchema, toJson(GpuSampleSchema, s))), `JSON round trip ${i}`)
    t.same(plain(s), plain(fromBinary(GpuSampleSchema, toBinary(GpuSampleSchema, s))), `same fields as decoded ${i}`)
  }
})

t.test('every sampled signal arrives in its field', async (t) => {
  const s = nvml.sample(1, 1_700_000_000_000)
  t.equal(s.index, 1)
  t.equal(s.timeMs, 1_700_000_000_000)
  t.equal(s.uuid, machine.gpu(1).uuid)
  t.equal(s.lost, false)
  t.equal(s.resetRequired, false)
  t.match(s, {
    temperatureGpuC: 71, temperatureMemoryC: 83, temperatureMarginC: 12,
    powerMw: 456_000, powerLimitMw: 650_000, energyMj: 123_456_789,
    utilizationGpuPct: 97, utilizationMemoryPct: 41,
    memoryUsedBytes: 40 * GIB, memoryTotalBytes: 80 * GIB,
    clocks: { graphicsMhz: 1755, smMhz: 1760, memoryMhz: 2619, videoMhz: 1545 },
    performanceState: 2, clockEventReasons: 0x48,
    ecc: {
      volatileCorrected: 11, volatileUncorrected: 2, aggregateCorrected: 301, aggregateUncorrected: 5,
      dramVolatileUncorrected: 1, dramAggregateUncorrected: 3, dramAggregateCorrected: 250,
      sramVolatileUncorrected: 1, sramAggregateUncorrected: 2, sramAggregateCorrected: 51,
    },
    remappedRows: {
      corrected: 7, uncorrected: 1, pending: true, failure: false,
      banksMax: 600, banksHigh: 10, banksPartial: 3, banksLow: 2, banksNone: 1,
    },
    retiredPages: { singleBit: 4, doubleBit: 2, pending: true },
    pcie: {
      replayCounter: 17, replayRollover: 1, linkGen: 4, linkWidth: 8, maxLinkGen: 5, maxLinkWidth: 16,
      correctableErrors: 1173, naksReceived: 1174, receiverErrors: 1175, badTlp: 1176, naksSent: 1177,
      badDllp: 1178, nonFatalErrors: 1179, fatalErrors: 1180, unsupportedRequests: 1181, lcrcErrors: 1182,
    },
    recoveryAction: RecoveryAction.NODE_REBOOT,
    violations: {
      powerNs: 7400, thermalNs: 7500, syncBoostNs: 7600, boardLimitNs: 7700, reliabilityNs: 7900,
      swThermalSlowdownNs: 26900, hwThermalSlowdownNs: 27000, hwPowerBrakeSlowdownNs: 27100,
    },
    nvlinkTotals: {
      crcFlit: 3800, crcData: 4500, replay: 5200, recovery: 5900, eccData: 16000,
      recoverySuccessful: 21300, recoveryFailed: 21400, effectiveErrors: 21900, symbolErrors: 22100,
    },
    fabric: { state: 3, status: 0, healthMask: 5, cliqueId: 7 },
    channelRepairPending: true, tpcRepairPending: false,
  })
  t.equal(s.nvlinks.length, 18, 'every link present')
  t.match(s.nvlinks[3], { link: 3, state: NvLinkState.INACTIVE, replay: 5, recovery: 1, crcFlit: 9, crcData: 4, eccData: 6 })
  t.equal(s.nvlinks[4]?.state, NvLinkState.ACTIVE)
  t.same(s.unread, [], 'nothing unread on a fully scripted H100')
})

t.test('every inventory signal arrives in its field', async (t) => {
  const info = nvml.info(1)
  t.match(info, {
    index: 1, uuid: machine.gpu(1).uuid, name: 'NVIDIA H100 80GB HBM3 (test)', serial: '1650923000042',
    vbiosVersion: '96.00.99.00.01', pciBusId: '00000000:2A:00.0', pci: { domain: 0, bus: 0x2a, device: 0 },
    pciDeviceId: 0x233010de, memoryTotalBytes: 80 * GIB,
    thresholds: { shutdownC: 92, slowdownC: 89, memoryMaxC: 95, gpuMaxC: 87 },
    maxClocks: { graphicsMhz: 1980, smMhz: 1981, memoryMhz: 2620, videoMhz: 1700 },
    pcieMaxLinkGen: 5, pcieMaxLinkWidth: 16, powerManagementLimitMw: 700_000,
    persistenceMode: true, eccEnabled: true, eccPending: false, migMode: 0, inforomValid: false,
    nvlinkCount: 18, supportedEventTypes: 0xa, supportedClockEventReasons: 0x1ff, lost: false,
  })
  const sys = nvml.system()
  t.match(sys, { driverVersion: /^\d+\.\d+/, cudaDriverVersion: /^\d+\.\d$/, nvmlVersion: /\d/ })
})

t.test('the fine-grained temperature call', async (t) => {
  t.equal(nvml.temperature(1), 71)
  t.throws(() => nvml.temperature(99), { code: 'ERR_INVALID_ARG' }, 'index out of range is a usage error')
})

t.test('NOT_SUPPORTED leaves the signal absent and says why', async (t) => {
  machine.setRc('nvmlDeviceGetPowerUsage', 3, 2).setField(2, 82, 'unsupported')
  fake.apply()
  const s = nvml.sample(2, 0)
  t.equal(s.powerMw, undefined)
  t.equal(s.temperatureMemoryC, undefined)
  t.ok(s.powerLimitMw !== undefined, 'other power signals still read')
  // A stock H100 already lacks the NVLink5 fields; only what this test changed is new.
  const baseline = new Set(nvml.sample(3, 0).unread.map((u) => u.signal))
  const added = s.unread.filter((u) => !baseline.has(u.signal)).map((u) => [u.signal, u.nvmlReturn]).sort()
  t.same(added, [['power.usage', 3], ['temperature.memory', 3]])
  t.ok([...baseline].every((b) => b.startsWith('nvlink_totals.')), 'the stock H100 lacks only NVLink5 fields')
  t.equal(s.lost, false)
})

t.test('a missing symbol degrades its signal, or falls back to the older call', async (t) => {
  machine.setMissing('nvmlDeviceGetTemperatureV', 'nvmlDeviceGetTotalEnergyConsumption')
  fake.apply()
  const s = nvml.sample(1, 0)
  t.equal(s.temperatureGpuC, 71, 'TemperatureV missing: read through nvmlDeviceGetTemperature')
  t.equal(s.energyMj, undefined)
  t.same(s.unread.filter((u) => u.signal === 'power.energy').map((u) => u.nvmlReturn), [13], 'FUNCTION_NOT_FOUND')
  machine.setSystem({ missing: [] })
  fake.apply()
  t.equal(nvml.sample(1, 0).energyMj, 123_456_789, 'back once the symbol answers')
})

t.test('a lost GPU is a signal, never an exception', async (t) => {
  machine.lose(5)
  fake.apply()
  const s = nvml.sample(5, 0)
  t.equal(s.lost, true)
  t.equal(s.temperatureGpuC, undefined)
  t.same(s.unread.map((u) => u.nvmlReturn), [15], 'GPU_IS_LOST, once: sampling stops at the first')
  t.equal(nvml.info(5).lost, true)
  t.equal(nvml.sample(4, 0).lost, false, 'the neighbours are fine')
  t.throws(() => nvml.temperature(5), { name: 'NvmlError', codeName: 'GPU_IS_LOST', code: 15 })
})

t.test('RESET_REQUIRED is flagged', async (t) => {
  machine.requireReset(6)
  fake.apply()
  const s = nvml.sample(6, 0)
  t.equal(s.resetRequired, true)
  t.ok(s.unread.length > 0 && s.unread.every((u) => u.nvmlReturn === 16))
})
