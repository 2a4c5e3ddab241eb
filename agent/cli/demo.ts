// `shoal demo`: the README's first command. A local fleet of real agents on loopback (separate
// processes, fake GPUs, their own stores and sockets) and a fake cloud speaking Lambda Cloud's API.
// The control agents elect a coordinator, which fills the `gpu` pool from the fake cloud (each
// launched instance starts a real agent); then GPU 3 of one pool node falls off the bus (XID 79
// through the fake NVML library) and the coordinator replaces it: cordon, provision, boot gate and
// join, drain, terminate. --keep leaves it all running for the operator's own `shoal` commands.
import { create } from '@bufbuild/protobuf'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventsRequestSchema, PoolsRequestSchema, type FleetEvent, type PoolStatus } from '../../proto/gen/shoal_pb.js'
import { FakeCloud, type FakeInstance } from '../../coordinator/providers/fake-cloud.js'
import { startLambdaServer, type LambdaServer } from '../../coordinator/providers/lambda-server.js'
import { LocalFleet, type LocalAgent } from '../demo/local-fleet.js'
import { waitUntil } from '../lib/wait.js'
import type { Output } from './gpus.js'
import type { ProcessSignals } from './agent.js'

export const DEMO_MAX_AGENTS = 50
/** Nodes in the demo's `gpu` pool, each one agent process on a fake 8 x H100 machine. */
export const DEMO_POOL_NODES = 2
const POOL = 'gpu'
const REGION = 'us-east-3'
const TYPE = 'gpu_8x_h100_sxm5'
const API_KEY = 'demo-key'

export interface DemoOptions {
  /** Control agents: the council, one of which coordinates (they are not in the pool). */
  agents: number
  keep: boolean
  /** Prints `shoal status` from one agent's socket. */
  status: (socket: string) => Promise<number>
  /** Prints `shoal pools`. */
  pools: (socket: string) => Promise<number>
}

/** The coordinator file every control agent gets: one provider (the fake Lambda), one pool. */
function coordinatorFile (endpoint: string, keyFile: string): string {
  return `# written by shoal demo: the fake cloud on loopback, one pool of ${DEMO_POOL_NODES}
providers:
  - name: lambda
    kind: lambda
    endpoint: ${endpoint}
    api_key_file: ${keyFile}
    ssh_key_name: demo
    launch_interval: 0s        # the fake cloud has no launch rate limit
    request_interval: 0s
reconcile:
  interval: 1s
  list_interval: 2s            # quick to notice the instances it launched
pools:
  - name: ${POOL}
    min_nodes: ${DEMO_POOL_NODES}
    max_nodes: ${DEMO_POOL_NODES + 2}
    providers:
      - {provider: lambda, region: ${REGION}, instance_type: ${TYPE}}
    gpus_per_node: 8
    gpu_model: H100
    health: {boot_deadline: 2m, dead_replace_after: 30s}
`
}

export async function demoCommand (o: DemoOptions, io: Output, signals: ProcessSignals): Promise<number> {
  if (!Number.isInteger(o.agents) || o.agents < 1 || o.agents > DEMO_MAX_AGENTS) {
    io.err(`shoal demo: --agents must be 1..${DEMO_MAX_AGENTS}, got ${o.agents}\n`)
    return 2
  }
  const dir = mkdtempSync(join(tmpdir(), 'shoal-demo-'))
  io.out(`starting ${o.agents} agents on 127.0.0.1 with fake 8 x H100 GPUs (state in ${dir}) ...\n`)
  let fleet: LocalFleet | undefined
  let cloud: LambdaServer | undefined
  const launches: Array<Promise<unknown>> = []
  try {
    const t0 = Date.now()
    const byInstance = new Map<string, LocalAgent>()
    const early: FakeInstance[] = []
    const boot = (f: LocalFleet, inst: FakeInstance): void => {
      launches.push(f.add({ name: inst.name, pool: POOL, instanceId: inst.id, extraConfig: '  coordinator_eligible: false\n' })
        .then((a) => { byInstance.set(inst.id, a) })
        .catch((err: unknown) => { io.err(`shoal demo: the agent of ${inst.name} did not start: ${(err as Error).message}\n`) }))
    }
    const fake = new FakeCloud({ provider: 'lambda', seed: 'demo', offerings: [{ region: REGION, instanceType: TYPE, capacity: 'unlimited', pricePerHour: 23.92 }], idPrefix: '' })
    cloud = await startLambdaServer({
      cloud: fake,
      apiKey: API_KEY,
      // Each instance the coordinator launches is a real agent process on a fake machine (the
      // coordinator may launch before the control agents have all started: those wait for them).
      onLaunch: (inst: FakeInstance) => {
        if (fleet === undefined) early.push(inst)
        else boot(fleet, inst)
      },
      onTerminate: (inst: FakeInstance) => {
        const a = byInstance.get(inst.id)
        if (a !== undefined && fleet !== undefined) void fleet.kill(a.index, 'SIGTERM')
      },
    })
    const keyFile = join(dir, 'lambda.key')
    writeFileSync(keyFile, `${API_KEY}\n`, { mode: 0o600 })
    const poolsFile = join(dir, 'coordinator.yaml')
    writeFileSync(poolsFile, coordinatorFile(`${cloud.url}/api/v1`, keyFile))
    io.out(`fake cloud (Lambda Cloud API) on ${cloud.url}; pool ${POOL}: ${DEMO_POOL_NODES} nodes of ${TYPE}\n`)
    fleet = await LocalFleet.start({ agents: o.agents, dir, fleet: 'demo', pool: 'control', extraConfig: `coordinator:\n  file: ${poolsFile}\n` })
    const f = fleet
    for (const inst of early.splice(0)) boot(f, inst)
    const control = f.agents.slice(0, o.agents)
    const last = control[control.length - 1]!
    const pool = async (): Promise<PoolStatus | undefined> => {
      try {
        const r = await f.admin(last.index, { case: 'pools', value: create(PoolsRequestSchema) })
        return r.response.case === 'pools' ? r.response.value.report?.pools.find((p) => p.name === POOL) : undefined
      } catch {
        return undefined
      }
    }
    // Converged: every control agent sees every agent alive and healthy, and the pool is full.
    const converged = async (): Promise<boolean> => {
      const p = await pool()
      if (p === undefined || p.current !== DEMO_POOL_NODES || p.healthy !== DEMO_POOL_NODES || p.replacing !== 0) return false
      const total = f.running().length
      for (const a of control) {
        const s = await f.status(a.index)
        if (s === undefined || s.alive !== total || s.healthy !== total || s.coordinator?.coordinator === '' || s.coordinator === undefined) return false
      }
      return true
    }
    await waitUntil(`the agents to elect a coordinator and fill pool ${POOL} to ${DEMO_POOL_NODES}`, converged, { timeoutMs: 120_000, everyMs: 250 })
    const nodes = [...byInstance.values()]
    io.out(`converged in ${((Date.now() - t0) / 1000).toFixed(1)} s: the coordinator launched ${nodes.map((a) => a.name).join(', ')}; shoal status from ${last.name}:\n\n`)
    const code = await o.status(last.socket)
    if (code !== 0) return code

    // The fault: GPU 3 of the first pool node falls off the bus.
    const victim = nodes[0]!
    const t1 = Date.now()
    io.out(`\ninjecting XID 79 (GPU 3 fell off the bus) on ${victim.name} ...\n`)
    victim.machine.injectXid(3, 79)
    victim.machine.lose(3)
    victim.machine.write(victim.statePath)
    const victimInstance = [...byInstance.entries()].find(([, a]) => a === victim)![0]
    await waitUntil(`${victim.name} to be replaced`, async () => {
      const p = await pool()
      return p !== undefined && p.current === DEMO_POOL_NODES && p.healthy === DEMO_POOL_NODES && p.replacing === 0 &&
        fake.get(victimInstance, Date.now())?.terminatedMs !== null && victim.child?.exitCode !== null
    }, { timeoutMs: 120_000, everyMs: 250 })
    const replacement = [...byInstance.values()].find((a) => !nodes.includes(a))
    io.out(`replaced in ${((Date.now() - t1) / 1000).toFixed(1)} s: ${victim.name} -> ${replacement?.name ?? '?'}; what the coordinator did:\n\n`)
    const events = await f.admin(last.index, { case: 'events', value: create(EventsRequestSchema, { sinceMs: t1, limit: 500 }) })
    const story = events.response.case === 'events' ? events.response.value.events.filter(isStory) : []
    for (const e of story) io.out(`  ${new Date(e.timeMs).toISOString().slice(11, 23)}  ${e.kind.padEnd(8)} ${e.name === '' ? '' : `${e.name}: `}${e.detail}\n`)
    io.out('\nshoal pools:\n\n')
    const poolsCode = await o.pools(last.socket)
    if (poolsCode !== 0) return poolsCode
    if (!o.keep) return 0
    io.out(`\nthe fleet keeps running; try:\n  shoal pools --slots --socket ${last.socket}\n  shoal scale ${POOL} 3 --socket ${last.socket}\n  shoal events --socket ${last.socket}\nCtrl-C stops it.\n`)
    await new Promise<void>((resolve) => {
      const done = (): void => {
        signals.off('SIGINT', done)
        signals.off('SIGTERM', done)
        resolve()
      }
      signals.on('SIGINT', done)
      signals.on('SIGTERM', done)
    })
    return 0
  } catch (err) {
    io.err(`shoal demo: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  } finally {
    await Promise.allSettled(launches)
    await fleet?.stop()
    await cloud?.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The replacement's story: the fault, the commands, the provider calls; not every member change. */
function isStory (e: FleetEvent): boolean {
  return e.kind === 'provider' || e.kind === 'command' || e.kind === 'ack' || (e.kind === 'health' && /unhealthy|cordoned|drain/.test(e.detail))
}
