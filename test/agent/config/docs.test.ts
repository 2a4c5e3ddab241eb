// docs/config.md's reference is generated from the schema; docs/agent.example.yaml loads.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { loadConfig } from '../../../agent/config/load.js'
import { replaceGenerated } from '../../../agent/lib/markdown.js'
import { CONFIG_DOCS_COMMAND, renderConfigReference } from '../../../agent/config/reference.js'
import { agentConfigSchema } from '../../../agent/config/schema.js'
import { leaves } from '../../../agent/config/walk.js'

const doc = (name: string): string => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8')

t.test('docs/config.md carries the current reference', async (t) => {
  const current = doc('config.md')
  const next = replaceGenerated(current, 'config-reference', CONFIG_DOCS_COMMAND, renderConfigReference())
  t.equal(current, next, `docs/config.md is out of date: run ${CONFIG_DOCS_COMMAND}`)
})

t.test('the reference has one row per field, each with type, default and description', async (t) => {
  const rows = renderConfigReference().split('\n').filter((l) => l.startsWith('| `'))
  t.equal(rows.length, leaves(agentConfigSchema).length)
  t.equal(rows.length, 42)
  for (const row of rows) {
    const cells = row.split(' | ')
    t.equal(cells.length, 4, row)
    t.ok(cells.every((c) => c.replaceAll('|', '').trim().length > 0), row)
  }
  t.match(renderConfigReference(), '| `sampling.interval` | duration (100ms..1h) | `1s` |')
  t.match(renderConfigReference(), '| `node.name` | string | (the host name) |')
})

t.test('docs/agent.example.yaml loads, and names every field', async (t) => {
  const text = doc('agent.example.yaml')
  const c = loadConfig(text, 'docs/agent.example.yaml', { hostname: 'h' })
  t.equal(c.node.name, 'gpu-host-17')
  t.same(c.node.expect, { gpus: 8, model: 'H100' })
  for (const leaf of leaves(agentConfigSchema)) {
    t.match(text, new RegExp(`^\\s*${leaf.path.split('.').at(-1) ?? ''}:`, 'm'), leaf.path)
  }
})

t.test('the systemd unit runs the agent as the docs say', async (t) => {
  const unit = doc('shoal-agent.service')
  for (const line of [
    'ExecStart=/usr/bin/shoal agent --config /etc/shoal/agent.yaml',
    'Restart=on-failure',
    'KillSignal=SIGTERM',
    'StateDirectory=shoal',
    'RuntimeDirectory=shoal',
    'AmbientCapabilities=CAP_SYSLOG',
    'DeviceAllow=/dev/kmsg r',
  ]) t.match(unit, `\n${line}\n`, line)
  t.match(unit, /\nTimeoutStopSec=\d+s\n/)
  t.notMatch(unit, /\nProtectKernelLogs=yes/, 'ProtectKernelLogs would hide /dev/kmsg')
  t.notMatch(unit, /\nPrivateDevices=yes/, 'PrivateDevices would hide /dev/nvidia*')
})
