// The mesh's durable state in the agent's store (DESIGN.md §7): the election's term, vote and
// council, this node's incarnation, and the commands it acknowledged. A driver file: the cores
// return `persist` effects and never see LevelDB.
import { fromJson, toJson, type JsonValue } from '@bufbuild/protobuf'
import { CommandAckSchema, type CommandAck } from '../../proto/gen/shoal_pb.js'
import type { Store } from '../store/store.js'
import { StoreCorruptError } from '../store/errors.js'
import type { ElectionState } from './election/election.js'
import type { PersistedMesh } from './node.js'

const INCARNATION_KEY = 'incarnation'
const ELECTION_KEY = 'state'
/** Acks kept for apply-once; older ones are pruned (a redelivery days later is not a redelivery). */
export const MAX_KEPT_ACKS = 1024

export class MeshState {
  readonly #store: Store
  readonly #sync: boolean
  #ackCount = 0

  constructor (store: Store, options: { sync: boolean }) {
    this.#store = store
    this.#sync = options.sync
  }

  async load (): Promise<PersistedMesh | null> {
    const election = this.#store.sublevel('election')
    const incarnation = await election.get(INCARNATION_KEY)
    const state = await election.get(ELECTION_KEY)
    const acks: CommandAck[] = []
    for await (const [id, value] of this.#store.sublevel('commands').iterator()) {
      try {
        acks.push(fromJson(CommandAckSchema, value as JsonValue))
      } catch (err) {
        throw new StoreCorruptError(this.#store.dir, 'commands', `the ack stored under ${JSON.stringify(id)} does not decode`, err)
      }
    }
    this.#ackCount = acks.length
    if (incarnation === undefined && state === undefined) return acks.length === 0 ? null : { incarnation: 0, election: null, acks }
    if (incarnation !== undefined && (typeof incarnation !== 'number' || !Number.isInteger(incarnation) || incarnation < 0)) {
      throw new StoreCorruptError(this.#store.dir, 'election', `the incarnation record holds ${JSON.stringify(incarnation)}`)
    }
    return { incarnation: (incarnation as number | undefined) ?? 0, election: parseElectionState(this.#store.dir, state), acks }
  }

  /** Everything in one batch, synced: a vote must not be lost to a power cut after its reply left. */
  async save (p: { incarnation?: number, election?: ElectionState, ack?: CommandAck }): Promise<void> {
    const ops: Array<{ type: 'put', sublevel: 'election' | 'commands', key: string, value: unknown }> = []
    if (p.incarnation !== undefined) ops.push({ type: 'put', sublevel: 'election', key: INCARNATION_KEY, value: p.incarnation })
    if (p.election !== undefined) ops.push({ type: 'put', sublevel: 'election', key: ELECTION_KEY, value: p.election })
    if (p.ack !== undefined) ops.push({ type: 'put', sublevel: 'commands', key: ackKey(p.ack), value: toJson(CommandAckSchema, p.ack) })
    if (ops.length === 0) return
    await this.#store.batch(ops, { sync: this.#sync || p.election !== undefined })
    if (p.ack !== undefined && ++this.#ackCount > MAX_KEPT_ACKS * 2) await this.#pruneAcks()
  }

  async #pruneAcks (): Promise<void> {
    const all: Array<{ key: string, time: number }> = []
    for await (const [key, value] of this.#store.sublevel('commands').iterator()) {
      all.push({ key, time: typeof value === 'object' && value !== null ? Number((value as { timeMs?: unknown }).timeMs ?? 0) : 0 })
    }
    all.sort((a, b) => a.time - b.time)
    const drop = all.slice(0, Math.max(0, all.length - MAX_KEPT_ACKS))
    await this.#store.batch(drop.map((d) => ({ type: 'del' as const, sublevel: 'commands' as const, key: d.key })), { sync: false })
    this.#ackCount = all.length - drop.length
  }
}

function ackKey (ack: CommandAck): string {
  return ack.id
}

function parseElectionState (dir: string, v: unknown): ElectionState | null {
  if (v === undefined) return null
  const bad = (why: string): never => { throw new StoreCorruptError(dir, 'election', `the election state ${why}`) }
  if (typeof v !== 'object' || v === null) return bad('is not a record')
  const r = v as Record<string, unknown>
  if (typeof r.term !== 'number' || !Number.isInteger(r.term) || r.term < 0) return bad(`has a bad term ${JSON.stringify(r.term)}`)
  if (r.votedFor !== null && typeof r.votedFor !== 'string') return bad('has a bad votedFor')
  let council: ElectionState['council'] = null
  if (r.council !== null && r.council !== undefined) {
    const c = r.council as Record<string, unknown>
    if (typeof c.epoch !== 'number' || !Array.isArray(c.members) || !c.members.every((m) => typeof m === 'string')) return bad('has a bad council')
    council = { epoch: c.epoch, members: c.members as string[] }
  }
  return { term: r.term, votedFor: r.votedFor as string | null, council }
}

