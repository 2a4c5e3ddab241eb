// The scenario's providers for real agents: one FakeCloud behind one fake Lambda Cloud server per
// provider, on 127.0.0.1, and the coordinator file that points the council at them. Every call the
// coordinator makes is seen here (the FakeCloud is wrapped) for the report and the invariants.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FakeCloud, type FakeInstance, type FakeOutcome } from '../../../coordinator/providers/fake-cloud.js'
import { startLambdaServer, type LambdaServer } from '../../../coordinator/providers/lambda-server.js'
import type { ProvisionRequest } from '../../../coordinator/providers/provider.js'
import type { Scenario } from '../scenario/load.js'

const API_KEY = 'mesh-harness-key'

export interface ProviderCall {
  readonly provider: string
  readonly op: 'provision' | 'list' | 'terminate'
  readonly errorClass: string | null
  readonly latencyMs: number
  /** provision: the request (its tags name pool, slot and generation). */
  readonly request?: ProvisionRequest
  /** provision: the instance it created (not one it found by token). */
  readonly created?: FakeInstance
}

export interface MeshCloud {
  readonly name: string
  readonly region: string
  readonly instanceType: string
  readonly fake: FakeCloud
  readonly server: LambdaServer
  /** The scenario's capacity, to restore after a capacity fault. */
  readonly capacity: number | 'unlimited'
}

export interface MeshCloudHooks {
  onLaunch: (cloud: MeshCloud, inst: FakeInstance) => void
  onTerminate: (cloud: MeshCloud, inst: FakeInstance) => void
  onCall: (call: ProviderCall) => void
}

export async function startClouds (s: Scenario, hooks: MeshCloudHooks): Promise<MeshCloud[]> {
  const out: MeshCloud[] = []
  try {
    for (const p of s.providers) {
      const fake = new FakeCloud({
        provider: p.name,
        seed: `${String(s.seed)}:${p.name}`,
        offerings: [{ region: p.region, instanceType: p.instance_type, capacity: p.capacity, pricePerHour: 20 }],
        latencyMsMin: p.latency.min,
        latencyMsMax: p.latency.max,
        doaRate: p.doa_rate,
        idPrefix: '',
      })
      const cloud: { -readonly [K in keyof MeshCloud]: MeshCloud[K] } = { name: p.name, region: p.region, instanceType: p.instance_type, fake, server: undefined as never, capacity: p.capacity }
      wrap(cloud, hooks.onCall)
      cloud.server = await startLambdaServer({
        cloud: fake,
        apiKey: API_KEY,
        onLaunch: (inst) => { hooks.onLaunch(cloud, inst) },
        onTerminate: (inst) => { hooks.onTerminate(cloud, inst) },
      })
      out.push(cloud)
    }
  } catch (err) {
    await stopClouds(out)
    throw err
  }
  return out
}

export async function stopClouds (clouds: readonly MeshCloud[]): Promise<void> {
  await Promise.allSettled(clouds.map(async (c) => { await c.server?.close() }))
}

/** Every provision, list and terminate the server asks of the model, reported as it returns. */
function wrap (c: MeshCloud, onCall: (call: ProviderCall) => void): void {
  const f = c.fake
  const seen = <T>(op: ProviderCall['op'], out: FakeOutcome<T>, extra: Partial<ProviderCall> = {}): void => {
    if (out.kind === 'hang') onCall({ provider: c.name, op, errorClass: 'hang', latencyMs: 0, ...extra })
    else onCall({ provider: c.name, op, errorClass: out.kind === 'error' ? out.error.errorClass : null, latencyMs: out.latencyMs, ...extra })
  }
  const provision = f.provision.bind(f)
  f.provision = (req, now) => {
    const out = provision(req, now)
    const created = out.kind === 'ok' && !out.value.existing ? out.value.instance : out.kind === 'hang' && out.committed !== undefined && !out.committed.existing ? out.committed.instance : undefined
    seen('provision', out, created === undefined ? { request: req } : { request: req, created })
    return out
  }
  const list = f.list.bind(f)
  f.list = (fleet, now) => {
    const out = list(fleet, now)
    seen('list', out)
    return out
  }
  const terminate = f.terminate.bind(f)
  f.terminate = (id, now) => {
    const out = terminate(id, now)
    seen('terminate', out)
    return out
  }
}

/** The coordinator file every council agent gets: the scenario's providers and its one pool. */
export function writeCoordinatorFile (s: Scenario, clouds: readonly MeshCloud[], dir: string): string {
  const keyFile = join(dir, 'provider.key')
  writeFileSync(keyFile, `${API_KEY}\n`, { mode: 0o600 })
  const pool = s.fleet.pool
  const order = pool.providers ?? clouds.map((c) => c.name)
  const byName = new Map(clouds.map((c) => [c.name, c]))
  const providers = clouds.map((c) => `  - name: ${c.name}
    kind: lambda
    endpoint: ${c.server.url}/api/v1
    api_key_file: ${keyFile}
    ssh_key_name: harness
    launch_interval: 0s
    request_interval: 0s
`).join('')
  const entries = order.map((name) => {
    const c = byName.get(name)!
    return `      - {provider: ${c.name}, region: ${c.region}, instance_type: ${c.instanceType}}\n`
  }).join('')
  const path = join(dir, 'coordinator.yaml')
  writeFileSync(path, `# written by the mesh harness for scenario ${s.name}
providers:
${providers}reconcile:
  interval: 1s
  list_interval: 2s
pools:
  - name: ${pool.name}
    min_nodes: ${pool.min_nodes ?? pool.nodes}
    max_nodes: ${pool.max_nodes ?? pool.nodes}
    providers:
${entries}    gpus_per_node: ${s.fleet.gpus_per_node}
    gpu_model: H100
    health:
      boot_deadline: ${Math.max(10_000, pool.boot_deadline)}ms
      dead_replace_after: ${pool.dead_replace_after}ms
      max_in_flight: ${pool.max_in_flight}
      breaker: ${Math.max(0.01, pool.breaker_fraction)}
`)
  return path
}
