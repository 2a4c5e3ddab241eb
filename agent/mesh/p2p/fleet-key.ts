// The fleet key: a 32-byte pre-shared key every agent of one fleet holds. libp2p's pnet protector
// XORs every byte on the wire with a stream derived from it (XSalsa20) before Noise even starts, so
// a host without the key cannot complete a handshake, let alone subscribe or send (DESIGN.md §11).
// The file format is go-libp2p's and IPFS's swarm.key, so `ipfs-swarm-key-gen` output works too:
//
//   /key/swarm/psk/1.0.0/
//   /base16/
//   <64 hex digits>
import { randomBytes } from 'node:crypto'
import { assert } from '../../lib/assert.js'

export const FLEET_KEY_BYTES = 32
const HEADER = '/key/swarm/psk/1.0.0/'
const CODEC = '/base16/'
/** Far more than the three lines need; a multi-megabyte "key" is the wrong file. */
const FLEET_KEY_FILE_MAX_CHARS = 1024

export class FleetKeyError extends Error {
  override name = 'FleetKeyError'
  /** Where the text came from (a path, or "config mesh.fleet_key"). */
  readonly source: string

  constructor (source: string, problem: string) {
    super(`${source}: ${problem} (expected "${HEADER}", "${CODEC}" and ${FLEET_KEY_BYTES * 2} hex digits, ` +
      'one per line; docs/mesh-network.md shows how to make one)')
    this.source = source
  }
}

/**
 * The key bytes in a fleet key file. CRLF line ends, surrounding blank lines and upper-case hex are
 * accepted (editors add them); anything else is a FleetKeyError naming the source and the problem.
 */
export function parseFleetKey (text: string, source: string): Uint8Array {
  const fail = (problem: string): FleetKeyError => new FleetKeyError(source, problem)
  if (text.length > FLEET_KEY_FILE_MAX_CHARS) throw fail(`${text.length} characters, far more than a key file holds`)
  const lines = text.split(/\r\n|\r|\n/).map((l) => l.trim()).filter((l) => l !== '')
  if (lines.length === 0) throw fail('the file is empty')
  if (lines[0] !== HEADER) throw fail(`line 1 is ${quote(lines[0]!)}, not "${HEADER}"`)
  if (lines.length < 3) throw fail(`${lines.length} non-empty lines, not 3`)
  if (lines[1] !== CODEC) {
    throw fail(`line 2 is ${quote(lines[1]!)}; only "${CODEC}" keys are supported`)
  }
  if (lines.length > 3) throw fail(`${lines.length} non-empty lines, not 3`)
  const hex = lines[2]!
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw fail('line 3 holds characters that are not hex digits')
  if (hex.length !== FLEET_KEY_BYTES * 2) {
    throw fail(`line 3 has ${hex.length} hex digits, not ${FLEET_KEY_BYTES * 2} (a ${FLEET_KEY_BYTES}-byte key)`)
  }
  const key = Uint8Array.from(Buffer.from(hex, 'hex'))
  if (key.every((b) => b === 0)) throw fail('the key is all zeros')
  return key
}

/** A new fleet key file's text, from the system's CSPRNG. */
export function generateFleetKey (): string {
  return formatFleetKey(Uint8Array.from(randomBytes(FLEET_KEY_BYTES)))
}

/** The key file text for a key (lower-case hex, trailing newline). */
export function formatFleetKey (key: Uint8Array): string {
  assert(key.length === FLEET_KEY_BYTES, `a fleet key is ${FLEET_KEY_BYTES} bytes, not ${key.length}`)
  return `${HEADER}\n${CODEC}\n${Buffer.from(key).toString('hex')}\n`
}

/** What @libp2p/pnet's preSharedKey({ psk }) takes: the key file's bytes, not the raw key. */
export function pnetKeyBytes (key: Uint8Array): Uint8Array {
  return new TextEncoder().encode(formatFleetKey(key).trimEnd())
}

function quote (text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)
}
