// The mesh wire format: one protobuf envelope, MeshMessage (fleet, sender, time_ms, one body), on
// the three gossip topics and on direct streams. Names (topics, the stream protocol) carry the
// fleet and a version: a change to what validates is a new version, never a silent reinterpretation
// that would make old and new agents reject each other's messages and cut each other's scores.
import { create, toBinary } from '@bufbuild/protobuf'
import { MeshMessageSchema, type MeshMessage } from '../../../proto/gen/shoal_pb.js'
import type { Body, BodyCase, NodeId, Topic } from '../types.js'
import type { Channel } from './validate.js'

export { DEFAULT_MAX_SKEW_MS, MAX_DIRECT_MESSAGE_BYTES, MAX_MESSAGE_BYTES, WIRE_LIMITS } from './limits.js'
export { CHANNEL_BODIES, validateMessage, type Channel, type ValidateContext, type Verdict } from './validate.js'

export const TOPICS: readonly Topic[] = ['members', 'health', 'coord']

/** A fleet name (config mesh.fleet's rule): it goes into topic and protocol names. */
export const FLEET_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/

export function isFleetName (fleet: string): boolean {
  return FLEET_NAME_PATTERN.test(fleet)
}

/** `shoal/<fleet>/<topic>/1` */
export function topicName (fleet: string, topic: Topic): string {
  return `shoal/${fleet}/${topic}/1`
}

/** `/shoal/<fleet>/mesh/1.0.0`: the direct-stream protocol. */
export function directProtocol (fleet: string): string {
  return `/shoal/${fleet}/mesh/1.0.0`
}

export interface Envelope {
  readonly fleet: string
  readonly sender: NodeId
  readonly timeMs: number
  readonly body: Body
}

export function encodeMessage (m: Envelope): Uint8Array {
  return toBinary(MeshMessageSchema, create(MeshMessageSchema, m))
}

export class MessageTooLargeError extends Error {
  override name = 'MessageTooLargeError'
  constructor (readonly bytes: number, readonly max: number, readonly channel: Channel, readonly bodyCase: BodyCase) {
    super(`a ${bodyCase} message of ${bytes} bytes is more than the ${max} allowed on ${channel}`)
  }
}

export type { MeshMessage }
