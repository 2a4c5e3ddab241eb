// `shoal demo`, the README's first command, end to end: real agent processes on loopback converge
// and `shoal status` is printed from one of them; then the fleet is stopped and its folder removed.
import { existsSync } from 'node:fs'
import t from 'tap'
import { main } from '../../../agent/cli/shoal.js'

t.setTimeout(120_000)

t.test('shoal demo --agents 3 starts a fleet, prints its status and cleans up', async (t) => {
  const out: string[] = []
  const err: string[] = []
  const code = await main(['demo', '--agents', '3'], { out: (s) => out.push(s), err: (s) => err.push(s) }, {})
  const text = out.join('')
  t.equal(code, 0, err.join(''))
  t.match(text, /starting 3 agents on 127\.0\.0\.1/)
  t.match(text, /converged in [\d.]+ s; shoal status from agent-02/)
  t.match(text, /coordinator: agent-0\d/, 'the status names a coordinator')
  t.match(text, /health: 3 healthy, 0 degraded, 0 unhealthy, 0 unknown/, 'every health report has gone round')
  const dir = /state in ([^)]+)\)/.exec(text)?.[1]
  t.ok(dir !== undefined && !existsSync(dir), `the demo removed its folder ${dir}`)
})

t.test('shoal demo refuses a fleet size out of range, starting nothing', async (t) => {
  const err: string[] = []
  const code = await main(['demo', '--agents', '0'], { out: () => {}, err: (s) => err.push(s) }, {})
  t.equal(code, 2)
  t.match(err.join(''), /--agents must be 1\.\.50, got 0/)
})
