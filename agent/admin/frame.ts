// The admin socket's wire format: a 4-byte big-endian unsigned length, then that many bytes of one
// protobuf message. FrameDecoder reassembles frames from a byte stream cut anywhere.
import { assert } from '../lib/assert.js'
export { ADMIN_PROTOCOL_VERSION } from './protocol.js'

/**
 * The largest frame either end accepts. A health report with its default ten incidents is a few
 * tens of KiB; 1 MiB leaves room for long incident lists while a peer that declares 4 GiB (or
 * sends garbage that reads as a length) cannot make the agent buffer it.
 */
export const MAX_FRAME_BYTES = 1024 * 1024

const HEADER_BYTES = 4

export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError'
  constructor (
    readonly declared: number,
    readonly max: number,
    /** Complete frames that came before the bad header in the same push, in order. */
    readonly frames: Uint8Array[] = [],
  ) {
    super(`frame of ${declared} bytes declared, more than the ${max} allowed`)
  }
}

export function encodeFrame (bytes: Uint8Array, max = MAX_FRAME_BYTES): Uint8Array {
  if (bytes.length > max) throw new FrameTooLargeError(bytes.length, max)
  const frame = new Uint8Array(HEADER_BYTES + bytes.length)
  new DataView(frame.buffer).setUint32(0, bytes.length, false)
  frame.set(bytes, HEADER_BYTES)
  return frame
}

/**
 * Incremental: push() whatever the socket delivered, get back the frames it completed. Chunks are
 * kept as they arrive and copied once per frame, so one byte at a time costs no more than one
 * large chunk. After a FrameTooLargeError the stream has no trustworthy boundary left: every
 * later push throws the same error, and the connection should be closed.
 */
export class FrameDecoder {
  readonly #max: number
  #chunks: Uint8Array[] = []
  /** Index of the first unconsumed chunk: shifting a long array one byte-chunk at a time is quadratic. */
  #head = 0
  #buffered = 0
  /** Body length of the frame being read; undefined while its header is still incomplete. */
  #need: number | undefined
  #failed: FrameTooLargeError | undefined

  constructor (max = MAX_FRAME_BYTES) {
    this.#max = max
  }

  /** Bytes received that are not yet part of a complete frame. */
  get buffered (): number {
    // The header of the frame being read has been taken off the chunks but is still pending.
    return this.#buffered + (this.#need === undefined ? 0 : HEADER_BYTES)
  }

  push (chunk: Uint8Array): Uint8Array[] {
    if (this.#failed !== undefined) throw new FrameTooLargeError(this.#failed.declared, this.#failed.max)
    if (chunk.length > 0) {
      this.#chunks.push(chunk)
      this.#buffered += chunk.length
    }
    const frames: Uint8Array[] = []
    for (;;) {
      if (this.#need === undefined) {
        if (this.#buffered < HEADER_BYTES) return frames
        const header = this.#take(HEADER_BYTES)
        const declared = new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getUint32(0, false)
        if (declared > this.#max) {
          this.#failed = new FrameTooLargeError(declared, this.#max, frames)
          this.#chunks = []
          this.#head = 0
          this.#buffered = 0
          throw this.#failed
        }
        this.#need = declared
      }
      if (this.#buffered < this.#need) return frames
      frames.push(this.#take(this.#need))
      this.#need = undefined
    }
  }

  /** Removes the first n buffered bytes (n ≤ buffered) and returns them as one fresh array. */
  #take (n: number): Uint8Array {
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const head = this.#chunks[this.#head]
      assert(head !== undefined, 'FrameDecoder: fewer bytes buffered than counted')
      const used = Math.min(head.length, n - filled)
      out.set(head.subarray(0, used), filled)
      filled += used
      if (used === head.length) this.#head++
      else this.#chunks[this.#head] = head.subarray(used)
    }
    this.#buffered -= n
    if (this.#head === this.#chunks.length) {
      this.#chunks = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head)
      this.#head = 0
    }
    return out
  }
}
