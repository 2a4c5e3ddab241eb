// `shoal pools`, `shoal scale POOL N|auto`, `shoal queue set POOL N`: the coordinator's pools as
// the local agent last heard them, and the operator's two pool writes, which the acting
// coordinator checks and acknowledges at once. Exit codes in FLEET_EXIT.
import { create } from '@bufbuild/protobuf'
import { AdminCommandSchema, CommandKind, PoolsRequestSchema, PoolsResponseSchema, type CommandResult } from '../../proto/gen/shoal_pb.js'
import { MAX_SCALE_NODES, poolNameProblem, SCALE_AUTO } from '../admin/fleet.js'
import { ask, READ_TIMEOUT_MS } from './ask.js'
import { reportAck, sendWrite, writeSettings, type WriteOptions } from './command.js'
import { exitOf, FLEET_EXIT, json, namesOf, type FleetReadOptions } from './fleet.js'
import { nameAndShortId } from './fleet-render.js'
import type { Output } from './gpus.js'
import { renderPools } from './pools-render.js'

/**
 * How long a pool write waits unless --timeout says otherwise: the coordinator answers at once, so
 * this is the agent's own 30 s wait for the coordinator, and a margin for its clearer `timeout`.
 */
export const POOL_WRITE_TIMEOUT_MS = 40_000

export async function poolsCommand (o: FleetReadOptions & { slots: boolean }, io: Output): Promise<number> {
  const timeoutMs = o.timeoutMs ?? READ_TIMEOUT_MS
  const r = await ask({ socketPath: o.socketPath, request: { case: 'pools', value: create(PoolsRequestSchema) }, expect: 'pools', what: 'a pools report', timeoutMs }, io)
  if (!r.ok) return exitOf(r)
  if (o.json) {
    io.out(json(PoolsResponseSchema, r.value))
    return FLEET_EXIT.ok
  }
  const nodes = r.value.report === undefined ? [] : await namesOf(o.socketPath, timeoutMs)
  io.out(renderPools(r.value.report, nodes, o.slots))
  return FLEET_EXIT.ok
}

/** `shoal scale POOL N`: the pool held at N nodes; `auto` hands it back to its autoscaler. */
export async function scaleCommand (o: WriteOptions & { size: string }, io: Output): Promise<number> {
  const value = o.size === 'auto' ? SCALE_AUTO : /^\d{1,6}$/.test(o.size) ? Number(o.size) : Number.NaN
  if (!(value === SCALE_AUTO || value <= MAX_SCALE_NODES)) {
    return usage('scale', `N is a whole number of nodes from 0 to ${MAX_SCALE_NODES}, or "auto", not "${o.size}"`, io)
  }
  const done = `scale pool ${o.target} ${value === SCALE_AUTO ? 'auto' : `to ${value}`}`
  return await poolWrite('scale', CommandKind.SCALE, done, value, o, io)
}

/** `shoal queue set POOL N`: the queue depth the pool's queue autoscaler sizes it by. */
export async function queueCommand (o: WriteOptions & { depth: string }, io: Output): Promise<number> {
  const value = /^\d{1,15}(\.\d{1,6})?$/.test(o.depth) ? Number(o.depth) : Number.NaN
  if (!Number.isFinite(value)) return usage('queue set', `N is a number of jobs, 0 or more, not "${o.depth}"`, io)
  return await poolWrite('queue set', CommandKind.QUEUE, `queue set pool ${o.target} ${value}`, value, o, io)
}

async function poolWrite (verb: string, kind: CommandKind, done: string, value: number, o: WriteOptions, io: Output): Promise<number> {
  const problem = o.target === '' ? 'give the pool: its name, as `shoal pools` shows it' : poolNameProblem(o.target)
  if (problem !== undefined) return usage(verb, problem, io)
  const settings = writeSettings(verb, o, POOL_WRITE_TIMEOUT_MS)
  if (typeof settings === 'string') return usage(verb, settings, io)
  const request = create(AdminCommandSchema, { kind, target: o.target, reason: settings.reason, value })
  const result = await sendWrite(verb, o.socketPath, request, settings.timeoutMs, '`shoal pools` or `shoal events`', io)
  if (typeof result === 'number') return result
  const by = o.json ? '' : await coordinatorOf(result, o.socketPath)
  return reportAck({ verb, subject: `pool ${o.target}`, done, by }, result, o.json, io)
}

/** " by coordinator gpu-b (E5f6g7h8)": who took the write, named where the node list knows it. */
async function coordinatorOf (result: CommandResult, socketPath: string): Promise<string> {
  const id = result.coordinator || result.ack?.node || ''
  if (id === '') return ''
  return ` by coordinator ${nameAndShortId(id, await namesOf(socketPath, READ_TIMEOUT_MS))}`
}

function usage (verb: string, message: string, io: Output): number {
  io.err(`shoal ${verb}: ${message}\n`)
  return FLEET_EXIT.usage
}
