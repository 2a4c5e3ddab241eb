// Classifies one kernel message (a /dev/kmsg record's message, or a dmesg line an operator pasted)
// as an NVIDIA event, as not ours, or as ours but malformed. Forms: xid-catalog.md §4; the 56
// fixtures of §7 are test/agent/gpu/fixtures/kmsg-lines.ts.
//
// Hostile input is assumed. Nothing here backtracks: the line's length is bounded first, anchors
// are found with indexOf, the parenthesised PCI field is cut at a bounded `)`, and the regexes left
// are anchored with bounded quantifiers over disjoint character classes.
import { create } from '@bufbuild/protobuf'
import {
  GpuEventKind,
  GpuEventSchema,
  GpuEventSource,
  type GpuEvent,
  type PciAddress,
} from '../../../proto/gen/shoal_pb.js'
import { parsePci } from '../pci.js'
import { parseNvlink5Detail } from './nvlink5.js'
import { KMSG_RECORD_MAX_CHARS } from './record.js'

/** A pasted line longer than the longest kernel record cannot be one. */
export const NVIDIA_LINE_MAX_CHARS = KMSG_RECORD_MAX_CHARS

/**
 * `PCI:00000000:18:00 GPU-I:05 GPU-CI:01` is under 40 characters; a `)` further away than this is
 * not the end of a PCI field, and bounding it keeps a line of 10,000 `(` cheap.
 */
const PAREN_FIELD_MAX_CHARS = 64

/** XIDs run 1–172 (2025) and SXIDs are 5-digit; 6 digits leaves room and rejects garbage. */
const CODE_MAX_DIGITS = 6

/** GPU_LOST and XID 79 are one fault (proto GpuEventKind; dedup shares their key). */
export const XID_GPU_LOST = 79
const XID_NVLINK = 74
export const XID_NVLINK5_FIRST = 144
export const XID_NVLINK5_LAST = 150
/** "caused by previous Xid N": names the XID it follows. */
export const XID_CAUSED_BY_PREVIOUS = 45
/** "GPU recovery action changed from ... to ...": names the action. */
export const XID_RECOVERY_ACTION_CHANGED = 154

/**
 * XIDs whose meaning is in the kernel-log text (NVLink5 decode, 154's action, 45's cause): NVML's
 * event carries only the code, so the later kernel line is richer, not a duplicate
 * (xid-catalog.md §8: keep the richer record).
 */
export function xidMeaningIsInText (xid: number): boolean {
  return xid === XID_CAUSED_BY_PREVIOUS || xid === XID_RECOVERY_ACTION_CHANGED ||
    (xid >= XID_NVLINK5_FIRST && xid <= XID_NVLINK5_LAST)
}

export interface KmsgContext {
  /** The record's sequence number; 0 for a pasted line. */
  readonly seq?: number
  /** Wall-clock ms, computed by the caller from the record timestamp (reader.ts). */
  readonly timeMs?: number
}

export type NvidiaClassification =
  | { readonly ok: true; readonly event: GpuEvent }
  | { readonly ok: false; readonly reason: string }
  | null

const ANCHOR_XID = 'NVRM: Xid'
const ANCHOR_SXID = 'SXid ('
const FALLEN_OFF = 'fallen off the bus'

export function classifyNvidiaLine (message: string, ctx: KmsgContext = {}): NvidiaClassification {
  if (message.length > NVIDIA_LINE_MAX_CHARS) {
    return reject(`line is ${message.length} characters, over the ${NVIDIA_LINE_MAX_CHARS} of a kernel record`)
  }
  const xidAt = message.indexOf(ANCHOR_XID)
  if (xidAt !== -1) return parseXid(message, xidAt, ctx)
  const sxidAt = message.indexOf(ANCHOR_SXID)
  if (sxidAt !== -1) return parseSxid(message, sxidAt, ctx)
  if (message.includes(FALLEN_OFF) && message.includes('NVRM:')) return parseFallenOff(message, ctx)
  return null
}

// NVRM: Xid (PCI:<d>:<b>:<d>[ GPU-I:<gi>[ GPU-CI:<ci>]]): <xid>[, pid=<p>][, name=<n>][, <detail>]
function parseXid (message: string, at: number, ctx: KmsgContext): NvidiaClassification {
  const field = parenField(message, at + ANCHOR_XID.length, 'XID')
  if (!field.ok) return field
  const attr = parseAttribution(field.text)
  if (!attr.ok) return reject(`XID line: ${attr.reason}`)
  const code = parseCode(message, field.end, 'XID')
  if (!code.ok) return code
  const detail = stripProcess(code.rest)

  let link: number | undefined
  let fatal: boolean | undefined
  if (code.code === XID_NVLINK) {
    link = nvlinkErrorLink(detail)
  } else if (code.code >= XID_NVLINK5_FIRST && code.code <= XID_NVLINK5_LAST) {
    // A 144–150 line in an unknown shape is still an XID worth reporting: no fields, no rejection.
    const nvl5 = parseNvlink5Detail(detail)
    link = nvl5?.link
    fatal = nvl5?.fatal
  }
  return accept(message, ctx, {
    kind: code.code === XID_GPU_LOST ? GpuEventKind.GPU_LOST : GpuEventKind.XID,
    xid: code.code,
    pci: attr.pci,
    gpuInstanceId: attr.gpuInstance,
    computeInstanceId: attr.computeInstance,
    detail,
    link,
    fatal,
  })
}

// [nvidia-nvswitch<k>: ]SXid (PCI:<d>:<b>:<d>.<f>): <sxid>, <Fatal|Non-fatal>, Link <n> <detail>
// and the continuation records `<sxid>, Severity ...` and `<sxid>, Data {...}`.
function parseSxid (message: string, at: number, ctx: KmsgContext): NvidiaClassification {
  const field = parenField(message, at + ANCHOR_SXID.length - 2, 'SXID')
  if (!field.ok) return field
  const pci = parsePci(field.text)
  if (!pci.ok) return reject(`SXID line: ${pci.reason}`)
  const code = parseCode(message, field.end, 'SXID')
  if (!code.ok) return code
  const rest = code.rest
  const prefix = /nvidia-nvswitch(\d{1,3}): $/.exec(message.slice(Math.max(0, at - 24), at))
  const continuation = rest.startsWith('Severity ') || rest.startsWith('Data {')
  const severity = continuation ? null : /^(Fatal|Non-fatal)(?:, Link (\d{1,3})\b)?/.exec(rest)
  return accept(message, ctx, {
    kind: GpuEventKind.SXID,
    xid: code.code,
    pci: pci.pci,
    nvswitch: prefix?.[1] === undefined ? undefined : Number(prefix[1]),
    detail: rest,
    link: severity?.[2] === undefined ? undefined : Number(severity[2]),
    fatal: severity === null ? undefined : severity[1] === 'Fatal',
    continuation,
  })
}

// Every fallen-off form names the GPU right after one of these; none carries "Xid".
const FALLEN_OFF_ANCHORS = ['NVRM: GPU at ', 'NVRM: The NVIDIA GPU ', 'NVRM: GPU '] as const

function parseFallenOff (message: string, ctx: KmsgContext): NvidiaClassification {
  for (const anchor of FALLEN_OFF_ANCHORS) {
    const at = message.indexOf(anchor)
    if (at === -1) continue
    const start = at + anchor.length
    const token = /^[0-9a-fA-FPCI:.]{1,24}/.exec(message.slice(start, start + 24))?.[0] ?? ''
    const pci = parsePci(token.replace(/[:.]+$/, ''))
    if (!pci.ok) return reject(`fallen-off-the-bus line: ${pci.reason}`)
    return accept(message, ctx, {
      kind: GpuEventKind.GPU_LOST,
      xid: XID_GPU_LOST,
      pci: pci.pci,
      detail: message.slice(at),
    })
  }
  return reject('fallen-off-the-bus line names no GPU (the multiline form must arrive as one record)')
}

type Rejection = { readonly ok: false; readonly reason: string }
type Cut = { readonly ok: true; readonly text: string; readonly end: number } | Rejection

/** The text between ` (` at `from` and the next `)`, which must be near. `end` is past the `)`. */
function parenField (message: string, from: number, form: string): Cut {
  if (message.slice(from, from + 2) !== ' (') {
    return reject(`${form} line: expected ' (' after '${form === 'XID' ? ANCHOR_XID : 'SXid'}'`)
  }
  const open = from + 2
  const close = message.indexOf(')', open)
  if (close === -1 || close - open > PAREN_FIELD_MAX_CHARS) {
    return reject(`${form} line: no ')' closing the PCI field within ${PAREN_FIELD_MAX_CHARS} characters`)
  }
  return { ok: true, text: message.slice(open, close), end: close + 1 }
}

type Attribution =
  | { readonly ok: true; readonly pci: PciAddress; readonly gpuInstance?: number; readonly computeInstance?: number }
  | Rejection

/** `PCI:0000:01:00 GPU-I:05 GPU-CI:01`: the driver prints the instance ids with %02u (decimal). */
function parseAttribution (text: string): Attribution {
  const [pciText = '', ...extras] = text.split(' ').filter((s) => s !== '')
  const pci = parsePci(pciText)
  if (!pci.ok) return pci
  let gpuInstance: number | undefined
  let computeInstance: number | undefined
  for (const extra of extras) {
    const m = /^GPU-(I|CI):(\d{1,4})$/.exec(extra)
    if (m?.[1] === 'I') gpuInstance = Number(m[2])
    else if (m?.[1] === 'CI') computeInstance = Number(m[2])
    // Anything else in the field is tolerated, as the catalog's pattern does: the PCI is what counts.
  }
  return { ok: true, pci: pci.pci, gpuInstance, computeInstance }
}

type Code = { readonly ok: true; readonly code: number; readonly rest: string } | Rejection

/** `: <code>` then end of line or `, <rest>`; a bare `: 79` is legal (injected lines). */
function parseCode (message: string, from: number, form: string): Code {
  if (message.slice(from, from + 2) !== ': ') {
    return reject(`${form} line: expected ': <code>' after the PCI field`)
  }
  const token = /^[^,\s]{0,16}/.exec(message.slice(from + 2, from + 2 + 17))?.[0] ?? ''
  if (!/^\d+$/.test(token) || token.length > CODE_MAX_DIGITS) {
    const why = `is not a decimal number of 1 to ${CODE_MAX_DIGITS} digits`
    return reject(`${form} line: code ${JSON.stringify(token)} ${why}`)
  }
  const code = Number(token)
  if (code === 0) return reject(`${form} line: code 0 does not exist`)
  const rest = message.slice(from + 2 + token.length).replace(/^,?\s?/, '')
  return { ok: true, code, rest }
}

// `pid=1797828` or `pid='<unknown>'`, then `name=<comm>`; the kernel's comm is at most 15 bytes, 64
// is slack. Either may be absent (older drivers). What is left is the detail.
const PID = /^pid=(?:'<unknown>'|<unknown>|\d{1,10})(?:, |,?$)/
const NAME = /^name=[^,]{0,64}(?:, |,?$)/

function stripProcess (rest: string): string {
  let out = rest
  const pid = PID.exec(out)
  if (pid !== null) out = out.slice(pid[0].length)
  const name = NAME.exec(out)
  if (name !== null) out = out.slice(name[0].length)
  return out
}

/** XID 74: `NVLink: fatal error detected on link 14(0x0, ...)`. */
function nvlinkErrorLink (detail: string): number | undefined {
  const m = /\blink (\d{1,3})\s?\(/.exec(detail.slice(0, 256))
  return m?.[1] === undefined ? undefined : Number(m[1])
}

interface EventFields {
  readonly kind: GpuEventKind
  readonly xid: number
  readonly pci: PciAddress
  readonly detail: string
  readonly gpuInstanceId?: number | undefined
  readonly computeInstanceId?: number | undefined
  readonly nvswitch?: number | undefined
  readonly link?: number | undefined
  readonly fatal?: boolean | undefined
  readonly continuation?: boolean
}

function accept (message: string, ctx: KmsgContext, f: EventFields): NvidiaClassification {
  // A bad context value (fraction, NaN, negative) becomes 0: the event is still worth having.
  const seq = Number.isSafeInteger(ctx.seq) && (ctx.seq ?? 0) >= 0 ? ctx.seq ?? 0 : 0
  const timeMs = Number.isFinite(ctx.timeMs) ? Math.round(ctx.timeMs ?? 0) : 0
  const event = create(GpuEventSchema, {
    timeMs,
    kind: f.kind,
    xid: f.xid,
    pci: f.pci,
    detail: f.detail,
    source: GpuEventSource.KMSG,
    rawLine: message,
    kmsgSeq: seq,
    continuation: f.continuation ?? false,
  })
  // Absent optional fields must stay absent (proto3 optional): set only what the line carried.
  if (f.gpuInstanceId !== undefined) event.gpuInstanceId = f.gpuInstanceId
  if (f.computeInstanceId !== undefined) event.computeInstanceId = f.computeInstanceId
  if (f.nvswitch !== undefined) event.nvswitch = f.nvswitch
  if (f.link !== undefined) event.link = f.link
  if (f.fatal !== undefined) event.fatal = f.fatal
  return { ok: true, event }
}

function reject (reason: string): Rejection {
  return { ok: false, reason }
}
