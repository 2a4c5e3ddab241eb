// The config loader takes hostile input (DESIGN.md §11): seeded random YAML-ish text and mutations
// of the example never throw anything but ConfigError, and what loads is in bounds.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ConfigError } from '../../../agent/config/errors.js'
import { loadConfig } from '../../../agent/config/load.js'
import { mulberry32 } from '../gpu/fixtures/support.js'

const example = readFileSync(new URL('../../../docs/agent.example.yaml', import.meta.url), 'utf8')

const TOKENS = [
  'node', 'sampling', 'interval', 'dedup_window', 'labels', 'expect', 'gpus', 'metrics', 'listen', 'admin',
  'mode', 'store', 'journal', 'max_age', 'log', 'level', '__proto__', 'constructor', '<<', 'a', 'rack',
  ':', ': ', ' ', '  ', '\n', '\n  ', '\n    ', '\t', '-', '- ', '[', ']', '{', '}', ',', '"', "'", '\\',
  '&a ', '*a', '&b ', '*b', '!tag ', '!!str ', '!!binary ', '!!map ', '? ', '|', '>', '#', '---', '...',
  '%YAML 1.2', '1s', '500ms', '-1s', '1e309', '0x10', '0o660', '0660', '"0660"', 'null', '~', 'true',
  'yes', '1.5', '-0', '.inf', '.nan', '127.0.0.1:9401', '[::1]:0', '/dev/kmsg', 'é', '\u0000', '\u202e', '💥',
  'mesh', 'hooks', 'bootstrap', 'key_file', 'council_size', 'drain_status', '/ip4/0.0.0.0/tcp/7700', '/ip6/::1/tcp/0',
  '/dns4/a.b/tcp/1', '/p2p/', '12D3KooWGRUqmfzBAGVXMZ4hPA7nrzGqR3iBfD3Pvgy6GYuWzPEH', '/usr/bin/true', '/ip4/', '/tcp/',
]

function randomText (rand: () => number): string {
  const n = 1 + Math.floor(rand() * 60)
  let s = ''
  for (let i = 0; i < n; i++) s += TOKENS[Math.floor(rand() * TOKENS.length)]
  return s
}

function mutate (rand: () => number, text: string): string {
  let s = text
  const edits = 1 + Math.floor(rand() * 6)
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rand() * (s.length + 1))
    const op = rand()
    if (op < 0.4) s = s.slice(0, at) + (TOKENS[Math.floor(rand() * TOKENS.length)] ?? '') + s.slice(at)
    else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 20))
    else s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0x3000)) + s.slice(at + 1)
  }
  return s
}

t.test('seeded fuzz: only ConfigError, and loaded configs are in bounds', async (t) => {
  const seed = 0x0c0f16a1
  t.comment(`seed ${seed}`)
  const rand = mulberry32(seed)
  let loaded = 0
  let rejected = 0
  for (let i = 0; i < 3000; i++) {
    const text = i % 2 === 0 ? randomText(rand) : mutate(rand, example)
    try {
      const c = loadConfig(text, 'fuzz.yaml', { hostname: 'h' })
      loaded++
      const councilOk = c.mesh.councilSize % 2 === 1 && c.mesh.councilSize <= 7
      const hooksOk = [c.hooks.cordon, c.hooks.uncordon, c.hooks.drain, c.hooks.drainStatus].every((h) => h === null || (h.length > 0 && (h[0] ?? '').startsWith('/')))
      if (!(c.sampling.intervalMs >= 100 && c.sampling.intervalMs <= 3_600_000) || !Object.isFrozen(c) || !councilOk || !hooksOk || c.mesh.listen.length === 0) {
        t.fail(`out of bounds (seed ${seed}, case ${i}): ${JSON.stringify(text)}`)
      }
    } catch (err) {
      rejected++
      if (!(err instanceof ConfigError) || err.issues.length === 0 || !err.message.startsWith('fuzz.yaml: ')) {
        t.fail(`seed ${seed}, case ${i}: ${String(err)} for ${JSON.stringify(text)}`)
        break
      }
    }
  }
  t.ok(loaded > 100 && rejected > 100, `both outcomes exercised (${loaded} loaded, ${rejected} rejected)`)
})
