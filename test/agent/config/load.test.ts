// agent/config/load.ts: agent.yaml -> AgentConfig, or a ConfigError naming every problem.
import t from 'tap'
import { hostname } from 'node:os'
import { ConfigError } from '../../../agent/config/errors.js'
import { CONFIG_MAX_BYTES, DEFAULT_CONFIG, loadConfig, type AgentConfig } from '../../../agent/config/load.js'
import { agentConfigSchema } from '../../../agent/config/schema.js'
import { leaves } from '../../../agent/config/walk.js'

const load = (text: string): AgentConfig => loadConfig(text, 'agent.yaml', { hostname: 'host-a' })

function issuesOf (text: string): Array<{ path: string, message: string }> {
  try {
    load(text)
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues]
    throw err
  }
  throw new Error(`loaded without error: ${text}`)
}

t.test('an empty file is every default', async (t) => {
  const c = load('')
  t.same(c, {
    node: { name: 'host-a', pool: 'default', instanceId: null, labels: {}, expect: { gpus: null, model: null } },
    nvml: { library: 'libnvidia-ml.so.1' },
    sampling: { intervalMs: 1000, dedupWindowMs: 10_000, eventWaitMs: 500, eventQueue: 1024 },
    kmsg: { enabled: true, path: '/dev/kmsg' },
    health: { policy: null, watch: true, burstGapMs: 180_000 },
    store: { dir: '/var/lib/shoal', sync: false, journal: { maxEntries: 100_000, maxAgeMs: 30 * 86_400_000 } },
    metrics: { listen: { host: '127.0.0.1', port: 9401 } },
    admin: { socket: '/run/shoal/admin.sock', mode: 0o660 },
    mesh: {
      fleet: 'default', keyFile: null, listen: ['/ip4/0.0.0.0/tcp/7700'], announce: [], bootstrap: [], coordinatorEligible: true, councilSize: 5, probeIntervalMs: 250, probeTimeoutMs: 100, denyPeersFile: null,
    },
    hooks: {
      cordon: null, uncordon: null, drain: null, drainStatus: null, timeoutMs: 30_000, drainTimeoutMs: 600_000, drainPollMs: 5000,
    },
    coordinator: { file: null },
    log: { level: 'info' },
  })
  t.same(load('# only a comment\n'), c, 'comments only')
  t.same(load('sampling:\nstore:\n  journal:\n'), c, 'empty sections are their defaults')
  t.same(load('{}'), c, 'an empty mapping')
})

t.test('DEFAULT_CONFIG: the defaults with this host\'s name, frozen', async (t) => {
  t.same(DEFAULT_CONFIG, loadConfig('', 'x', { hostname: hostname() }))
  t.ok(Object.isFrozen(DEFAULT_CONFIG) && Object.isFrozen(DEFAULT_CONFIG.store.journal) && Object.isFrozen(DEFAULT_CONFIG.node.labels))
  t.throws(() => { (DEFAULT_CONFIG.sampling as { intervalMs: number }).intervalMs = 5 }, TypeError)
})

t.test('values are mapped to camelCase, durations to ms', async (t) => {
  const c = load(`
node: { name: gpu-17, pool: h100-a, labels: { topology.kubernetes.io/zone: us-east-1a, rack: "12" }, expect: { gpus: 8, model: H100 } }
nvml: { library: /opt/nvidia/libnvidia-ml.so.1 }
sampling: { interval: 250ms, dedup_window: 0, event_wait: 1s, event_queue: 16 }
kmsg: { enabled: false, path: /tmp/kmsg }
health: { policy: /etc/shoal/policy.yaml, watch: false, burst_gap: 1h }
store: { dir: /srv/shoal, sync: true, journal: { max_entries: 1000, max_age: 1h30m } }
metrics: { listen: "[::1]:9500" }
admin: { socket: /run/x.sock, mode: "640" }
log: { level: trace }
`)
  t.same(c.node, { name: 'gpu-17', pool: 'h100-a', instanceId: null, labels: { 'topology.kubernetes.io/zone': 'us-east-1a', rack: '12' }, expect: { gpus: 8, model: 'H100' } })
  t.same(c.sampling, { intervalMs: 250, dedupWindowMs: 0, eventWaitMs: 1000, eventQueue: 16 })
  t.same(c.health, { policy: '/etc/shoal/policy.yaml', watch: false, burstGapMs: 3_600_000 })
  t.same(c.store.journal, { maxEntries: 1000, maxAgeMs: 5_400_000 })
  t.same(c.metrics.listen, { host: '::1', port: 9500 })
  t.equal(c.admin.mode, 0o640)
  t.equal(c.log.level, 'trace')
  t.equal(load('metrics: { listen: null }').metrics.listen, null)
  t.same(load('metrics: { listen: "localhost:1" }').metrics.listen, { host: 'localhost', port: 1 })
  t.same(load('metrics: { listen: "0.0.0.0:65535" }').metrics.listen, { host: '0.0.0.0', port: 65535 })
  t.equal(load('health: { policy: null }').health.policy, null)
  t.equal(load('nvml: { library: libnvidia-ml.so }').nvml.library, 'libnvidia-ml.so')
})

const PEER = '12D3KooWGRUqmfzBAGVXMZ4hPA7nrzGqR3iBfD3Pvgy6GYuWzPEH'

t.test('mesh: and hooks: are mapped to camelCase, multiaddrs canonical, durations to ms', async (t) => {
  const c = load(`
mesh:
  fleet: gpu-prod-1
  key_file: /etc/shoal/fleet.key
  listen: [/ip4/0.0.0.0/tcp/7700, "/ip6/::/tcp/7700"]
  announce: [/dns4/gpu-17.example.com/tcp/7700, /ip4/203.0.113.7/tcp/7700]
  bootstrap: [/ip4/10.0.0.5/tcp/7700/p2p/${PEER}, /dns/seed.example.com/tcp/7700/p2p/${PEER}]
  coordinator_eligible: false
  council_size: 3
  deny_peers_file: /etc/shoal/deny-peers
hooks:
  cordon: [/usr/bin/kubectl, cordon, gpu-17]
  uncordon: [/usr/bin/kubectl, uncordon, gpu-17]
  drain: [/usr/local/bin/shoal-drain, "--grace", "300"]
  drain_status: [/usr/local/bin/shoal-workloads]
  timeout: 10s
  drain_timeout: 1h
  drain_poll: 30s
`)
  t.same(c.mesh, {
    fleet: 'gpu-prod-1',
    keyFile: '/etc/shoal/fleet.key',
    listen: ['/ip4/0.0.0.0/tcp/7700', '/ip6/::/tcp/7700'],
    announce: ['/dns4/gpu-17.example.com/tcp/7700', '/ip4/203.0.113.7/tcp/7700'],
    bootstrap: [`/ip4/10.0.0.5/tcp/7700/p2p/${PEER}`, `/dns/seed.example.com/tcp/7700/p2p/${PEER}`],
    coordinatorEligible: false,
    councilSize: 3, probeIntervalMs: 250, probeTimeoutMs: 100, denyPeersFile: '/etc/shoal/deny-peers',
  })
  t.same(c.hooks, {
    cordon: ['/usr/bin/kubectl', 'cordon', 'gpu-17'],
    uncordon: ['/usr/bin/kubectl', 'uncordon', 'gpu-17'],
    drain: ['/usr/local/bin/shoal-drain', '--grace', '300'],
    drainStatus: ['/usr/local/bin/shoal-workloads'],
    timeoutMs: 10_000,
    drainTimeoutMs: 3_600_000,
    drainPollMs: 30_000,
  })
  t.ok(Object.isFrozen(c.mesh.listen) && Object.isFrozen(c.hooks.cordon), 'lists are frozen too')
  t.same(load('mesh: { council_size: 1 }').mesh.councilSize, 1)
  t.same([load('').mesh.probeIntervalMs, load('').mesh.probeTimeoutMs], [250, 100], 'SWIM defaults')
  t.same([load('mesh: { probe_interval: 1s, probe_timeout: 400ms }').mesh.probeIntervalMs, load('mesh: { probe_interval: 1s, probe_timeout: 400ms }').mesh.probeTimeoutMs], [1000, 400])
  t.same(load('mesh: { council_size: 7, listen: ["/ip4/127.0.0.1/tcp/0"] }').mesh, { ...load('').mesh, councilSize: 7, listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.same(load('mesh: { key_file: /k, bootstrap: [] }').mesh.bootstrap, [], 'a key and no bootstrap: this agent founds the fleet')
  t.equal(load('hooks: { cordon: null }').hooks.cordon, null)
  t.same(load('hooks: { drain_timeout: 10s, drain_poll: 10s }').hooks.drainPollMs, 10_000, 'a poll as long as the drain is allowed')
})

// Each row: a YAML value for one field, and what the error must say. Every field has a row.
const bad: Array<[string, string, RegExp]> = [
  ['node.name', '"bad name!"', /is not a host name/],
  ['node.name', '5', /expected a host name .*got 5/],
  ['node.name', '""', /must be 1\.\.253 characters, got 0/],
  ['node.pool', 'Prod', /"Prod" is not a pool name/],
  ['node.pool', 'null', /expected a pool name .*got null/],
  ['node.labels', '[a, b]', /expected a mapping of label names to strings, got a list/],
  ['node.labels', `{ ${Array.from({ length: 33 }, (_, i) => `k${i}: v`).join(', ')} }`, /at most 32 labels, got 33/],
  ['node.labels.rack', '{ rack: 12 }', /expected a string, got 12 \(quote it: "12"\)/],
  ['node.labels.-x', '{ -x: a }', /a label name is 1\.\.63 letters/],
  ['node.labels.rack', `{ rack: ${'v'.repeat(129)} }`, /a label value is at most 128 characters/],
  ['node.expect.gpus', '-1', /must be 0\.\.256, got -1/],
  ['node.expect.gpus', '1.5', /expected an integer 0\.\.256, got 1\.5/],
  ['node.expect.gpus', '"8"', /expected an integer 0\.\.256, got "8"/],
  ['node.expect.gpus', '257', /must be 0\.\.256, got 257/],
  ['node.expect.model', '""', /must be 1\.\.96 characters/],
  ['node.expect.model', '[H100]', /expected part of a GPU model name .*got a list/],
  ['node.expect.model', '"H\\u0001"', /is not part of a GPU model name/],
  ['nvml.library', './libnvidia-ml.so.1', /is relative: give a library name .* or an absolute path/],
  ['nvml.library', '5', /expected an absolute path, got 5/],
  ['sampling.interval', '10 parsecs', /^"10 parsecs" is not a duration \(use 500ms, 1s, 5m, 1h\)$/],
  ['sampling.interval', '50ms', /must be 100ms\.\.1h, got 50ms/],
  ['sampling.interval', '2h', /must be 100ms\.\.1h, got 2h/],
  ['sampling.interval', '1000', /1000 has no unit \(write 1000ms or 1000s/],
  ['sampling.interval', '0', /must be 100ms\.\.1h, got 0ms/],
  ['sampling.dedup_window', '11m', /must be 0ms\.\.10m, got 11m/],
  ['sampling.dedup_window', '-1s', /"-1s" is negative/],
  ['sampling.event_wait', '5ms', /must be 10ms\.\.10s, got 5ms/],
  ['sampling.event_queue', '15', /must be 16\.\.65536, got 15/],
  ['sampling.event_queue', 'big', /expected an integer 16\.\.65536, got "big"/],
  ['kmsg.enabled', 'yes', /expected true or false, got "yes" \(YAML 1\.2: yes\/no\/on\/off are strings\)/],
  ['kmsg.enabled', '1', /expected true or false, got 1$/],
  ['kmsg.path', 'dev/kmsg', /"dev\/kmsg" is not an absolute path/],
  ['health.policy', 'policy.yaml', /"policy.yaml" is not an absolute path/],
  ['coordinator.file', 'pools.yaml', /"pools.yaml" is not an absolute path/],
  ['node.instance_id', '"i 0abc"', /is not a cloud instance id/],
  ['health.policy', '5', /expected an absolute path, got 5/],
  ['health.watch', '"true"', /expected true or false, got "true"/],
  ['health.burst_gap', '1s', /must be 10s\.\.1h, got 1s/],
  ['store.dir', 'var/lib/shoal', /is not an absolute path/],
  ['store.dir', `/${'d'.repeat(5000)}`, /path is 5001 bytes; the limit here is 4095/],
  ['store.sync', 'null', /expected true or false, got null/],
  ['store.journal.max_entries', '999', /must be 1000\.\.10000000, got 999/],
  ['store.journal.max_entries', '1e8', /must be 1000\.\.10000000, got 100000000/],
  ['store.journal.max_age', '30m', /must be 1h\.\.365d, got 30m/],
  ['store.journal.max_age', '2y', /"2y" is not a duration/],
  ['metrics.listen', '"9401"', /"9401" is not host:port/],
  ['metrics.listen', '9401', /expected "host:port" or null, got 9401/],
  ['metrics.listen', 'example.com:9401', /the host must be an IP address \(IPv6 in brackets\) or localhost/],
  ['metrics.listen', '"::1:9401"', /is not host:port/],
  ['metrics.listen', '"[127.0.0.1]:9401"', /the host must be an IP address/],
  ['metrics.listen', '127.0.0.1:65536', /the port must be 0\.\.65535/],
  ['admin.socket', 'run/shoal.sock', /is not an absolute path/],
  ['admin.socket', `/run/${'s'.repeat(110)}`, /path is 115 bytes; the limit here is 107/],
  ['admin.mode', '0660', /write the mode quoted, e\.g\. "0660" .* got the number 660/],
  ['admin.mode', '"0666"', /"0666" gives access to every user on the host/],
  ['admin.mode', '"0662"', /gives access to every user/],
  ['admin.mode', '"0460"', /the owner needs read and write \(6\) to connect/],
  ['admin.mode', '"0o660"', /expected an octal mode like "0660", got "0o660"/],
  ['admin.mode', '"0680"', /expected an octal mode/],
  ['mesh.fleet', 'Prod', /"Prod" is not a fleet id/],
  ['mesh.fleet', '-a', /"-a" is not a fleet id/],
  ['mesh.fleet', `${'f'.repeat(64)}`, /must be 1\.\.63 characters, got 64/],
  ['mesh.fleet', '7', /expected a fleet id .*got 7/],
  ['mesh.key_file', 'fleet.key', /"fleet.key" is not an absolute path/],
  ['mesh.deny_peers_file', 'deny', /"deny" is not an absolute path/],
  ['mesh.listen', '/ip4/0.0.0.0/tcp/7700', /expected a list of multiaddrs, e\.g\. \["\/ip4\/0\.0\.0\.0\/tcp\/7700"\], got "\/ip4/],
  ['mesh.listen', '[]', /must have 1\.\.16 addresses, got 0/],
  ['mesh.listen.0', '[0.0.0.0:7700]', /"0\.0\.0\.0:7700" is not a multiaddr: .*\(expected \/ip4\|ip6\/<address>\/tcp\/<port>\)/],
  ['mesh.listen.0', '[/ip4/999.0.0.1/tcp/7700]', /is not a multiaddr: Invalid IPv4 address/],
  ['mesh.listen.0', '[/ip4/1.2.3.4/tcp/70000]', /is not a multiaddr: .*65535/],
  ['mesh.listen.0', '[/dns4/example.com/tcp/7700]', /is not a TCP address Shoal can use \(expected \/ip4\|ip6\/<address>/],
  ['mesh.listen.0', '[/ip4/1.2.3.4/udp/7700/quic-v1]', /is not a TCP address Shoal can use/],
  ['mesh.listen.0', `[/ip4/1.2.3.4/tcp/7700/p2p/${PEER}]`, /ends in \/p2p\/\.\.\.: listen addresses are this agent's own/],
  ['mesh.listen.1', '[/ip4/1.2.3.4/tcp/1, /ip4/1.2.3.4/tcp/1]', /"\/ip4\/1\.2\.3\.4\/tcp\/1" is listed twice/],
  ['mesh.listen.0', '[5]', /expected a multiaddr string/],
  ['mesh.announce.0', '[/ip4/1.2.3.4]', /is not a TCP address Shoal can use \(expected \/ip4\|ip6\|dns4\|dns6\|dns\/<host>\/tcp\/<port>\)/],
  ['mesh.announce', `[${Array.from({ length: 17 }, (_, i) => `/ip4/10.0.0.${i}/tcp/1`).join(', ')}]`, /must have 0\.\.16 addresses, got 17/],
  ['mesh.bootstrap.0', '[/ip4/10.0.0.5/tcp/7700]', /has no \/p2p\/<peer id>: a bootstrap address names the agent to dial/],
  ['mesh.bootstrap.0', '[/ip4/10.0.0.5/tcp/7700/p2p/notapeer]', /has "notapeer" after \/p2p\/, which is not a peer id/],
  ['mesh.bootstrap', `[/ip4/10.0.0.5/tcp/7700/p2p/${PEER}]`, /is set but key_file is null: without the fleet key the agent runs alone/],
  ['mesh.coordinator_eligible', 'no', /expected true or false, got "no"/],
  ['mesh.council_size', '4', /must be odd .*got 4/],
  ['mesh.council_size', '9', /must be 1\.\.7, got 9/],
  ['mesh.council_size', '0', /must be 1\.\.7, got 0/],
  ['mesh.probe_interval', '10ms', /must be 50ms\.\.60s, got 10ms/],
  ['mesh.probe_timeout', '1m', /must be 5ms\.\.30s/],
  ['hooks.cordon', '/usr/local/bin/shoal-cordon', /expected a list \(the program, then each argument\), e\.g\. \["\/usr\/local\/bin\/shoal-cordon"\], got the string .*hooks run without a shell, so a string is not split/],
  ['hooks.cordon', '[]', /must have 1\.\.64 items/],
  ['hooks.cordon.0', '[kubectl, cordon]', /the program "kubectl" must be an absolute path \(the agent does not search PATH\)/],
  ['hooks.cordon.1', '[/bin/x, 5]', /expected a string, got 5 \(quote it: "5"\)/],
  ['hooks.uncordon', '{ a: 1 }', /expected a list .* or null, got a mapping/],
  ['hooks.drain.1', `[/bin/x, ${'a'.repeat(4097)}]`, /an argument is at most 4096 bytes/],
  ['hooks.drain_status', '5', /expected a list .*got 5/],
  ['hooks.timeout', '0', /must be 1s\.\.10m, got 0ms/],
  ['hooks.timeout', '30', /30 has no unit/],
  ['hooks.drain_timeout', '5s', /must be 10s\.\.24h, got 5s/],
  ['hooks.drain_poll', '500ms', /must be 1s\.\.10m, got 500ms/],
  ['log.level', 'verbose', /must be one of fatal, error, warn, info, debug, trace, got "verbose"/],
  ['log.level', '3', /must be one of .*got 3/],
]

/** node.labels.rack, mesh.listen.0: an error inside a mapping or list field. */
const fieldOf = (path: string): string => path.startsWith('node.labels') ? 'node.labels' : path.replace(/\.\d+$/, '')

function yamlFor (path: string, value: string): string {
  // node.labels.rack, mesh.listen.0 -> the row's value is the whole mapping or list.
  const keys = fieldOf(path).split('.')
  return keys.map((k, i) => `${'  '.repeat(i)}${k}:${i === keys.length - 1 ? ` ${value}` : ''}`).join('\n') + '\n'
}

for (const [path, value, want] of bad) {
  t.test(`${path}: ${value.slice(0, 40)}`, async (t) => {
    const issues = issuesOf(yamlFor(path, value))
    t.equal(issues.length, 1, JSON.stringify(issues))
    t.equal(issues[0]?.path, path)
    t.match(issues[0]?.message, want)
  })
}

t.test('every field has a bad-value row above', async (t) => {
  const covered = new Set(bad.map(([p]) => fieldOf(p)))
  for (const leaf of leaves(agentConfigSchema)) t.ok(covered.has(leaf.path), leaf.path)
})

t.test('relations between fields are checked once each field is valid', async (t) => {
  t.same(issuesOf('mesh: { key_file: /etc/shoal/fleet.key, coordinator_eligible: false }\n'), [{
    path: 'mesh.bootstrap',
    message: 'is empty, so this agent would found the fleet, but coordinator_eligible is false: give the address of an agent already in the fleet',
  }])
  t.same(issuesOf('mesh: { probe_interval: 250ms, probe_timeout: 200ms }\n'), [{
    path: 'mesh.probe_timeout',
    message: '(200 ms) must be at most half of probe_interval (250 ms): a probe\'s indirect round needs the other half',
  }])
  t.same(issuesOf('hooks: { drain_timeout: 1m, drain_poll: 2m }\n'), [{ path: 'hooks.drain_poll', message: 'must not exceed drain_timeout (1m), got 2m' }])
  // A bad field and a broken relation in one section: the field is reported, the relation waits.
  t.same(issuesOf('hooks: { drain_timeout: 1m, drain_poll: 2m, timeout: 1h }\n').map((i) => i.path), ['hooks.timeout'])
  t.same(load(`mesh: { key_file: /k, coordinator_eligible: false, bootstrap: [/ip4/10.0.0.5/tcp/7700/p2p/${PEER}] }`).mesh.coordinatorEligible, false)
})

t.test('a section that is not a mapping', async (t) => {
  t.same(issuesOf('sampling: 5\n'), [{ path: 'sampling', message: 'expected a mapping of fields, got 5' }])
  t.same(issuesOf('- a\n'), [{ path: '', message: 'the file must be a mapping of sections (node:, sampling:, ...), got a list' }])
  t.same(issuesOf('hello\n'), [{ path: '', message: 'the file must be a mapping of sections (node:, sampling:, ...), got "hello"' }])
})

t.test('unknown fields are errors, with a did-you-mean within 2 edits', async (t) => {
  const rows: Array<[string, string, string]> = [
    ['sampling:\n  intervl: 1s\n', 'sampling.intervl', 'unknown field (did you mean interval?)'],
    ['sampling:\n  dedupWindow: 1s\n', 'sampling.dedupWindow', 'unknown field (did you mean dedup_window?)'],
    ['samplng: {}\n', 'samplng', 'unknown field (did you mean sampling?)'],
    ['node:\n  expect:\n    gpu: 8\n', 'node.expect.gpu', 'unknown field (did you mean gpus?)'],
    ['store:\n  journal:\n    max_entris: 5\n', 'store.journal.max_entris', 'unknown field (did you mean max_entries?)'],
    ['level: debug\n', 'level', 'unknown field (did you mean log.level?)'],
    ['mesh:\n  keyfile: /k\n', 'mesh.keyfile', 'unknown field (did you mean key_file?)'],
    ['hooks:\n  drain-status: [/x]\n', 'hooks.drain-status', 'unknown field (did you mean drain_status?)'],
    ['council_size: 3\n', 'council_size', 'unknown field (did you mean mesh.council_size?)'],
    ['fleet_key: abc\n', 'fleet_key', 'unknown field'],
    ['__proto__: { a: 1 }\n', '__proto__', 'unknown field'],
    ['<<: { log: { level: debug } }\n', '<<', 'unknown field'],
  ]
  for (const [text, path, message] of rows) t.same(issuesOf(text), [{ path, message }], text)
})

t.test('every problem at once, one line each, prefixed with the source', async (t) => {
  const text = 'sampling:\n  interval: 10 parsecs\n  intervl: 1s\nadmin:\n  mode: "0666"\nlog:\n  level: loud\n'
  const err = t.throws(() => loadConfig(text, '/etc/shoal/agent.yaml')) as ConfigError
  t.ok(err instanceof ConfigError)
  t.equal(err.name, 'ConfigError')
  t.equal(err.source, '/etc/shoal/agent.yaml')
  t.equal(err.issues.length, 4)
  const lines = err.message.split('\n')
  t.same(lines, [
    '/etc/shoal/agent.yaml: sampling.interval: "10 parsecs" is not a duration (use 500ms, 1s, 5m, 1h)',
    '/etc/shoal/agent.yaml: sampling.intervl: unknown field (did you mean interval?)',
    '/etc/shoal/agent.yaml: admin.mode: "0666" gives access to every user on the host; the admin socket is owner/group only (e.g. "0660")',
    '/etc/shoal/agent.yaml: log.level: must be one of fatal, error, warn, info, debug, trace, got "loud"',
  ])
})

t.test('a flood of problems is cut in the message, kept in issues', async (t) => {
  const text = Array.from({ length: 80 }, (_, i) => `unknown_${i}: 1`).join('\n')
  const err = t.throws(() => load(text)) as ConfigError
  t.equal(err.issues.length, 80)
  const lines = err.message.split('\n')
  t.equal(lines.length, 51)
  t.equal(lines[50], 'agent.yaml: … and 30 more problems')
})

t.test('YAML syntax errors name line and column', async (t) => {
  t.same(issuesOf('node:\n  name: a\nnode:\n  pool: b\n'), [{ path: '', message: 'line 3, column 1: Map keys must be unique' }])
  t.match(issuesOf('sampling:\n  interval: [1s\n')[0]?.message, /^line \d+, column \d+: /)
  t.match(issuesOf('node:\n\tname: a\n')[0]?.message, /^line 2, column 1: Tabs are not allowed as indentation/)
  t.match(issuesOf('log: { level: "info }\n')[0]?.message, /^line \d+, column \d+: Missing closing "quote/)
  t.match(issuesOf('node: { name: !custom a }\n')[0]?.message, /^line 1, column 15: Unresolved tag: !custom/)
  t.match(issuesOf('log: {}\n---\nlog: {}\n')[0]?.message, /^line 2, column 1: Source contains multiple documents/)
  t.match(issuesOf('? [a, b]\n: 1\n')[0]?.message, /^line 1, column 3: .*key/i)
  const err = t.throws(() => loadConfig('a: 1\na: 2\n', 'x.yaml')) as ConfigError
  t.equal(err.message, 'x.yaml: line 2, column 1: Map keys must be unique')
})

t.test('bounded input: size and aliases', async (t) => {
  const big = `# ${'x'.repeat(CONFIG_MAX_BYTES)}\n`
  t.same(issuesOf(big), [{ path: '', message: `is ${CONFIG_MAX_BYTES + 3} bytes; a config is at most ${CONFIG_MAX_BYTES} (1 MiB)` }])
  // Multi-byte characters count as bytes, not as characters.
  t.match(issuesOf(`# ${'é'.repeat(CONFIG_MAX_BYTES / 2)}\n`)[0]?.message, /bytes; a config is at most/)
  const bomb = [
    'a: &a [x, x, x, x, x, x, x, x, x]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
  ].join('\n')
  t.match(issuesOf(bomb)[0]?.message, /Excessive alias count/)
  t.match(issuesOf('a: *nowhere\n')[0]?.message, /alias|anchor/i)
  // A small alias is fine: it expands to a value like any other.
  t.equal(load('node: { name: &n GPU-1 }\n').node.name, 'GPU-1')
  t.match(issuesOf('node: { name: &n GPU-1, pool: *n }\n')[0]?.message, /"GPU-1" is not a pool name/)
})
