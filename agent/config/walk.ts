// Reading the config schema's structure: which keys a section has, and each leaf's documentation.
// Sections are strictObject(...).prefault({}); leaves carry FieldDoc metadata (leaves.ts).
import * as z from 'zod'
import type { FieldDoc } from './leaves.js'

type Shape = Readonly<Record<string, z.ZodType>>

/** The keys of a section schema, or undefined when the schema is a leaf. */
export function sectionShape (schema: z.ZodType): Shape | undefined {
  let s: z.ZodType = schema
  if (s instanceof z.ZodPrefault) s = s.unwrap() as z.ZodType
  return s instanceof z.ZodObject ? s.shape as Shape : undefined
}

export interface LeafInfo extends FieldDoc {
  /** Dotted YAML path: "sampling.dedup_window". */
  readonly path: string
}

/** Every leaf in declaration order. */
export function leaves (schema: z.ZodType, prefix = ''): LeafInfo[] {
  const shape = sectionShape(schema)
  if (shape === undefined) return []
  const out: LeafInfo[] = []
  for (const [key, child] of Object.entries(shape)) {
    const path = prefix === '' ? key : `${prefix}.${key}`
    const meta = child.meta() as Partial<FieldDoc> | undefined
    if (meta?.doc !== undefined && meta.type !== undefined && meta.default !== undefined) {
      out.push({ path, type: meta.type, default: meta.default, doc: meta.doc })
    } else {
      out.push(...leaves(child, path))
    }
  }
  return out
}

/** The section schema at a path of keys, if there is one. */
export function sectionAt (schema: z.ZodType, path: readonly PropertyKey[]): Shape | undefined {
  let shape = sectionShape(schema)
  for (const key of path) {
    const child = shape === undefined || typeof key !== 'string' || !Object.hasOwn(shape, key) ? undefined : shape[key]
    shape = child === undefined ? undefined : sectionShape(child)
  }
  return shape
}

function isMapping (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/**
 * `sampling:` with every field below it commented out is YAML null; read it as an empty section
 * rather than reject it. Returns a copy; leaves (metrics.listen: null) keep their nulls.
 */
export function emptySectionsToDefaults (schema: z.ZodType, value: unknown): unknown {
  const shape = sectionShape(schema)
  if (shape === undefined || !isMapping(value)) return value
  const out: Array<[string, unknown]> = []
  for (const [key, v] of Object.entries(value)) {
    const child = Object.hasOwn(shape, key) ? shape[key] : undefined
    if (child !== undefined && sectionShape(child) !== undefined) {
      if (v !== null) out.push([key, emptySectionsToDefaults(child, v)])
    } else {
      out.push([key, v])
    }
  }
  // fromEntries defines properties: a YAML key "__proto__" stays a key (and an unknown field).
  return Object.fromEntries(out)
}
