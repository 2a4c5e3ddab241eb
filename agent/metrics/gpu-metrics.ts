// Per-GPU series under dcgm-exporter's names, so its dashboards and alerts work on Shoal unchanged.
// Names, types, units and help text are dcgm-exporter's (etc/default-counters.csv,
// etc/dcp-metrics-included.csv) or, for fields that file leaves out, DCGM's field list
// (dcgm_fields.h: DCGM_FI_DEV_*). A unit conversion is noted where NVML's differs. `read`
// returns undefined when NVML did not read the signal: that series is then absent, never 0.
import type { GpuInfo, GpuSample, NvLink } from '../../proto/gen/shoal_pb.js'

/** dcgm-exporter's labels on every GPU series, in its order. */
export const GPU_LABELS = ['gpu', 'UUID', 'pci_bus_id', 'device', 'modelName', 'Hostname'] as const
export type GpuLabel = typeof GPU_LABELS[number]

export interface GpuMetric {
  readonly name: string
  /** dcgm-exporter's Prometheus type. Counters hold NVML's absolute value (reset, then set). */
  readonly type: 'gauge' | 'counter'
  readonly help: string
  readonly unit: string
  /** Where the value comes from, for docs/metrics.md. */
  readonly source: string
  readonly read: (sample: GpuSample, info: GpuInfo) => number | undefined
}

const MIB = 1024 * 1024
const bit = (b: boolean | undefined): number | undefined => b === undefined ? undefined : (b ? 1 : 0)
const div = (v: number | undefined, by: number): number | undefined => v === undefined ? undefined : v / by

/**
 * A device-wide NVLink total: the field-value total when the driver has one, else the sum over
 * links when every link read it (a sum over some links would undercount, then jump).
 */
function nvlinkTotal (s: GpuSample, total: number | undefined, perLink: (l: NvLink) => number | undefined): number | undefined {
  if (total !== undefined) return total
  if (s.nvlinks.length === 0) return undefined
  let sum = 0
  for (const l of s.nvlinks) {
    const v = perLink(l)
    if (v === undefined) return undefined
    sum += v
  }
  return sum
}

const gauge = (name: string, help: string, unit: string, source: string, read: GpuMetric['read']): GpuMetric =>
  ({ name, type: 'gauge', help, unit, source, read })
const counter = (name: string, help: string, unit: string, source: string, read: GpuMetric['read']): GpuMetric =>
  ({ name, type: 'counter', help, unit, source, read })

export const GPU_METRICS: readonly GpuMetric[] = [
  // Clocks
  gauge('DCGM_FI_DEV_SM_CLOCK', 'SM clock frequency (in MHz).', 'MHz', 'GpuSample.clocks.sm_mhz', (s) => s.clocks?.smMhz),
  gauge('DCGM_FI_DEV_MEM_CLOCK', 'Memory clock frequency (in MHz).', 'MHz', 'GpuSample.clocks.memory_mhz', (s) => s.clocks?.memoryMhz),
  gauge('DCGM_FI_DEV_VIDEO_CLOCK', 'Video encoder/decoder clock (in MHz).', 'MHz', 'GpuSample.clocks.video_mhz', (s) => s.clocks?.videoMhz),
  // Temperature
  gauge('DCGM_FI_DEV_MEMORY_TEMP', 'Memory temperature (in C).', '°C', 'GpuSample.temperature_memory_c', (s) => s.temperatureMemoryC),
  gauge('DCGM_FI_DEV_GPU_TEMP', 'GPU temperature (in C).', '°C', 'GpuSample.temperature_gpu_c', (s) => s.temperatureGpuC),
  gauge('DCGM_FI_DEV_GPU_TEMP_TLIMIT', 'Thermal margin: distance to the nearest slowdown threshold (in C).', '°C',
    'GpuSample.temperature_margin_c', (s) => s.temperatureMarginC),
  gauge('DCGM_FI_DEV_SLOWDOWN_TEMP', 'Slowdown temperature threshold (in C).', '°C', 'GpuInfo.thresholds.slowdown_c', (_s, i) => i.thresholds?.slowdownC),
  gauge('DCGM_FI_DEV_SHUTDOWN_TEMP', 'Shutdown temperature threshold (in C).', '°C', 'GpuInfo.thresholds.shutdown_c', (_s, i) => i.thresholds?.shutdownC),
  gauge('DCGM_FI_DEV_GPU_MAX_OP_TEMP', 'Maximum operating temperature of the GPU (in C).', '°C', 'GpuInfo.thresholds.gpu_max_c', (_s, i) => i.thresholds?.gpuMaxC),
  gauge('DCGM_FI_DEV_MEM_MAX_OP_TEMP', 'Maximum operating temperature of the memory (in C).', '°C', 'GpuInfo.thresholds.memory_max_c', (_s, i) => i.thresholds?.memoryMaxC),
  // Power
  gauge('DCGM_FI_DEV_POWER_USAGE', 'Power draw (in W).', 'W', 'GpuSample.power_mw ÷ 1000', (s) => div(s.powerMw, 1000)),
  gauge('DCGM_FI_DEV_ENFORCED_POWER_LIMIT', 'Power limit the driver enforces (in W).', 'W', 'GpuSample.power_limit_mw ÷ 1000', (s) => div(s.powerLimitMw, 1000)),
  counter('DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', 'Total energy consumption since boot (in mJ).', 'mJ', 'GpuSample.energy_mj', (s) => s.energyMj),
  gauge('DCGM_FI_DEV_PSTATE', 'Performance state (P-State) 0-15; 0 is the highest.', 'P-state', 'GpuSample.performance_state', (s) => s.performanceState),
  // Utilization
  gauge('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %).', '%', 'GpuSample.utilization_gpu_pct', (s) => s.utilizationGpuPct),
  gauge('DCGM_FI_DEV_MEM_COPY_UTIL', 'Memory utilization (in %).', '%', 'GpuSample.utilization_memory_pct', (s) => s.utilizationMemoryPct),
  // Memory usage: whole MiB, as DCGM reports them.
  gauge('DCGM_FI_DEV_FB_TOTAL', 'Framebuffer memory total (in MiB).', 'MiB', 'GpuSample.memory_total_bytes ÷ 2^20',
    (s) => s.memoryTotalBytes === undefined ? undefined : Math.floor(s.memoryTotalBytes / MIB)),
  gauge('DCGM_FI_DEV_FB_USED', 'Framebuffer memory used (in MiB).', 'MiB', 'GpuSample.memory_used_bytes ÷ 2^20',
    (s) => s.memoryUsedBytes === undefined ? undefined : Math.floor(s.memoryUsedBytes / MIB)),
  gauge('DCGM_FI_DEV_FB_FREE', 'Framebuffer memory free (in MiB).', 'MiB', '(memory_total_bytes − memory_used_bytes) ÷ 2^20 (see notes)',
    (s) => s.memoryTotalBytes === undefined || s.memoryUsedBytes === undefined
      ? undefined
      : Math.floor(Math.max(0, s.memoryTotalBytes - s.memoryUsedBytes) / MIB)),
  // Clock events and violations. DCGM's *_VIOLATION fields are in µs; NVML's counters are in ns.
  gauge('DCGM_FI_DEV_CLOCKS_EVENT_REASONS', 'Current clock event reasons (bitmask of DCGM_CLOCKS_EVENT_REASON_*).', 'bitmask',
    'GpuSample.clock_event_reasons', (s) => s.clockEventReasons),
  counter('DCGM_FI_DEV_POWER_VIOLATION', 'Throttling duration due to power constraints (in us).', 'µs', 'GpuSample.violations.power_ns ÷ 1000',
    (s) => div(s.violations?.powerNs, 1000)),
  counter('DCGM_FI_DEV_THERMAL_VIOLATION', 'Throttling duration due to thermal constraints (in us).', 'µs', 'GpuSample.violations.thermal_ns ÷ 1000',
    (s) => div(s.violations?.thermalNs, 1000)),
  counter('DCGM_FI_DEV_SYNC_BOOST_VIOLATION', 'Throttling duration due to sync-boost constraints (in us).', 'µs', 'GpuSample.violations.sync_boost_ns ÷ 1000',
    (s) => div(s.violations?.syncBoostNs, 1000)),
  counter('DCGM_FI_DEV_BOARD_LIMIT_VIOLATION', 'Throttling duration due to board limit constraints (in us).', 'µs', 'GpuSample.violations.board_limit_ns ÷ 1000',
    (s) => div(s.violations?.boardLimitNs, 1000)),
  counter('DCGM_FI_DEV_RELIABILITY_VIOLATION', 'Throttling duration due to reliability constraints (in us).', 'µs', 'GpuSample.violations.reliability_ns ÷ 1000',
    (s) => div(s.violations?.reliabilityNs, 1000)),
  counter('DCGM_FI_DEV_CLOCKS_EVENT_REASON_SW_THERM_SLOWDOWN_NS', 'Throttling to keep GPU and memory below their max operating temperature (in ns).', 'ns',
    'GpuSample.violations.sw_thermal_slowdown_ns', (s) => s.violations?.swThermalSlowdownNs),
  counter('DCGM_FI_DEV_CLOCKS_EVENT_REASON_HW_THERM_SLOWDOWN_NS', 'Hardware thermal slowdown, clocks cut by half or more (in ns).', 'ns',
    'GpuSample.violations.hw_thermal_slowdown_ns', (s) => s.violations?.hwThermalSlowdownNs),
  counter('DCGM_FI_DEV_CLOCKS_EVENT_REASON_HW_POWER_BRAKE_SLOWDOWN_NS', 'External power brake slowdown, clocks cut by half or more (in ns).', 'ns',
    'GpuSample.violations.hw_power_brake_slowdown_ns', (s) => s.violations?.hwPowerBrakeSlowdownNs),
  // ECC
  counter('DCGM_FI_DEV_ECC_SBE_VOL_TOTAL', 'Total number of single-bit volatile ECC errors.', 'errors', 'GpuSample.ecc.volatile_corrected',
    (s) => s.ecc?.volatileCorrected),
  counter('DCGM_FI_DEV_ECC_DBE_VOL_TOTAL', 'Total number of double-bit volatile ECC errors.', 'errors', 'GpuSample.ecc.volatile_uncorrected',
    (s) => s.ecc?.volatileUncorrected),
  counter('DCGM_FI_DEV_ECC_SBE_AGG_TOTAL', 'Total number of single-bit persistent ECC errors.', 'errors', 'GpuSample.ecc.aggregate_corrected',
    (s) => s.ecc?.aggregateCorrected),
  counter('DCGM_FI_DEV_ECC_DBE_AGG_TOTAL', 'Total number of double-bit persistent ECC errors.', 'errors', 'GpuSample.ecc.aggregate_uncorrected',
    (s) => s.ecc?.aggregateUncorrected),
  // Retired pages (pre-Ampere)
  counter('DCGM_FI_DEV_RETIRED_SBE', 'Total number of retired pages due to single-bit errors.', 'pages', 'GpuSample.retired_pages.single_bit',
    (s) => s.retiredPages?.singleBit),
  counter('DCGM_FI_DEV_RETIRED_DBE', 'Total number of retired pages due to double-bit errors.', 'pages', 'GpuSample.retired_pages.double_bit',
    (s) => s.retiredPages?.doubleBit),
  counter('DCGM_FI_DEV_RETIRED_PENDING', 'Whether pages are pending retirement (1) or not (0).', '0/1', 'GpuSample.retired_pages.pending',
    (s) => bit(s.retiredPages?.pending)),
  // Remapped rows (Ampere and newer)
  counter('DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS', 'Number of remapped rows for uncorrectable errors', 'rows', 'GpuSample.remapped_rows.uncorrected',
    (s) => s.remappedRows?.uncorrected),
  counter('DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS', 'Number of remapped rows for correctable errors', 'rows', 'GpuSample.remapped_rows.corrected',
    (s) => s.remappedRows?.corrected),
  gauge('DCGM_FI_DEV_ROW_REMAP_FAILURE', 'Whether remapping of rows has failed', '0/1', 'GpuSample.remapped_rows.failure', (s) => bit(s.remappedRows?.failure)),
  gauge('DCGM_FI_DEV_ROW_REMAP_PENDING', 'Whether remapping of rows is pending (a GPU reset applies it)', '0/1', 'GpuSample.remapped_rows.pending',
    (s) => bit(s.remappedRows?.pending)),
  gauge('DCGM_FI_DEV_BANKS_REMAP_ROWS_AVAIL_MAX', 'Memory banks with all their spare rows left.', 'banks', 'GpuSample.remapped_rows.banks_max',
    (s) => s.remappedRows?.banksMax),
  gauge('DCGM_FI_DEV_BANKS_REMAP_ROWS_AVAIL_HIGH', 'Memory banks with most of their spare rows left.', 'banks', 'GpuSample.remapped_rows.banks_high',
    (s) => s.remappedRows?.banksHigh),
  gauge('DCGM_FI_DEV_BANKS_REMAP_ROWS_AVAIL_PARTIAL', 'Memory banks with some of their spare rows left.', 'banks', 'GpuSample.remapped_rows.banks_partial',
    (s) => s.remappedRows?.banksPartial),
  gauge('DCGM_FI_DEV_BANKS_REMAP_ROWS_AVAIL_LOW', 'Memory banks with few spare rows left.', 'banks', 'GpuSample.remapped_rows.banks_low',
    (s) => s.remappedRows?.banksLow),
  gauge('DCGM_FI_DEV_BANKS_REMAP_ROWS_AVAIL_NONE', 'Memory banks with no spare rows left.', 'banks', 'GpuSample.remapped_rows.banks_none',
    (s) => s.remappedRows?.banksNone),
  // PCIe
  counter('DCGM_FI_DEV_PCIE_REPLAY_COUNTER', 'Total number of PCIe retries.', 'replays', 'GpuSample.pcie.replay_counter', (s) => s.pcie?.replayCounter),
  gauge('DCGM_FI_DEV_PCIE_LINK_GEN', 'PCIe current link generation.', 'generation', 'GpuSample.pcie.link_gen', (s) => s.pcie?.linkGen),
  gauge('DCGM_FI_DEV_PCIE_LINK_WIDTH', 'PCIe current link width.', 'lanes', 'GpuSample.pcie.link_width', (s) => s.pcie?.linkWidth),
  gauge('DCGM_FI_DEV_PCIE_MAX_LINK_GEN', 'PCIe maximum link generation.', 'generation', 'GpuSample.pcie.max_link_gen, else GpuInfo.pcie_max_link_gen',
    (s, i) => s.pcie?.maxLinkGen ?? i.pcieMaxLinkGen),
  gauge('DCGM_FI_DEV_PCIE_MAX_LINK_WIDTH', 'PCIe maximum link width.', 'lanes', 'GpuSample.pcie.max_link_width, else GpuInfo.pcie_max_link_width',
    (s, i) => s.pcie?.maxLinkWidth ?? i.pcieMaxLinkWidth),
  // NVLink
  counter('DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL', 'Total number of NVLink flow-control CRC errors.', 'errors',
    'GpuSample.nvlink_totals.crc_flit, else Σ nvlinks[].crc_flit', (s) => nvlinkTotal(s, s.nvlinkTotals?.crcFlit, (l) => l.crcFlit)),
  counter('DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL', 'Total number of NVLink data CRC errors.', 'errors',
    'GpuSample.nvlink_totals.crc_data, else Σ nvlinks[].crc_data', (s) => nvlinkTotal(s, s.nvlinkTotals?.crcData, (l) => l.crcData)),
  counter('DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL', 'Total number of NVLink retries.', 'replays',
    'GpuSample.nvlink_totals.replay, else Σ nvlinks[].replay', (s) => nvlinkTotal(s, s.nvlinkTotals?.replay, (l) => l.replay)),
  counter('DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL', 'Total number of NVLink recovery errors.', 'errors',
    'GpuSample.nvlink_totals.recovery, else Σ nvlinks[].recovery', (s) => nvlinkTotal(s, s.nvlinkTotals?.recovery, (l) => l.recovery)),
  // Shoal's own, same labels: no DCGM name fits.
  gauge('shoal_gpu_reset_required', 'NVML answered RESET_REQUIRED: the GPU needs a reset (1) or not (0).', '0/1',
    'GpuSample.reset_required', (s) => bit(s.resetRequired)),
  gauge('shoal_gpu_recovery_action', 'Recovery the driver asks for: 0 none, 1 GPU reset, 2 node reboot, 3 drain P2P, 4 drain and reset, 5 recover IMEX domain.',
    'enum', 'GpuSample.recovery_action (NVML field 230)', (s) => s.recoveryAction),
  gauge('shoal_gpu_unread_signals', 'Signals NVML could not read in the last sample (their series are absent).', 'signals',
    'GpuSample.unread (count)', (s) => s.unread.length),
]
