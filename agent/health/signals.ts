// The GPU as a policy sees it: one table of signals, each with its CEL name, type and where it
// comes from in a GpuSample (and the GpuInfo read at start). The CEL schema, the `gpu` object
// handed to each rule, and the numbers kept as history for increase()/rate() all come from this
// table, so a signal cannot be documented, typed and read three different ways.
//
// A signal NVML could not read is absent from the object: rules test it with has(gpu.x).
// Integral values are CEL ints (so == and in work against literals); measured ones are doubles.
import type { GpuInfo, GpuSample, NvLink } from '../../proto/gen/shoal_pb.js'
import { CLOCK_EVENT_REASONS, hasClockEventReason } from '../../native/clock-events.js'

export type SignalType = 'int' | 'double' | 'bool' | 'string'
type Value = number | boolean | string | undefined

export interface SignalSpec {
  readonly path: string
  /** `path` split on dots, once. */
  readonly parts: readonly string[]
  readonly type: SignalType
  readonly doc: string
  readonly read: (s: GpuSample, info: GpuInfo | undefined) => Value
}

function bit (s: GpuSample, mask: number): boolean | undefined {
  const r = s.clockEventReasons
  return r === undefined ? undefined : hasClockEventReason(r, mask)
}

function mw (v: number | undefined): number | undefined {
  return v === undefined ? undefined : v / 1000
}

/** Sum over links of one counter; undefined when no link reported it. */
function linkSum (s: GpuSample, key: 'replay' | 'recovery' | 'crcFlit' | 'crcData' | 'eccData'): number | undefined {
  let sum: number | undefined
  for (const l of s.nvlinks) {
    const v = (l as NvLink)[key]
    if (v !== undefined) sum = (sum ?? 0) + v
  }
  return sum
}

const S = (path: string, type: SignalType, doc: string, read: SignalSpec['read']): SignalSpec =>
  ({ path, parts: path.split('.'), type, doc, read })

export const SIGNALS: readonly SignalSpec[] = [
  S('index', 'int', 'NVML device index', (s) => s.index),
  S('uuid', 'string', 'GPU UUID', (s) => s.uuid),
  S('name', 'string', 'product name, e.g. "NVIDIA H100 80GB HBM3"', (_s, i) => i?.name),
  S('lost', 'bool', 'GPU_IS_LOST on the handle or any call, or gone from the device count', (s) => s.lost),
  S('reset_required', 'bool', 'NVML said RESET_REQUIRED', (s) => s.resetRequired),
  S('temperature_c', 'int', 'GPU core temperature', (s) => s.temperatureGpuC),
  S('memory_temperature_c', 'int', 'HBM temperature (field 82)', (s) => s.temperatureMemoryC),
  S('temperature_margin_c', 'int', 'distance to the nearest slowdown threshold (<= 0: at it)', (s) => s.temperatureMarginC),
  S('slowdown_c', 'int', 'HW slowdown threshold', (_s, i) => i?.thresholds?.slowdownC),
  S('shutdown_c', 'int', 'shutdown threshold', (_s, i) => i?.thresholds?.shutdownC),
  S('gpu_max_c', 'int', 'max operating temperature, GPU', (_s, i) => i?.thresholds?.gpuMaxC),
  S('memory_max_c', 'int', 'max operating temperature, memory', (_s, i) => i?.thresholds?.memoryMaxC),
  S('power_w', 'double', 'power draw', (s) => mw(s.powerMw)),
  S('power_limit_w', 'double', 'enforced power limit', (s) => mw(s.powerLimitMw)),
  S('utilization_pct', 'int', 'GPU utilisation', (s) => s.utilizationGpuPct),
  S('memory_utilization_pct', 'int', 'memory controller utilisation', (s) => s.utilizationMemoryPct),
  S('clock_events.raw', 'int', 'clock-event reason bits (nvml.md §7)', (s) => s.clockEventReasons),
  ...CLOCK_EVENT_REASONS.map(([name, mask]) =>
    S(`clock_events.${name}`, 'bool', `reason bit 0x${mask.toString(16)}`, (s) => bit(s, mask))),
  S('ecc.volatile_corrected', 'int', 'corrected ECC errors since driver load', (s) => s.ecc?.volatileCorrected),
  S('ecc.volatile_uncorrected', 'int', 'uncorrected (DBE) ECC errors since driver load', (s) => s.ecc?.volatileUncorrected),
  S('ecc.aggregate_corrected', 'int', 'corrected ECC errors, lifetime', (s) => s.ecc?.aggregateCorrected),
  S('ecc.aggregate_uncorrected', 'int', 'uncorrected ECC errors, lifetime', (s) => s.ecc?.aggregateUncorrected),
  S('ecc.dram_volatile_uncorrected', 'int', 'uncorrected, DRAM, since driver load', (s) => s.ecc?.dramVolatileUncorrected),
  S('ecc.dram_aggregate_uncorrected', 'int', 'uncorrected, DRAM, lifetime', (s) => s.ecc?.dramAggregateUncorrected),
  S('ecc.dram_aggregate_corrected', 'int', 'corrected, DRAM, lifetime', (s) => s.ecc?.dramAggregateCorrected),
  S('ecc.sram_volatile_uncorrected', 'int', 'uncorrected, SRAM, since driver load', (s) => s.ecc?.sramVolatileUncorrected),
  S('ecc.sram_aggregate_uncorrected', 'int', 'uncorrected, SRAM, lifetime', (s) => s.ecc?.sramAggregateUncorrected),
  S('ecc.sram_aggregate_corrected', 'int', 'corrected, SRAM, lifetime', (s) => s.ecc?.sramAggregateCorrected),
  S('remapped_rows.corrected', 'int', 'rows remapped for corrected errors', (s) => s.remappedRows?.corrected),
  S('remapped_rows.uncorrected', 'int', 'rows remapped for uncorrected errors', (s) => s.remappedRows?.uncorrected),
  S('remapped_rows.pending', 'bool', 'a remap waits for a GPU reset', (s) => s.remappedRows?.pending),
  S('remapped_rows.failure', 'bool', 'a remap failed: no spare row', (s) => s.remappedRows?.failure),
  S('remapped_rows.banks_none', 'int', 'banks with no spare rows left', (s) => s.remappedRows?.banksNone),
  S('remapped_rows.banks_low', 'int', 'banks with few spare rows left', (s) => s.remappedRows?.banksLow),
  S('retired_pages.single_bit', 'int', 'pages retired for SBEs (pre-Ampere)', (s) => s.retiredPages?.singleBit),
  S('retired_pages.double_bit', 'int', 'pages retired for DBEs (pre-Ampere)', (s) => s.retiredPages?.doubleBit),
  S('retired_pages.pending', 'bool', 'a page retirement waits for a reset', (s) => s.retiredPages?.pending),
  S('pcie.replay_counter', 'int', 'PCIe replays (monotonic; judge its slope)', (s) => s.pcie?.replayCounter),
  S('pcie.link_gen', 'int', 'current PCIe generation (drops at idle: not a fault alone)', (s) => s.pcie?.linkGen),
  S('pcie.link_width', 'int', 'current PCIe width', (s) => s.pcie?.linkWidth),
  S('pcie.max_link_gen', 'int', 'max PCIe generation', (s) => s.pcie?.maxLinkGen ?? undefined),
  S('pcie.max_link_width', 'int', 'max PCIe width', (s) => s.pcie?.maxLinkWidth),
  S('pcie.correctable_errors', 'int', 'PCIe correctable errors', (s) => s.pcie?.correctableErrors),
  S('pcie.fatal_errors', 'int', 'PCIe fatal errors', (s) => s.pcie?.fatalErrors),
  S('pcie.non_fatal_errors', 'int', 'PCIe non-fatal errors', (s) => s.pcie?.nonFatalErrors),
  S('nvlink.links', 'int', 'links that answered', (s) => s.nvlinks.length),
  S('nvlink.expected', 'int', 'links found at start', (_s, i) => i?.nvlinkCount),
  S('nvlink.active', 'int', 'links active now', (s) => s.nvlinks.filter((l) => l.state === 1).length),
  S('nvlink.inactive', 'int', 'links found at start that are not active now (absent when no link answered)', (s, i) =>
    s.lost || s.nvlinks.length === 0 ? undefined
      : Math.max(0, (i?.nvlinkCount ?? s.nvlinks.length) - s.nvlinks.filter((l) => l.state === 1).length)),
  S('nvlink.crc_flit', 'int', 'CRC flit errors, all links', (s) => s.nvlinkTotals?.crcFlit ?? linkSum(s, 'crcFlit')),
  S('nvlink.crc_data', 'int', 'CRC data errors, all links', (s) => s.nvlinkTotals?.crcData ?? linkSum(s, 'crcData')),
  S('nvlink.replay', 'int', 'replays, all links', (s) => s.nvlinkTotals?.replay ?? linkSum(s, 'replay')),
  S('nvlink.recovery', 'int', 'recoveries, all links', (s) => s.nvlinkTotals?.recovery ?? linkSum(s, 'recovery')),
  S('nvlink.ecc_data', 'int', 'ECC data errors, all links', (s) => s.nvlinkTotals?.eccData ?? linkSum(s, 'eccData')),
  S('nvlink.recovery_failed', 'int', 'failed link recoveries (NVLink5)', (s) => s.nvlinkTotals?.recoveryFailed),
  S('nvlink.symbol_errors', 'int', 'symbol errors (NVLink5)', (s) => s.nvlinkTotals?.symbolErrors),
  S('nvlink.effective_errors', 'int', 'effective errors (NVLink5)', (s) => s.nvlinkTotals?.effectiveErrors),
  S('recovery_action', 'int', 'NVML field 230: 0 none, 1 GPU reset, 2 node reboot, 3 drain P2P, 4 drain and reset', (s) => s.recoveryAction),
  S('fabric.state', 'int', 'fabric state: 0 n/a, 1 not started, 2 in progress, 3 completed', (s) => s.fabric?.state),
  S('fabric.status', 'int', 'fabric status (an NVML return code) once completed', (s) => s.fabric?.status),
  S('violations.power_ns', 'double', 'time clocks were held by power (cumulative)', (s) => s.violations?.powerNs),
  S('violations.thermal_ns', 'double', 'time clocks were held by thermal (cumulative)', (s) => s.violations?.thermalNs),
  S('violations.hw_slowdown_ns', 'double', 'time in HW thermal slowdown (cumulative)', (s) => s.violations?.hwThermalSlowdownNs),
  S('violations.hw_power_brake_ns', 'double', 'time in HW power brake (cumulative)', (s) => s.violations?.hwPowerBrakeSlowdownNs),
]

export const SIGNAL_BY_PATH: ReadonlyMap<string, SignalSpec> = new Map(SIGNALS.map((s) => [s.path, s]))

/** Signals history can follow: the numeric ones. */
export function isNumericSignal (path: string): boolean {
  const s = SIGNAL_BY_PATH.get(path)
  return s !== undefined && (s.type === 'int' || s.type === 'double')
}

type Schema = { [k: string]: string | Schema }

/** The nested CEL schema of `gpu`. */
export function gpuSchema (): Schema {
  const root: Schema = {}
  for (const s of SIGNALS) {
    const parts = s.path.split('.')
    let node = root
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Schema
    node[parts[parts.length - 1]!] = s.type
  }
  return root
}

type CelObject = { [k: string]: unknown }

/** The `gpu` value for one sample: absent signals are absent keys; ints are bigints (cel-js). */
export function gpuObject (sample: GpuSample, info: GpuInfo | undefined): CelObject {
  const root: CelObject = {}
  for (const s of SIGNALS) {
    const parts = s.path.split('.')
    let node = root
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as CelObject
    const v = s.read(sample, info)
    // NaN or ±Infinity from a driver is no reading (and no CEL int): absent, as has() expects.
    if (v === undefined || (typeof v === 'number' && !Number.isFinite(v))) continue
    node[parts[parts.length - 1]!] = s.type === 'int' ? BigInt(Math.trunc(v as number)) : v
  }
  return root
}

/** Numbers of the given signals in one sample, for history. */
export function readNumbers (sample: GpuSample, info: GpuInfo | undefined, paths: readonly string[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const p of paths) {
    const v = SIGNAL_BY_PATH.get(p)?.read(sample, info)
    if (typeof v === 'number' && Number.isFinite(v)) out.set(p, v)
  }
  return out
}
