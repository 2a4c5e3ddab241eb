// The real half of bench:mesh: N `shoal agent` processes on loopback (10 per core, at most 50). Times come from
// the agents' own JSON logs (pino's `time`, the same host clock for all), so a figure is when the
// agent's fleet view changed, not when this script happened to poll it.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemberState } from '../../proto/gen/shoal_pb.js'
import { LocalFleet, type LocalAgent, type LogLine } from '../../agent/demo/local-fleet.js'
import { waitUntil } from '../../agent/lib/wait.js'

export interface RealBenchResult {
  agents: number
  converge_ms: number
  propagation_p50_ms: number
  propagation_p99_ms: number
  failover_p50_ms: number
  failover_p99_ms: number
  rounds: { propagation: number, failover: number }
}

export function percentile (values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

interface Seen { agent: number, line: LogLine }

export async function runRealBench (o: { agents: number, faults: number, failovers: number, log?: (s: string) => void }): Promise<RealBenchResult> {
  const say = o.log ?? (() => {})
  const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-mesh-'))
  const seen: Seen[] = []
  const t0 = Date.now()
  const fleet = await LocalFleet.start({
    agents: o.agents,
    dir,
    logLevel: 'info',
    batch: 8,
    onLog: (a: LocalAgent, line: LogLine) => {
      if (typeof line.kind === 'string' && (line.kind === 'health' || line.kind === 'lease-acquired' || line.kind === 'coordinator')) seen.push({ agent: a.index, line })
    },
  })
  try {
    const converged = async (n: number): Promise<string | undefined> => {
      let c: string | undefined
      for (const a of fleet.running()) {
        const s = await fleet.status(a.index)
        if (s === undefined || s.alive !== n || s.coordinator?.coordinator === '' || s.coordinator === undefined) return undefined
        if (c !== undefined && s.coordinator.coordinator !== c) return undefined
        // The council has repaired itself (no dead member), so the next kill is a fair one.
        const alive = new Set(s.nodes.filter((n) => n.state === MemberState.ALIVE).map((n) => n.id))
        if (!(s.coordinator.council?.members ?? []).every((m) => alive.has(m))) return undefined
        c = s.coordinator.coordinator
      }
      return c
    }
    const probe = fleet.probe
    say(`probe timing: ${probe === undefined ? 'the agent default (250ms, 100ms)' : `${probe.interval}, ${probe.timeout} (many agents per core; docs/mesh.md)`}`)
    await waitUntil(`${o.agents} agents to converge`, async () => (await converged(o.agents)) !== undefined, { timeoutMs: 180_000, everyMs: 500 })
    const convergeMs = Date.now() - t0
    say(`converged: ${o.agents} agents in ${(convergeMs / 1000).toFixed(1)} s`)

    const propagation: number[] = []
    for (let k = 0; k < o.faults; k++) {
      // Faults hit the high end and kills the coordinators: an unhealthy agent is not eligible, so
      // faulting the agents the kills need would empty the council rather than test failover.
      const victim = fleet.agents[o.agents - 1 - (k % Math.max(1, o.agents - 1))]!
      const from = seen.length
      victim.machine.lose(k % 8)
      victim.machine.write(victim.statePath)
      await waitUntil(`fault ${k} on ${victim.name} to reach every agent`, () => {
        const got = new Set(seen.slice(from).filter((s) => s.line.node === victim.peerId && String(s.line.msg).includes('unhealthy')).map((s) => s.agent))
        return fleet.running().every((a) => got.has(a.index))
      }, { timeoutMs: 30_000, everyMs: 50 })
      const lines = seen.slice(from).filter((s) => s.line.node === victim.peerId && String(s.line.msg).includes('unhealthy'))
      const origin = lines.find((s) => s.agent === victim.index)!.line.time
      for (const a of fleet.running()) {
        if (a.index === victim.index) continue
        const first = lines.find((s) => s.agent === a.index)!
        propagation.push(first.line.time - origin)
      }
      say(`fault ${k + 1}/${o.faults}: ${victim.name} unhealthy, seen by all; p99 so far ${percentile(propagation, 99)} ms`)
    }

    const failover: number[] = []
    let alive = o.agents
    for (let k = 0; k < o.failovers; k++) {
      const current = await converged(alive)
      if (current === undefined) throw new Error('no agreed coordinator before a failover round')
      const old = fleet.agents.find((a) => a.peerId === current)!
      const from = seen.length
      const killedAt = Date.now()
      await fleet.kill(old.index)
      alive--
      await waitUntil(`a new coordinator after killing ${old.name}`, () =>
        seen.slice(from).some((s) => s.line.kind === 'lease-acquired' && s.agent !== old.index), { timeoutMs: 30_000, everyMs: 50 })
      const acquired = seen.slice(from).find((s) => s.line.kind === 'lease-acquired' && s.agent !== old.index)!
      failover.push(acquired.line.time - killedAt)
      say(`failover ${k + 1}/${o.failovers}: ${old.name} killed, ${fleet.agents[acquired.agent]!.name} acting after ${acquired.line.time - killedAt} ms`)
      await waitUntil('the fleet to agree again', async () => (await converged(alive)) !== undefined, { timeoutMs: 60_000, everyMs: 500 })
    }
    return {
      agents: o.agents,
      converge_ms: convergeMs,
      propagation_p50_ms: percentile(propagation, 50),
      propagation_p99_ms: percentile(propagation, 99),
      failover_p50_ms: percentile(failover, 50),
      failover_p99_ms: percentile(failover, 99),
      rounds: { propagation: propagation.length, failover: failover.length },
    }
  } finally {
    await fleet.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
