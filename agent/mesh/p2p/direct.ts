// Direct streams: one MeshMessage per libp2p stream on `/shoal/<fleet>/mesh/1.0.0`, framed as a
// 4-byte big-endian length and the bytes, then the writer closes. One message per stream keeps
// both ends stateless (no per-peer session to repair after a reconnect) and costs a yamux stream
// open, a few microseconds and ~12 bytes on a connection already there: ample for two probes a
// second per peer. Replies are messages of their own (an ack is a send back), as in SWIM.
//
// Bounds: frame size (maxBytes), streams per connection (libp2p's maxInboundStreams), time to
// deliver a frame (readTimeoutMs), sends in flight (maxInflightSends), time to send (sendTimeoutMs).
import type { Libp2p } from 'libp2p'
import { peerIdFromString } from '@libp2p/peer-id'
import { assert } from '../../lib/assert.js'
import type { NodeId } from '../types.js'
import type { MeshHostConfig } from './config.js'

export const FRAME_HEADER_BYTES = 4

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
 * The one frame a direct stream carries: header, body, then the end of the stream. Never holds
 * more than FRAME_HEADER_BYTES + maxBytes; throws FrameError as soon as the peer declares or sends
 * more, or anything after the frame, and TruncatedFrameError when the stream ends early.
 */
export async function readOneFrame (source: AsyncIterable<Chunk>, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let total = 0
  let declared: number | undefined
  for await (const chunk of source) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    total += bytes.length
    chunks.push(bytes)
    if (declared === undefined && total >= FRAME_HEADER_BYTES) {
      const header = concat(chunks, FRAME_HEADER_BYTES)
      declared = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES).getUint32(0, false)
      if (declared > maxBytes) throw new FrameError(`a frame of ${declared} bytes declared, more than the ${maxBytes} allowed`)
    }
    if (declared !== undefined && total > FRAME_HEADER_BYTES + declared) {
      throw new FrameError(`${total - FRAME_HEADER_BYTES - declared} bytes after the frame (one message per stream)`)
    }
  }
  if (declared === undefined || total < FRAME_HEADER_BYTES + declared) {
    throw new TruncatedFrameError(`the stream ended after ${total} of ${declared === undefined ? 'at least 4' : FRAME_HEADER_BYTES + declared} bytes`)
  }
  return concat(chunks, total).subarray(FRAME_HEADER_BYTES)
}

function concat (chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length >= length) return chunks[0]!.subarray(0, length)
  const out = new Uint8Array(length)
  let at = 0
  for (const c of chunks) {
    if (at >= length) break
    const n = Math.min(c.length, length - at)
    out.set(c.subarray(0, n), at)
    at += n
  }
  return out
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

type Limits = Pick<MeshHostConfig, 'sendTimeoutMs' | 'readTimeoutMs' | 'maxInboundStreams' | 'maxOutboundStreams' | 'maxInflightSends'>

export class DirectStreams {
  readonly #libp2p: DirectComponents
  readonly #protocol: string
  readonly #maxBytes: number
  readonly #limits: Limits
  readonly #events: DirectEvents
  #inflight = 0

  constructor (libp2p: DirectComponents, protocol: string, maxBytes: number, limits: Limits, events: DirectEvents) {
    this.#libp2p = libp2p
    this.#protocol = protocol
    this.#maxBytes = maxBytes
    this.#limits = limits
    this.#events = events
  }

  async start (): Promise<void> {
    await this.#libp2p.handle(this.#protocol, (stream, connection) => {
      // Anything escaping #receive is a bug (a throwing listener): let it surface, uncaught.
      this.#receive(stream, connection).catch((err: unknown) => { queueMicrotask(() => { throw err }) })
    }, { maxInboundStreams: this.#limits.maxInboundStreams, maxOutboundStreams: this.#limits.maxOutboundStreams })
  }

  async stop (): Promise<void> {
    await this.#libp2p.unhandle(this.#protocol)
  }

  /** Writes `streamBytes` (normally one encodeFrame) on a new stream to `to` and closes it. */
  async send (to: NodeId, streamBytes: Uint8Array): Promise<void> {
    if (this.#inflight >= this.#limits.maxInflightSends) {
      throw new SendQueueFullError(`${this.#inflight} direct sends in flight, the most allowed; dropped the one to ${to}`)
    }
    this.#inflight++
    try {
      const signal = AbortSignal.timeout(this.#limits.sendTimeoutMs)
      const stream = await this.#libp2p.dialProtocol(peerIdFromString(to), this.#protocol, { signal })
      try {
        if (!stream.send(streamBytes)) await stream.onDrain({ signal })
        await stream.close({ signal })
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)))
        throw err
      }
    } finally {
      this.#inflight--
    }
  }

  async #receive (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const timer = setTimeout(() => {
      stream.abort(new Error(`no whole frame within ${this.#limits.readTimeoutMs} ms`))
    }, this.#limits.readTimeoutMs)
    let bytes: Uint8Array
    try {
      bytes = await readOneFrame(stream, this.#maxBytes)
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      const reason = err instanceof Error ? err.message : String(err)
      if (err instanceof FrameError) this.#events.offence(from, reason)
      else this.#events.lost(from, reason)
      return
    } finally {
      clearTimeout(timer)
    }
    // Our side never writes; closing it completes the stream (the writer already closed its side).
    stream.close().catch((err: unknown) => { stream.abort(err instanceof Error ? err : new Error(String(err))) })
    this.#events.frame(from, bytes)
  }
}
