// The driver that reads /dev/kmsg (or, for tests and replays, a regular file or FIFO of records)
// and emits NVIDIA events. Decisions live in record.ts, splitter.ts and nvidia.ts; this file only
// owns the descriptor, the poll loop and the counters (DESIGN.md §2: thin drivers).
//
// The descriptor is opened O_NONBLOCK and read with readSync on a poll interval until EAGAIN. A
// blocking read would park a libuv threadpool thread inside the kernel until the next printk,
// possibly forever, starving fs and dns work; a non-blocking read never waits.
import { constants as fsConstants } from 'node:fs'
import type { GpuEvent } from '../../../proto/gen/shoal_pb.js'
import { TypedEmitter } from '../../lib/emitter.js'
import { classifyNvidiaLine } from './nvidia.js'
import { parseKmsgRecord, KMSG_RECORD_MAX_CHARS } from './record.js'
import { RecordSplitter, type SplitItem } from './splitter.js'
import { systemKmsgFs } from './system.js'
import type { Timers, WallClock } from '../../lib/time.js'

export interface KmsgClock extends WallClock {
  /** CLOCK_MONOTONIC in µs: the clock of the records' timestamps. */
  monotonicUs(): number
}

/** The four calls the reader makes; errors are thrown as Node does, with `code` set. */
export interface KmsgFs {
  openSync(path: string, flags: number): number
  fstatSync(fd: number): { isCharacterDevice(): boolean; isDirectory(): boolean }
  readSync(fd: number, buffer: Uint8Array): number
  closeSync(fd: number): void
}

export interface KmsgReaderOptions {
  /** Default /dev/kmsg. */
  readonly path?: string
  /**
   * How often the descriptor is drained. Bounds the added latency of a kernel-only XID (79, 119,
   * 120); lower costs a syscall per tick and buys little against NVML's own event latency.
   */
  readonly pollIntervalMs?: number
  /**
   * Records with seq <= afterSeq are skipped: the owner persists `lastSeq` with the boot id and
   * passes it back after a restart, so the ring buffer's backlog is not replayed. Same boot only.
   */
  readonly afterSeq?: number
  /** Upper bound of read() calls per poll, so a full ring buffer cannot stall the event loop. */
  readonly maxReadsPerPoll?: number
  /** `auto`: one record per read for a character device (/dev/kmsg), a byte stream otherwise. */
  readonly mode?: 'auto' | 'record' | 'stream'
}

export const KMSG_PATH_DEFAULT = '/dev/kmsg'
export const KMSG_POLL_INTERVAL_MS_DEFAULT = 250
/** 4096 records of ~150 bytes drains a typical 512 KiB ring in a tick or two at ~1 µs a read. */
export const KMSG_MAX_READS_PER_POLL_DEFAULT = 4096
/** Lines quoted in rejection events are cut here: a reason, not a copy of a hostile megabyte. */
export const KMSG_REJECTED_LINE_MAX_CHARS = 512
/** /dev/kmsg refuses a read buffer shorter than the record (EINVAL); twice the maximum is safe. */
const READ_BUFFER_BYTES = 2 * KMSG_RECORD_MAX_CHARS
/** 1..60 s: below 1 ms is a busy loop; above a minute a lost GPU waits too long to be seen. */
const POLL_INTERVAL_MS_RANGE = [1, 60_000] as const

export interface KmsgReaderEvents {
  'gpu:event': GpuEvent
  'kmsg:rejected': { readonly stage: 'record' | 'nvidia'; readonly reason: string; readonly line: string }
  /** Records were overwritten before they were read (EPIPE); `afterSeq` is the last seq read. */
  'kmsg:gap': { readonly afterSeq: number | undefined; readonly gaps: number }
  'kmsg:error': { readonly phase: 'open' | 'read'; readonly code: string; readonly message: string }
}

export interface KmsgReaderStats {
  recordsRead: number
  recordsRejected: number
  linesRejected: number
  recordsSkipped: number
  events: number
  gaps: number
  errors: number
}

export interface KmsgReaderComponents {
  readonly clock: KmsgClock
  readonly timer: Timers
  readonly fs?: KmsgFs
}

export class KmsgReader extends TypedEmitter<KmsgReaderEvents> {
  readonly #stats: KmsgReaderStats = {
    recordsRead: 0, recordsRejected: 0, linesRejected: 0, recordsSkipped: 0, events: 0, gaps: 0, errors: 0,
  }

  readonly #path: string
  readonly #pollIntervalMs: number
  readonly #maxReadsPerPoll: number
  readonly #mode: 'auto' | 'record' | 'stream'
  readonly #clock: KmsgClock
  readonly #timer: Timers
  readonly #fs: KmsgFs
  readonly #buffer = Buffer.alloc(READ_BUFFER_BYTES)
  #splitter = new RecordSplitter()
  #fd: number | undefined
  #recordPerRead = false
  /** Open failed: do not retry (and re-report) every tick; stop() and start() try again. */
  #openFailed = false
  /** Last read error reported, so a persistent one is reported once, not every tick. */
  #readError: string | undefined
  #interval: unknown
  #lastSeq: number | undefined
  #afterSeq: number

  constructor (options: KmsgReaderOptions, components: KmsgReaderComponents) {
    super()
    this.#path = options.path ?? KMSG_PATH_DEFAULT
    this.#pollIntervalMs = options.pollIntervalMs ?? KMSG_POLL_INTERVAL_MS_DEFAULT
    this.#maxReadsPerPoll = options.maxReadsPerPoll ?? KMSG_MAX_READS_PER_POLL_DEFAULT
    this.#mode = options.mode ?? 'auto'
    this.#afterSeq = options.afterSeq ?? -1
    const [lo, hi] = POLL_INTERVAL_MS_RANGE
    if (!(this.#pollIntervalMs >= lo && this.#pollIntervalMs <= hi)) {
      throw new RangeError(`pollIntervalMs must be ${lo}..${hi} ms, got ${this.#pollIntervalMs}`)
    }
    if (!Number.isSafeInteger(this.#maxReadsPerPoll) || this.#maxReadsPerPoll < 1) {
      throw new RangeError(`maxReadsPerPoll must be a positive integer, got ${this.#maxReadsPerPoll}`)
    }
    if (!Number.isSafeInteger(this.#afterSeq) || this.#afterSeq < -1) {
      throw new RangeError(`afterSeq must be an integer >= -1, got ${this.#afterSeq}`)
    }
    this.#clock = components.clock
    this.#timer = components.timer
    this.#fs = components.fs ?? systemKmsgFs
  }

  get stats (): Readonly<KmsgReaderStats> {
    return this.#stats
  }

  /** Highest seq read: persist it (with the boot id) and pass it back as afterSeq on restart. */
  get lastSeq (): number | undefined {
    return this.#lastSeq
  }

  start (): void {
    if (this.#interval !== undefined) return
    this.#open()
    this.#interval = this.#timer.setInterval(() => { this.poll() }, this.#pollIntervalMs)
  }

  stop (): void {
    if (this.#interval !== undefined) this.#timer.clearInterval(this.#interval)
    this.#interval = undefined
    this.#close()
    this.#openFailed = false
  }

  /** Reads what is there now and emits it; synchronous, so tests drive the reader with it. */
  poll (): void {
    if (this.#fd === undefined && !this.#open()) return
    const fd = this.#fd
    if (fd === undefined) return
    const wallMs = this.#clock.wallMs()
    const monotonicUs = this.#clock.monotonicUs()
    let drained = false
    // `this.#fd === fd`: a listener may stop() the reader in the middle of a poll.
    for (let reads = 0; reads < this.#maxReadsPerPoll && !drained && this.#fd === fd; reads++) {
      const n = this.#read(fd)
      if (n === 'again' || n === 0) drained = true
      else if (n === 'failed') break
      else if (typeof n === 'number') {
        this.#handle(this.#splitter.push(this.#buffer.subarray(0, n)), wallMs, monotonicUs)
        if (this.#recordPerRead) this.#handle(this.#splitter.flush(), wallMs, monotonicUs)
      }
    }
    if (drained && this.#fd === fd) this.#handle(this.#splitter.flush(), wallMs, monotonicUs)
  }

  #read (fd: number): number | 'again' | 'gap' | 'retry' | 'failed' {
    try {
      const n = this.#fs.readSync(fd, this.#buffer)
      this.#readError = undefined
      return n
    } catch (err) {
      const code = errorCode(err)
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return 'again'
      if (code === 'EINTR') return 'retry'
      if (code === 'EPIPE') {
        // The ring buffer wrapped past our position; the kernel moves us to the oldest record.
        this.#stats.gaps++
        this.emit('kmsg:gap', { afterSeq: this.#lastSeq, gaps: this.#stats.gaps })
        return 'gap'
      }
      if (this.#readError !== code) {
        this.#readError = code
        this.#error('read', code, describe(this.#path, code, err))
      }
      return 'failed'
    }
  }

  #handle (items: readonly SplitItem[], wallMs: number, monotonicUs: number): void {
    for (const item of items) {
      if (this.#fd === undefined) return // stopped by a listener: emit nothing more
      this.#stats.recordsRead++
      if (!item.ok) {
        this.#reject('record', item.reason, item.line)
        continue
      }
      const parsed = parseKmsgRecord(item.text)
      if (!parsed.ok) {
        this.#reject('record', parsed.reason, item.text)
        continue
      }
      const record = parsed.record
      if (record.seq <= this.#afterSeq) {
        this.#stats.recordsSkipped++
        continue
      }
      // Within a boot seq only grows, so the watermark also keeps a reopen from replaying.
      this.#afterSeq = record.seq
      this.#lastSeq = record.seq
      // A timestamp from the future (a file from another boot) is taken as "now", not later.
      const ageMs = Math.max(0, monotonicUs - record.timestampUs) / 1000
      const result = classifyNvidiaLine(record.message, { seq: record.seq, timeMs: wallMs - ageMs })
      if (result === null) continue
      if (!result.ok) {
        this.#stats.linesRejected++
        this.emit('kmsg:rejected', { stage: 'nvidia', reason: result.reason, line: cut(record.message) })
        continue
      }
      this.#stats.events++
      this.emit('gpu:event', result.event)
    }
  }

  #reject (stage: 'record', reason: string, line: string): void {
    this.#stats.recordsRejected++
    this.emit('kmsg:rejected', { stage, reason, line: cut(line) })
  }

  #open (): boolean {
    if (this.#fd !== undefined) return true
    if (this.#openFailed) return false
    let fd: number | undefined
    try {
      fd = this.#fs.openSync(this.#path, OPEN_FLAGS)
      const stat = this.#fs.fstatSync(fd)
      if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
      this.#recordPerRead = this.#mode === 'record' || (this.#mode === 'auto' && stat.isCharacterDevice())
    } catch (err) {
      if (fd !== undefined) this.#closeQuietly(fd)
      this.#openFailed = true
      this.#error('open', errorCode(err), describe(this.#path, errorCode(err), err))
      return false
    }
    this.#fd = fd
    this.#splitter = new RecordSplitter()
    return true
  }

  #close (): void {
    if (this.#fd !== undefined) this.#closeQuietly(this.#fd)
    this.#fd = undefined
    this.#readError = undefined
  }

  #closeQuietly (fd: number): void {
    try {
      this.#fs.closeSync(fd)
    } catch {
      // Closing a descriptor we are giving up on cannot be acted upon; there is nothing to report.
    }
  }

  #error (phase: 'open' | 'read', code: string, message: string): void {
    this.#stats.errors++
    this.emit('kmsg:error', { phase, code, message })
  }
}

/** Factory form for the composition root: `kmsgReader(options)(components)`. */
export function kmsgReader (options: KmsgReaderOptions = {}): (components: KmsgReaderComponents) => KmsgReader {
  return (components) => new KmsgReader(options, components)
}

const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK

function errorCode (err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : 'UNKNOWN'
}

function describe (path: string, code: string, err: unknown): string {
  if (code === 'EACCES' || code === 'EPERM') {
    return `cannot read ${path}: permission denied (${code}). Reading the kernel log needs root or ` +
      'CAP_SYSLOG (kernel.dmesg_restrict=1, the default on most distributions); NVML events still ' +
      'work, but XIDs only the kernel reports (79, 119, 120) will be missed.'
  }
  if (code === 'ENOENT') return `cannot read ${path}: no such file (ENOENT)`
  if (code === 'EISDIR') return `cannot read ${path}: it is a directory (EISDIR)`
  const detail = err instanceof Error ? err.message : String(err)
  return `cannot read ${path}: ${detail}`
}

function cut (line: string): string {
  return line.length > KMSG_REJECTED_LINE_MAX_CHARS ? `${line.slice(0, KMSG_REJECTED_LINE_MAX_CHARS)}…` : line
}
