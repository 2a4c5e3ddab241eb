// The `shoal` command line: parses arguments and dispatches; each command lives in its own file.
import { parseArgs } from 'node:util'
import { DEFAULT_NVML_LIBRARY } from '../../native/nvml.js'
import { FAKE_LIBRARY } from '../../native/fake/machine.js'
import { gpusCommand, type Output } from './gpus.js'
import { healthCommand } from './health.js'
import { DEFAULT_ADMIN_SOCKET_PATH } from '../admin/protocol.js'
import { agentCommand, type ProcessSignals } from './agent.js'
import { policyCommand } from './policy.js'

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

options:
  --config FILE  the agent's YAML config (docs/config.md)
  --fake         use Shoal's fake NVML library (8 x H100 unless SHOAL_FAKE_NVML_STATE names a state file)
  --json         machine-readable output
  --socket PATH  the agent's admin socket (default: SHOAL_ADMIN_SOCKET, else /run/shoal/admin.sock)
  --incidents N  how many recent incidents to show (default: the agent's, 10)
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
      const socketPath = parsed.values.socket ?? (env.SHOAL_ADMIN_SOCKET || DEFAULT_ADMIN_SOCKET_PATH)
      return await healthCommand({ socketPath, incidents: parsed.values.incidents, json: parsed.values.json }, io)
    }
    case 'agent':
      return await agentCommand({ configPath: parsed.values.config, fake: parsed.values.fake }, io, signals)
    case 'policy':
      return policyCommand(rest, io)
    default:
      io.err(`shoal: unknown command "${command}"\n\n${USAGE}`)
      return 2
  }
}
