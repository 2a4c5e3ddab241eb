// The daemon end to end in one process: the real store, the real addon on the fake NVML library,
// the metrics endpoint and the admin socket, driven by a fake clock and hand-fired timers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import { AdminRequestSchema, HealthAction, HealthState, type HealthReport } from '../../../proto/gen/shoal_pb.js'
import { FAKE_LIBRARY, FakeMachine } from '../../../native/fake/machine.js'
import { ADMIN_PROTOCOL_VERSION } from '../../../agent/admin/protocol.js'
import { adminRequest } from '../../../agent/admin/client.js'
import { loadConfig } from '../../../agent/config/load.js'
import { Agent } from '../../../agent/daemon/agent.js'
import { DEFAULT_POLICY_YAML } from '../../../agent/health/default-policy.js'
import { createLogger } from '../../../agent/log.js'
import { main } from '../../../agent/cli/shoal.js'
import { Store } from '../../../agent/store/store.js'
import { DEFAULT_JOURNAL_CONFIG } from '../../../agent/store/journal.js'
import { stateFile } from '../../support/fake-nvml.js'

const dir = mkdtempSync(join(tmpdir(), 'shoal-agent-test-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
const machine = FakeMachine.preset('dgx-h100')
const state = stateFile(machine)
t.teardown(() => { state.remove() })

const policyPath = join(dir, 'policy.yaml')
writeFileSync(policyPath, DEFAULT_POLICY_YAML)
const socket = join(dir, 'admin.sock')
const configText = `node:
  name: test-node
  expect:
    gpus: 8
    model: H100
kmsg:
  enabled: false
health:
  policy: ${policyPath}
  watch: false
store:
  dir: ${join(dir, 'store')}
metrics:
  listen: 127.0.0.1:0
admin:
  socket: ${socket}
log:
  level: warn
`
const config = loadConfig(configText, 'agent.yaml')

let now = 1_800_000_000_000
const clock = { wallMs: () => now }
const intervals = new Map<number, { fn: () => void, ms: number }>()
let nextTimer = 1
const timers = {
  setInterval: (fn: () => void, ms: number) => { intervals.set(nextTimer, { fn, ms }); return nextTimer++ },
  clearInterval: (h: unknown) => { intervals.delete(h as number) },
}
/** One sampling interval passes: the clock moves and every interval timer fires once. */
function second (): void {
  now += 1000
  for (const { fn } of [...intervals.values()]) fn()
}

const logLines: string[] = []
const logger = createLogger({
  level: 'info',
  destination: new Writable({ write (chunk, _enc, cb) { logLines.push(String(chunk)); cb() } }),
})

async function health (): Promise<HealthReport> {
  const res = await adminRequest(socket, create(AdminRequestSchema, {
    version: ADMIN_PROTOCOL_VERSION, request: { case: 'health', value: {} },
  }), { timeoutMs: 5000 })
  if (res.response.case !== 'health') throw new Error(`unexpected answer ${res.response.case}`)
  return res.response.value
}

const start = async (): Promise<Agent> => Agent.start({
  config, configText, configSource: 'agent.yaml', logger, clock, timers, nvmlLibrary: FAKE_LIBRARY,
})

let agent = await start()
const firstPeer = agent.peerId

t.test('starts healthy: boot gate passed, eight GPUs, the configured policy', async (t) => {
  await agent.settled()
  const h = await health()
  t.equal(h.node, 'test-node')
  t.equal(h.bootGate?.passed, true)
  t.equal(h.bootGate?.gpuCount, 8)
  t.equal(h.verdict?.state, HealthState.HEALTHY)
  t.equal(h.gpus.length, 8)
  t.equal(h.policy?.name, 'shoal-default')
  t.equal(h.policy?.source, policyPath)
  t.ok(h.journalSeq > 0, 'the start is journaled')
})

t.test('a GPU falls off the bus: unhealthy, replace, over the socket and in metrics', async (t) => {
  machine.lose(3)
  state.write()
  second()
  await agent.settled()
  const h = await health()
  t.equal(h.verdict?.state, HealthState.UNHEALTHY)
  t.equal(h.verdict?.action, HealthAction.REPLACE)
  t.ok(h.verdict?.reasons.some((r) => r.rule === 'gpu-lost' && r.gpuIndex === 3))
  t.ok(h.incidents.length >= 1)
  t.equal(h.incidents[0]?.class, 'gpu-lost')
  t.equal(h.gpus.find((g) => g.index === 3)?.lost, true)
  const at = agent.metricsAddress!
  const text = await (await fetch(`http://${at.host}:${at.port}/metrics`)).text()
  t.match(text, /^shoal_health_state(\{[^}]*\})? 3$/m, 'verdict state exported')
  t.match(text, /^DCGM_FI_DEV_GPU_TEMP\{/m, 'GPU metrics under dcgm-exporter names')
  t.match(text, /^shoal_gpu_lost\{[^}]*gpu="3"[^}]*\} 1$/m)
  const out: string[] = []
  const code = await main(['health', '--socket', socket], { out: (s) => out.push(s), err: (s) => out.push(s) }, {})
  t.equal(code, 11, 'shoal health exits 11 for unhealthy')
  t.match(out.join(''), /UNHEALTHY \(action: replace\)/)
  t.ok(logLines.some((l) => l.includes('"verdict changed"')), 'verdict change logged as JSON')
})

t.test('a broken policy on reload: the last good one keeps judging, and says so', async (t) => {
  writeFileSync(policyPath, 'version: 1\nname: broken\nrules:\n  - name: x\n    on: sample\n    when: gpu.nope > 1\n    state: degraded\n')
  t.equal(agent.reloadPolicy('test'), false)
  second()
  await agent.settled()
  const h = await health()
  t.equal(h.policy?.name, 'shoal-default', 'still the last good policy')
  t.match(h.policy?.lastError, /rule "x": when: `gpu.nope > 1` No such key: nope/)
  t.match(h.policy?.lastError, /keeping shoal-default@/)
  t.equal(h.verdict?.action, HealthAction.REPLACE, 'still judging')
  writeFileSync(policyPath, DEFAULT_POLICY_YAML.replace('name: shoal-default', 'name: fixed'))
  t.equal(agent.reloadPolicy('test'), true)
  const h2 = await health()
  t.equal(h2.policy?.name, 'fixed')
  t.equal(h2.policy?.lastError, '')
  t.equal(h2.verdict?.action, HealthAction.REPLACE, 'the lost-GPU finding survives a reload')
})

t.test('stop, restart: same identity, the journal goes on', async (t) => {
  const before = (await health()).journalSeq
  await agent.stop('test')
  const store = await Store.open({ dir: config.store.dir, sync: false, journal: DEFAULT_JOURNAL_CONFIG }, clock)
  const recent = await store.journal.recent(5)
  t.match(recent[0]?.entry, { case: 'note', value: /^stopped \(test\)/ }, 'the stop is the last entry')
  t.ok(recent.some((e) => e.entry.case === 'verdict'))
  await store.close()
  machine.set(3, { lost: false } as never)
  agent = await start()
  t.equal(agent.peerId, firstPeer, 'identity unchanged')
  await agent.settled()
  const h = await health()
  t.ok(h.journalSeq > before, 'sequence continues')
  await agent.stop('test')
})

t.test('shoal agent: config errors name the field and exit 2', async (t) => {
  const bad = join(dir, 'bad.yaml')
  writeFileSync(bad, 'sampling:\n  interval: 10 parsecs\n')
  const err: string[] = []
  const code = await main(['agent', '--config', bad], { out: () => {}, err: (s) => err.push(s) }, {})
  t.equal(code, 2)
  t.match(err.join(''), /sampling\.interval/)
  const missing: string[] = []
  t.equal(await main(['agent'], { out: () => {}, err: (s) => missing.push(s) }, {}), 2)
  t.match(missing.join(''), /--config FILE is required/)
})

t.test('shoal agent: SIGTERM stops it gracefully (exit 0, store released)', async (t) => {
  const cfg = join(dir, 'signal.yaml')
  writeFileSync(cfg, configText.replace('level: warn', 'level: fatal').replace(`policy: ${policyPath}`, 'policy: null'))
  const handlers = new Map<string, () => void>()
  const signals = {
    on: (s: string, fn: () => void) => {
      handlers.set(s, fn)
      // Registered once the agent is up: deliver a SIGHUP then a SIGTERM, as systemd would.
      if (s === 'SIGHUP') queueMicrotask(() => { handlers.get('SIGHUP')?.(); handlers.get('SIGTERM')?.() })
    },
    off: (s: string) => { handlers.delete(s) },
  }
  const code = await main(['agent', '--config', cfg, '--fake'], { out: () => {}, err: () => {} }, {}, signals)
  t.equal(code, 0)
  t.equal(handlers.size, 0, 'signal handlers removed')
  const store = await Store.open({ dir: config.store.dir, sync: false, journal: DEFAULT_JOURNAL_CONFIG }, clock)
  const recent = await store.journal.recent(3)
  t.match(recent[0]?.entry, { case: 'note', value: /^stopped \(SIGTERM\)/ })
  t.ok(recent.some((e) => e.entry.case === 'policy'), 'the SIGHUP reload is journaled')
  await store.close()
})
