// What both ends of the admin socket agree on, apart from the messages themselves (proto/shoal.proto)
// and the framing (frame.ts). docs/admin-socket.md is the operator's description.

/**
 * Bumped only for a change an older peer would misread. Adding a request to the oneof is not
 * one: an older agent answers it with `bad-request` ("no operation it knows"), which is clear.
 */
export const ADMIN_PROTOCOL_VERSION = 1

/** Where the agent listens and the CLI connects unless told otherwise (--socket, SHOAL_ADMIN_SOCKET). */
export const DEFAULT_ADMIN_SOCKET_PATH = '/run/shoal/admin.sock'

/** Owner and group read/write, nobody else: connecting to a Unix socket needs write permission. */
export const DEFAULT_ADMIN_SOCKET_MODE = 0o660

/** The `code` of an AdminError. Clients should treat a code they do not know as `internal`. */
export type AdminErrorCode =
  | 'bad-request' // the frame or the message in it could not be read; the agent closes the connection
  | 'unsupported-version' // the request's version is not ADMIN_PROTOCOL_VERSION
  | 'busy' // too many connections open, or too many commands waiting on the coordinator; try again
  | 'internal' // the agent failed answering a well-formed request
  // Fleet requests (agent/admin/fleet.ts); the connection stays open after each.
  | 'mesh-off' // this agent runs without a mesh (mesh.key_file not set): it knows only itself
  | 'unknown-node' // no node matches the id, name or prefix given
  | 'ambiguous-node' // more than one node matches; the message names them
  | 'no-coordinator' // no coordinator is known (none elected yet, or not heard from)
  | 'not-coordinator' // the node asked to coordinate is not the coordinator (it changed meanwhile)
  | 'not-member' // this agent is not (yet) a member of the fleet, or the target left it
  | 'timeout' // the command got no answer in time; it may still be applied (shoal events)
  | 'refused' // the command was refused (stale term, wrong target, ...); the message says why
  // Pool writes (scale, queue), checked by the coordinator against its pools.
  | 'unknown-pool' // the coordinator file declares no such pool; the message lists those it does
  | 'out-of-bounds' // a scale outside the pool's min_nodes..max_nodes
  | 'bad-value' // a queue depth that is not a number of jobs ≥ 0

/** Every code above, for checks and docs. */
export const ADMIN_ERROR_CODES: readonly AdminErrorCode[] = [
  'bad-request', 'unsupported-version', 'busy', 'internal',
  'mesh-off', 'unknown-node', 'ambiguous-node', 'no-coordinator', 'not-coordinator', 'not-member', 'timeout', 'refused',
  'unknown-pool', 'out-of-bounds', 'bad-value',
]
