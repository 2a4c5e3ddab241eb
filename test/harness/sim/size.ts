// The encoded size of a protobuf message without encoding it. toBinary writes every byte (and
// UTF-8-encodes every node id) only for the simulator to read `.length`; at 1,000 agents a join
// storm moves a gigabyte of push-pull digests, which toBinary turns into minutes. This walks the
// schema and adds lengths; test/mesh-sim/size.test.ts checks it against toBinary, byte for byte,
// on every message of a seeded run.
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf'

// ScalarType's values as local constants: under tsx the package's CommonJS build is loaded, whose
// exports are getters, and this file reads them per field.
const DOUBLE = ScalarType.DOUBLE; const FLOAT = ScalarType.FLOAT; const INT64 = ScalarType.INT64
const UINT64 = ScalarType.UINT64; const INT32 = ScalarType.INT32; const FIXED64 = ScalarType.FIXED64
const FIXED32 = ScalarType.FIXED32; const BOOL = ScalarType.BOOL; const STRING = ScalarType.STRING
const BYTES = ScalarType.BYTES; const SFIXED32 = ScalarType.SFIXED32
const SFIXED64 = ScalarType.SFIXED64; const SINT32 = ScalarType.SINT32; const SINT64 = ScalarType.SINT64

type Fields = Record<string, unknown>

export function varintSize (n: number): number {
  if (n < 0) return 10 // negative int32/int64 are sign-extended to 64 bits
  if (n < 0x80) return 1
  if (n < 0x4000) return 2
  if (n < 0x200000) return 3
  if (n < 0x10000000) return 4
  let size = 5
  let v = Math.floor(n / 0x800000000)
  while (v > 0) { size++; v = Math.floor(v / 0x80) }
  return size
}

function bigVarintSize (v: bigint): number {
  let x = v < 0n ? v + (1n << 64n) : v
  let size = 1
  while (x >= 0x80n) { size++; x >>= 7n }
  return size
}

/** Sizes of long strings (node ids, addresses): V8 keeps a string's hash, so a hit is cheap. */
const utf8Cache = new Map<string, number>()
const UTF8_CACHE_MAX = 200_000

export function utf8Size (s: string): number {
  if (s.length < 24) return utf8Count(s)
  let size = utf8Cache.get(s)
  if (size === undefined) {
    if (utf8Cache.size >= UTF8_CACHE_MAX) utf8Cache.clear()
    size = utf8Count(s)
    utf8Cache.set(s, size)
  }
  return size
}

function utf8Count (s: string): number {
  let size = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) size += 1
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) { size += 2; i++ } // a pair: 4 bytes for 2 units
    else size += 2
  }
  return size
}

function scalarSize (type: ScalarType, v: unknown): number {
  switch (type) {
    case DOUBLE: case FIXED64: case SFIXED64: return 8
    case FLOAT: case FIXED32: case SFIXED32: return 4
    case BOOL: return 1
    case STRING: return lengthDelimited(utf8Size(v as string))
    case BYTES: return lengthDelimited((v as Uint8Array).length)
    case SINT32: { const n = v as number; return varintSize(((n << 1) ^ (n >> 31)) >>> 0) }
    case INT64: case UINT64:
      return typeof v === 'bigint' ? bigVarintSize(v) : varintSize(Number(v))
    case SINT64: {
      const b = BigInt(v as bigint | number | string)
      return bigVarintSize(b >= 0n ? b << 1n : (-b << 1n) - 1n)
    }
    default: return varintSize(v as number) // INT32, UINT32, enums
  }
}

function lengthDelimited (len: number): number { return varintSize(len) + len }

function isZero (p: Plan, v: unknown): boolean {
  if (p.kind === 1) return v === p.enumZero
  if (p.kind !== 0) return false // lists, maps and messages: handled by their own size (empty = 0)
  if (typeof v === 'string') return v === ''
  if (typeof v === 'boolean') return !v
  if (typeof v === 'bigint') return v === 0n
  if (v instanceof Uint8Array) return v.length === 0
  return v === 0 && !Object.is(v, -0) // -0 is written for doubles
}

/** A field, flattened once per schema: protobuf-es descriptors resolve lazily and cost per read. */
interface Plan {
  readonly field: DescField
  /** 0 scalar, 1 enum, 2 message, 3 list of messages, 4 list of scalars or enums, 5 map. */
  readonly kind: number
  /** Scalar type of a scalar, or of a scalar list's items (enums as INT32). */
  readonly scalar: ScalarType
  readonly packed: boolean
  readonly enumZero: number | undefined
  readonly name: string
  readonly oneof: string | undefined
  readonly implicit: boolean
  readonly tag: number
  /** Sub-message plan for message fields, lists and map values. */
  sub: Plan[] | undefined
  /** Sub-messages with many fields (NodeMeta, HealthUpdate) are often shared objects: sizes cached. */
  subCached: boolean
}

/** Sizes of large sub-messages by object: a node's meta rides in every push-pull about it. */
const subSizes = new WeakMap<object, number>()
const CACHE_FIELDS_MIN = 8

function subSize (p: Plan, m: Fields): number {
  if (!p.subCached) return sizeBy(p.sub!, m)
  let size = subSizes.get(m)
  if (size === undefined) {
    size = sizeBy(p.sub!, m)
    // Only frozen objects: a mutable one could change after it was sized.
    if (Object.isFrozen(m)) subSizes.set(m, size)
  }
  return size
}

const plans = new WeakMap<DescMessage, Plan[]>()

function planOf (desc: DescMessage): Plan[] {
  let plan = plans.get(desc)
  if (plan !== undefined) return plan
  plan = []
  plans.set(desc, plan) // before the fields: schemas may be recursive
  for (const f of desc.fields) {
    plan.push({ field: f, kind: kindOf(f), scalar: scalarOf(f), packed: f.fieldKind === 'list' && f.packed, enumZero: f.fieldKind === 'enum' ? f.enum.values[0]!.number : undefined, name: f.localName, oneof: f.oneof?.localName, implicit: f.presence === 2 /* IMPLICIT */, tag: varintSize(f.number << 3), sub: undefined, subCached: false })
  }
  for (const p of plan) {
    const f = p.field
    if (f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message') || (f.fieldKind === 'map' && f.mapKind === 'message')) {
      p.sub = planOf(f.message!)
      p.subCached = f.message!.fields.length >= CACHE_FIELDS_MIN
    }
  }
  return plan
}

function kindOf (f: DescField): number {
  switch (f.fieldKind) {
    case 'scalar': return 0
    case 'enum': return 1
    case 'message': return 2
    case 'list': return f.listKind === 'message' ? 3 : 4
    case 'map': return 5
  }
}

function scalarOf (f: DescField): ScalarType {
  if (f.fieldKind === 'scalar') return f.scalar
  if (f.fieldKind === 'list' && f.listKind === 'scalar') return f.scalar
  return INT32
}

/** Bytes of `msg` encoded as `desc` (unknown fields not counted: the simulator makes none). */
export function messageSize (desc: DescMessage, msg: object): number {
  return sizeBy(planOf(desc), msg as Fields)
}

function sizeBy (plan: Plan[], m: Fields): number {
  let size = 0
  for (let k = 0; k < plan.length; k++) {
    const p = plan[k]!
    let v: unknown
    if (p.oneof !== undefined) {
      const o = m[p.oneof] as { case?: string, value?: unknown } | undefined
      if (o?.case !== p.name) continue
      v = o.value
    } else {
      v = m[p.name]
      if (v === undefined) continue
      if (p.implicit && isZero(p, v)) continue
    }
    size += fieldSize(p, v)
  }
  return size
}

function fieldSize (p: Plan, v: unknown): number {
  const tag = p.tag
  switch (p.kind) {
    case 0: return tag + scalarSize(p.scalar, v)
    case 1: return tag + varintSize(v as number)
    case 2: return tag + lengthDelimited(subSize(p, v as Fields))
    case 3: {
      const list = v as Fields[]
      let s = 0
      for (let i = 0; i < list.length; i++) s += tag + lengthDelimited(subSize(p, list[i]!))
      return s
    }
    case 4: {
      const list = v as unknown[]
      if (list.length === 0) return 0
      let body = 0
      for (let i = 0; i < list.length; i++) body += scalarSize(p.scalar, list[i])
      return p.packed ? tag + lengthDelimited(body) : list.length * tag + body
    }
    default: {
      const f = p.field
      if (f.fieldKind !== 'map') throw new Error(`unexpected field kind ${f.fieldKind}`)
      let s = 0
      for (const [key, val] of Object.entries(v as Fields)) {
        const k = 1 + scalarSize(f.mapKey, mapKey(f.mapKey, key))
        let value: number
        if (f.mapKind === 'message') value = 1 + lengthDelimited(sizeBy(p.sub!, val as Fields))
        else value = 1 + scalarSize(f.mapKind === 'enum' ? INT32 : f.scalar, val)
        s += tag + lengthDelimited(k + value)
      }
      return s
    }
  }
}

function mapKey (type: ScalarType, key: string): unknown {
  switch (type) {
    case STRING: return key
    case BOOL: return key === 'true'
    case INT64: case UINT64: case SINT64: case FIXED64: case SFIXED64: return BigInt(key)
    default: return Number(key)
  }
}
