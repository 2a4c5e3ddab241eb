// Direct streams: one long-lived libp2p stream per peer and direction on `/shoal/<fleet>/mesh/1.0.0`,
// carrying MeshMessages framed as a 4-byte big-endian length and the bytes. A stream per message
// cost every probe a yamux open, a multistream-select round, a peer-store write and seven
// encrypted frames: ~2 ms of CPU a message, which twenty agents on one small host could not pay.
// Replies are messages of their own (an ack is a send back), as in SWIM; frames to one peer keep
// their order.
//
// Bounds: frame size (maxBytes), streams per connection (libp2p's maxInboundStreams), time to
// finish a started frame (readTimeoutMs), an idle stream's life (idleStreamMs), sends in flight
// (maxInflightSends), time to open or flush (sendTimeoutMs).
import type { Libp2p } from 'libp2p'
import { peerIdFromString } from '@libp2p/peer-id'
import { assert } from '../../lib/assert.js'
import type { NodeId } from '../types.js'
import type { MeshHostConfig } from './config.js'

export const FRAME_HEADER_BYTES = 4

function asError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

type StreamHandler = Parameters<Libp2p['handle']>[1]
export type Stream = Parameters<StreamHandler>[0]
export type Connection = Parameters<StreamHandler>[1]
type Chunk = Uint8Array | { subarray (): Uint8Array }

export function encodeFrame (bytes: Uint8Array): Uint8Array {
  assert(bytes.length <= 0xffffffff, 'a frame length fits in 32 bits')
  const frame = new Uint8Array(FRAME_HEADER_BYTES + bytes.length)
  new DataView(frame.buffer).setUint32(0, bytes.length, false)
  frame.set(bytes, FRAME_HEADER_BYTES)
  return frame
}

/** A stream that broke the framing: the peer is at fault (rejected), unlike a stream cut short. */
export class FrameError extends Error {
  override name = 'FrameError'
}

/** A stream that ended before its frame did: a sender that died or gave up; not an offence. */
export class TruncatedFrameError extends Error {
  override name = 'TruncatedFrameError'
}

/**
 * Splits a byte stream into frames. Never holds more than FRAME_HEADER_BYTES + maxBytes of one
 * frame; throws FrameError as soon as a header declares more than maxBytes.
 */
export class FrameDecoder {
  readonly #maxBytes: number
  #chunks: Uint8Array[] = []
  #buffered = 0
  /** The body length the current header declared; undefined while the header is incomplete. */
  #declared: number | undefined

  constructor (maxBytes: number) {
    assert(Number.isInteger(maxBytes) && maxBytes >= 0, `maxBytes ${maxBytes} is not a byte count`)
    this.#maxBytes = maxBytes
  }

  /** Bytes of a frame begun and not finished: 0 between frames. */
  get pending (): number {
    return this.#declared === undefined ? this.#buffered : FRAME_HEADER_BYTES + this.#buffered
  }

  /** Takes one chunk; returns the frames it completed, in order. */
  push (chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = []
    let rest = chunk
    for (;;) {
      if (this.#declared === undefined) {
        if (rest.length === 0) break
        const take = Math.min(FRAME_HEADER_BYTES - this.#buffered, rest.length)
        this.#add(rest.subarray(0, take))
        rest = rest.subarray(take)
        if (this.#buffered < FRAME_HEADER_BYTES) break
        const header = this.#take()
        const declared = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES).getUint32(0, false)
        if (declared > this.#maxBytes) throw new FrameError(`a frame of ${declared} bytes declared, more than the ${this.#maxBytes} allowed`)
        this.#declared = declared
      }
      const take = Math.min(this.#declared - this.#buffered, rest.length)
      this.#add(rest.subarray(0, take))
      rest = rest.subarray(take)
      if (this.#buffered < this.#declared) break
      frames.push(this.#take())
      this.#declared = undefined
    }
    return frames
  }

  /** The stream ended: throws TruncatedFrameError when it ended inside a frame. */
  end (): void {
    if (this.#buffered === 0 && this.#declared === undefined) return
    const total = this.#declared === undefined ? 'at least 4' : String(FRAME_HEADER_BYTES + this.#declared)
    const got = this.#declared === undefined ? this.#buffered : FRAME_HEADER_BYTES + this.#buffered
    throw new TruncatedFrameError(`the stream ended after ${got} of ${total} bytes`)
  }

  #add (bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.#chunks.push(bytes)
    this.#buffered += bytes.length
  }

  /** The buffered bytes as one array (a copy only when they span chunks), and an empty buffer. */
  #take (): Uint8Array {
    const chunks = this.#chunks
    let out: Uint8Array
    if (chunks.length === 1) {
      out = chunks[0]!
    } else {
      out = new Uint8Array(this.#buffered)
      let at = 0
      for (const c of chunks) { out.set(c, at); at += c.length }
    }
    this.#chunks = []
    this.#buffered = 0
    return out
  }
}

export class SendQueueFullError extends Error {
  override name = 'SendQueueFullError'
}

/** What DirectStreams needs of libp2p. */
export type DirectComponents = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol'>

export interface DirectEvents {
  /** A frame arrived whole from `from` (Noise-authenticated); the bytes are not yet validated. */
  frame (from: NodeId, bytes: Uint8Array): void
  /** The peer broke the framing (oversize, trailing bytes). */
  offence (from: NodeId, reason: string): void
  /** A stream that timed out or ended early: the frame is lost, nobody is blamed. */
  lost (from: NodeId, reason: string): void
}

type Limits = Pick<MeshHostConfig, 'idleStreamMs' | 'sendTimeoutMs' | 'readTimeoutMs' | 'maxInboundStreams' | 'maxOutboundStreams' | 'maxInflightSends'>

/** One outbound stream to a peer: opening, then open until it closes, errs or idles out. */
interface Outbound {
  readonly ready: Promise<Stream>
}

export class DirectStreams {
  readonly #libp2p: DirectComponents
  readonly #protocol: string
  readonly #maxBytes: number
  readonly #limits: Limits
  readonly #events: DirectEvents
  readonly #out = new Map<NodeId, Outbound>()
  #inflight = 0
  /** Outbound streams opened so far: with streams reused, about one per peer and idle period. */
  opened = 0

  constructor (libp2p: DirectComponents, protocol: string, maxBytes: number, limits: Limits, events: DirectEvents) {
    assert(limits.idleStreamMs > 0 && limits.readTimeoutMs > 0 && limits.sendTimeoutMs > 0, 'direct stream timeouts must be positive')
    this.#libp2p = libp2p
    this.#protocol = protocol
    this.#maxBytes = maxBytes
    this.#limits = limits
    this.#events = events
  }

  async start (): Promise<void> {
    await this.#libp2p.handle(this.#protocol, (stream, connection) => {
      // Anything escaping #receive is a bug: let it surface, uncaught.
      this.#receive(stream, connection).catch((err: unknown) => { queueMicrotask(() => { throw err }) })
    }, { maxInboundStreams: this.#limits.maxInboundStreams, maxOutboundStreams: this.#limits.maxOutboundStreams })
  }

  async stop (): Promise<void> {
    await this.#libp2p.unhandle(this.#protocol)
    const open = [...this.#out.values()]
    this.#out.clear()
    for (const o of open) o.ready.then((s) => { s.abort(new Error('the mesh host is stopping')) }, () => {})
  }

  /** Outbound streams open or opening now (one per peer at most). */
  get streams (): number {
    return this.#out.size
  }

  /** Queues `streamBytes` (normally one encodeFrame) on the stream to `to`, opening it if need be. */
  async send (to: NodeId, streamBytes: Uint8Array): Promise<void> {
    if (this.#inflight >= this.#limits.maxInflightSends) {
      throw new SendQueueFullError(`${this.#inflight} direct sends in flight, the most allowed; dropped the one to ${to}`)
    }
    this.#inflight++
    try {
      await this.#write(await this.#streamTo(to), streamBytes, false)
    } finally {
      this.#inflight--
    }
  }

  /** Writes `streamBytes` on a stream of its own and closes it: for tests that send malformed bytes. */
  async sendAlone (to: NodeId, streamBytes: Uint8Array): Promise<void> {
    await this.#write(await this.#open(to), streamBytes, true)
  }

  /**
   * Queues bytes, waits out back-pressure (and the close, if asked) within sendTimeoutMs. A stream
   * we cannot finish a frame on is useless to the next one: it is aborted (its close event unmaps it).
   */
  async #write (stream: Stream, bytes: Uint8Array, close: boolean): Promise<void> {
    try {
      if (!stream.send(bytes)) await stream.onDrain({ signal: AbortSignal.timeout(this.#limits.sendTimeoutMs) })
      if (close) await stream.close({ signal: AbortSignal.timeout(this.#limits.sendTimeoutMs) })
    } catch (err) {
      stream.abort(asError(err))
      throw err
    }
  }

  async #streamTo (to: NodeId): Promise<Stream> {
    const known = this.#out.get(to)
    if (known !== undefined) {
      const stream = await known.ready // a failed open rejects every send that waited on it
      if (stream.status === 'open' && stream.writeStatus === 'writable') return stream
      if (this.#out.get(to) === known) this.#out.delete(to)
    }
    const entry: Outbound = { ready: this.#open(to) }
    this.#out.set(to, entry)
    let stream: Stream
    try {
      stream = await entry.ready
    } catch (err) {
      if (this.#out.get(to) === entry) this.#out.delete(to)
      throw err
    }
    stream.addEventListener('close', () => { if (this.#out.get(to) === entry) this.#out.delete(to) }, { once: true })
    return stream
  }

  async #open (to: NodeId): Promise<Stream> {
    const signal = AbortSignal.timeout(this.#limits.sendTimeoutMs)
    const stream = await this.#libp2p.dialProtocol(peerIdFromString(to), this.#protocol, { signal })
    stream.inactivityTimeout = this.#limits.idleStreamMs
    this.opened++
    return stream
  }

  async #receive (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    stream.inactivityTimeout = this.#limits.idleStreamMs
    const decoder = new FrameDecoder(this.#maxBytes)
    let timer: ReturnType<typeof setTimeout> | undefined
    const stall = (): void => {
      stream.abort(new Error(`a frame begun and not finished within ${this.#limits.readTimeoutMs} ms`))
    }
    try {
      for await (const chunk of stream) {
        const frames = decoder.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
        if (frames.length > 0 && timer !== undefined) { clearTimeout(timer); timer = undefined }
        if (decoder.pending > 0) timer ??= setTimeout(stall, this.#limits.readTimeoutMs)
        for (const f of frames) this.#deliver(from, f)
      }
      decoder.end()
    } catch (err) {
      stream.abort(asError(err))
      const reason = err instanceof Error ? err.message : String(err)
      if (err instanceof FrameError) this.#events.offence(from, reason)
      else if (err instanceof TruncatedFrameError || decoder.pending > 0) this.#events.lost(from, reason)
      // Otherwise the stream ended between frames (idle, connection closed): nothing was lost.
      return
    } finally {
      clearTimeout(timer)
    }
    // The writer closed at a frame boundary; our side never writes, and closing it ends the stream.
    stream.close().catch((err: unknown) => { stream.abort(asError(err)) })
  }

  /** A listener that throws is a bug on our side, not a broken stream: it surfaces, uncaught. */
  #deliver (from: NodeId, frame: Uint8Array): void {
    try {
      this.#events.frame(from, frame)
    } catch (err) {
      queueMicrotask(() => { throw err })
    }
  }
}
