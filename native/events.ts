// NVML event bits (reference/nvml.md §6) and what each one means to Shoal as a GpuEventKind.
import { GpuEventKind } from '../proto/gen/shoal_pb.js'

export const NvmlEventBits = {
  SINGLE_BIT_ECC: 0x1,
  DOUBLE_BIT_ECC: 0x2,
  PSTATE: 0x4,
  XID_CRITICAL: 0x8,
  CLOCK: 0x10,
  POWER_SOURCE_CHANGE: 0x80,
  MIG_CONFIG_CHANGE: 0x100,
  SBE_STORM: 0x200,
  DRAM_RETIREMENT: 0x400,
  DRAM_RETIREMENT_FAILURE: 0x800,
  NON_FATAL_POISON: 0x1000,
  FATAL_POISON: 0x2000,
  GPU_UNAVAILABLE: 0x4000,
  GPU_RECOVERY_ACTION: 0x8000,
  /**
   * What the agent registers: every health-relevant bit. PState and Clock are left out: they fire
   * on ordinary load changes (Clock only on Kepler) and the sampler reads both anyway.
   */
  AGENT: 0x1 | 0x2 | 0x8 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x1000 | 0x2000 | 0x4000 | 0x8000,
} as const

const KIND_BY_BIT: ReadonlyMap<number, GpuEventKind> = new Map([
  [NvmlEventBits.SINGLE_BIT_ECC, GpuEventKind.ECC_SINGLE_BIT],
  [NvmlEventBits.DOUBLE_BIT_ECC, GpuEventKind.ECC_DOUBLE_BIT],
  [NvmlEventBits.PSTATE, GpuEventKind.PSTATE],
  [NvmlEventBits.XID_CRITICAL, GpuEventKind.XID],
  [NvmlEventBits.CLOCK, GpuEventKind.CLOCK_EVENT],
  [NvmlEventBits.POWER_SOURCE_CHANGE, GpuEventKind.POWER_SOURCE],
  [NvmlEventBits.MIG_CONFIG_CHANGE, GpuEventKind.MIG_CONFIG],
  [NvmlEventBits.SBE_STORM, GpuEventKind.ECC_SBE_STORM],
  [NvmlEventBits.DRAM_RETIREMENT, GpuEventKind.DRAM_RETIREMENT],
  [NvmlEventBits.DRAM_RETIREMENT_FAILURE, GpuEventKind.DRAM_RETIREMENT_FAILURE],
  [NvmlEventBits.NON_FATAL_POISON, GpuEventKind.POISON_NONFATAL],
  [NvmlEventBits.FATAL_POISON, GpuEventKind.POISON_FATAL],
  [NvmlEventBits.GPU_UNAVAILABLE, GpuEventKind.GPU_UNAVAILABLE],
  [NvmlEventBits.GPU_RECOVERY_ACTION, GpuEventKind.RECOVERY_ACTION],
])

/** The kind of an NVML event type; one event carries one bit. Unknown bits are UNSPECIFIED. */
export function eventKind (eventType: number): GpuEventKind {
  return KIND_BY_BIT.get(eventType) ?? GpuEventKind.UNSPECIFIED
}
