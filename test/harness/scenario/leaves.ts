// Number leaves the agent's config has no use for: shares (0..1) and bounded reals, with the
// agent's error wording (leaves.ts: `must be 0..1, got 1.5`).
import * as z from 'zod'
import { show } from '../../../agent/config/leaves.js'

function real (min: number, max: number, fallback: number, what: string) {
  return z.unknown().transform((v, ctx): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} ${min}..${max}, got ${show(v)}`, input: v })
      return z.NEVER
    }
    if (v < min || v > max) {
      ctx.addIssue({ code: 'custom', message: `must be ${min}..${max}, got ${v}`, input: v })
      return z.NEVER
    }
    return v
  }).default(fallback)
}

/** A share of things: 0..1. */
export function fractionField (spec: { default: number, doc: string }) {
  return real(0, 1, spec.default, 'a fraction').meta({ doc: spec.doc })
}

export function numberField (spec: { default: number, min: number, max: number, doc: string }) {
  return real(spec.min, spec.max, spec.default, 'a number').meta({ doc: spec.doc })
}
