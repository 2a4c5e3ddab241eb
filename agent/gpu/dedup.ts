// One XID, two witnesses: the NVML event thread and the /dev/kmsg reader both report it, and the
// kernel often prints the same XID several times for one fault (fixtures #1-#3). This core folds
// them into one occurrence (xid-catalog.md §8). Deterministic: no I/O, no clock; `nowMs` is given.
import {
  GpuEventKind,
  type GpuEvent,
  type GpuEventSource,
} from '../../proto/gen/shoal_pb.js'
import { XID_GPU_LOST, xidMeaningIsInText } from './kmsg/nvidia.js'

/**
 * 10 s: NVML delivers an XID within milliseconds and the kmsg reader within one poll (250 ms), but
 * a loaded host can delay either by seconds (scheduling, a stuck NVML call, a kmsg backlog). 10 s
 * covers that with margin, and is far below the 180 s burst window of agent/health, so folding
 * here never hides a repeat that health counts: a fault that recurs after 10 s is a new occurrence.
 * Raising it merges genuine repeats (XID 13 storms count as one); lowering it lets a slow second
 * witness through as a second occurrence.
 */
export const XID_DEDUP_WINDOW_MS_DEFAULT = 10_000

/**
 * Keys remembered at once. A host has at most 8-16 GPUs and a few NVSwitches; even a storm of 64
 * distinct codes on each stays under 1,024. 4,096 bounds memory (~0.5 MB) against a hostile log
 * that invents PCI addresses; the oldest key is evicted first.
 */
export const XID_DEDUP_MAX_KEYS_DEFAULT = 4096

/** A window above this would fold distinct faults minutes apart: a configuration mistake. */
const WINDOW_MS_MAX = 10 * 60_000
const MAX_KEYS_LIMIT = 1_000_000

export interface XidDeduperOptions {
  readonly windowMs?: number
  readonly maxKeys?: number
}

/** The emitted record a suppressed one was folded into. */
export interface DuplicateOf {
  readonly key: string
  readonly firstAtMs: number
  readonly firstSource: GpuEventSource
  /** Records folded into it so far, this one included. */
  readonly suppressed: number
}

export type DedupDecision =
  | { readonly emit: true; readonly key?: string }
  | { readonly emit: false; readonly key: string; readonly duplicateOf: DuplicateOf }

export interface XidDeduperStats {
  offered: number
  emitted: number
  suppressed: number
  /** XID-like events with neither PCI address nor uuid: passed through, never folded. */
  unkeyed: number
  /** Live keys dropped for room; a duplicate of one of them gets through. */
  evicted: number
}

interface Entry {
  firstAtMs: number
  firstSource: GpuEventSource
  suppressed: number
  /** The first record had no text (NVML's event), and this XID's meaning is in the text. */
  bare: boolean
}



export class XidDeduper {
  readonly #stats: XidDeduperStats = { offered: 0, emitted: 0, suppressed: 0, unkeyed: 0, evicted: 0 }
  readonly #windowMs: number
  readonly #maxKeys: number
  /** Insertion order is age order: the first key is the oldest. */
  readonly #entries = new Map<string, Entry>()

  constructor (options: XidDeduperOptions = {}) {
    this.#windowMs = options.windowMs ?? XID_DEDUP_WINDOW_MS_DEFAULT
    this.#maxKeys = options.maxKeys ?? XID_DEDUP_MAX_KEYS_DEFAULT
    if (!(Number.isFinite(this.#windowMs) && this.#windowMs >= 0 && this.#windowMs <= WINDOW_MS_MAX)) {
      throw new RangeError(`windowMs must be 0..${WINDOW_MS_MAX} ms, got ${this.#windowMs}`)
    }
    if (!(Number.isSafeInteger(this.#maxKeys) && this.#maxKeys >= 1 && this.#maxKeys <= MAX_KEYS_LIMIT)) {
      throw new RangeError(`maxKeys must be an integer 1..${MAX_KEYS_LIMIT}, got ${this.#maxKeys}`)
    }
  }

  get stats (): Readonly<XidDeduperStats> {
    return this.#stats
  }

  /** Keys currently remembered (expired ones linger until reused or evicted). */
  get size (): number {
    return this.#entries.size
  }

  /**
   * `nowMs` is the caller's monotonic time of arrival, not the event's wall time: NVML and kmsg
   * timestamps come from different clocks, arrival order is what both witnesses share.
   */
  offer (event: GpuEvent, nowMs: number): DedupDecision {
    this.#stats.offered++
    const key = dedupKey(event)
    if (key === null) return this.#emit(undefined)
    if (key === undefined) {
      this.#stats.unkeyed++
      return this.#emit(undefined)
    }
    const entry = this.#entries.get(key)
    if (entry !== undefined && Math.abs(nowMs - entry.firstAtMs) <= this.#windowMs) {
      if (entry.bare && event.detail !== '') {
        entry.bare = false
        return this.#emit(key)
      }
      entry.suppressed++
      this.#stats.suppressed++
      return { emit: false, key, duplicateOf: { key, firstAtMs: entry.firstAtMs, firstSource: entry.firstSource, suppressed: entry.suppressed } }
    }
    // New, or expired: this record opens a fresh window and moves to the young end.
    this.#entries.delete(key)
    if (this.#entries.size >= this.#maxKeys) this.#evictOldest()
    this.#entries.set(key, { firstAtMs: nowMs, firstSource: event.source, suppressed: 0, bare: event.detail === '' && event.kind === GpuEventKind.XID && xidMeaningIsInText(event.xid) })
    return this.#emit(key)
  }

  #emit (key: string | undefined): DedupDecision {
    this.#stats.emitted++
    return key === undefined ? { emit: true } : { emit: true, key }
  }

  #evictOldest (): void {
    const oldest = this.#entries.keys().next()
    if (oldest.done === true) return
    this.#entries.delete(oldest.value)
    this.#stats.evicted++
  }
}

/**
 * `null`: not a kind that is folded (only XID, GPU_LOST and SXID are; SXID continuation records
 * never, they belong to the record before them). `undefined`: foldable but nothing to key on.
 * Keys are integers, never the PCI text (xid-catalog.md §4). GPU_LOST and XID 79 share `xid:` so
 * the NVML GPU_IS_LOST, the kmsg XID 79 and the fallen-off-the-bus line are one occurrence.
 */
export function dedupKey (event: GpuEvent): string | null | undefined {
  let family: 'xid' | 'sxid'
  if (event.kind === GpuEventKind.XID || event.kind === GpuEventKind.GPU_LOST) family = 'xid'
  else if (event.kind === GpuEventKind.SXID && !event.continuation) family = 'sxid'
  else return null
  // A GPU_LOST from NVML (GPU_IS_LOST) may carry no code: it is 79 by definition (proto).
  const xid = event.kind === GpuEventKind.GPU_LOST ? XID_GPU_LOST : event.xid
  const pci = event.pci
  if (pci !== undefined) return `${family}/pci/${pci.domain}/${pci.bus}/${pci.device}/${xid}`
  if (event.uuid !== '') return `${family}/uuid/${event.uuid}/${xid}`
  return undefined
}
