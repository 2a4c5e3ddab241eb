// A fleet of real `shoal agent` processes on loopback, each with its own store, admin socket and
// fake GPU machine: the README's demo, the 20-agent test and the 50-agent benchmark all run it.
// Processes, not in-process agents, because that is what an operator runs: one agent per host,
// one NVML per process, and a SIGKILL that really kills.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { create } from '@bufbuild/protobuf'
import { AdminRequestSchema, StatusRequestSchema, type AdminRequest, type AdminResponse, type FleetStatus } from '../../proto/gen/shoal_pb.js'
import { FAKE_LIBRARY, FAKE_STATE_ENV, FakeMachine } from '../../native/fake/machine.js'
import { adminRequest } from '../admin/client.js'
import { ADMIN_PROTOCOL_VERSION } from '../admin/protocol.js'
import { generateFleetKey } from '../mesh/p2p/fleet-key.js'

export interface LocalFleetOptions {
  agents: number
  /** A fresh directory for keys, configs, stores and sockets. */
  dir: string
  fleet?: string
  /** Never below info: the fleet learns each agent's peer id and addresses from its `mesh started` line. */
  logLevel?: 'info' | 'debug'
  /** Extra YAML appended to every agent's config (hooks, for instance). `{dir}` is the agent's folder. */
  extraConfig?: string
  /** Agents started at once after the founder; more at once only queue on the CPU. */
  batch?: number
  /**
   * SWIM probe timing for every agent (mesh.probe_interval, probe_timeout). Default: the agent's
   * own (250ms, 100ms) up to 5 agents per core, SHARED_HOST_PROBE beyond.
   */
  probe?: { interval: string, timeout: string }
  /** Extra Node.js flags for every agent process (`--cpu-prof` to profile them). */
  nodeArgs?: string[]
  /** The pool of the agents start() launches (default: the agent's default). */
  pool?: string
  /** Called for every log line of every agent (already parsed). */
  onLog?: (agent: LocalAgent, line: LogLine) => void
}

export interface LogLine { time: number, level: number, msg: string, [k: string]: unknown }

export interface LocalAgent {
  readonly index: number
  readonly name: string
  readonly dir: string
  readonly socket: string
  readonly configPath: string
  readonly statePath: string
  readonly machine: FakeMachine
  child: ChildProcess | undefined
  peerId: string
  addrs: string[]
  /** The last lines this agent logged (bounded). */
  readonly logs: LogLine[]
  exited: Promise<number | null>
  /** node.pool and node.instance_id (null: the default), and YAML appended for this agent alone. */
  readonly node: { readonly pool: string | null, readonly instanceId: string | null, readonly extra: string, readonly labels?: Readonly<Record<string, string>> }
}

const MAX_LOG_LINES = 5000
/**
 * Probe timing for many agents on few cores. At 250ms/100ms, twenty agents on two cores answer
 * probes late, suspect and refute each other without end (about 1,000 suspicions in 20 s), and
 * that gossip keeps the cores busy: 10% of a core per agent. At 1s/400ms: none, and 3% per agent.
 */
export const SHARED_HOST_PROBE = { interval: '1s', timeout: '400ms' } as const
/** Agents per core beyond which the local fleet uses SHARED_HOST_PROBE. */
const AGENTS_PER_CORE_AT_DEFAULT_PROBE = 5
/** The fake library's event-wait polling step (2 ms by default; docs/fake-nvml.md): tens of agents on one small host would spend a core on wake-ups. */
const FAKE_WAIT_POLL_MS = 20
const AGENT_LIMIT = 200

let bundled: Promise<string> | undefined

/**
 * How to run the CLI in a child: the compiled one when this file is compiled. From source (tests,
 * benchmarks) it is bundled once per process with esbuild, never a dist/ that may be older than
 * the source under test, and not tsx per child: twenty agents each compiling their sources on
 * start cost a minute of CPU on two cores. The bundle sits two levels under the repository so the
 * addon's relative lookup (native/build/Release) still finds it.
 */
async function agentCommand (): Promise<{ exec: string, args: string[] }> {
  const here = fileURLToPath(import.meta.url)
  if (here.endsWith('.js')) return { exec: process.execPath, args: [join(dirname(here), '..', 'cli', 'main.js')] }
  bundled ??= (async () => {
    const root = resolve(dirname(here), '..', '..')
    mkdirSync(join(root, '.build'), { recursive: true })
    const out = mkdtempSync(join(root, '.build', 'cli-'))
    process.once('exit', () => { rmSync(out, { recursive: true, force: true }) })
    const { build } = await import('esbuild')
    await build({
      entryPoints: [join(root, 'agent', 'cli', 'main.ts')],
      outfile: join(out, 'main.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'error',
    })
    return join(out, 'main.mjs')
  })()
  return { exec: process.execPath, args: [await bundled] }
}

/** The children's environment: ours, less a test runner's coverage collection (tens of agents each writing V8 coverage is most of their start-up). */
function childEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_V8_COVERAGE
  return env
}

export class LocalFleet {
  readonly agents: LocalAgent[] = []
  readonly keyFile: string
  readonly #o: LocalFleetOptions
  /** The probe timing given to every agent; undefined: the agent's default. */
  readonly #probe: { interval: string, timeout: string } | undefined
  #stopped = false

  private constructor (o: LocalFleetOptions) {
    this.#o = o
    this.#probe = o.probe ?? (o.agents > AGENTS_PER_CORE_AT_DEFAULT_PROBE * availableParallelism() ? SHARED_HOST_PROBE : undefined)
    this.keyFile = join(o.dir, 'fleet.key')
  }

  static async start (o: LocalFleetOptions): Promise<LocalFleet> {
    if (!Number.isInteger(o.agents) || o.agents < 1 || o.agents > AGENT_LIMIT) throw new RangeError(`agents must be 1..${AGENT_LIMIT}, got ${o.agents}`)
    const fleet = new LocalFleet(o)
    mkdirSync(o.dir, { recursive: true })
    writeFileSync(fleet.keyFile, generateFleetKey(), { mode: 0o600 })
    try {
      const founder = fleet.#prepare(0)
      await fleet.#launch(founder, [])
      const boot = founder.addrs
      const batch = o.batch ?? 10
      for (let i = 1; i < o.agents; i += batch) {
        const group = []
        for (let j = i; j < Math.min(o.agents, i + batch); j++) group.push(fleet.#launch(fleet.#prepare(j), boot))
        await Promise.all(group)
      }
    } catch (err) {
      await fleet.stop()
      throw err
    }
    return fleet
  }

  /**
   * One more agent, joining through the founder: the agent of an instance a fake cloud launched
   * (the demo), with that instance's name and id so the coordinator can match the two.
   */
  async add (o: { name: string, pool: string, instanceId: string, extraConfig?: string, labels?: Readonly<Record<string, string>>, machine?: (m: FakeMachine) => void }): Promise<LocalAgent> {
    if (this.#stopped) throw new Error('the local fleet is stopped')
    if (this.agents.length >= AGENT_LIMIT) throw new RangeError(`a local fleet has at most ${AGENT_LIMIT} agents`)
    const a = this.#prepare(this.agents.length, o.name, { pool: o.pool, instanceId: o.instanceId, extra: o.extraConfig ?? '', ...(o.labels === undefined ? {} : { labels: o.labels }) })
    if (o.machine !== undefined) {
      o.machine(a.machine)
      a.machine.write(a.statePath)
    }
    await this.#launch(a, this.#bootAddrs(a))
    return a
  }

  /**
   * Where a (re)starting agent joins: the founder's addresses while it runs, else those of a few
   * running agents (a harness may have killed the founder). Any one that answers is enough.
   */
  #bootAddrs (self: LocalAgent): string[] {
    const founder = this.agents[0]!
    if (founder !== self && this.#isUp(founder)) return founder.addrs
    return this.running().filter((a) => a !== self && a.addrs.length > 0).slice(0, 3).flatMap((a) => a.addrs)
  }

  #isUp (a: LocalAgent): boolean {
    return a.child !== undefined && a.child.exitCode === null && a.child.signalCode === null
  }

  #prepare (index: number, name = `agent-${String(index).padStart(2, '0')}`, node?: LocalAgent['node']): LocalAgent {
    const dir = join(this.#o.dir, name)
    mkdirSync(dir, { recursive: true })
    const machine = FakeMachine.preset('dgx-h100')
    const statePath = join(dir, 'gpus.state')
    machine.write(statePath)
    const agent: LocalAgent = {
      index, name, dir, socket: join(dir, 'admin.sock'), configPath: join(dir, 'agent.yaml'), statePath, machine,
      child: undefined, peerId: '', addrs: [], logs: [], exited: Promise.resolve(null),
      node: node ?? { pool: this.#o.pool ?? null, instanceId: null, extra: '' },
    }
    this.agents[index] = agent
    return agent
  }

  #config (a: LocalAgent, bootstrap: string[]): string {
    return `node:
  name: ${a.name}
${a.node.pool === null ? '' : `  pool: ${a.node.pool}
`}${a.node.instanceId === null ? '' : `  instance_id: ${JSON.stringify(a.node.instanceId)}
`}${a.node.labels === undefined ? '' : `  labels: ${JSON.stringify(a.node.labels)}
`}  expect:
    gpus: 8
    model: H100
kmsg:
  enabled: false
store:
  dir: ${join(a.dir, 'store')}
metrics:
  listen: null
admin:
  socket: ${a.socket}
log:
  level: ${this.#o.logLevel ?? 'info'}
mesh:
  fleet: ${this.#o.fleet ?? 'local'}
  key_file: ${this.keyFile}
  listen: ["/ip4/127.0.0.1/tcp/0"]
  bootstrap: ${JSON.stringify(bootstrap)}
${this.#probe === undefined ? '' : `  probe_interval: ${this.#probe.interval}\n  probe_timeout: ${this.#probe.timeout}\n`}${(a.node.extra === '' ? this.#o.extraConfig ?? '' : a.node.extra).replaceAll('{dir}', a.dir)}`
  }

  /** Starts the agent's process and waits until its mesh is up (its peer id and addresses logged). */
  async #launch (a: LocalAgent, bootstrap: string[]): Promise<void> {
    writeFileSync(a.configPath, this.#config(a, bootstrap))
    const cmd = await agentCommand()
    const child = spawn(cmd.exec, [...(this.#o.nodeArgs ?? []), ...cmd.args, 'agent', '--config', a.configPath, '--fake'], {
      env: { ...childEnv(), [FAKE_STATE_ENV]: a.statePath, SHOAL_NVML_LIBRARY: FAKE_LIBRARY, SHOAL_FAKE_NVML_WAIT_POLL_MS: String(FAKE_WAIT_POLL_MS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    a.child = child
    a.exited = new Promise((resolve) => { child.once('exit', (code) => { resolve(code) }) })
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${a.name} did not start its mesh within 60 s; last log: ${JSON.stringify(a.logs.slice(-3))}`)) }, 60_000)
      void a.exited.then((code) => { clearTimeout(timer); reject(new Error(`${a.name} exited with ${code} before its mesh started; stderr/log: ${JSON.stringify(a.logs.slice(-5))}`)) })
      const lines = createInterface({ input: child.stdout! })
      lines.on('line', (text) => {
        let line: LogLine
        try {
          line = JSON.parse(text) as LogLine
        } catch {
          line = { time: Date.now(), level: 30, msg: text }
        }
        a.logs.push(line)
        if (a.logs.length > MAX_LOG_LINES) a.logs.splice(0, a.logs.length - MAX_LOG_LINES)
        if (line.msg === 'mesh started') {
          a.peerId = String(line.peerId)
          a.addrs = Array.isArray(line.addrs) ? line.addrs.map(String) : []
          clearTimeout(timer)
          resolve()
        }
        this.#o.onLog?.(a, line)
      })
      createInterface({ input: child.stderr! }).on('line', (text) => { a.logs.push({ time: Date.now(), level: 50, msg: `stderr: ${text}` }) })
    })
    await started
  }

  /** One admin request to one agent. */
  async admin (i: number, request: AdminRequest['request'], timeoutMs = 5000): Promise<AdminResponse> {
    const a = this.#agent(i)
    return await adminRequest(a.socket, create(AdminRequestSchema, { version: ADMIN_PROTOCOL_VERSION, request }), { timeoutMs })
  }

  /** `shoal status` of one agent, or undefined when it does not answer (not up yet, killed). */
  async status (i: number, timeoutMs = 5000): Promise<FleetStatus | undefined> {
    try {
      const r = await this.admin(i, { case: 'status', value: create(StatusRequestSchema) }, timeoutMs)
      return r.response.case === 'status' ? r.response.value : undefined
    } catch {
      return undefined
    }
  }

  /** SIGKILL (or another signal) to an agent this fleet started, by its pid. */
  async kill (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const a = this.#agent(i)
    if (a.child === undefined || a.child.exitCode !== null || a.child.signalCode !== null) return
    a.child.kill(signal)
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await a.exited
  }

  /** Starts a killed agent again on its own store: same identity, a higher incarnation. */
  async restart (i: number): Promise<void> {
    const a = this.#agent(i)
    await this.#launch(a, this.#bootAddrs(a))
  }

  /** SIGSTOP: the process stays, silent (a hung host); resume() continues it. */
  pause (i: number): void {
    const a = this.#agent(i)
    if (this.#isUp(a)) a.child!.kill('SIGSTOP')
  }

  resume (i: number): void {
    const a = this.#agent(i)
    if (this.#isUp(a)) a.child!.kill('SIGCONT')
  }

  /** The agent's pid while its process runs. */
  pid (i: number): number | undefined {
    const a = this.#agent(i)
    return this.#isUp(a) ? a.child!.pid : undefined
  }

  /** The probe timing the agents run with (undefined: the agent's default). */
  get probe (): { interval: string, timeout: string } | undefined {
    return this.#probe
  }

  running (): LocalAgent[] {
    return this.agents.filter((a) => a.child !== undefined && a.child.exitCode === null && a.child.signalCode === null)
  }

  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    const live = this.running()
    // A paused agent would not see SIGTERM until continued.
    for (const a of live) a.child!.kill('SIGCONT')
    for (const a of live) a.child!.kill('SIGTERM')
    const deadline = new Promise<void>((resolve) => { setTimeout(resolve, 10_000).unref() })
    await Promise.race([Promise.all(live.map(async (a) => await a.exited)), deadline])
    for (const a of this.running()) a.child!.kill('SIGKILL')
  }

  #agent (i: number): LocalAgent {
    const a = this.agents[i]
    if (a === undefined) throw new RangeError(`no agent ${i} in this fleet of ${this.agents.length}`)
    return a
  }
}
