// PCI addresses as integers. The kernel, NVML busId and NVML busIdLegacy all print the same GPU
// differently (xid-catalog.md §4: `PCI:0000:18:00`, `00000000:18:00.0`, `0000:18:00.0`), so
// anything that joins records from two sources keys on the integers, never on the text.
import { create } from '@bufbuild/protobuf'
import { PciAddressSchema, type PciAddress } from '../../proto/gen/shoal_pb.js'

/** Longest text accepted: `PCI:` + 8-digit domain + `:bb:dd.f` is 20; slack for whitespace. */
export const PCI_TEXT_MAX_CHARS = 32

// Limits from the PCI spec, checked so garbage that happens to be hex is not taken for a device.
const BUS_MAX = 0xff
const DEVICE_MAX = 0x1f
const FUNCTION_MAX = 7
/** The kernel prints the domain with %04x, NVML with %08X; VMD domains (0x10000+) need 5. */
const DOMAIN_DIGITS_MIN = 4
const DOMAIN_DIGITS_MAX = 8

export type PciParse =
  | { readonly ok: true; readonly pci: PciAddress }
  | { readonly ok: false; readonly reason: string }

const HEX = /^[0-9a-fA-F]+$/

/**
 * Parses `[PCI:][domain:]bus:device[.function]`. A missing domain is 0 (single-domain hosts and the
 * old `GPU at 18:00.0` form); a missing function is 0 (GPUs are function 0, kernel XID lines omit
 * it). Suffixes such as ` GPU-I:05` are the caller's to strip.
 */
export function parsePci (text: string): PciParse {
  if (text.length > PCI_TEXT_MAX_CHARS) {
    return fail(`PCI address longer than ${PCI_TEXT_MAX_CHARS} characters`)
  }
  let s = text.trim()
  if (s.startsWith('PCI:')) s = s.slice(4)
  if (s === '') return fail(`empty PCI address in ${quote(text)}`)

  let fnText: string | undefined
  const dot = s.indexOf('.')
  if (dot !== -1) {
    fnText = s.slice(dot + 1)
    s = s.slice(0, dot)
  }
  const parts = s.split(':')
  if (parts.length < 2 || parts.length > 3) {
    return fail(`PCI address ${quote(text)} is not [domain:]bus:device[.function]`)
  }
  const [domainText, busText, deviceText] = parts.length === 3
    ? [parts[0] ?? '', parts[1] ?? '', parts[2] ?? '']
    : ['0000', parts[0] ?? '', parts[1] ?? '']

  if (!isHex(domainText, DOMAIN_DIGITS_MIN, DOMAIN_DIGITS_MAX)) {
    return fail(`PCI domain ${quote(domainText)} in ${quote(text)} is not 4 to 8 hex digits`)
  }
  if (!isHex(busText, 2, 2)) return fail(`PCI bus ${quote(busText)} in ${quote(text)} is not 2 hex digits`)
  if (!isHex(deviceText, 2, 2)) {
    return fail(`PCI device ${quote(deviceText)} in ${quote(text)} is not 2 hex digits`)
  }
  const device = parseInt(deviceText, 16)
  if (device > DEVICE_MAX) return fail(`PCI device 0x${deviceText} in ${quote(text)} exceeds 0x1f`)
  let fn = 0
  if (fnText !== undefined) {
    if (!/^[0-7]$/.test(fnText)) return fail(`PCI function ${quote(fnText)} in ${quote(text)} is not 0-7`)
    fn = parseInt(fnText, 10)
  }
  const domain = parseInt(domainText, 16)
  const bus = parseInt(busText, 16)
  // Both follow from the digit checks above; a failure here is a bug in this function.
  if (bus > BUS_MAX || fn > FUNCTION_MAX || domain > 0xffffffff) {
    throw new Error(`parsePci: digit checks let through ${quote(text)}`)
  }
  return { ok: true, pci: create(PciAddressSchema, { domain, bus, device, function: fn }) }
}

/**
 * Map key for one GPU or switch: domain, bus and device. The function is left out on purpose: a
 * kernel XID line never prints it and NVML always prints 0, so both must land on the same key.
 */
export function pciKey (addr: Pick<PciAddress, 'domain' | 'bus' | 'device'>): string {
  return `${hex(addr.domain, 4)}:${hex(addr.bus, 2)}:${hex(addr.device, 2)}`
}

/**
 * `kernel`: `0000:18:00.0` (lspci, sysfs, the fallen-off-the-bus lines).
 * `nvml`: `00000000:18:00.0` (nvmlPciInfo_t.busId, upper case).
 */
export function formatPci (addr: PciAddress, style: 'kernel' | 'nvml' = 'kernel'): string {
  if (style === 'nvml') {
    return `${hex(addr.domain, 8)}:${hex(addr.bus, 2)}:${hex(addr.device, 2)}.${addr.function}`.toUpperCase()
  }
  return `${pciKey(addr)}.${addr.function}`
}

function isHex (s: string, minDigits: number, maxDigits: number): boolean {
  return s.length >= minDigits && s.length <= maxDigits && HEX.test(s)
}

function hex (n: number, width: number): string {
  return n.toString(16).padStart(width, '0')
}

function fail (reason: string): PciParse {
  return { ok: false, reason }
}

// Reasons end up in logs: show the offending text, but never an unbounded or unprintable one.
function quote (s: string): string {
  return JSON.stringify(s.length > PCI_TEXT_MAX_CHARS ? `${s.slice(0, PCI_TEXT_MAX_CHARS)}…` : s)
}
