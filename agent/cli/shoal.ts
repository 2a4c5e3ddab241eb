// The `shoal` command line: parses arguments and dispatches; each command lives in its own file.
import { parseArgs } from 'node:util'
import { DEFAULT_NVML_LIBRARY } from '../../native/nvml.js'
import { FAKE_LIBRARY } from '../../native/fake/machine.js'
import { gpusCommand, type Output } from './gpus.js'
import { healthCommand } from './health.js'
// Type only: the daemon (libp2p, the store) loads when `shoal agent` runs, not for every command.
import type { ProcessSignals } from './agent.js'
import { policyCommand } from './policy.js'
import { socketPathOf } from './ask.js'
import { coordinatorCommand, eventsCommand, FLEET_EXIT, nodeCommand, nodesCommand, statusCommand } from './fleet.js'
import { writeCommand } from './command.js'
import { poolsCommand, queueCommand, scaleCommand } from './pools.js'

export type { Output }

const USAGE = `usage: shoal <command> [options]

commands:
  agent --config FILE [--fake]
                           run the agent daemon (SIGTERM stops it, SIGHUP reloads the policy)
  gpus [--fake] [--json]   this host's GPU inventory and health, from NVML
  health [--socket PATH] [--incidents N] [--json]
                           this node's verdict, policy, boot gate, GPUs and incidents, from the
                           local agent; exits 0 healthy, 10 degraded, 11 unhealthy, 12 unknown,
                           1 agent unreachable or answered an error, 2 usage error
  policy check FILE        validate a health policy; exits 0 valid, 1 invalid
  policy default           print the built-in health policy
  demo [--agents N] [--keep] [--out DIR]
                           a local fleet on 127.0.0.1 (N council agents, default 3, and a pool
                           of 2 on a fake cloud) with fake GPUs: a fatal XID is injected, the
                           coordinator replaces the node, and the harness report is written to
                           DIR (default ./shoal-report); --keep leaves it running until Ctrl-C
  fleet-key                print a new fleet key (the file mesh.key_file names; keep it secret)

fleet commands (answered by the local agent; [--socket PATH] [--json] on each):
  status                   the fleet: coordinator, council, counts, every node
  nodes [--pool P]         every node (or one pool's): state, health, action, flags
  node ID                  one node in detail (ID: peer id, name, or a unique prefix or id end)
  events [--since 10m|TIME] [--limit N] [--node ID]
                           what changed in the fleet, oldest first (default: the last 100)
  coordinator              term, coordinator, council, this agent's role and lease
  pools [--slots]          the coordinator's pools: desired, current, health, bounds, scale
                           override, queue depth, autoscaler, breaker, notices; --slots adds
                           each pool's slots
  cordon ID [--reason TEXT] [--timeout 40s]
  uncordon ID [--reason TEXT] [--timeout 40s]
  drain ID [--reason TEXT] [--timeout 15m]
                           ask the coordinator to cordon, uncordon or drain a node; waits for
                           the node's acknowledgement
  scale POOL N|auto [--reason TEXT] [--timeout 40s]
                           hold a pool at N nodes (within its bounds), or hand it back to its
                           autoscaler
  queue set POOL N [--reason TEXT] [--timeout 40s]
                           the pool's queue depth (jobs), for its queue autoscaler
  fleet commands exit 0 ok, 1 agent unreachable or answered an error, 2 usage error,
  3 unknown or ambiguous node or unknown pool, 4 no mesh on this agent, 5 no coordinator,
  6 refused (or a scale out of the pool's bounds), 7 the node's hook failed, 8 no answer in time
  (a write may still be applied)

options:
  --config FILE  the agent's YAML config (docs/config.md)
  --fake         use Shoal's fake NVML library (8 x H100 unless SHOAL_FAKE_NVML_STATE names a state file)
  --json         machine-readable output
  --socket PATH  the agent's admin socket (default: SHOAL_ADMIN_SOCKET, else /run/shoal/admin.sock)
  --incidents N  how many recent incidents to show (default: the agent's, 10)
  --pool P       only the nodes of pool P
  --since S      events since a duration ago (10m, 2h) or an ISO-8601 time
  --limit N      at most N events, the newest (1..10000; default 100)
  --node ID      only the events about one node
  --slots        pools: each pool's slots too
  --reason TEXT  why, for the audit trail (default: "shoal <command> by $USER")
  --timeout D    how long a write waits for its acknowledgement
  --agents N     demo: how many agents (1..50)
  --keep         demo: keep the fleet running until Ctrl-C
  --out DIR      demo: where report.json and report.html go (default ./shoal-report)
  -h, --help     this text

environment:
  SHOAL_NVML_LIBRARY       path of libnvidia-ml.so.1 (default: the dynamic loader's search path)
  SHOAL_FAKE_NVML_STATE    state file scripting the fake library (see docs/fake-nvml.md)
  SHOAL_ADMIN_SOCKET       the agent's admin socket, when --socket is not given
`

export async function main (argv: string[], io: Output, env: NodeJS.ProcessEnv, signals: ProcessSignals = process): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        fake: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        config: { type: 'string' },
        socket: { type: 'string' },
        incidents: { type: 'string' },
        pool: { type: 'string' },
        since: { type: 'string' },
        limit: { type: 'string' },
        node: { type: 'string' },
        reason: { type: 'string' },
        timeout: { type: 'string' },
        agents: { type: 'string' },
        keep: { type: 'boolean', default: false },
        out: { type: 'string' },
        slots: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (err) {
    io.err(`shoal: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`)
    return 2
  }
  const [command, ...rest] = parsed.positionals
  if (parsed.values.help || command === 'help') {
    io.out(USAGE)
    return 0
  }
  if (command === undefined) {
    io.err(`shoal: no command given\n\n${USAGE}`)
    return 2
  }
  if (Object.hasOwn(FLEET_COMMANDS, command)) return await fleet(command as FleetCommand, rest, parsed.values, env, io)
  if (rest.length > 0 && command !== 'policy') {
    io.err(`shoal: unexpected argument "${rest[0]}"\n\n${USAGE}`)
    return 2
  }
  switch (command) {
    case 'gpus': {
      const fake = parsed.values.fake
      const libraryPath = fake ? FAKE_LIBRARY : (env.SHOAL_NVML_LIBRARY ?? DEFAULT_NVML_LIBRARY)
      return await gpusCommand({ libraryPath, json: parsed.values.json, fake }, io)
    }
    case 'health': {
      const socketPath = socketPathOf(parsed.values.socket, env)
      return await healthCommand({ socketPath, incidents: parsed.values.incidents, json: parsed.values.json }, io)
    }
    case 'agent': {
      const { agentCommand } = await import('./agent.js')
      return await agentCommand({ configPath: parsed.values.config, fake: parsed.values.fake }, io, signals)
    }
    case 'demo': {
      const { demoCommand } = await import('./demo.js')
      const { poolsCommand } = await import('./pools.js')
      const agents = parsed.values.agents === undefined ? 3 : Number(parsed.values.agents)
      return await demoCommand({
        agents,
        keep: parsed.values.keep,
        ...(parsed.values.out === undefined ? {} : { out: parsed.values.out }),
        status: async (socket) => await statusCommand({ socketPath: socket, json: false }, io),
        pools: async (socket) => await poolsCommand({ socketPath: socket, json: false, slots: true }, io),
      }, io, signals)
    }
    case 'fleet-key': {
      const { generateFleetKey } = await import('../mesh/p2p/fleet-key.js')
      io.out(generateFleetKey())
      return 0
    }
    case 'policy':
      return policyCommand(rest, io)
    default:
      io.err(`shoal: unknown command "${command}"\n\n${USAGE}`)
      return 2
  }
}

const NODE_ARG = 'give the node: a peer id, a name, or a unique prefix'
const POOL_ARG = 'give the pool: its name, as `shoal pools` shows it'

/**
 * Each fleet command: its positional arguments (what the usage error says when one is missing), a
 * literal subcommand first if any, and the options it takes besides --socket and --json.
 */
const FLEET_COMMANDS = {
  status: { sub: '', args: [], options: [] },
  nodes: { sub: '', args: [], options: ['pool'] },
  node: { sub: '', args: [NODE_ARG], options: [] },
  events: { sub: '', args: [], options: ['since', 'limit', 'node'] },
  coordinator: { sub: '', args: [], options: [] },
  pools: { sub: '', args: [], options: ['slots'] },
  cordon: { sub: '', args: [NODE_ARG], options: ['reason', 'timeout'] },
  uncordon: { sub: '', args: [NODE_ARG], options: ['reason', 'timeout'] },
  drain: { sub: '', args: [NODE_ARG], options: ['reason', 'timeout'] },
  scale: { sub: '', args: [POOL_ARG, 'give the size: a number of nodes, or auto'], options: ['reason', 'timeout'] },
  queue: { sub: 'set', args: [POOL_ARG, 'give the queue depth: a number of jobs'], options: ['reason', 'timeout'] },
} as const satisfies Record<string, { sub: string, args: readonly string[], options: readonly string[] }>
type FleetCommand = keyof typeof FLEET_COMMANDS

interface Values {
  socket?: string | undefined
  json?: boolean | undefined
  pool?: string | undefined
  since?: string | undefined
  limit?: string | undefined
  node?: string | undefined
  reason?: string | undefined
  timeout?: string | undefined
  slots?: boolean | undefined
  [other: string]: string | boolean | undefined
}

async function fleet (command: FleetCommand, rest: readonly string[], v: Values, env: NodeJS.ProcessEnv, io: Output): Promise<number> {
  const spec: { sub: string, args: readonly string[], options: readonly string[] } = FLEET_COMMANDS[command]
  const name = spec.sub === '' ? command : `${command} ${spec.sub}`
  const usage = (message: string): number => {
    io.err(`shoal ${name}: ${message}\n\n${USAGE}`)
    return FLEET_EXIT.usage
  }
  const allowed = new Set<string>(['socket', 'json', 'help', ...spec.options])
  const stray = Object.keys(v).find((k) => !allowed.has(k) && v[k] !== undefined && v[k] !== false)
  if (stray !== undefined) return usage(`--${stray} is not an option of ${command}`)
  if (spec.sub !== '' && rest[0] !== spec.sub) {
    return rest[0] === undefined ? usage(`what should ${command} do? (${name} ...)`) : usage(`unknown ${command} command "${rest[0]}" (${name} ...)`)
  }
  const args = spec.sub === '' ? rest : rest.slice(1)
  const missing = spec.args[args.length]
  if (missing !== undefined) return usage(missing)
  if (args.length > spec.args.length) return usage(`unexpected argument "${args[spec.args.length] ?? ''}"`)
  const [first = '', second = ''] = args
  const o = { socketPath: socketPathOf(v.socket, env), json: v.json === true }
  const write = { ...o, target: first, reason: v.reason, timeout: v.timeout, user: env.SUDO_USER || env.USER }
  switch (command) {
    case 'status': return await statusCommand(o, io)
    case 'nodes': return await nodesCommand({ ...o, pool: v.pool }, io)
    case 'node': return await nodeCommand({ ...o, id: first }, io)
    case 'events': return await eventsCommand({ ...o, since: v.since, limit: v.limit, node: v.node, nowMs: Date.now() }, io)
    case 'coordinator': return await coordinatorCommand(o, io)
    case 'pools': return await poolsCommand({ ...o, slots: v.slots === true }, io)
    case 'cordon':
    case 'uncordon':
    case 'drain':
      return await writeCommand(command, write, io)
    case 'scale': return await scaleCommand({ ...write, size: second }, io)
    case 'queue': return await queueCommand({ ...write, depth: second }, io)
  }
}
