// The journal: this host's own health events and verdicts, sequence-numbered and bounded. A driver
// (DESIGN.md §2): `append` resolving is the acknowledgement that an entry is written, so a core's
// `persist` effect is done before anything that depends on it leaves the host.
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf'
import { JournalEntrySchema, type JournalEntry } from '../../proto/gen/shoal_pb.js'
import { assert } from '../lib/assert.js'
import type { WallClock } from '../lib/time.js'
import { StoreCorruptError, isDecodeError, storeErrorFrom } from './errors.js'
import type { RootLevel, Sublevel } from './levels.js'
import { SerialQueue } from './queue.js'
import { LAST_SEQ_KEY, seqKey, seqOfKey } from './seq-key.js'

export interface JournalConfig {
  /** Entries kept at most. 100,000 is months of a healthy host's events and verdicts (~10 MB). */
  maxEntries: number
  /** Entries older than this, by time_ms, are dropped. 30 days: a month of incidents to look back on. */
  maxAgeMs: number
  /** Entries appended between automatic prunes. 1,000 keeps one prune to about a thousand deletes. */
  pruneEveryEntries: number
}

export const DEFAULT_JOURNAL_CONFIG: JournalConfig = {
  maxEntries: 100_000,
  maxAgeMs: 30 * 24 * 3600 * 1000,
  pruneEveryEntries: 1000,
}

/** Most entries one append takes: one LevelDB batch stays small (~100 KB), and callers flush often. */
export const MAX_APPEND_ENTRIES = 1000
/** Most entries one read returns (~1 MB); page with since(). */
export const MAX_READ_ENTRIES = 10_000
// Deletes per prune batch: a large prune (after maxEntries is lowered) is written in bounded batches.
const PRUNE_BATCH = 1000
// Meta key holding the highest seq ever assigned, written with every prune: an age prune may empty
// the journal, and seq must still never be reused.
const HIGH_WATER_KEY = 'journal-high-water'

type EntryInit = Exclude<MessageInitShape<typeof JournalEntrySchema>, JournalEntry>
/** What a caller appends: the entry, and its time if not now (0 or absent: the store's clock). */
export interface JournalEntryInit {
  timeMs?: number
  entry: NonNullable<EntryInit['entry']>
}

export interface JournalParts {
  dir: string
  root: RootLevel
  journal: Sublevel<Uint8Array>
  meta: Sublevel<unknown>
  clock: WallClock
  config: JournalConfig
  sync: boolean
}

export class Journal {
  readonly #parts: JournalParts
  readonly #queue = new SerialQueue()
  // Damaged keys seen and still present (dedupes the count; pruning removes them).
  readonly #damaged = new Set<string>()
  #skipped = 0
  #lastSeq: number
  #sincePrune = 0
  #lastPruneError: Error | undefined

  private constructor (parts: JournalParts, lastSeq: number) {
    this.#parts = parts
    this.#lastSeq = lastSeq
  }

  /** Reads the highest seq ever assigned: the last key, or the high-water mark if pruned empty. */
  static async open (parts: JournalParts): Promise<Journal> {
    const { dir, journal, meta } = parts
    let lastKey: string | undefined
    let highWater: unknown
    try {
      lastKey = (await journal.keys({ reverse: true, limit: 1, gte: seqKey(0), lte: LAST_SEQ_KEY }).all())[0]
      highWater = await meta.get(HIGH_WATER_KEY)
    } catch (err) {
      if (isDecodeError(err)) {
        throw new StoreCorruptError(dir, 'meta', 'the journal high-water record is not JSON', err)
      }
      throw storeErrorFrom(err, dir, 'read the journal of')
    }
    const fromKey = lastKey === undefined ? 0 : seqOfKey(lastKey) ?? 0
    const mark = (highWater as { lastSeq?: unknown } | undefined)?.lastSeq ?? 0
    if (typeof mark !== 'number' || !Number.isSafeInteger(mark) || mark < 0) {
      throw new StoreCorruptError(dir, 'meta', `the journal high-water record holds ${JSON.stringify(highWater)}`)
    }
    return new Journal(parts, Math.max(fromKey, mark))
  }

  /** The highest seq assigned so far; 0 when nothing was ever appended. */
  get lastSeq (): number {
    return this.#lastSeq
  }

  /**
   * Damaged entries (undecodable, or a seq that does not match the key) readers have passed over
   * since open, each counted once however often it is read.
   */
  get skipped (): number {
    return this.#skipped
  }

  /** The last automatic prune's failure, if it failed; the next one retries. */
  get lastPruneError (): Error | undefined {
    return this.#lastPruneError
  }

  /**
   * Writes the entries in one LevelDB batch, with seq lastSeq+1, lastSeq+2, ... in order. Resolves
   * once written (the acknowledgement); concurrent calls are written one after the other.
   */
  async append (entries: readonly JournalEntryInit[]): Promise<JournalEntry[]> {
    if (entries.length > MAX_APPEND_ENTRIES) {
      throw new RangeError(`journal append of ${entries.length} entries: at most ${MAX_APPEND_ENTRIES} ` +
        'per call; split the batch')
    }
    for (const init of entries) {
      if (init.entry.case === undefined) throw new RangeError('journal entry without content (entry.case unset)')
      const t = init.timeMs
      if (t !== undefined && !(Number.isFinite(t) && t >= 0)) {
        throw new RangeError(`journal entry time_ms ${t}: must be a finite number >= 0`)
      }
    }
    if (entries.length === 0) return []
    // Built now, so the time is the call's and later changes to the caller's objects do not leak in.
    const now = this.#parts.clock.wallMs()
    const made = entries.map((init) => create(JournalEntrySchema, { timeMs: init.timeMs || now, entry: init.entry }))
    return await this.#queue.run(() => this.#write(made))
  }

  async #write (made: JournalEntry[]): Promise<JournalEntry[]> {
    const first = this.#lastSeq + 1
    made.forEach((entry, i) => { entry.seq = first + i })
    const { root, journal, sync } = this.#parts
    const ops = made.map((entry) => ({
      type: 'put' as const, sublevel: journal, key: seqKey(entry.seq), value: toBinary(JournalEntrySchema, entry),
    }))
    try {
      await root.batch(ops, { sync })
    } catch (err) {
      throw storeErrorFrom(err, this.#parts.dir, 'write to the journal of')
    }
    assert(this.#lastSeq === first - 1, 'journal appends interleaved: lastSeq moved during a write')
    this.#lastSeq += made.length
    this.#sincePrune += made.length
    if (this.#sincePrune >= this.#parts.config.pruneEveryEntries) {
      this.#sincePrune = 0
      // Queued behind this append, not awaited by it: the acknowledgement does not wait for a prune.
      this.#queue.run(() => this.#prune()).then(
        () => { this.#lastPruneError = undefined },
        (err: unknown) => { this.#lastPruneError = err instanceof Error ? err : new Error(String(err)) })
    }
    return made
  }

  /** The newest `limit` entries, newest first. */
  async recent (limit: number): Promise<JournalEntry[]> {
    checkLimit(limit)
    return await this.#collect({ gte: seqKey(0), lte: LAST_SEQ_KEY, reverse: true }, limit)
  }

  /** Up to `limit` entries with seq > `seq`, oldest first. */
  async since (seq: number, limit: number): Promise<JournalEntry[]> {
    checkLimit(limit)
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`journal since(${seq}): seq must be an integer >= 0`)
    return await this.#collect({ gt: seqKey(seq), lte: LAST_SEQ_KEY }, limit)
  }

  /**
   * Drops the oldest entries beyond maxEntries, then those older than maxAgeMs, stopping at the
   * first young one (the journal stays a contiguous range). Returns how many were dropped.
   */
  prune (): Promise<number> {
    return this.#queue.run(() => this.#prune())
  }

  /** Resolves once every append and prune queued so far has settled. */
  idle (): Promise<void> {
    return this.#queue.idle()
  }

  async #prune (): Promise<number> {
    const { dir, journal, config } = this.#parts
    const cutoffMs = this.#parts.clock.wallMs() - config.maxAgeMs
    const keepFrom = this.#lastSeq - config.maxEntries + 1
    const doomed: string[] = []
    let removed = 0
    try {
      for await (const [key, value] of journal.iterator({ gte: seqKey(0), lte: LAST_SEQ_KEY })) {
        const seq = seqOfKey(key)
        assert(seq !== undefined, `journal iterator left its key range: ${key}`)
        if (seq >= keepFrom) {
          // A damaged entry is not kept for its age: it can only be skipped.
          const entry = this.#decode(key, value)
          if (entry !== undefined && entry.timeMs >= cutoffMs) break
        }
        doomed.push(key)
        if (doomed.length === PRUNE_BATCH) removed += await this.#delete(doomed.splice(0))
      }
      if (doomed.length > 0) removed += await this.#delete(doomed)
    } catch (err) {
      throw storeErrorFrom(err, dir, 'prune the journal of')
    }
    return removed
  }

  async #delete (keys: readonly string[]): Promise<number> {
    const { root, journal, meta, sync } = this.#parts
    await root.batch([
      { type: 'put', sublevel: meta, key: HIGH_WATER_KEY, value: { lastSeq: this.#lastSeq } },
      ...keys.map((key) => ({ type: 'del' as const, sublevel: journal, key })),
    ], { sync })
    for (const key of keys) this.#damaged.delete(key)
    return keys.length
  }

  async #collect (range: { gt?: string, gte?: string, lte: string, reverse?: boolean }, limit: number): Promise<JournalEntry[]> {
    const out: JournalEntry[] = []
    if (limit === 0) return out
    try {
      for await (const [key, value] of this.#parts.journal.iterator(range)) {
        const entry = this.#decode(key, value)
        if (entry !== undefined) out.push(entry)
        if (out.length === limit) break
      }
    } catch (err) {
      throw storeErrorFrom(err, this.#parts.dir, 'read the journal of')
    }
    return out
  }

  // The journal is a log: a damaged entry is counted and passed over, never a crash.
  #decode (key: string, value: Uint8Array): JournalEntry | undefined {
    let entry: JournalEntry | undefined
    try {
      entry = fromBinary(JournalEntrySchema, value)
    } catch {
      entry = undefined
    }
    if (entry === undefined || entry.seq !== seqOfKey(key)) {
      if (!this.#damaged.has(key)) this.#skipped++
      this.#damaged.add(key)
      return undefined
    }
    return entry
  }
}

function checkLimit (limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0 || limit > MAX_READ_ENTRIES) {
    throw new RangeError(`journal read limit ${limit}: must be an integer from 0 to ${MAX_READ_ENTRIES}`)
  }
}
