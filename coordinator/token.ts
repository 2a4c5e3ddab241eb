// Idempotency by intent (DESIGN.md §6): a provision's token is a function of what it is for —
// (fleet, pool, slot, generation) — so two coordinators that decide the same thing, or one that
// retries after a timeout, present the same token and get one instance.
import { createHash } from 'node:crypto'
import { assert } from '../agent/lib/assert.js'

/** 40 hex digits behind a fixed prefix: within EC2's 64 ASCII, GCP label values and Lambda names. */
export function provisionToken (fleet: string, pool: string, slot: number, generation: number): string {
  assert(Number.isInteger(slot) && slot >= 0, `slot must be a non-negative integer, got ${slot}`)
  assert(Number.isInteger(generation) && generation >= 1, `generation must be a positive integer, got ${generation}`)
  const h = createHash('sha256').update(JSON.stringify([fleet, pool, slot, generation])).digest('hex')
  return `t${h.slice(0, 40)}`
}

/**
 * The instance name: readable (pool, slot, generation) and unique by its token suffix, valid as a
 * GCP name (≤ 63, `[a-z]([-a-z0-9]*[a-z0-9])?`), so a second insert of the same intent is a 409.
 */
export function instanceName (pool: string, slot: number, generation: number, token: string): string {
  const p = pool.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 28).replace(/-+$/, '')
  const name = `shoal-${p}-${slot}-g${generation}-${token.slice(1, 11)}`
  assert(name.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name), `bad instance name ${name}`)
  return name
}
