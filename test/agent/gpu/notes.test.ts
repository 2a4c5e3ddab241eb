// gpuNotes: what `shoal gpus` says about a sample. One row per rule.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import {
  GpuInfoSchema, GpuSampleSchema, NvLinkState, RecoveryAction, type GpuSample,
} from '../../../proto/gen/shoal_pb.js'
import { gpuNotes } from '../../../agent/gpu/notes.js'

const info = create(GpuInfoSchema, { thresholds: { slowdownC: 87 }, inforomValid: true })
const s = (init: Parameters<typeof create<typeof GpuSampleSchema>>[1]): GpuSample => create(GpuSampleSchema, init)

const rows: Array<[string, GpuSample, string[]]> = [
  ['healthy', s({ temperatureGpuC: 40, pcie: { linkGen: 1, linkWidth: 16, maxLinkGen: 5, maxLinkWidth: 16 } }), []],
  ['lost says only lost', s({ lost: true, resetRequired: true }), ['LOST (GPU is lost or fell off the bus)']],
  ['reset required', s({ resetRequired: true }), ['reset required']],
  ['row remap failure and pending', s({ remappedRows: { failure: true, pending: true } }), ['row remap failure', 'row remap pending']],
  ['page retirement pending', s({ retiredPages: { pending: true } }), ['page retirement pending']],
  ['uncorrected ECC', s({ ecc: { volatileUncorrected: 3 } }), ['3 uncorrected ECC']],
  ['HW slowdown bits', s({ clockEventReasons: 0x8 | 0x40 | 0x80 | 0x4 }), ['HW slowdown', 'HW thermal slowdown', 'HW power brake']],
  ['SW power cap alone is benign', s({ clockEventReasons: 0x4 | 0x1 }), []],
  ['at the GPU\'s slowdown threshold', s({ temperatureGpuC: 87 }), ['at slowdown temperature (87 C)']],
  ['below it', s({ temperatureGpuC: 86 }), []],
  ['narrow PCIe link', s({ pcie: { linkWidth: 8, maxLinkWidth: 16 } }), ['PCIe x8 of x16']],
  ['NVLinks down', s({ nvlinks: [{ link: 0, state: NvLinkState.ACTIVE }, { link: 1, state: NvLinkState.INACTIVE }] }), ['1 NVLink down']],
  ['recovery action', s({ recoveryAction: RecoveryAction.DRAIN_AND_RESET }), ['recovery: drain and reset']],
  ['recovery action none', s({ recoveryAction: RecoveryAction.NONE }), []],
  ['repair pending', s({ tpcRepairPending: true }), ['repair pending']],
]

for (const [name, sample, want] of rows) {
  t.test(name, async (t) => { t.same(gpuNotes(sample, info), want) })
}

t.test('corrupted InfoROM comes from the inventory', async (t) => {
  t.same(gpuNotes(s({}), create(GpuInfoSchema, { inforomValid: false })), ['InfoROM corrupted'])
  t.same(gpuNotes(s({ temperatureGpuC: 99 }), undefined), [], 'no inventory: no threshold to compare')
})
