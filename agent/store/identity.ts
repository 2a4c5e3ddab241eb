// This host's libp2p identity: an Ed25519 key made on the store's first open and kept for the
// store's life. It is never silently regenerated: a peer id that changes under the mesh looks like
// a new node, and the old one's state (votes, leases, commands) would be orphaned.
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { StoreCorruptError } from './errors.js'

export type PeerPrivateKey = Extract<ReturnType<typeof privateKeyFromProtobuf>, { type: 'Ed25519' }>

export interface Identity {
  privateKey: PeerPrivateKey
  /** The libp2p peer id, as text (12D3KooW...). */
  peerId: string
  /** When the identity was made (wall clock, ms). */
  createdMs: number
  /** True when this open made it (a new store), false when it was read back. */
  created: boolean
}

/** What the identity sublevel holds: the key as libp2p protobuf bytes, and when it was made. */
export interface IdentityRecord {
  privateKey: Uint8Array
  createdMs: number
}

export const PRIVATE_KEY_KEY = 'private-key'
export const CREATED_MS_KEY = 'created-ms'

export async function newIdentity (nowMs: number): Promise<{ identity: Identity, record: IdentityRecord }> {
  const privateKey = await generateKeyPair('Ed25519')
  const identity = { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), createdMs: nowMs, created: true }
  return { identity, record: { privateKey: privateKeyToProtobuf(privateKey), createdMs: nowMs } }
}

/** Reads back a stored identity; anything missing or undecodable is a StoreCorruptError. */
export function identityFromRecord (dir: string, key: Uint8Array | undefined, createdMs: unknown): Identity {
  if (key === undefined) throw new StoreCorruptError(dir, 'identity', 'the private key record is missing')
  let privateKey: ReturnType<typeof privateKeyFromProtobuf>
  try {
    privateKey = privateKeyFromProtobuf(key)
  } catch (err) {
    throw new StoreCorruptError(dir, 'identity', `the private key record (${key.length} bytes) does not decode`, err)
  }
  if (privateKey.type !== 'Ed25519') {
    throw new StoreCorruptError(dir, 'identity', `the private key is ${privateKey.type}, not Ed25519`)
  }
  if (typeof createdMs !== 'number' || !Number.isFinite(createdMs)) {
    throw new StoreCorruptError(dir, 'identity', `the created-ms record holds ${JSON.stringify(createdMs)}`)
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), createdMs, created: false }
}
