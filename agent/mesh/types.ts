// The shapes every mesh core speaks (DESIGN.md §2): inputs carry `now`, outputs are effects the
// driver carries out (libp2p in the agent, the modelled network in test/harness/sim). Cores never
// await, never read a clock and never touch the network or the disk.
import type { MeshMessage } from '../../proto/gen/shoal_pb.js'

/** A libp2p peer id, as a string. Stable across restarts: the key lives in the store. */
export type NodeId = string

/** The gossipsub topics (`shoal/<fleet>/<topic>/1`). */
export type Topic = 'members' | 'health' | 'coord'

/** A MeshMessage body: `{ case: 'ping', value: Ping }`, etc. The driver adds fleet, sender, time. */
export type Body = Exclude<MeshMessage['body'], { case: undefined }>
export type BodyCase = Body['case']
export type BodyOf<C extends BodyCase> = Extract<Body, { case: C }>['value']

/** A message to one node over a direct stream. Fire and forget: loss is the core's problem. */
export interface Send { readonly to: NodeId, readonly body: Body }

/** A message to every subscriber of a topic (gossipsub). */
export interface Publish { readonly topic: Topic, readonly body: Body }

/** What the outside world sees of a member change (for the fleet view, events, metrics). */
export interface MemberChange {
  readonly node: NodeId
  readonly from: MemberStateName | undefined
  readonly to: MemberStateName
  readonly incarnation: number
  /** Who said so (the node itself for alive refutations). */
  readonly reporter: NodeId
}

export type MemberStateName = 'alive' | 'suspect' | 'dead' | 'left'
