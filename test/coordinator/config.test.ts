// coordinator/config.ts: the coordinator file, parsed strictly; every error names its field.
import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../../agent/config/errors.js'
import { DEFAULT_COORDINATOR_CONFIG, loadCoordinatorFile, parseCoordinatorFile } from '../../coordinator/config.js'
import { DEFAULT_AUTOSCALE_CONFIG as A } from '../../coordinator/autoscale/defaults.js'
import { DEFAULT_CALL_POLICY } from '../../coordinator/providers/options.js'
import { WEBHOOK_EVENT_KINDS } from '../../coordinator/webhook.js'

const FULL = `
providers:
  - name: aws
    kind: aws
    regions: [us-east-1, us-west-2]
    endpoint: http://127.0.0.1:5055
    profile: ops
    image_ids: {us-east-1: ami-111, us-west-2: ami-222}
    subnet_ids: {us-east-1a: subnet-1}
    key_name: shoal
    timeout: 20s
    max_attempts: 5
  - {name: gcp, project: my-project, zones: [us-central1-a, us-central1-b], image: projects/p/global/images/i, disk_size_gb: 500}
  - {name: lambda, endpoint: https://cloud.lambda.ai/api/v1, api_key_env: LAMBDA_KEY, ssh_key_name: shoal, launch_interval: 0}
pools:
  - name: train
    min_nodes: 2
    max_nodes: 16
    strategy: cost
    providers:
      - {provider: aws, region: us-east-1, zone: us-east-1a, instance_type: p5.48xlarge, priority: 1, cost_per_hour: 98.32, weight: 2}
      - {provider: gcp, region: us-central1, zone: us-central1-b, instance_type: a3-highgpu-8g}
      - {provider: lambda, region: us-west-1, instance_type: gpu_8x_h100_sxm5}
    labels: {team: ml}
    gpus_per_node: 8
    gpu_model: H100
    health: {auto_replace: false, breaker: 25%, max_in_flight: 3, boot_deadline: 20m, max_attempts: 2, dead_replace_after: 30s}
    autoscaling: {type: queue, jobs_per_node: 10, cooldown: {up: 1m, down: 5m}}
  - name: infer
    min_nodes: 1
    providers: [{provider: aws, region: us-west-2, instance_type: p4d.24xlarge}]
    autoscaling:
      type: composite
      mode: avg
      autoscalers:
        - {type: reactive, scale_up_at: 90, scale_down_at: 20%, step: 2, window: 1m}
        - type: scheduled
          windows: [{days: [mon, 5], start: "22:00", end: "06:00", min_nodes: 0, max_nodes: 4}]
          fallback: {type: predictive, window: 1h, horizon: 15m, target: 60}
reconcile: {interval: 2s, list_interval: 1m}
replacement: {breaker: 0.1, max_in_flight: 5}
orphan_grace: 30m
webhooks:
  - {url: https://ops.example/shoal, events: [dead, replaced], timeout: 2s}
  - {url: http://127.0.0.1:9000/hook, secret_file: /etc/shoal/hook.secret}
`

t.test('a full file parses into the planner\'s shapes', async (t) => {
  const c = parseCoordinatorFile(FULL, 'c.yaml')
  t.equal(c.providers.length, 3)
  t.same(c.providers[0], {
    kind: 'aws', name: 'aws', regions: ['us-east-1', 'us-west-2'], endpoint: 'http://127.0.0.1:5055', profile: 'ops',
    imageIds: { 'us-east-1': 'ami-111', 'us-west-2': 'ami-222' }, subnetIds: { 'us-east-1a': 'subnet-1' }, keyName: 'shoal', userData: null,
    call: { ...DEFAULT_CALL_POLICY, timeoutMs: 20_000, maxAttempts: 5 },
  })
  t.match(c.providers[1], { kind: 'gcp', project: 'my-project', diskSizeGb: 500, credentialsFile: null, endpoint: null })
  t.match(c.providers[2], { kind: 'lambda', apiKeyEnv: 'LAMBDA_KEY', launchIntervalMs: 0, requestIntervalMs: 1000, sshKeyName: 'shoal' })
  const [train, infer] = c.pools
  t.match(train, { name: 'train', minNodes: 2, maxNodes: 16, strategy: 'cost', labels: { team: 'ml' }, gpusPerNode: 8, gpuModel: 'H100' })
  t.same(train?.offers, [
    { provider: 'aws', region: 'us-east-1', zone: 'us-east-1a', instanceType: 'p5.48xlarge', priority: 1, costPerHour: 98.32, weight: 2 },
    { provider: 'gcp', region: 'us-central1', zone: 'us-central1-b', instanceType: 'a3-highgpu-8g', priority: 1, costPerHour: undefined, weight: 1 },
    { provider: 'lambda', region: 'us-west-1', zone: '', instanceType: 'gpu_8x_h100_sxm5', priority: 2, costPerHour: undefined, weight: 1 },
  ], 'priority defaults to the position in the list')
  t.same(train?.health, { autoReplace: false, breakerFraction: 0.25, maxInFlight: 3, bootDeadlineMs: 1_200_000, maxAttempts: 2, deadReplaceAfterMs: 30_000 })
  t.same(train?.autoscaler, { kind: 'queue', jobsPerNode: 10, cooldown: { upMs: 60_000, downMs: 300_000 } })
  t.match(infer, { minNodes: 1, maxNodes: 1, strategy: 'priority', gpusPerNode: undefined, gpuModel: '' })
  t.same(infer?.health, { ...DEFAULT_COORDINATOR_CONFIG.replacement, breakerFraction: 0.1, maxInFlight: 5 }, 'pool health inherits replacement:')
  const cooldown = { upMs: A.cooldownUpMs, downMs: A.cooldownDownMs }
  t.same(infer?.autoscaler, {
    kind: 'composite',
    mode: 'avg',
    cooldown,
    children: [
      { kind: 'reactive', scaleUpAt: 90, scaleDownAt: 20, step: 2, windowMs: 60_000, cooldown },
      {
        kind: 'scheduled',
        windows: [{ days: [1, 5], startMinute: 1320, endMinute: 360, minNodes: 0, maxNodes: 4 }],
        fallback: { kind: 'predictive', windowMs: 3_600_000, horizonMs: 900_000, target: 60, fallback: null, cooldown },
        cooldown,
      },
    ],
  })
  t.same(c.reconcile, { intervalMs: 2000, listIntervalMs: 60_000 })
  t.equal(c.orphanGraceMs, 1_800_000)
  t.same(c.webhooks, [
    { url: 'https://ops.example/shoal', secretEnv: 'SHOAL_WEBHOOK_SECRET', secretFile: null, events: ['dead', 'replaced'], timeoutMs: 2000 },
    { url: 'http://127.0.0.1:9000/hook', secretEnv: 'SHOAL_WEBHOOK_SECRET', secretFile: '/etc/shoal/hook.secret', events: [...WEBHOOK_EVENT_KINDS], timeoutMs: 5000 },
  ])
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.pools[0]?.offers[0]), 'deep-frozen')
})

const MINIMAL = 'providers: [{name: aws, regions: [us-east-1], image_ids: {us-east-1: ami-1}}]\npools: [{name: p, min_nodes: 1, providers: [{provider: aws, region: us-east-1, instance_type: p5.48xlarge}]}]\n'

t.test('defaults are applied, each from DEFAULT_COORDINATOR_CONFIG', async (t) => {
  const c = parseCoordinatorFile(MINIMAL, 'c.yaml')
  const d = DEFAULT_COORDINATOR_CONFIG
  t.same(c.reconcile, { intervalMs: d.reconcileIntervalMs, listIntervalMs: d.listIntervalMs })
  t.same(c.replacement, d.replacement)
  t.same(c.pools[0]?.health, d.replacement)
  t.equal(c.orphanGraceMs, d.orphanGraceMs)
  t.same(c.webhooks, [])
  t.match(c.pools[0], { maxNodes: 1, strategy: d.pool.strategy, labels: {}, autoscaler: null, gpuModel: '' })
  t.same(c.providers[0], {
    kind: 'aws', name: 'aws', regions: ['us-east-1'], endpoint: null, profile: null, imageIds: { 'us-east-1': 'ami-1' }, subnetIds: {},
    keyName: null, userData: null, call: DEFAULT_CALL_POLICY,
  })
  const auto = (a: string) => parseCoordinatorFile(MINIMAL.replace('min_nodes: 1,', `min_nodes: 1, autoscaling: ${a},`), 'c.yaml').pools[0]?.autoscaler
  const cooldown = { upMs: A.cooldownUpMs, downMs: A.cooldownDownMs }
  t.same(auto('{type: reactive}'), { kind: 'reactive', scaleUpAt: A.scaleUpAt, scaleDownAt: A.scaleDownAt, step: A.step, windowMs: A.reactiveWindowMs, cooldown })
  t.same(auto('{type: queue}'), { kind: 'queue', jobsPerNode: A.jobsPerNode, cooldown })
  t.same(auto('{type: predictive}'), { kind: 'predictive', windowMs: A.predictiveWindowMs, horizonMs: A.horizonMs, target: A.target, fallback: null, cooldown })
  t.same(auto('{type: scheduled, windows: [{start: "08:00", end: "18:00", min_nodes: 2, max_nodes: 3}]}'), {
    kind: 'scheduled', windows: [{ days: [], startMinute: 480, endMinute: 1080, minNodes: 2, maxNodes: 3 }], fallback: null, cooldown,
  })
  t.same(auto('{type: composite, autoscalers: [{type: queue}]}'), {
    kind: 'composite', mode: A.mode, children: [{ kind: 'queue', jobsPerNode: A.jobsPerNode, cooldown }], cooldown,
  })
  t.same(auto('null'), null)
})

const P = 'providers: [{name: aws, regions: [us-east-1], image_ids: {us-east-1: ami-1}}, {name: g, kind: gcp, project: my-project, zones: [us-central1-a], image: img}, {name: lambda, ssh_key_name: k}]\n'
const pool = (extra: string, offers = '[{provider: aws, region: us-east-1, instance_type: p5.48xlarge}]'): string =>
  `${P}pools: [{name: p, min_nodes: 1, providers: ${offers}${extra === '' ? '' : `, ${extra}`}}]\n`

// Each row: a file and the one error line it must produce (path: message). Table order follows the file.
const errors: Array<[string, string, string]> = [
  ['empty file', '', 'providers: required'],
  ['not a mapping', '[1, 2]', 'the file must be a mapping'],
  ['bad YAML', 'pools: [', 'line 1'],
  ['unknown top-level key, with a hint', `${pool('')}orphan_grce: 1m`, 'orphan_grce: unknown field (did you mean orphan_grace?)'],
  ['pools required', P, 'pools: required'],
  ['empty pools', `${P}pools: []`, 'pools: must have 1..64 pools, got 0'],
  ['offer region required', pool('', '[{provider: aws, instance_type: t}]'), 'pools[0].providers[0].region: required'],
  ['second offer region required', pool('', '[{provider: aws, region: us-east-1, instance_type: t}, {provider: aws, instance_type: t}]'), 'pools[0].providers[1].region: required'],
  ['at least one offer', pool('', '[]'), 'pools[0].providers: must have 1..32 provider entries, got 0'],
  ['offers required', `${P}pools: [{name: p, min_nodes: 1}]`, 'pools[0].providers: required'],
  ['unknown offer key', pool('', '[{provider: aws, region: us-east-1, instance_type: t, wieght: 2}]'), 'pools[0].providers[0].wieght: unknown field (did you mean weight?)'],
  ['undeclared provider', pool('', '[{provider: azure, region: eastus, instance_type: t}]'), 'pools[0].providers[0].provider: "azure" is not a declared provider (declared: aws, g, lambda)'],
  ['pool name pattern', pool('').replace('name: p,', 'name: Train,'), 'pools[0].name: "Train" is not a pool name'],
  ['pool name length', pool('').replace('name: p,', `name: ${'a'.repeat(64)},`), 'pools[0].name: must be at most 63 characters, got 64'],
  ['pool names unique', `${P}pools: [{name: p, min_nodes: 1, providers: [{provider: lambda, region: r, instance_type: t}]}, {name: p, min_nodes: 1, providers: [{provider: lambda, region: r, instance_type: t}]}]`, 'pools[1].name: "p" is declared twice'],
  ['min ≤ max', pool('max_nodes: 0'), 'pools[0].max_nodes: must be at least min_nodes (1), got 0'],
  ['min_nodes required', pool('').replace('min_nodes: 1, ', ''), 'pools[0].min_nodes: required'],
  ['min_nodes integer', pool('').replace('min_nodes: 1', 'min_nodes: 1.5'), 'pools[0].min_nodes: expected an integer 0..10000, got 1.5'],
  ['strategy', pool('strategy: cheapest'), 'pools[0].strategy: must be one of priority, cost, round-robin, availability, got "cheapest"'],
  ['priority integer', pool('', '[{provider: aws, region: us-east-1, instance_type: t, priority: 1.5}]'), 'pools[0].providers[0].priority: expected an integer 0..1000, got 1.5'],
  ['weight ≥ 1', pool('', '[{provider: aws, region: us-east-1, instance_type: t, weight: 0}]'), 'pools[0].providers[0].weight: must be 1..1000, got 0'],
  ['cost', pool('', '[{provider: aws, region: us-east-1, instance_type: t, cost_per_hour: cheap}]'), 'pools[0].providers[0].cost_per_hour: expected USD per hour'],
  ['duplicate offer', pool('', '[{provider: aws, region: us-east-1, instance_type: t}, {provider: aws, region: us-east-1, instance_type: t}]'), 'pools[0].providers[1]: the same offer as providers[0]'],
  ['aws region not declared', pool('', '[{provider: aws, region: eu-west-1, instance_type: t}]'), 'pools[0].providers[0].region: "eu-west-1" is not one of aws\'s regions (us-east-1)'],
  ['aws region without an image', P.replace('{us-east-1: ami-1}', '{}') + 'pools: [{name: p, min_nodes: 1, providers: [{provider: aws, region: us-east-1, instance_type: t}]}]', 'pools[0].providers[0].region: aws has no image_ids entry for us-east-1'],
  ['gcp default zone not listed', pool('', '[{provider: g, region: europe-west4, instance_type: t}]'), 'pools[0].providers[0].region: g does not list zone europe-west4-a'],
  ['gcp zone outside region', pool('', '[{provider: g, region: us-central1, zone: us-east1-b, instance_type: t}]'), 'pools[0].providers[0].zone: "us-east1-b" is not in region us-central1'],
  ['lambda has no zones', pool('', '[{provider: lambda, region: us-west-1, zone: us-west-1a, instance_type: t}]'), 'pools[0].providers[0].zone: Lambda has no zones'],
  ['breaker as a percentage', pool('health: {breaker: 120%}'), 'pools[0].health.breaker: must be above 0 and at most 1 (100%), got "120%"'],
  ['breaker as text', pool('health: {breaker: half}'), 'pools[0].health.breaker: expected a fraction (0.2) or a percentage ("20%"), got "half"'],
  ['health unknown key', pool('health: {max_inflight: 2}'), 'pools[0].health.max_inflight: unknown field (did you mean max_in_flight?)'],
  ['duration without unit', pool('health: {boot_deadline: 900}'), 'pools[0].health.boot_deadline: 900 has no unit'],
  ['replacement bounds', `${pool('')}replacement: {max_attempts: 11}`, 'replacement.max_attempts: must be 1..10, got 11'],
  ['provider kind required', `providers: [{name: mycloud, regions: [x]}]\npools: []`, 'providers[0].kind: required'],
  ['provider kind unknown', `providers: [{name: x, kind: azure}]\npools: []`, 'providers[0].kind: must be one of aws, gcp, lambda, got "azure"'],
  ['provider names unique', `providers: [{name: lambda, ssh_key_name: k}, {name: lambda, ssh_key_name: k}]\npools: [{name: p, min_nodes: 0, providers: [{provider: lambda, region: r, instance_type: t}]}]`, 'providers[1].name: "lambda" is declared twice (first at providers[0])'],
  ['aws regions required', `providers: [{name: aws}]\npools: []`, 'providers[0].regions: required'],
  ['gcp project required', `providers: [{name: gcp, zones: [z], image: i}]\npools: []`, 'providers[0].project: required'],
  ['lambda ssh key required', `providers: [{name: lambda}]\npools: []`, 'providers[0].ssh_key_name: required'],
  ['provider unknown key', `providers: [{name: gcp, project: my-project, zones: [z], image: i, disk_sizegb: 10}]\npools: []`, 'providers[0].disk_sizegb: unknown field (did you mean disk_size_gb?)'],
  ['endpoint scheme', `providers: [{name: aws, regions: [r], endpoint: ftp://x}]\npools: []`, 'providers[0].endpoint: "ftp://x": only http and https URLs'],
  ['backoff ≤ max_backoff', P.replace('{name: lambda, ssh_key_name: k}', '{name: lambda, ssh_key_name: k, backoff: 20s, max_backoff: 1s}') + 'pools: [{name: p, min_nodes: 1, providers: [{provider: lambda, region: r, instance_type: t}]}]', 'providers[2].backoff: must not exceed max_backoff (1s), got 20s'],
  ['image for an undeclared region', P.replace('{us-east-1: ami-1}', '{us-east-1: ami-1, us-east-2: ami-2}') + 'pools: [{name: p, min_nodes: 1, providers: [{provider: aws, region: us-east-1, instance_type: t}]}]', 'providers[0].image_ids.us-east-2: not one of this provider\'s regions (us-east-1)'],
  ['autoscaler kind', pool('autoscaling: {type: magic}'), 'pools[0].autoscaling.type: must be one of reactive, queue, scheduled, predictive, composite, got "magic"'],
  ['autoscaler unknown key', pool('autoscaling: {type: queue, jobs_per_nod: 3}'), 'pools[0].autoscaling.jobs_per_nod: unknown field (did you mean jobs_per_node?)'],
  ['reactive thresholds', pool('autoscaling: {type: reactive, scale_up_at: 50, scale_down_at: 60}'), 'pools[0].autoscaling.scale_down_at: must be below scale_up_at (50), got 60'],
  ['scheduled day', pool('autoscaling: {type: scheduled, windows: [{days: [monday], start: "09:00", end: "17:00", min_nodes: 1, max_nodes: 2}]}'), 'pools[0].autoscaling.windows[0].days[0]: must be one of sun, mon, tue, wed, thu, fri, sat (or 0..6, 0 = Sunday), got "monday"'],
  ['scheduled time', pool('autoscaling: {type: scheduled, windows: [{start: "9am", end: "17:00", min_nodes: 1, max_nodes: 2}]}'), 'pools[0].autoscaling.windows[0].start: expected a UTC time "HH:MM" (quoted), got "9am"'],
  ['scheduled min ≤ max', pool('autoscaling: {type: scheduled, windows: [{start: "09:00", end: "17:00", min_nodes: 3, max_nodes: 2}]}'), 'pools[0].autoscaling.windows[0].max_nodes: must be at least min_nodes (3), got 2'],
  ['nested in a composite', pool('autoscaling: {type: composite, autoscalers: [{type: queue}, {type: reactive, step: 0}]}'), 'pools[0].autoscaling.autoscalers[1].step: must be 1..1000, got 0'],
  ['cooldown', pool('autoscaling: {type: queue, cooldown: {up: soon}}'), 'pools[0].autoscaling.cooldown.up: "soon" is not a duration'],
  ['nesting bounded', pool('autoscaling: {type: composite, autoscalers: [{type: composite, autoscalers: [{type: composite, autoscalers: [{type: composite, autoscalers: [{type: queue}]}]}]}]}'), 'pools[0].autoscaling.autoscalers[0].autoscalers[0].autoscalers[0].autoscalers: autoscalers nest at most 4 levels'],
  ['percent bounds', pool('autoscaling: {type: predictive, target: 0.7}').replace('0.7', '170'), 'pools[0].autoscaling.target: must be 0..100 (percent), got 170'],
  ['webhook url required', `${pool('')}webhooks: [{events: [dead]}]`, 'webhooks[0].url: required'],
  ['webhook event kind', `${pool('')}webhooks: [{url: https://x.example, events: [dead, exploded]}]`, 'webhooks[0].events[1]: must be one of'],
  ['webhook secret env name', `${pool('')}webhooks: [{url: https://x.example, secret_env: "a b"}]`, 'webhooks[0].secret_env: "a b" is not an environment variable name'],
]

for (const [name, text, expected] of errors) {
  t.test(`error: ${name}`, async (t) => {
    try {
      parseCoordinatorFile(text, 'c.yaml')
      t.fail('parsed')
    } catch (err) {
      t.type(err, ConfigError)
      const lines = (err as Error).message.split('\n')
      t.ok(lines.some((l) => l.startsWith(`c.yaml: ${expected}`)), `${expected}\n  in:\n${lines.join('\n')}`)
    }
  })
}

t.test('every problem is reported at once', async (t) => {
  const err = t.throws(() => parseCoordinatorFile(pool('strategy: x, labels: 3, gpus_per_node: 0', '[{provider: aws}]'), 'c.yaml')) as ConfigError
  t.same(err.issues.map((i) => i.path).sort(), [
    'pools[0].gpus_per_node', 'pools[0].labels', 'pools[0].providers[0].instance_type', 'pools[0].providers[0].region', 'pools[0].strategy',
  ])
})

t.test('loadCoordinatorFile reads a file and names it in errors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-coord-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'coordinator.yaml')
  await writeFile(path, MINIMAL)
  t.equal((await loadCoordinatorFile(path)).pools[0]?.name, 'p')
  await t.rejects(loadCoordinatorFile(join(dir, 'missing.yaml')), { message: `${join(dir, 'missing.yaml')}: cannot read: no such file` })
  await t.rejects(loadCoordinatorFile(dir), { message: `${dir}: is not a regular file` })
})

t.test('docs/coordinator.example.yaml parses', async (t) => {
  const text = readFileSync(new URL('../../docs/coordinator.example.yaml', import.meta.url), 'utf8')
  const c = parseCoordinatorFile(text, 'docs/coordinator.example.yaml')
  t.same(c.providers.map((p) => p.kind), ['aws', 'gcp', 'lambda'])
  t.ok(c.pools.length >= 2)
  t.ok(c.webhooks.length >= 1)
})
