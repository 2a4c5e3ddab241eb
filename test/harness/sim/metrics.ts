// Byte accounting per host and the few statistics the benches print. Bytes are counted on the wire
// (message plus transport overhead): out at the sender, in at the receiver.
import { assert } from '../../../agent/lib/assert.js'

export interface KindCount { msgs: number, bytes: number }

export interface MeterSnapshot {
  readonly timeMs: number
  readonly bytesIn: Float64Array
  readonly bytesOut: Float64Array
}

export class Meter {
  readonly bytesIn: Float64Array
  readonly bytesOut: Float64Array
  /** Bytes sent by message kind ("ping", "gossip:health", "ihave", ...), all hosts together. */
  readonly byKind = new Map<string, KindCount>()

  constructor (n: number) {
    this.bytesIn = new Float64Array(n)
    this.bytesOut = new Float64Array(n)
  }

  out (i: number, bytes: number, kind: string): void {
    this.bytesOut[i] = this.bytesOut[i]! + bytes
    const k = this.byKind.get(kind)
    if (k === undefined) this.byKind.set(kind, { msgs: 1, bytes })
    else { k.msgs++; k.bytes += bytes }
  }

  in (i: number, bytes: number): void {
    this.bytesIn[i] = this.bytesIn[i]! + bytes
  }

  snapshot (timeMs: number): MeterSnapshot {
    return { timeMs, bytesIn: this.bytesIn.slice(), bytesOut: this.bytesOut.slice() }
  }
}

/** Mean over `hosts` of (bytes in + out) per second between two snapshots, in kbit/s. */
export function kbitPerHost (a: MeterSnapshot, b: MeterSnapshot, hosts: readonly number[]): number {
  const seconds = (b.timeMs - a.timeMs) / 1000
  assert(seconds > 0 && hosts.length > 0, 'bandwidth needs a window and at least one host')
  let bytes = 0
  for (const i of hosts) bytes += b.bytesIn[i]! - a.bytesIn[i]! + b.bytesOut[i]! - a.bytesOut[i]!
  return bytes * 8 / 1000 / seconds / hosts.length
}

/** Nearest-rank percentile (p in [0, 100]) of unsorted values; NaN when empty. */
export function percentile (values: ArrayLike<number>, p: number): number {
  assert(p >= 0 && p <= 100, `percentile ${p} outside 0..100`)
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  const rank = Math.max(1, Math.ceil(p / 100 * sorted.length))
  return sorted[rank - 1]!
}

export function mean (values: ArrayLike<number>): number {
  if (values.length === 0) return NaN
  let s = 0
  for (let i = 0; i < values.length; i++) s += values[i]!
  return s / values.length
}
