// Builders for the config's leaf fields. Each returns a zod schema that validates one YAML value
// with our own sentences (zod's stock messages name types, not what an operator should write) and
// carries its documentation as metadata, so schema.ts is the one place a knob is declared and
// reference.ts renders the table from it.
import { isAbsolute } from 'node:path'
import { isIP } from 'node:net'
import * as z from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { DURATION_HINT, formatDuration, parseDuration } from '../lib/duration.js'

/** What the reference table shows for a field. */
export interface FieldDoc {
  /** The type as an operator reads it: "duration (100ms..1h)". */
  readonly type: string
  /** The default as written in YAML. */
  readonly default: string
  readonly doc: string
}

export interface Problem { readonly message: string, readonly path?: readonly string[] }
type Check<T> = (value: unknown) => { ok: true, value: T } | { ok: false, problems: Problem[] }

const ok = <T>(value: T): { ok: true, value: T } => ({ ok: true, value })
const fail = (message: string, path?: string[]): { ok: false, problems: Problem[] } =>
  ({ ok: false, problems: [path === undefined ? { message } : { message, path }] })

function leaf<T> (check: Check<T>, fallback: T, doc: FieldDoc) {
  return z.unknown().transform((value, ctx): T => {
    const r = check(value)
    if (r.ok) return r.value
    for (const p of r.problems) ctx.addIssue({ code: 'custom', message: p.message, path: [...(p.path ?? [])], input: value })
    return z.NEVER
  }).default(fallback as z.util.NoUndefined<Awaited<T>>).meta({ ...doc })
}

/** A value as an error shows it: strings quoted and cut, collections by kind. */
export function show (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (Array.isArray(value)) return 'a list'
  if (value instanceof Uint8Array) return 'binary data'
  if (typeof value === 'object') return 'a mapping'
  return typeof value
}

export function durationField (spec: { default: string, min: string, max: string, doc: string }) {
  const [fallback, min, max] = [parseDuration(spec.default), parseDuration(spec.min), parseDuration(spec.max)]
  if (!(min <= fallback && fallback <= max)) throw new RangeError(`default ${spec.default} outside ${spec.min}..${spec.max}`)
  const range = `${spec.min}..${spec.max}`
  return leaf<number>((v) => {
    // A bare 0 needs no unit; any other number is ambiguous (ms? s?) and refused.
    if (typeof v === 'number' && v !== 0) return fail(`${show(v)} has no unit (write ${v}ms or ${v}s; ${DURATION_HINT})`)
    if (typeof v !== 'string' && v !== 0) return fail(`expected a duration (${DURATION_HINT}), got ${show(v)}`)
    let ms: number
    try {
      ms = parseDuration(String(v))
    } catch (err) {
      return fail((err as RangeError).message)
    }
    if (ms < min || ms > max) return fail(`must be ${range}, got ${formatDuration(ms)}`)
    return ok(ms)
  }, fallback, { type: `duration (${range})`, default: spec.default, doc: spec.doc })
}

function checkInt (v: unknown, min: number, max: number): { ok: true, value: number } | { ok: false, problems: Problem[] } {
  if (typeof v !== 'number' || !Number.isInteger(v)) return fail(`expected an integer ${min}..${max}, got ${show(v)}`)
  if (v < min || v > max) return fail(`must be ${min}..${max}, got ${v}`)
  return ok(v)
}

export function intField (spec: { default: number, min: number, max: number, odd?: boolean, doc: string }) {
  if (spec.odd === true && spec.default % 2 === 0) throw new RangeError(`default ${spec.default} is not odd`)
  return leaf<number>((v) => {
    const r = checkInt(v, spec.min, spec.max)
    if (r.ok && spec.odd === true && r.value % 2 === 0) return fail(`must be odd (a majority of an even count tolerates no more failures than one fewer), got ${r.value}`)
    return r
  }, spec.default,
  { type: `${spec.odd === true ? 'odd ' : ''}integer (${spec.min}..${spec.max})`, default: String(spec.default), doc: spec.doc })
}

export function nullableIntField (spec: { min: number, max: number, doc: string }) {
  return leaf<number | null>((v) => v === null ? ok(null) : checkInt(v, spec.min, spec.max), null,
    { type: `integer (${spec.min}..${spec.max}) or null`, default: 'null', doc: spec.doc })
}

export function boolField (spec: { default: boolean, doc: string }) {
  return leaf<boolean>((v) => {
    if (typeof v === 'boolean') return ok(v)
    // YAML 1.2 reads yes/no/on/off as strings; say so rather than leave the reader puzzled.
    const hint = typeof v === 'string' && /^(yes|no|on|off|y|n)$/i.test(v) ? ' (YAML 1.2: yes/no/on/off are strings)' : ''
    return fail(`expected true or false, got ${show(v)}${hint}`)
  }, spec.default, { type: 'bool', default: String(spec.default), doc: spec.doc })
}

export function enumField<const V extends string> (spec: { values: readonly V[], default: V, doc: string }) {
  return leaf<V>((v) => (spec.values as readonly unknown[]).includes(v)
    ? ok(v as V)
    : fail(`must be one of ${spec.values.join(', ')}, got ${show(v)}`),
  spec.default, { type: `one of ${spec.values.join(', ')}`, default: spec.default, doc: spec.doc })
}

const CONTROL = /\p{Cc}/u

interface StringSpec {
  maxChars: number
  pattern?: RegExp
  /** Names the rule in errors: "a pool name (lower-case letters, ...)". */
  what: string
  doc: string
}

function checkString (v: unknown, spec: StringSpec): { ok: true, value: string } | { ok: false, problems: Problem[] } {
  if (typeof v !== 'string') return fail(`expected ${spec.what}, got ${show(v)}`)
  if (v.length === 0 || v.length > spec.maxChars) return fail(`must be 1..${spec.maxChars} characters, got ${v.length}`)
  if (CONTROL.test(v) || (spec.pattern !== undefined && !spec.pattern.test(v))) return fail(`${show(v)} is not ${spec.what}`)
  return ok(v)
}

export function stringField (spec: StringSpec & { default: string }) {
  return leaf<string>((v) => checkString(v, spec), spec.default, { type: 'string', default: spec.default, doc: spec.doc })
}

/** null is a value here; `defaultText` says what null stands for when it is resolved later. */
export function nullableStringField (spec: StringSpec & { defaultText?: string }) {
  return leaf<string | null>((v) => v === null ? ok(null) : checkString(v, spec), null,
    { type: spec.defaultText === undefined ? 'string or null' : 'string', default: spec.defaultText ?? 'null', doc: spec.doc })
}

/** PATH_MAX on Linux, counting the terminating NUL. */
const PATH_MAX_BYTES = 4095

function checkPath (v: unknown, maxBytes: number): { ok: true, value: string } | { ok: false, problems: Problem[] } {
  if (typeof v !== 'string') return fail(`expected an absolute path, got ${show(v)}`)
  if (!isAbsolute(v)) return fail(`${show(v)} is not an absolute path (a daemon's working directory is not yours)`)
  if (v.includes('\0')) return fail('a path cannot contain a NUL character')
  const bytes = Buffer.byteLength(v)
  if (bytes > maxBytes) return fail(`path is ${bytes} bytes; the limit here is ${maxBytes}`)
  return ok(v)
}

export function pathField (spec: { default: string, maxBytes?: number, doc: string }) {
  const max = spec.maxBytes ?? PATH_MAX_BYTES
  return leaf<string>((v) => checkPath(v, max), spec.default, { type: 'absolute path', default: spec.default, doc: spec.doc })
}

export function nullablePathField (spec: { doc: string }) {
  return leaf<string | null>((v) => v === null ? ok(null) : checkPath(v, PATH_MAX_BYTES), null,
    { type: 'absolute path or null', default: 'null', doc: spec.doc })
}

/** A shared-library name the loader searches for ("libnvidia-ml.so.1") or an absolute path. */
export function libraryField (spec: { default: string, doc: string }) {
  return leaf<string>((v) => {
    if (typeof v === 'string' && !v.includes('/') && v.length > 0 && v.length <= 255 && !CONTROL.test(v)) return ok(v)
    if (typeof v === 'string' && v.includes('/') && !isAbsolute(v)) {
      return fail(`${show(v)} is relative: give a library name (searched by the loader) or an absolute path`)
    }
    return checkPath(v, PATH_MAX_BYTES)
  }, spec.default, { type: 'library name or absolute path', default: spec.default, doc: spec.doc })
}

const LABEL_KEY = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/
const LABEL_VALUE_MAX_CHARS = 128
/** Labels ride in every gossip message about this node: a few, short. */
const LABELS_MAX = 32

export function labelsField (spec: { doc: string }) {
  return leaf<Readonly<Record<string, string>>>((v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
      return fail(`expected a mapping of label names to strings, got ${show(v)}`)
    }
    const entries = Object.entries(v)
    if (entries.length > LABELS_MAX) return fail(`at most ${LABELS_MAX} labels, got ${entries.length}`)
    const problems: Problem[] = []
    for (const [key, value] of entries) {
      if (!LABEL_KEY.test(key)) {
        problems.push({ path: [key], message: 'a label name is 1..63 letters, digits, ".", "_", "-" or "/", starting and ending with a letter or digit' })
      } else if (typeof value !== 'string') {
        const hint = typeof value === 'number' || typeof value === 'boolean' ? ` (quote it: "${value}")` : ''
        problems.push({ path: [key], message: `expected a string, got ${show(value)}${hint}` })
      } else if (value.length > LABEL_VALUE_MAX_CHARS || CONTROL.test(value)) {
        problems.push({ path: [key], message: `a label value is at most ${LABEL_VALUE_MAX_CHARS} characters, no control characters` })
      }
    }
    return problems.length > 0 ? { ok: false, problems } : ok(Object.fromEntries(entries) as Record<string, string>)
  }, {}, { type: 'map string→string', default: '{}', doc: spec.doc })
}

export interface ListenAddress { readonly host: string, readonly port: number }

/** "127.0.0.1:9401", "[::1]:9401", "localhost:9401". No DNS: a name could resolve anywhere. */
export function parseListen (text: string): ListenAddress | string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text)
  if (m === null) return `${show(text)} is not host:port (e.g. 127.0.0.1:9401 or [::1]:9401)`
  const host = m[1] ?? m[2] ?? ''
  const port = Number(m[3])
  if (m[1] !== undefined ? isIP(host) !== 6 : !(isIP(host) === 4 || host === 'localhost')) {
    return `${show(text)}: the host must be an IP address (IPv6 in brackets) or localhost`
  }
  if (port < 0 || port > 65535) return `${show(text)}: the port must be 0..65535 (0: any free port)`
  return { host, port }
}

export function formatListen (a: ListenAddress): string {
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

export function listenField (spec: { default: string, doc: string }) {
  const fallback = parseListen(spec.default)
  if (typeof fallback === 'string') throw new RangeError(fallback)
  return leaf<ListenAddress | null>((v) => {
    if (v === null) return ok(null)
    if (typeof v !== 'string') return fail(`expected "host:port" or null, got ${show(v)}`)
    const r = parseListen(v)
    return typeof r === 'string' ? fail(r) : ok(r)
  }, fallback, { type: '"host:port" or null', default: spec.default, doc: spec.doc })
}

/** A Unix file mode for a socket: owner and group only, and the owner can connect. */
export function socketModeField (spec: { default: string, doc: string }) {
  const check: Check<number> = (v) => {
    if (typeof v === 'number') {
      return fail(`write the mode quoted, e.g. "0660" (YAML reads an unquoted 0660 as the decimal number 660), got the number ${v}`)
    }
    if (typeof v !== 'string' || !/^0?[0-7]{3}$/.test(v)) return fail(`expected an octal mode like "0660", got ${show(v)}`)
    const mode = parseInt(v, 8)
    if ((mode & 0o007) !== 0) return fail(`${show(v)} gives access to every user on the host; the admin socket is owner/group only (e.g. "0660")`)
    if ((mode & 0o600) !== 0o600) return fail(`${show(v)}: the owner needs read and write (6) to connect`)
    return ok(mode)
  }
  const fallback = check(spec.default)
  if (!fallback.ok) throw new RangeError(`bad default mode ${spec.default}`)
  return leaf<number>(check, fallback.value, { type: 'octal mode string', default: `"${spec.default}"`, doc: spec.doc })
}

/** What a multiaddr list accepts. Shoal's mesh speaks TCP only (DESIGN.md §4). */
export type MultiaddrUse =
  | 'listen' // an address to bind: /ip4 or /ip6, /tcp, no /p2p
  | 'announce' // what peers should dial: /ip4, /ip6 or /dns*, /tcp, no /p2p (the agent adds its own)
  | 'bootstrap' // a peer to dial: /ip4, /ip6 or /dns*, /tcp, then /p2p/<peer id>

const MULTIADDR_MAX_CHARS = 512
const DNS_PROTOCOLS = new Set(['dns', 'dns4', 'dns6'])

/** A multiaddr's text in canonical form, or why it is not one `use` accepts. */
export function checkMultiaddr (text: string, use: MultiaddrUse): { ok: true, value: string } | { ok: false, message: string } {
  const shape = use === 'listen' ? '/ip4|ip6/<address>/tcp/<port>'
    : use === 'announce' ? '/ip4|ip6|dns4|dns6|dns/<host>/tcp/<port>'
      : '/ip4|ip6|dns4|dns6|dns/<host>/tcp/<port>/p2p/<peer id>'
  const bad = (why: string): { ok: false, message: string } => ({ ok: false, message: `${show(text)} ${why}` })
  if (text.length > MULTIADDR_MAX_CHARS) return bad(`is longer than ${MULTIADDR_MAX_CHARS} characters`)
  let components
  let canonical: string
  try {
    const ma = multiaddr(text)
    components = ma.getComponents()
    canonical = ma.toString()
  } catch (err) {
    return bad(`is not a multiaddr: ${(err as Error).message} (expected ${shape})`)
  }
  const [host, tcp, p2p, ...rest] = components
  const hostOk = host !== undefined && (host.name === 'ip4' || host.name === 'ip6' || (use !== 'listen' && DNS_PROTOCOLS.has(host.name)))
  const tail = use === 'bootstrap' ? p2p?.name === 'p2p' && rest.length === 0 : p2p === undefined
  if (!hostOk || tcp?.name !== 'tcp' || !tail) {
    if (use !== 'bootstrap' && p2p?.name === 'p2p') return bad(`ends in /p2p/...: ${use} addresses are this agent's own, without a peer id (expected ${shape})`)
    if (use === 'bootstrap' && host !== undefined && tcp?.name === 'tcp' && p2p === undefined) {
      return bad(`has no /p2p/<peer id>: a bootstrap address names the agent to dial (expected ${shape})`)
    }
    return bad(`is not a TCP address Shoal can use (expected ${shape})`)
  }
  if (use === 'bootstrap') {
    try {
      peerIdFromString(p2p?.value ?? '')
    } catch {
      return bad(`has ${show(p2p?.value ?? '')} after /p2p/, which is not a peer id (12D3KooW...)`)
    }
  }
  return { ok: true, value: canonical }
}

/** A list of multiaddrs, canonicalised; an item that does not parse is named by its index. */
export function multiaddrListField (spec: { default: readonly string[], use: MultiaddrUse, minItems: number, maxItems: number, doc: string }) {
  for (const d of spec.default) if (!checkMultiaddr(d, spec.use).ok) throw new RangeError(`bad default multiaddr ${d}`)
  const example = spec.use === 'bootstrap' ? '"/ip4/10.0.0.5/tcp/7700/p2p/12D3KooW..."' : '"/ip4/0.0.0.0/tcp/7700"'
  return leaf<readonly string[]>((v) => {
    if (!Array.isArray(v)) return fail(`expected a list of multiaddrs, e.g. [${example}], got ${show(v)}`)
    if (v.length < spec.minItems || v.length > spec.maxItems) {
      return fail(`must have ${spec.minItems}..${spec.maxItems} addresses, got ${v.length}`)
    }
    const problems: Problem[] = []
    const seen = new Set<string>()
    const out: string[] = []
    v.forEach((item: unknown, i) => {
      if (typeof item !== 'string') {
        problems.push({ path: [String(i)], message: `expected a multiaddr string, e.g. ${example}, got ${show(item)}` })
        return
      }
      const r = checkMultiaddr(item, spec.use)
      if (!r.ok) problems.push({ path: [String(i)], message: r.message })
      else if (seen.has(r.value)) problems.push({ path: [String(i)], message: `${show(item)} is listed twice` })
      else {
        seen.add(r.value)
        out.push(r.value)
      }
    })
    return problems.length > 0 ? { ok: false, problems } : ok(out)
  }, spec.default, { type: `list of multiaddrs (${spec.minItems}..${spec.maxItems})`, default: `[${spec.default.join(', ')}]`, doc: spec.doc })
}

/** argv is passed to execve as is: bounded so a typo cannot hand the kernel megabytes. */
const ARGV_MAX_ITEMS = 64
const ARGV_ITEM_MAX_BYTES = 4096

/** A program and its arguments, run without a shell; null: none. */
export function argvField (spec: { doc: string }) {
  return leaf<readonly string[] | null>((v) => {
    if (v === null) return ok(null)
    if (typeof v === 'string') {
      return fail(`expected a list (the program, then each argument), e.g. [${JSON.stringify(v.split(/\s+/)[0] ?? v)}], ` +
        `got the string ${show(v)}: hooks run without a shell, so a string is not split`)
    }
    if (!Array.isArray(v)) return fail(`expected a list (the program, then each argument) or null, got ${show(v)}`)
    if (v.length === 0 || v.length > ARGV_MAX_ITEMS) return fail(`must have 1..${ARGV_MAX_ITEMS} items (the program, then its arguments), got ${v.length}`)
    const problems: Problem[] = []
    v.forEach((item: unknown, i) => {
      if (typeof item !== 'string') {
        const hint = typeof item === 'number' || typeof item === 'boolean' ? ` (quote it: "${item}")` : ''
        problems.push({ path: [String(i)], message: `expected a string, got ${show(item)}${hint}` })
      } else if (item.includes('\0')) {
        problems.push({ path: [String(i)], message: 'an argument cannot contain a NUL character' })
      } else if (Buffer.byteLength(item) > ARGV_ITEM_MAX_BYTES) {
        problems.push({ path: [String(i)], message: `an argument is at most ${ARGV_ITEM_MAX_BYTES} bytes` })
      } else if (i === 0 && !isAbsolute(item)) {
        problems.push({ path: ['0'], message: `the program ${show(item)} must be an absolute path (the agent does not search PATH)` })
      }
    })
    return problems.length > 0 ? { ok: false, problems } : ok([...v] as string[])
  }, null, { type: 'list of strings (argv) or null', default: 'null', doc: spec.doc })
}
