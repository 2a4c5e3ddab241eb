// The `shoal` command line: parses arguments and dispatches; each command lives in its own file.
import { parseArgs } from 'node:util'
import { DEFAULT_NVML_LIBRARY } from '../../native/nvml.js'
import { FAKE_LIBRARY } from '../../native/fake/machine.js'
import { gpusCommand, type Output } from './gpus.js'

export type { Output }

const USAGE = `usage: shoal <command> [options]

commands:
  gpus [--fake] [--json]   this host's GPU inventory and health, from NVML

options:
  --fake         use Shoal's fake NVML library (8 x H100 unless SHOAL_FAKE_NVML_STATE names a state file)
  --json         machine-readable output
  -h, --help     this text

environment:
  SHOAL_NVML_LIBRARY       path of libnvidia-ml.so.1 (default: the dynamic loader's search path)
  SHOAL_FAKE_NVML_STATE    state file scripting the fake library (see docs/fake-nvml.md)
`

export async function main (argv: string[], io: Output, env: NodeJS.ProcessEnv): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        fake: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
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
  if (rest.length > 0) {
    io.err(`shoal: unexpected argument "${rest[0]}"\n\n${USAGE}`)
    return 2
  }
  switch (command) {
    case 'gpus': {
      const fake = parsed.values.fake
      const libraryPath = fake ? FAKE_LIBRARY : (env.SHOAL_NVML_LIBRARY ?? DEFAULT_NVML_LIBRARY)
      return await gpusCommand({ libraryPath, json: parsed.values.json, fake }, io)
    }
    default:
      io.err(`shoal: unknown command "${command}"\n\n${USAGE}`)
      return 2
  }
}
