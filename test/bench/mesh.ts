// npm run bench:mesh: the simulated 1,000-agent fleet (the real cores in virtual time) and real
// agent processes on loopback (50 where the host has 5 cores or more). Prints figures as it goes and ends with one JSON line.
// SHOAL_BENCH_REAL_AGENTS / SHOAL_BENCH_SIM_AGENTS change the sizes (e.g. for a quick look).
import { availableParallelism } from 'node:os'
import { runSimBench } from './mesh-sim.js'
import { runRealBench } from './mesh-real.js'

const simAgents = Number(process.env.SHOAL_BENCH_SIM_AGENTS ?? 1000)
// Real agents share this host's cores: past about 10 per core (3.5% each at steady state, more
// while starting) they starve each other and never converge (docs/mesh.md, "one machine is not a
// fleet"). 50 on a 5-core machine or larger.
const realAgents = Number(process.env.SHOAL_BENCH_REAL_AGENTS ?? Math.min(50, 10 * availableParallelism()))
const log = (s: string): void => { process.stderr.write(`bench:mesh ${s}\n`) }

log(`simulated fleet: ${simAgents} agents`)
const sim = await runSimBench({ agents: simAgents, log })
log(`sim${simAgents}: ${JSON.stringify(sim)}`)
log(`real fleet: ${realAgents} agent processes on 127.0.0.1 (${availableParallelism()} cores${process.env.SHOAL_BENCH_REAL_AGENTS === undefined ? '; 10 per core, at most 50' : ''})`)
const real = await runRealBench({ agents: realAgents, faults: 5, failovers: 3, log })
log(`real${realAgents}: ${JSON.stringify(real)}`)

const round = (n: number): number => Math.round(n * 10) / 10
process.stdout.write(`${JSON.stringify({
  bench: 'mesh',
  [`sim${simAgents}`]: {
    propagation_p50_ms: round(sim.propagation_p50_ms),
    propagation_p99_ms: round(sim.propagation_p99_ms),
    detect_p99_ms: round(sim.detect_p99_ms),
    failover_p99_ms: round(sim.failover_p99_ms),
    kbit_per_agent: round(sim.kbit_per_agent),
  },
  [`real${realAgents}`]: {
    propagation_p50_ms: round(real.propagation_p50_ms),
    propagation_p99_ms: round(real.propagation_p99_ms),
    failover_p99_ms: round(real.failover_p99_ms),
    converge_ms: real.converge_ms,
  },
})}\n`)
