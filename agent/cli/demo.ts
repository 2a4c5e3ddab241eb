// `shoal demo`: the README's first command. A local fleet of real agents on loopback (separate
// processes, fake GPUs, their own stores and sockets), converged, with `shoal status` printed from
// one of them. --keep leaves it running for the operator's own `shoal` commands until Ctrl-C.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalFleet } from '../demo/local-fleet.js'
import { waitUntil } from '../lib/wait.js'
import type { Output } from './gpus.js'
import type { ProcessSignals } from './agent.js'

export const DEMO_MAX_AGENTS = 50

export interface DemoOptions {
  agents: number
  keep: boolean
  /** Prints `shoal status` from one agent's socket. */
  status: (socket: string) => Promise<number>
}

export async function demoCommand (o: DemoOptions, io: Output, signals: ProcessSignals): Promise<number> {
  if (!Number.isInteger(o.agents) || o.agents < 1 || o.agents > DEMO_MAX_AGENTS) {
    io.err(`shoal demo: --agents must be 1..${DEMO_MAX_AGENTS}, got ${o.agents}\n`)
    return 2
  }
  const dir = mkdtempSync(join(tmpdir(), 'shoal-demo-'))
  io.out(`starting ${o.agents} agents on 127.0.0.1 with fake 8 x H100 GPUs (state in ${dir}) ...\n`)
  let fleet: LocalFleet | undefined
  try {
    const t0 = Date.now()
    fleet = await LocalFleet.start({ agents: o.agents, dir, fleet: 'demo' })
    const f = fleet
    await waitUntil('the agents to agree on membership and health and elect a coordinator', async () => {
      for (const a of f.agents) {
        const s = await f.status(a.index)
        if (s === undefined) return false
        if (s.alive !== o.agents || s.coordinator?.coordinator === '' || s.coordinator === undefined) return false
        if (s.healthy !== o.agents) return false // each joiner's first health report has gone round
      }
      return true
    }, { timeoutMs: 60_000, everyMs: 200 })
    io.out(`converged in ${((Date.now() - t0) / 1000).toFixed(1)} s; shoal status from ${f.agents[o.agents - 1]!.name}:\n\n`)
    const code = await o.status(f.agents[o.agents - 1]!.socket)
    if (!o.keep) return code
    io.out(`\nthe fleet keeps running; try:\n  shoal nodes --socket ${f.agents[0]!.socket}\n  shoal cordon ${f.agents[1]!.name} --socket ${f.agents[0]!.socket}\nCtrl-C stops it.\n`)
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
    await fleet?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
