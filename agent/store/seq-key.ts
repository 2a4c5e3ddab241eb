// Journal keys: the seq as 16 zero-padded decimal digits, so LevelDB's byte order is seq order for
// every safe integer (Number.MAX_SAFE_INTEGER has 16 digits).
import { assert } from '../lib/assert.js'

const WIDTH = 16
const KEY = /^\d{16}$/

export function seqKey (seq: number): string {
  assert(Number.isSafeInteger(seq) && seq >= 0, `journal seq ${seq} is not a safe non-negative integer`)
  return String(seq).padStart(WIDTH, '0')
}

/** The seq a key encodes, or undefined for a key that is not a journal key. */
export function seqOfKey (key: string): number | undefined {
  return KEY.test(key) ? Number(key) : undefined
}

/** Bounds that keep an iterator on journal keys only. */
export const LAST_SEQ_KEY = seqKey(Number.MAX_SAFE_INTEGER)
