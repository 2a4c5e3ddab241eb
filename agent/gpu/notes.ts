// What an operator should notice about one GPU sample, in words, for `shoal gpus`. Facts NVML states
// (lost, remap failure, uncorrected ECC, HW slowdown bits, a narrowed PCIe link, links down), not a
// verdict: the health policy (agent/health) decides what they mean for the node. No thresholds of
// our own here; the only temperature line uses the GPU's own slowdown threshold.
import { RecoveryAction, NvLinkState, type GpuInfo, type GpuSample } from '../../proto/gen/shoal_pb.js'
import { HW_POWER_BRAKE_SLOWDOWN, HW_SLOWDOWN, HW_THERMAL_SLOWDOWN, hasClockEventReason } from '../../native/clock-events.js'

const CLOCK_EVENT_NOTES: ReadonlyArray<[number, string]> = [
  [HW_SLOWDOWN, 'HW slowdown'],
  [HW_THERMAL_SLOWDOWN, 'HW thermal slowdown'],
  [HW_POWER_BRAKE_SLOWDOWN, 'HW power brake'],
]

const RECOVERY_NOTES: ReadonlyMap<RecoveryAction, string> = new Map([
  [RecoveryAction.GPU_RESET, 'recovery: GPU reset'],
  [RecoveryAction.NODE_REBOOT, 'recovery: node reboot'],
  [RecoveryAction.DRAIN_P2P, 'recovery: drain P2P'],
  [RecoveryAction.DRAIN_AND_RESET, 'recovery: drain and reset'],
  [RecoveryAction.RECOVER_IMEX_DOMAIN, 'recovery: IMEX domain'],
])

export function gpuNotes (sample: GpuSample, info: GpuInfo | undefined): string[] {
  if (sample.lost) return ['LOST (GPU is lost or fell off the bus)']
  const notes: string[] = []
  if (sample.resetRequired) notes.push('reset required')
  const rows = sample.remappedRows
  if (rows?.failure === true) notes.push('row remap failure')
  if (rows?.pending === true) notes.push('row remap pending')
  if (sample.retiredPages?.pending === true) notes.push('page retirement pending')
  const dbe = sample.ecc?.volatileUncorrected ?? 0
  if (dbe > 0) notes.push(`${dbe} uncorrected ECC`)
  const reasons = sample.clockEventReasons ?? 0
  for (const [bit, text] of CLOCK_EVENT_NOTES) if (hasClockEventReason(reasons, bit)) notes.push(text)
  const slowdown = info?.thresholds?.slowdownC
  const temp = sample.temperatureGpuC
  if (slowdown !== undefined && slowdown > 0 && temp !== undefined && temp >= slowdown) {
    notes.push(`at slowdown temperature (${temp} C)`)
  }
  const pcie = sample.pcie
  // Link generation drops at idle to save power; a narrower link does not, so only width counts.
  if (pcie?.linkWidth !== undefined && pcie.maxLinkWidth !== undefined && pcie.linkWidth < pcie.maxLinkWidth) {
    notes.push(`PCIe x${pcie.linkWidth} of x${pcie.maxLinkWidth}`)
  }
  const down = sample.nvlinks.filter((l) => l.state !== NvLinkState.ACTIVE).length
  if (down > 0) notes.push(`${down} NVLink${down === 1 ? '' : 's'} down`)
  const recovery = sample.recoveryAction !== undefined ? RECOVERY_NOTES.get(sample.recoveryAction) : undefined
  if (recovery !== undefined) notes.push(recovery)
  if (sample.channelRepairPending === true || sample.tpcRepairPending === true) notes.push('repair pending')
  if (info?.inforomValid === false) notes.push('InfoROM corrupted')
  return notes
}
