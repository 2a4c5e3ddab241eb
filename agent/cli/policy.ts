// `shoal policy check FILE` and `shoal policy default`: validate a policy before rolling it out
// (CUJ 7), and print the built-in one to start from.
import { readFileSync } from 'node:fs'
import { DEFAULT_POLICY_YAML } from '../health/default-policy.js'
import { compilePolicy, PolicyError, type CompiledRule } from '../health/policy.js'
import { actionName, stateName } from '../health/action.js'
import { formatDuration } from '../lib/duration.js'
import { renderTable } from './table.js'
import type { Output } from './gpus.js'

export function policyCommand (args: readonly string[], io: Output): number {
  const [sub, file, ...extra] = args
  if (sub === 'default' && file === undefined) {
    io.out(DEFAULT_POLICY_YAML)
    return 0
  }
  if (sub !== 'check' || file === undefined || extra.length > 0) {
    io.err('usage: shoal policy check FILE | shoal policy default\n')
    return 2
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    io.err(`shoal policy check: cannot read ${file}: ${(err as Error).message}\n`)
    return 1
  }
  try {
    const p = compilePolicy(text, file)
    io.out(`${file}: policy ${p.name}@${p.digest} is valid, ${p.rules.length} rules\n\n`)
    io.out(renderTable<CompiledRule>([
      { header: 'RULE', value: (r) => r.name },
      { header: 'ON', value: (r) => r.on },
      { header: 'STATE', value: (r) => stateName(r.state) },
      { header: 'ACTION', value: (r) => actionName(r.action) },
      { header: 'FOR', value: (r) => r.forMs === 0 ? '-' : formatDuration(r.forMs) },
      { header: 'HOLD', value: (r) => r.holdMs === Infinity ? 'forever' : r.holdMs === 0 ? '-' : formatDuration(r.holdMs) },
    ], p.rules) + '\n')
    return 0
  } catch (err) {
    if (err instanceof PolicyError) {
      io.err(err.message + '\n')
      return 1
    }
    throw err
  }
}
