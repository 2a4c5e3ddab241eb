// Event selectors for count() and bursts(): which of a GPU's recorded events a rule counts.
// An event answers to its kind ("xid", "ecc_double_bit", "gpu_lost"...), its kind and code
// ("xid:48", "sxid:20034"), and its class ("class:hbm"). A lost GPU is also XID 79.
import { GpuEventKind, type GpuEvent } from '../../proto/gen/shoal_pb.js'

const KIND_NAMES: ReadonlyMap<GpuEventKind, string> = new Map(
  Object.entries(GpuEventKind)
    .filter(([, v]) => typeof v === 'number' && v !== GpuEventKind.UNSPECIFIED)
    .map(([k, v]) => [v as GpuEventKind, k.toLowerCase()]),
)

const NAMES = new Set(KIND_NAMES.values())

export function kindName (kind: GpuEventKind): string {
  return KIND_NAMES.get(kind) ?? 'unspecified'
}

export function eventSelectors (e: GpuEvent, cls: string): string[] {
  const kind = kindName(e.kind)
  const out = [kind, `class:${cls}`]
  if (e.kind === GpuEventKind.XID || e.kind === GpuEventKind.GPU_LOST) out.push('xid', `xid:${e.xid}`)
  else if (e.kind === GpuEventKind.SXID) out.push(`sxid:${e.xid}`)
  return [...new Set(out)]
}

/** The selector naming exactly this event's kind and code: what event_count() counts. */
export function ownSelector (e: GpuEvent): string {
  if (e.kind === GpuEventKind.XID || e.kind === GpuEventKind.GPU_LOST) return `xid:${e.xid}`
  if (e.kind === GpuEventKind.SXID) return `sxid:${e.xid}`
  return kindName(e.kind)
}

const CODED = /^(xid|sxid):\d{1,6}$/
const CLASS = /^class:[a-z0-9][a-z0-9-]{0,31}$/

export function isEventSelector (s: string): boolean {
  return NAMES.has(s) || CODED.test(s) || CLASS.test(s)
}
