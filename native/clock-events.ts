// NVML's clock-event (throttle) reason bits, reference/nvml.md §7: one table for the policy's
// signals, the metrics and `shoal gpus`'s notes.

/** Name (as policies and metric labels spell it) and bit. */
export const CLOCK_EVENT_REASONS: ReadonlyArray<readonly [string, number]> = [
  ['gpu_idle', 0x1],
  ['clocks_setting', 0x2],
  ['sw_power_cap', 0x4],
  ['hw_slowdown', 0x8],
  ['sync_boost', 0x10],
  ['sw_thermal', 0x20],
  ['hw_thermal', 0x40],
  ['hw_power_brake', 0x80],
  ['display_clocks', 0x100],
]

/** The reasons that mean the hardware cut the clocks (unhealthy if sustained, nvml.md §7). */
export const HW_SLOWDOWN = 0x8
export const HW_THERMAL_SLOWDOWN = 0x40
export const HW_POWER_BRAKE_SLOWDOWN = 0x80

/** The mask is a double that may pass 2^32; division tests a bit without int32 conversion. */
export function hasClockEventReason (reasons: number, mask: number): boolean {
  return Math.floor(reasons / mask) % 2 === 1
}
