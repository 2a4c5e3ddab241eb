// One /dev/kmsg record (Linux Documentation/ABI/testing/dev-kmsg):
//
//   <prio>,<seq>,<ts_us>,<flags>[,<more>...];<message>\n
//    KEY=value\n            (zero or more continuation lines, each starting with a space)
//
// The kernel escapes every byte below 0x20, above 0x7e and the backslash itself as \xNN, so a
// record is printable ASCII and a message with embedded newlines (the multiline fallen-off-the-bus
// printk) arrives as one record. Input is hostile by assumption: a regular file or FIFO can hold
// anything, so every path returns a typed result and nothing here throws.

/**
 * The kernel formats a record into a CONSOLE_EXT_LOG_MAX (8192 byte) buffer, escapes included, and
 * never hands out a longer one; anything longer did not come from the kernel.
 */
export const KMSG_RECORD_MAX_CHARS = 8192

/**
 * `prio,seq,ts,flags` is at most ~50 characters; newer kernels append `,caller=T<pid>` and similar.
 * 128 leaves room for a few more fields while stopping a search for `;` through a whole record.
 */
export const KMSG_HEADER_MAX_CHARS = 128

/** 15 decimal digits stay below 2^53, so seq and timestamps are exact as JS numbers. */
const NUMBER_MAX_DIGITS = 15

export interface KmsgRecord {
  /** facility * 8 + level, as written. */
  readonly priority: number
  readonly facility: number
  /** 0 emerg … 7 debug. */
  readonly level: number
  /** Monotonic per boot; the restart rule compares it (docs/kernel-log.md). */
  readonly seq: number
  /** Kernel timestamp, µs since boot (CLOCK_MONOTONIC-like). */
  readonly timestampUs: number
  /** `-` normally, `c` / `+` for continuation fragments on old kernels. */
  readonly flags: string
  /** Unescaped message; may contain newlines. */
  readonly message: string
  /** Continuation lines (`SUBSYSTEM=pci`, `DEVICE=+pci:0000:18:00.0`), values unescaped. */
  readonly properties: ReadonlyMap<string, string>
}

export type KmsgRecordParse =
  | { readonly ok: true; readonly record: KmsgRecord }
  | { readonly ok: false; readonly reason: string }

export function parseKmsgRecord (text: string): KmsgRecordParse {
  if (text.length > KMSG_RECORD_MAX_CHARS) {
    return fail(`record is ${text.length} characters, over the ${KMSG_RECORD_MAX_CHARS} the kernel can write`)
  }
  const body = text.endsWith('\n') ? text.slice(0, -1) : text
  const semi = body.indexOf(';')
  if (semi === -1) return fail('no \';\' ending the record header')
  if (semi > KMSG_HEADER_MAX_CHARS) return fail(`no ';' within the first ${KMSG_HEADER_MAX_CHARS} characters`)
  const header = parseHeader(body.slice(0, semi))
  if (!header.ok) return header

  const lines = body.slice(semi + 1).split('\n')
  const message = unescapeKmsg(lines[0] ?? '')
  if (!message.ok) return fail(`message: ${message.reason}`)
  const properties = new Map<string, string>()
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? ''
    if (line === '') continue
    if (!line.startsWith(' ')) return fail(`line ${i + 1} of the record does not start with a space`)
    const eq = line.indexOf('=')
    if (eq < 2) return fail(`continuation line ${i + 1} is not ' KEY=value'`)
    const value = unescapeKmsg(line.slice(eq + 1))
    if (!value.ok) return fail(`continuation line ${i + 1}: ${value.reason}`)
    properties.set(line.slice(1, eq), value.text)
  }
  return { ok: true, record: { ...header.fields, message: message.text, properties } }
}

type HeaderFields = Omit<KmsgRecord, 'message' | 'properties'>

function parseHeader (header: string):
  | { readonly ok: true; readonly fields: HeaderFields }
  | { readonly ok: false; readonly reason: string } {
  if (header.includes('\n')) return fail('record header contains a newline')
  const fields = header.split(',')
  if (fields.length < 4) return fail(`record header ${JSON.stringify(header)} has fewer than 4 fields`)
  const [prioText = '', seqText = '', tsText = '', flags = ''] = fields
  const priority = decimal(prioText)
  if (priority === undefined) return fail(`priority ${JSON.stringify(prioText)} is not a decimal number`)
  const seq = decimal(seqText)
  if (seq === undefined) return fail(`sequence number ${JSON.stringify(seqText)} is not a decimal number`)
  const timestampUs = decimal(tsText)
  if (timestampUs === undefined) return fail(`timestamp ${JSON.stringify(tsText)} is not a decimal number`)
  return {
    ok: true,
    fields: { priority, facility: Math.floor(priority / 8), level: priority % 8, seq, timestampUs, flags },
  }
}

function decimal (s: string): number | undefined {
  if (s.length === 0 || s.length > NUMBER_MAX_DIGITS || !/^[0-9]+$/.test(s)) return undefined
  return Number(s)
}

export type UnescapeResult =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: string }

const utf8 = new TextDecoder('utf-8', { fatal: false })

/**
 * Undoes the kernel's \xNN escaping. Runs of escaped bytes are decoded together as UTF-8, so a
 * multi-byte character the kernel split into \xe2\x80\x94 comes back whole. A backslash not
 * followed by two hex digits cannot come from the kernel (it escapes `\` as \x5c): rejected.
 */
export function unescapeKmsg (s: string): UnescapeResult {
  if (!s.includes('\\')) return { ok: true, text: s }
  let out = ''
  let i = 0
  while (i < s.length) {
    const slash = s.indexOf('\\', i)
    if (slash === -1) {
      out += s.slice(i)
      break
    }
    out += s.slice(i, slash)
    const bytes: number[] = []
    i = slash
    while (s.charCodeAt(i) === 0x5c /* \ */) {
      const byte = escapedByte(s, i)
      if (byte === undefined) {
        return { ok: false, reason: `bad escape ${JSON.stringify(s.slice(i, i + 4))} at offset ${i}` }
      }
      bytes.push(byte)
      i += 4
    }
    out += utf8.decode(Uint8Array.from(bytes))
  }
  return { ok: true, text: out }
}

function escapedByte (s: string, at: number): number | undefined {
  if (s[at + 1] !== 'x') return undefined
  const digits = s.slice(at + 2, at + 4)
  return /^[0-9a-fA-F]{2}$/.test(digits) ? parseInt(digits, 16) : undefined
}

function fail (reason: string): { readonly ok: false; readonly reason: string } {
  return { ok: false, reason }
}
