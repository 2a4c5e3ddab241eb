// `shoal demo`, the README's first command, end to end: real agent processes on loopback converge,
// the coordinator fills a pool from the fake Lambda cloud and replaces a node after XID 79; then the
// fleet is stopped and its folder removed.
import { existsSync } from 'node:fs'
import t from 'tap'
import { main } from '../../../agent/cli/shoal.js'

t.setTimeout(120_000)

t.test('shoal demo: a fleet, its coordinator fills the pool from the fake cloud and replaces the node hit by XID 79', async (t) => {
  const out: string[] = []
  const err: string[] = []
  const code = await main(['demo', '--agents', '3'], { out: (s) => out.push(s), err: (s) => err.push(s) }, {})
  const text = out.join('')
  t.equal(code, 0, err.join(''))
  t.match(text, /starting 3 agents on 127\.0\.0\.1/)
  t.match(text, /fake cloud \(Lambda Cloud API\) on http:\/\/127\.0\.0\.1:\d+; pool gpu: 2 nodes/)
  t.match(text, /converged in [\d.]+ s: the coordinator launched shoal-gpu-\d-g1-\w+, shoal-gpu-\d-g1-\w+; shoal status from agent-02/)
  t.match(text, /coordinator: agent-0\d/, 'the status names a coordinator')
  t.match(text, /health: 5 healthy, 0 degraded, 0 unhealthy, 0 unknown/, 'the pool\'s two agents joined the three control agents')
  const victim = /injecting XID 79 \(GPU 3 fell off the bus\) on (\S+) \.\.\./.exec(text)?.[1]
  t.ok(victim !== undefined, 'a fault was injected')
  const slot = /shoal-gpu-(\d)-g1-/.exec(victim ?? '')?.[1]
  t.match(text, new RegExp(`replaced in [\\d.]+ s: ${victim} -> shoal-gpu-${slot}-g2-\\w+`), 'the replacement is the next generation of the same slot')
  // The story, in order: the verdict, the provision first, the cordon and drain, then the terminate.
  const story = text.slice(text.indexOf('what the coordinator did:'))
  const at = (re: RegExp): number => story.search(re)
  t.ok(at(/unhealthy; action replace/) >= 0, 'the verdict')
  t.ok(at(/lambda provision shoal-gpu-/) > at(/unhealthy; action replace/), 'then the provision')
  t.ok(at(/draining, drained/) > at(/lambda provision shoal-gpu-/), 'then the drain')
  t.ok(at(/lambda terminated /) > at(/draining, drained/), 'and the old instance is terminated last')
  t.match(text, /gpu\s+2\s+2\s+2\s+0\s+0\s+2–4/, 'shoal pools: desired 2, current 2, healthy 2')
  const dir = /state in ([^)]+)\)/.exec(text)?.[1]
  t.ok(dir !== undefined && !existsSync(dir), `the demo removed its folder ${dir}`)
})

t.test('shoal demo refuses a fleet size out of range, starting nothing', async (t) => {
  const err: string[] = []
  const code = await main(['demo', '--agents', '0'], { out: () => {}, err: (s) => err.push(s) }, {})
  t.equal(code, 2)
  t.match(err.join(''), /--agents must be 1\.\.50, got 0/)
})
