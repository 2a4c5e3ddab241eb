// What one GpuEvent means before any policy: the XID catalog's action and class, NVLink5 decode,
// XID 154's recovery action, XID 45's named cause, and the NVML event kinds that carry no XID.
// The policy sees this as `event.action`, `event.class` (docs/health-policy.md) and may overrule it.
import { GpuEventKind, HealthAction, type GpuEvent } from '../../proto/gen/shoal_pb.js'
import {
  XID_CAUSED_BY_PREVIOUS, XID_NVLINK5_FIRST, XID_NVLINK5_LAST, XID_RECOVERY_ACTION_CHANGED,
} from '../gpu/kmsg/nvidia.js'
import { parseNvlink5Detail } from '../gpu/kmsg/nvlink5.js'
import { decodeNvlink5 } from './nvlink5.js'
import { xidEntry, type XidEntry } from './xid.js'

export interface EventClass {
  readonly action: HealthAction
  readonly class: string
  readonly app: boolean
  readonly escalate: boolean
  /** The catalog entry, for XID and lost-GPU events. */
  readonly xid: XidEntry | undefined
  readonly why: string
  /** XID 45: the XID it says caused it ("caused by previous Xid 149"), 0 when not said. */
  readonly cause: number
}

const { NONE, WATCH, RESET, REBOOT, REPLACE } = HealthAction


/** nvmlDeviceGpuRecoveryAction_t (nvml.md §4.6) → action; 6 and 7 are v615 names, values unverified. */
export const RECOVERY_ACTIONS: readonly HealthAction[] = [NONE, RESET, REBOOT, RESET, RESET, REBOOT, RESET, REBOOT]

function plain (action: HealthAction, cls: string, why: string, escalate = false): EventClass {
  return { action, class: cls, app: false, escalate, xid: undefined, why, cause: 0 }
}

/** NVML event kinds without an XID (nvml.md §6 and §9). */
const KINDS: Partial<Record<GpuEventKind, EventClass>> = {
  [GpuEventKind.ECC_SINGLE_BIT]: plain(NONE, 'hbm', 'corrected ECC error: counted, judged by rate'),
  [GpuEventKind.ECC_DOUBLE_BIT]: plain(RESET, 'hbm', 'uncorrectable ECC error', true),
  [GpuEventKind.ECC_SBE_STORM]: plain(WATCH, 'hbm', 'corrected ECC storm'),
  [GpuEventKind.DRAM_RETIREMENT]: plain(WATCH, 'hbm', 'DRAM row retirement scheduled'),
  [GpuEventKind.DRAM_RETIREMENT_FAILURE]: plain(REPLACE, 'hbm', 'DRAM row retirement failed'),
  [GpuEventKind.POISON_NONFATAL]: plain(WATCH, 'hbm', 'non-fatal poison'),
  [GpuEventKind.POISON_FATAL]: plain(RESET, 'hbm', 'fatal poison', true),
  [GpuEventKind.GPU_UNAVAILABLE]: plain(REPLACE, 'gpu-lost', 'GPU unavailable'),
  [GpuEventKind.RECOVERY_ACTION]: plain(WATCH, 'recovery', 'recovery action changed: the sampled field decides'),
  [GpuEventKind.SXID]: plain(NONE, 'nvlink', 'NVSwitch error'),
}

export function classifyEvent (e: GpuEvent): EventClass {
  if (e.kind === GpuEventKind.XID || e.kind === GpuEventKind.GPU_LOST) return classifyXid(e)
  if (e.kind === GpuEventKind.SXID) {
    if (e.continuation) return plain(NONE, 'nvlink', `SXID ${e.xid} continuation record`)
    return e.fatal === true
      ? plain(RESET, 'nvlink', `fatal NVSwitch SXID ${e.xid}`, true)
      : plain(NONE, 'nvlink', `non-fatal NVSwitch SXID ${e.xid}`)
  }
  return KINDS[e.kind] ?? plain(NONE, 'info', `${GpuEventKind[e.kind] ?? e.kind} event`)
}

function classifyXid (e: GpuEvent): EventClass {
  const xid = xidEntry(e.xid)
  const base: EventClass = {
    action: xid.action, class: xid.class, app: xid.app, escalate: xid.escalate, xid,
    why: `XID ${xid.code} ${xid.name} (${xid.immediate === '' ? 'no NVIDIA resolution' : xid.immediate})`,
    cause: 0,
  }
  if (e.xid === XID_CAUSED_BY_PREVIOUS) {
    const m = /caused by previous Xid (\d{1,6})/.exec(e.detail)
    return m === null ? base : { ...base, cause: Number(m[1]), why: `${base.why}, caused by XID ${m[1]}` }
  }
  if (e.xid === XID_RECOVERY_ACTION_CHANGED) {
    const m = /to 0x([0-9a-fA-F]{1,8})/.exec(e.detail)
    if (m === null) return base
    const code = parseInt(m[1]!, 16)
    const action = RECOVERY_ACTIONS[code] ?? WATCH
    return { ...base, action, why: `${base.why}: recovery action 0x${code.toString(16)}` }
  }
  if (e.xid >= XID_NVLINK5_FIRST && e.xid <= XID_NVLINK5_LAST) {
    // NVML's event has no text to decode: watch until the kernel-log line (which the dedup lets
    // through) says what it is; a real reset also shows in the recovery action (field 230).
    if (e.detail === '') return { ...base, action: WATCH, escalate: false, why: `${base.why}: no text to decode yet` }
    const detail = parseNvlink5Detail(e.detail)
    if (detail === undefined) return base
    const d = decodeNvlink5(detail)
    return { ...base, action: d.action, why: `${base.why}: ${d.why}` }
  }
  return base
}
