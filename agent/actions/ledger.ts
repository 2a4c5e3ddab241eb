// The command ledger (a core): which coordinator commands this node has applied, so a command
// delivered twice (a resend, a duplicated message, a new coordinator re-issuing an intent) runs its
// hook once, and a command from a term older than the highest this node has seen is refused
// (DESIGN.md §5: fencing by term). It also holds what the applied commands say about this node:
// cordoned, draining, drained, which the node gossips in its HealthUpdate.
//
// The driver's order (persist before you speak): decide → started → run the hook → record the ack
// and persist it → send it. Only final acks (applied, failed) are recorded; a refusal is about one
// delivery, not about the command, so a later delivery in a current term may still apply it.
import { create } from '@bufbuild/protobuf'
import {
  CommandAckSchema,
  CommandKind,
  CommandStatus,
  type Command,
  type CommandAck,
} from '../../proto/gen/shoal_pb.js'
import { assert } from '../lib/assert.js'
import { kindName } from '../mesh/command-id.js'
import type { NodeId } from '../mesh/types.js'

export interface CommandLedgerLimits {
  /**
   * Final acks remembered, oldest forgotten first. A duplicate older than this many later commands
   * would run again; commands are rare (a few per node per day), so 1,024 covers months.
   */
  maxEntries: number
  /**
   * This node's peer id. When given, a command for another node is refused and refusals name this
   * node; without it, refusals name the command's target and targets are not checked.
   */
  self?: NodeId
}

export type LedgerDecision =
  | { kind: 'apply' }
  | { kind: 'duplicate', ack: CommandAck }
  | { kind: 'in-progress' }
  | { kind: 'refuse', ack: CommandAck }

/** Ids are derived from the intent (agent/mesh/command-id.ts): a few dozen characters. */
export const COMMAND_ID_MAX_CHARS = 256

/** Commands applied at once on one node (a cordon while a drain runs, say); more is a bug. */
const MAX_IN_PROGRESS = 64

const KINDS: ReadonlySet<CommandKind> = new Set([CommandKind.CORDON, CommandKind.UNCORDON, CommandKind.DRAIN])

export class CommandLedger {
  readonly #limits: CommandLedgerLimits
  /** Final acks by command id, in the order recorded (Map keeps insertion order: oldest first). */
  readonly #acks = new Map<string, CommandAck>()
  readonly #inProgress = new Map<string, Command>()
  #cordoned = false
  #draining = false
  #drained = false

  /** `restored`: the final acks persisted earlier, oldest first. Refusals among them are skipped. */
  constructor (restored: readonly CommandAck[], limits: CommandLedgerLimits) {
    assert(Number.isSafeInteger(limits.maxEntries) && limits.maxEntries >= 1, `CommandLedger: maxEntries must be a positive integer, got ${limits.maxEntries}`)
    this.#limits = limits
    for (const ack of restored) {
      if (ack.status === CommandStatus.APPLIED || ack.status === CommandStatus.FAILED) this.#keep(ack)
    }
  }

  /**
   * What to do with a delivered command. `highestTerm`: the election core's fencing term
   * (`Election.term`: the highest coordinator term it follows), after taking the command's own
   * term into account.
   */
  decide (cmd: Command, highestTerm: number, now: number): LedgerDecision {
    const known = this.#acks.get(cmd.id)
    if (known !== undefined) {
      // One id, one intent: the same id for another action is a bug or a forgery, never a redelivery.
      if (known.kind !== cmd.kind) return this.#refuse(cmd, now, `command id ${cmd.id} was already used for a ${kindName(known.kind)}`)
      return { kind: 'duplicate', ack: known }
    }
    if (this.#inProgress.has(cmd.id)) return { kind: 'in-progress' }
    const invalid = this.#invalid(cmd)
    if (invalid !== undefined) return this.#refuse(cmd, now, invalid)
    if (cmd.term < highestTerm) {
      return this.#refuse(cmd, now, `stale term ${cmd.term}: this node has seen term ${highestTerm}`)
    }
    if (this.#limits.self !== undefined && cmd.target !== this.#limits.self) {
      return this.#refuse(cmd, now, `the command is for ${cmd.target || '(no target)'}, not for this node (${this.#limits.self})`)
    }
    if (this.#inProgress.size >= MAX_IN_PROGRESS) {
      return this.#refuse(cmd, now, `${MAX_IN_PROGRESS} commands are already being applied here; try again`)
    }
    return { kind: 'apply' }
  }

  /** The driver starts applying `cmd` (decide said apply): a redelivery meanwhile is in-progress. */
  started (cmd: Command): void {
    assert(!this.#acks.has(cmd.id) && !this.#inProgress.has(cmd.id), `CommandLedger.started: ${cmd.id} already known`)
    assert(this.#inProgress.size < MAX_IN_PROGRESS, 'CommandLedger.started: too many commands in progress (decide refuses more)')
    this.#inProgress.set(cmd.id, cmd)
  }

  /** The final ack of a started command (or a replayed one), persisted by the driver before it is sent. */
  record (ack: CommandAck): void {
    assert(ack.status === CommandStatus.APPLIED || ack.status === CommandStatus.FAILED,
      `CommandLedger.record: only applied or failed acks are final, got status ${ack.status} for ${ack.id}`)
    assert(!this.#acks.has(ack.id), `CommandLedger.record: ${ack.id} recorded twice`)
    const started = this.#inProgress.get(ack.id)
    assert(started === undefined || started.kind === ack.kind, `CommandLedger.record: ${ack.id} started as kind ${started?.kind}, acked as ${ack.kind}`)
    this.#inProgress.delete(ack.id)
    this.#keep(ack)
  }

  /** Work should not be placed here: a cordon or a drain applied and not undone (or a drain running). */
  get cordoned (): boolean { return this.#cordoned || this.#drainRunning() }
  /** A drain is running, or one finished and no uncordon came since. A failed drain does not count. */
  get draining (): boolean { return this.#draining || this.#drainRunning() }
  /** The last drain finished: its hooks report no workloads left. Cleared by an uncordon. */
  get drained (): boolean { return this.#drained }

  /** Final acks remembered (for tests and metrics). */
  get size (): number { return this.#acks.size }
  get inProgress (): number { return this.#inProgress.size }

  /** The ack recorded for a command id, if remembered. */
  ack (id: string): CommandAck | undefined { return this.#acks.get(id) }

  #keep (ack: CommandAck): void {
    this.#acks.set(ack.id, ack)
    while (this.#acks.size > this.#limits.maxEntries) {
      const oldest = this.#acks.keys().next().value
      assert(oldest !== undefined, 'CommandLedger: size above zero with no oldest entry')
      this.#acks.delete(oldest)
    }
    if (ack.status === CommandStatus.APPLIED) this.#apply(ack.kind)
  }

  /** Node state follows applied commands only: a failed command changed nothing we can vouch for. */
  #apply (kind: CommandKind): void {
    switch (kind) {
      case CommandKind.CORDON:
        this.#cordoned = true
        break
      case CommandKind.UNCORDON:
        this.#cordoned = false
        this.#draining = false
        this.#drained = false
        break
      case CommandKind.DRAIN:
        // An applied drain is a finished one: the driver acks it once no workloads are left.
        this.#cordoned = true
        this.#draining = true
        this.#drained = true
        break
      default:
        // A kind from a newer agent's journal: it said nothing about these flags.
        break
    }
  }

  #drainRunning (): boolean {
    for (const c of this.#inProgress.values()) if (c.kind === CommandKind.DRAIN) return true
    return false
  }

  #invalid (cmd: Command): string | undefined {
    if (cmd.id === '' || cmd.id.length > COMMAND_ID_MAX_CHARS) return `a command id is 1..${COMMAND_ID_MAX_CHARS} characters, got ${cmd.id.length}`
    if (!KINDS.has(cmd.kind)) return `unknown command kind ${cmd.kind} (this agent applies cordon, uncordon, drain)`
    if (!Number.isSafeInteger(cmd.term) || cmd.term < 1) return `a command's term is a whole number from 1, got ${cmd.term}`
    return undefined
  }

  #refuse (cmd: Command, now: number, detail: string): LedgerDecision {
    return {
      kind: 'refuse',
      ack: create(CommandAckSchema, {
        id: cmd.id,
        term: cmd.term,
        node: this.#limits.self ?? cmd.target,
        status: CommandStatus.REFUSED,
        detail,
        timeMs: now,
        kind: cmd.kind,
      }),
    }
  }
}
