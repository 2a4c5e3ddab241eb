// Messages as the wire sees them. Every body a core emits is sized as the real MeshMessage envelope
// (fleet, sender, time, body) would be encoded; that size is what the byte accounting counts.
//
// Two modes:
// - 'copy' (fidelity): each message is encoded with toBinary and passed through the agent's own
//   gate, validateMessage, where the receiving host would run it; receivers get the decoded copy
//   (per delivery for direct messages; one frozen copy per gossip message, shared by every receiver).
// - 'share' (speed, for 1,000 agents): the size comes from messageSize (no encoding) and receivers
//   get the sender's own body object; every `checkEvery`-th message is still encoded, gated and its
//   size compared with messageSize's. Gossip bodies are frozen, so a core that mutates a message
//   it published or received fails loudly instead of corrupting every other agent's copy.
import { create, toBinary, type DescField, type DescMessage } from '@bufbuild/protobuf'
import { MeshMessageSchema, type MeshMessage } from '../../../proto/gen/shoal_pb.js'
import { DEFAULT_MAX_SKEW_MS } from '../../../agent/mesh/p2p/limits.js'
import { CHANNEL_BODIES, validateMessage, type Channel, type Verdict } from '../../../agent/mesh/p2p/validate.js'
import type { Body, BodyCase, NodeId } from '../../../agent/mesh/types.js'
import { messageSize, utf8Size, varintSize } from './size.js'

export type WireMode = 'copy' | 'share'

const BODY_FIELDS = new Map<string, DescField & { message: DescMessage }>()
for (const f of MeshMessageSchema.fields) {
  if (f.oneof !== undefined && f.fieldKind === 'message') BODY_FIELDS.set(f.localName, f)
}

/** Body sizes by body value: a body sent to several peers, or published, is sized once. */
const bodySizes = new WeakMap<object, number>()

function bodySize (body: Body): number {
  const hit = bodySizes.get(body.value)
  if (hit !== undefined) return hit
  const field = BODY_FIELDS.get(body.case)
  if (field === undefined) throw new Error(`no MeshMessage body field for ${body.case}`)
  const size = messageSize(field.message, body.value)
  bodySizes.set(body.value, size)
  return size
}

/** Encoded size of the envelope, computed: fields 1-3 plus the body (length-delimited). */
export function envelopeSize (fleet: string, sender: NodeId, timeMs: number, body: Body): number {
  const field = BODY_FIELDS.get(body.case)!
  const b = bodySize(body)
  const text = (s: string): number => (s === '' ? 0 : 1 + varintSize(utf8Size(s)) + utf8Size(s))
  return text(fleet) + text(sender) + (timeMs === 0 ? 0 : 9) + varintSize(field.number << 3) + varintSize(b) + b
}

interface Encoded { readonly sender: NodeId, readonly timeMs: number, readonly bytes: Uint8Array }
const encodings = new WeakMap<object, Encoded>()

/** The real encoding, once per (body, sender, time). */
export function encode (fleet: string, sender: NodeId, timeMs: number, body: Body): Uint8Array {
  const hit = encodings.get(body.value)
  if (hit !== undefined && hit.sender === sender && hit.timeMs === timeMs) return hit.bytes
  const bytes = toBinary(MeshMessageSchema, create(MeshMessageSchema, { fleet, sender, timeMs, body }))
  encodings.set(body.value, { sender, timeMs, bytes })
  return bytes
}

export function admit (bytes: Uint8Array, fleet: string, from: NodeId, channel: Channel, now: number): Verdict {
  return validateMessage(bytes, { fleet, from, channel, now, maxSkewMs: DEFAULT_MAX_SKEW_MS })
}

/** Freezes an object graph (typed arrays cannot be frozen and are left as they are). */
export function deepFreeze<T> (value: T): T {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || Object.isFrozen(value)) return value
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  return Object.freeze(value)
}

/** What went wrong with one message: a body the gate refused, or a size messageSize got wrong. */
export interface WireProblem { readonly bodyCase: BodyCase, readonly channel: Channel, readonly detail: string }

/**
 * One message leaving `sender`: its size, and how each receiver gets the body. `body(now)`
 * returns undefined when the gate refused it (reported through `problem`).
 */
export interface Outgoing { readonly size: number, readonly body: (now: number) => Body | undefined }

export class Wire {
  readonly mode: WireMode
  readonly fleet: string
  readonly #checkEvery: number
  readonly #problem: (p: WireProblem) => void
  #count = 0
  /** Messages encoded and gated (all of them in 'copy' mode). */
  checked = 0

  constructor (o: { fleet: string, mode: WireMode, checkEvery: number, problem: (p: WireProblem) => void }) {
    this.mode = o.mode
    this.fleet = o.fleet
    this.#checkEvery = Math.max(1, Math.floor(o.checkEvery))
    this.#problem = o.problem
  }

  direct (sender: NodeId, timeMs: number, body: Body): Outgoing {
    if (this.mode === 'copy') {
      const bytes = encode(this.fleet, sender, timeMs, body)
      this.checked++
      return {
        size: bytes.length,
        body: (now) => this.#gate(bytes, sender, 'direct', now, body.case),
      }
    }
    const size = this.#sample(sender, timeMs, body, 'direct')
    // The channel rule is cheap, so it holds for every message as on a real host.
    if (!CHANNEL_BODIES.direct.has(body.case)) {
      return { size, body: () => { this.#problem({ bodyCase: body.case, channel: 'direct', detail: `reject: a ${body.case} body does not belong on direct` }); return undefined } }
    }
    return { size, body: () => body }
  }

  /** A gossip message is gated once, at the publisher (every receiver would reach the same verdict). */
  gossip (sender: NodeId, timeMs: number, body: Body, channel: Channel): { size: number, message: MeshMessage } | undefined {
    if (this.mode === 'copy') {
      const bytes = encode(this.fleet, sender, timeMs, body)
      this.checked++
      const v = admit(bytes, this.fleet, sender, channel, timeMs)
      if (v.result !== 'accept') {
        this.#problem({ bodyCase: body.case, channel, detail: `${v.result}: ${v.reason}` })
        return undefined
      }
      return { size: bytes.length, message: deepFreeze(v.message) }
    }
    const size = this.#sample(sender, timeMs, body, channel)
    if (!CHANNEL_BODIES[channel].has(body.case)) {
      this.#problem({ bodyCase: body.case, channel, detail: `reject: a ${body.case} body does not belong on ${channel}` })
      return undefined
    }
    const message = create(MeshMessageSchema, { fleet: this.fleet, sender, timeMs, body: deepFreeze(body) })
    return { size, message }
  }

  #gate (bytes: Uint8Array, sender: NodeId, channel: Channel, now: number, bodyCase: BodyCase): Body | undefined {
    const v = admit(bytes, this.fleet, sender, channel, now)
    if (v.result === 'accept') return v.message.body as Body
    this.#problem({ bodyCase, channel, detail: `${v.result}: ${v.reason}` })
    return undefined
  }

  /** 'share' mode: the computed size, and every checkEvery-th message encoded and gated too. */
  #sample (sender: NodeId, timeMs: number, body: Body, channel: Channel): number {
    const size = envelopeSize(this.fleet, sender, timeMs, body)
    if (++this.#count % this.#checkEvery !== 0) return size
    this.checked++
    const bytes = encode(this.fleet, sender, timeMs, body)
    if (bytes.length !== size) {
      this.#problem({ bodyCase: body.case, channel, detail: `messageSize says ${size} bytes, toBinary wrote ${bytes.length}` })
    }
    // A body off its channel is reported where it is dropped, not twice.
    if (!CHANNEL_BODIES[channel].has(body.case)) return size
    const v = admit(bytes, this.fleet, sender, channel, timeMs)
    if (v.result !== 'accept') this.#problem({ bodyCase: body.case, channel, detail: `${v.result}: ${v.reason}` })
    return size
  }
}
