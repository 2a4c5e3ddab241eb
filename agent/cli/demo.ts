// `shoal demo`: the README's first command, a front end on the harness's mesh mode with the
// scenario test/scenarios/demo.yaml. Real agents on loopback (separate processes, fake GPUs, their
// own stores and sockets) and a fake cloud speaking Lambda Cloud's API: the council elects a
// coordinator, which fills the `gpu` pool (each launched instance starts a real agent); then GPU 3
// of one pool node falls off the bus (XID 79 through the fake NVML library) and the coordinator
// replaces it: cordon, provision, boot gate and join, drain, terminate. The run's report.json and
// report.html (offline) land in ./shoal-report/. --keep leaves the fleet running for the
// operator's own `shoal` commands.
import { create } from '@bufbuild/protobuf'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { EventsRequestSchema, type FleetEvent } from '../../proto/gen/shoal_pb.js'
import { runMesh, type MeshStage } from '../../test/harness/mesh/engine.js'
import { writeReport } from '../../test/harness/report/write.js'
import { readScenario, type Scenario } from '../../test/harness/scenario/load.js'
import type { LocalAgent } from '../demo/local-fleet.js'
import type { Output } from './gpus.js'
import type { ProcessSignals } from './agent.js'

export const DEMO_MAX_AGENTS = 50
/** Where the report goes unless --out says otherwise (relative to the working directory). */
export const DEMO_REPORT_DIR = 'shoal-report'

export interface DemoOptions {
  /** Control agents: the council, one of which coordinates (they are not in the pool). */
  agents: number
  keep: boolean
  /** The report's folder (default ./shoal-report). */
  out?: string
  /** Prints `shoal status` from one agent's socket. */
  status: (socket: string) => Promise<number>
  /** Prints `shoal pools`. */
  pools: (socket: string) => Promise<number>
}

/** demo.yaml, from the source tree (tsx) or next to the compiled tree (dist/agent/cli → the repository). */
export function demoScenarioPath (): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [join(here, '..', '..', 'test', 'scenarios', 'demo.yaml'), join(here, '..', '..', '..', 'test', 'scenarios', 'demo.yaml')]
  const found = candidates.find((p) => existsSync(p))
  if (found === undefined) throw new Error(`the demo scenario is missing (looked in ${candidates.join(', ')})`)
  return found
}

export async function demoCommand (o: DemoOptions, io: Output, signals: ProcessSignals): Promise<number> {
  if (!Number.isInteger(o.agents) || o.agents < 1 || o.agents > DEMO_MAX_AGENTS) {
    io.err(`shoal demo: --agents must be 1..${DEMO_MAX_AGENTS}, got ${o.agents}\n`)
    return 2
  }
  let s: Scenario
  try {
    const base = await readScenario(demoScenarioPath())
    s = { ...base, fleet: { ...base.fleet, council: o.agents } }
  } catch (err) {
    io.err(`shoal demo: ${(err as Error).message}\n`)
    return 1
  }
  const pool = s.fleet.pool
  const provider = s.providers[0]!
  io.out(`starting ${o.agents} agents on 127.0.0.1 with fake 8 x H100 GPUs (scenario ${s.file}) ...\n`)
  const t0 = Date.now()
  let injectedAt = 0
  let victim: LocalAgent | undefined
  let failed: number | undefined
  const stage = async (st: MeshStage): Promise<void> => {
    switch (st.kind) {
      case 'ready': {
        const cloud = st.clouds[0]!
        const last = st.control[st.control.length - 1]!
        io.out(`state in ${dirname(last.dir)}\n`)
        io.out(`fake cloud (Lambda Cloud API) on ${cloud.server.url}; pool ${pool.name}: ${pool.nodes} nodes of ${provider.instance_type}\n`)
        io.out(`converged in ${((Date.now() - t0) / 1000).toFixed(1)} s: the coordinator launched ${st.nodes.map((a) => a.name).join(', ')}; shoal status from ${last.name}:\n\n`)
        const code = await o.status(last.socket)
        if (code !== 0) failed = code
        return
      }
      case 'fault':
        victim = st.agents[0]
        injectedAt = st.wallMs
        io.out(`\ninjecting XID 79 (GPU 3 fell off the bus) on ${victim?.name ?? '?'} ...\n`)
        return
      case 'replaced':
        io.out(`replaced in ${((Date.now() - injectedAt) / 1000).toFixed(1)} s: ${st.old?.name ?? victim?.name ?? '?'} -> ${st.replacement?.name ?? '?'}\n`)
        return
      case 'end': {
        const last = st.control[st.control.length - 1]!
        io.out('what the coordinator did:\n\n')
        try {
          const events = await st.fleet.admin(last.index, { case: 'events', value: create(EventsRequestSchema, { sinceMs: injectedAt, limit: 500 }) })
          const story = events.response.case === 'events' ? events.response.value.events.filter(isStory) : []
          for (const e of story) io.out(`  ${new Date(e.timeMs).toISOString().slice(11, 23)}  ${e.kind.padEnd(8)} ${e.name === '' ? '' : `${e.name}: `}${e.detail}\n`)
        } catch (err) {
          io.err(`shoal demo: the events did not come: ${(err as Error).message}\n`)
        }
        io.out('\nshoal pools:\n\n')
        const code = await o.pools(last.socket)
        if (code !== 0) failed ??= code
        if (!o.keep) return
        io.out(`\nthe fleet keeps running; try:\n  shoal pools --slots --socket ${last.socket}\n  shoal scale ${pool.name} 3 --socket ${last.socket}\n  shoal events --socket ${last.socket}\nCtrl-C stops it.\n`)
        await new Promise<void>((resolve) => {
          const done = (): void => {
            signals.off('SIGINT', done)
            signals.off('SIGTERM', done)
            resolve()
          }
          signals.on('SIGINT', done)
          signals.on('SIGTERM', done)
        })
      }
    }
  }
  try {
    const out = resolve(o.out ?? DEMO_REPORT_DIR)
    const report = await runMesh(s, { dir: out, stopWhenReplaced: true, onStage: stage, reproduce: 'shoal demo' })
    const paths = await writeReport(out, report)
    io.out(`\n${report.outcome === 'pass' ? 'every invariant held' : `FAILED: ${report.violation?.message ?? 'an invariant was violated'}`}; ${report.summary.faults} fault, ${report.summary.replacements_completed} replaced, ${report.summary.provider_calls} provider calls\n`)
    io.out(`report: ${pathToFileURL(paths.html).href} (open it in a browser; it works offline)\n`)
    if (report.outcome !== 'pass') return 1
    return failed ?? 0
  } catch (err) {
    io.err(`shoal demo: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}

/** The replacement's story: the fault, the commands, the provider calls; not every member change. */
function isStory (e: FleetEvent): boolean {
  return e.kind === 'provider' || e.kind === 'command' || e.kind === 'ack' || (e.kind === 'health' && /unhealthy|cordoned|drain/.test(e.detail))
}
