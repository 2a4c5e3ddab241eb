// The XID catalog with Shoal's meaning: one table for the agent, the coordinator and the harness
// (Navarch kept five that disagreed, reference/navarch.md §2.3). NVIDIA's rows are generated from
// reference/xid-catalog.csv; what each resolution bucket means for a cloud fleet, and the codes
// where Shoal departs from the bucket, are below with the reason (xid-catalog.md §2.1 and §3).
import { HealthAction } from '../../proto/gen/shoal_pb.js'
import { XID_CATALOG_ROWS } from './xid-catalog.gen.js'

export interface XidEntry {
  readonly code: number
  readonly name: string
  /** NVIDIA's immediate resolution bucket (RESTART_APP, RESET_GPU, ...); '' when NVIDIA has none yet. */
  readonly immediate: string
  readonly investigatory: string
  readonly description: string
  /** NVIDIA marks 63 codes "Unused" on current GPUs; still parsed, never trusted to mean much. */
  readonly unused: boolean
  /** What to do on a first occurrence. */
  readonly action: HealthAction
  /** Incident class: gpu-lost, hbm, sram, nvlink, gsp, power, pcie, gpu, app, info. */
  readonly class: string
  /** Application-level: the application, not the GPU, is at fault on a first occurrence. */
  readonly app: boolean
  /** Replace when it comes back after a reset (in a later burst): NVIDIA's "replace if persistent". */
  readonly escalate: boolean
  /** The action is decided by the event's text (NVLink5 decode, XID 154's recovery action). */
  readonly decoded: boolean
}

type Shoal = Pick<XidEntry, 'action' | 'class' | 'app' | 'escalate' | 'decoded'>

const { NONE, WATCH, RESET, REPLACE } = HealthAction

/** xid-catalog.md §2.1: each bucket's cloud translation. */
const BUCKETS: Record<string, Shoal> = {
  RESTART_APP: { action: WATCH, class: 'app', app: true, escalate: false, decoded: false },
  IGNORE: { action: NONE, class: 'info', app: false, escalate: false, decoded: false },
  RESET_GPU: { action: RESET, class: 'gpu', app: false, escalate: true, decoded: false },
  RESTART_BM: { action: REPLACE, class: 'gpu-lost', app: false, escalate: false, decoded: false },
  RESTART_VM: { action: REPLACE, class: 'gpu', app: false, escalate: false, decoded: false },
  CHECK_MECHANICALS: { action: REPLACE, class: 'power', app: false, escalate: false, decoded: false },
  CHECK_UVM: { action: WATCH, class: 'gpu', app: false, escalate: false, decoded: false },
  UPDATE_SWFW: { action: REPLACE, class: 'gpu', app: false, escalate: false, decoded: false },
  // Solo it is the application's (or Fabric Manager's); in a burst it follows the XID it names.
  WORKFLOW_XID_45: { action: WATCH, class: 'app', app: true, escalate: false, decoded: false },
  WORKFLOW_XID_48: { action: RESET, class: 'hbm', app: false, escalate: true, decoded: false },
  WORKFLOW_NVLINK_ERR: { action: RESET, class: 'nvlink', app: false, escalate: true, decoded: false },
  WORKFLOW_NVLINK5_ERR: { action: RESET, class: 'nvlink', app: false, escalate: true, decoded: true },
  XID_154: { action: WATCH, class: 'recovery', app: false, escalate: false, decoded: true },
  // 61 of the 62 are unused on Ampere and later; the live one (142, NVENC3) is worth a warning,
  // not a node (xid-catalog.md §3).
  CONTACT_SUPPORT: { action: WATCH, class: 'gpu', app: false, escalate: false, decoded: false },
  '': { action: WATCH, class: 'gpu', app: false, escalate: false, decoded: false },
}

/** Codes where Shoal's default departs from the bucket (xid-catalog.md §3, "Shoal default"). */
const OVERRIDES: Record<number, Partial<Shoal>> = {
  43: { action: WATCH, class: 'app', app: true }, // IGNORE bucket, but an application's channel reset
  46: { class: 'gpu' },
  48: { class: 'hbm' },
  54: { class: 'power' },
  62: { class: 'gpu' },
  // Row remap scheduled: the remapped-row signals decide (gpud#987); the event alone is a note.
  63: { action: WATCH, class: 'hbm' },
  64: { action: REPLACE, class: 'hbm', escalate: false }, // row remap failure: no spare rows left
  74: { class: 'nvlink' },
  79: { class: 'gpu-lost' },
  92: { action: WATCH, class: 'hbm' }, // excessive SBE interrupts: degraded, watch the remaps
  93: { action: WATCH, class: 'gpu' },
  94: { class: 'hbm', app: true }, // contained ECC error: the application's job died, the GPU is fine
  95: { class: 'hbm' },
  // CTXSW timeout: NVIDIA says reset, the device plugin calls it an application's; reset, but a
  // repeat is not evidence of bad hardware.
  109: { escalate: false },
  110: { class: 'gpu' },
  119: { class: 'gsp' },
  120: { class: 'gsp' },
  121: { action: WATCH, class: 'gpu' },
  136: { class: 'nvlink' },
  137: { action: WATCH, class: 'nvlink' },
  140: { class: 'hbm' },
  143: { class: 'gpu' },
  151: { class: 'gpu' },
  155: { class: 'nvlink' },
  156: { class: 'hbm', escalate: false },
  157: { action: REPLACE, class: 'hbm' }, // resource retirement failure: nothing left to retire into
  158: { class: 'gpu' },
  164: { action: REPLACE, class: 'power' }, // PSHC low lifetime
  165: { action: REPLACE, class: 'power' }, // PSHC zero lifetime
  167: { action: REPLACE, class: 'pcie' },
  168: { action: REPLACE, class: 'hbm' },
  171: { action: RESET, class: 'hbm', escalate: true }, // detail for 48 (DRAM)
  172: { action: RESET, class: 'sram', escalate: true }, // detail for 48 (SRAM)
}

function entry (row: typeof XID_CATALOG_ROWS[number]): XidEntry {
  const [code, name, immediate, investigatory, description] = row
  const bucket = BUCKETS[immediate]
  if (bucket === undefined) throw new Error(`XID ${code}: no Shoal meaning for bucket ${immediate}`)
  return {
    code, name, immediate, investigatory, description,
    unused: description === 'Unused',
    ...bucket,
    ...OVERRIDES[code],
  }
}

const TABLE: ReadonlyMap<number, XidEntry> = new Map(XID_CATALOG_ROWS.map((r) => [r[0], entry(r)]))

/** XIDs NVML reports as 999 when it cannot say which. */
export const XID_UNKNOWN = 999

/** A code outside the catalog (a newer driver): watched, never trusted to justify a replacement. */
function unknownXid (code: number): XidEntry {
  return {
    code, name: code === XID_UNKNOWN ? 'UNKNOWN' : `XID_${code}`, immediate: '', investigatory: '',
    description: 'not in the XID catalog', unused: false,
    ...BUCKETS['']!,
  }
}

export function xidEntry (code: number): XidEntry {
  return TABLE.get(code) ?? unknownXid(code)
}

export function xidCatalog (): readonly XidEntry[] {
  return [...TABLE.values()]
}
