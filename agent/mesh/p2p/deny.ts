// mesh.deny_peers_file: peers this agent refuses (an operator cutting off a misbehaving host, the
// harness partitioning a local fleet). The file is re-read on a timer while set; a peer in it is
// refused by libp2p's connection gater on dial and on accept, and its open connections are closed.
// A missing or unreadable file denies no one: a typo must not cut a host off the fleet.
import { readFile } from 'node:fs/promises'
import type { Libp2pOptions } from 'libp2p'

type ConnectionGater = NonNullable<Libp2pOptions['connectionGater']>
type PeerId = Parameters<NonNullable<ConnectionGater['denyDialPeer']>>[0]

export const DENY_LIMITS = {
  /** Bytes read from the file: 10,000 peer ids of ~53 characters fit with room to spare. */
  maxFileBytes: 1024 * 1024,
  /** Peers denied at once. */
  maxPeers: 10_000,
}

/** Re-read period while the file is set, 500 ms: a partition begins and heals within a probe round or two. */
export const DENY_POLL_MS = 500

/** A libp2p peer id in its string form (base58btc multihash or base32 CID): no spaces, bounded. */
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{20,128}$|^b[a-z2-7]{20,128}$/

/** The peer ids in the file's text: one per line; blank lines and `#` comments skipped; bad lines ignored. */
export function parseDenyFile (text: string): Set<string> {
  const out = new Set<string>()
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim()
    if (line === '' || !PEER_ID.test(line)) continue
    out.add(line)
    if (out.size >= DENY_LIMITS.maxPeers) break
  }
  return out
}

/** The current deny set, as the gater reads it. */
export class DenyList {
  #peers: ReadonlySet<string> = new Set()

  has (peer: string): boolean { return this.#peers.has(peer) }
  get size (): number { return this.#peers.size }

  /** Replaces the set; returns the peers newly denied (their connections must be closed). */
  replace (next: ReadonlySet<string>): string[] {
    const added = [...next].filter((p) => !this.#peers.has(p))
    this.#peers = next
    return added
  }
}

/** The gater: every way a connection to or from a denied peer is made, refused. */
export function denyGater (list: DenyList): ConnectionGater {
  const denied = (p: PeerId): boolean => list.has(p.toString())
  return {
    denyDialPeer: denied,
    denyOutboundConnection: denied,
    denyInboundEncryptedConnection: denied,
    denyOutboundEncryptedConnection: denied,
    denyInboundUpgradedConnection: denied,
    denyOutboundUpgradedConnection: denied,
  }
}

/**
 * Re-reads `path` every `everyMs` into `list`; `onDenied` gets the peers newly denied. Reads never
 * overlap; stop() ends it. A read error (no file yet) counts as an empty file.
 */
export class DenyFileWatcher {
  readonly #path: string
  readonly #list: DenyList
  readonly #everyMs: number
  readonly #onDenied: (peers: string[]) => void
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  constructor (o: { path: string, list: DenyList, everyMs?: number, onDenied: (peers: string[]) => void }) {
    this.#path = o.path
    this.#list = o.list
    this.#everyMs = o.everyMs ?? DENY_POLL_MS
    this.#onDenied = o.onDenied
  }

  /** Reads the file once now, then on the timer. */
  async start (): Promise<void> {
    await this.poll()
    this.#schedule()
  }

  /** One read; applied at once. */
  async poll (): Promise<void> {
    let text = ''
    try {
      const bytes = await readFile(this.#path)
      text = bytes.subarray(0, DENY_LIMITS.maxFileBytes).toString('utf8')
    } catch {
      text = ''
    }
    if (this.#stopped) return
    const added = this.#list.replace(parseDenyFile(text))
    if (added.length > 0) this.#onDenied(added)
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
  }

  #schedule (): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      void this.poll().finally(() => { this.#schedule() })
    }, this.#everyMs)
    this.#timer.unref()
  }
}
