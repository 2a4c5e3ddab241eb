// AwsProvider over the real @aws-sdk/client-ec2 against our EC2 wire fake: the contract (ClientToken
// idempotency included, which moto lacks), paged listing across regions, and placement.
import t, { type Test } from 'tap'
import { AwsProvider } from '../../../coordinator/providers/aws.js'
import { FakeCloud } from '../../../coordinator/providers/fake-cloud.js'
import type { AwsOptions, CallPolicy } from '../../../coordinator/providers/options.js'
import { seededRng } from '../../../agent/lib/rng.js'
import { startEc2Server } from '../../support/clouds/ec2-server.js'
import { providerContract, contractRequest } from './contract.js'

const offerings = ['us-east-1', 'us-west-2'].map((region) => ({ region, instanceType: 'p5.48xlarge', capacity: 'unlimited' as const }))

function options (endpoint: string, call: CallPolicy): AwsOptions {
  return {
    kind: 'aws',
    name: 'aws',
    regions: ['us-east-1', 'us-west-2'],
    endpoint,
    profile: null,
    imageIds: { 'us-east-1': 'ami-east', 'us-west-2': 'ami-west' },
    subnetIds: {},
    keyName: 'k',
    userData: '#!/bin/sh\necho hi',
    call,
  }
}

async function backend (t: Test, call: CallPolicy, pageSize?: number): Promise<{ provider: AwsProvider, cloud: FakeCloud, actions: string[] }> {
  const cloud = new FakeCloud({ provider: 'aws', offerings, idPrefix: 'i-' })
  const server = await startEc2Server(pageSize === undefined ? { cloud } : { cloud, pageSize })
  const provider = new AwsProvider(options(server.url, call), {
    credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake' },
    rng: seededRng(1),
  })
  t.teardown(async () => { provider.destroy(); await server.close() })
  return { provider, cloud, actions: server.actions }
}

providerContract(t, 'aws (EC2 fake)', async (t, call) => {
  const { provider, cloud } = await backend(t, call)
  return { provider, cloud, region: 'us-east-1', zone: 'us-east-1a', instanceType: 'p5.48xlarge' }
})

t.test('list walks every page of every region', async (t) => {
  const { provider, cloud, actions } = await backend(t, { timeoutMs: 5_000, maxAttempts: 1, baseBackoffMs: 1, maxBackoffMs: 1 }, 2)
  const b = { provider, cloud, region: 'us-east-1', zone: '', instanceType: 'p5.48xlarge' }
  for (let s = 0; s < 5; s++) await provider.provision(contractRequest(b, 'pg', s))
  await provider.provision({ ...contractRequest(b, 'pg', 9), region: 'us-west-2' })
  const listed = await provider.list('pg')
  t.equal(listed.length, 6)
  t.same(listed.map((i) => i.region).sort(), ['us-east-1', 'us-east-1', 'us-east-1', 'us-east-1', 'us-east-1', 'us-west-2'])
  t.same(listed.map((i) => i.tags?.slot).sort(), [0, 1, 2, 3, 4, 9])
  t.equal(actions.filter((a) => a === 'DescribeInstances').length, 3 + 1, '3 pages in us-east-1, 1 in us-west-2')
})

t.test('the same token in another region is another instance (ClientToken is region-scoped)', async (t) => {
  const { provider, cloud } = await backend(t, { timeoutMs: 5_000, maxAttempts: 1, baseBackoffMs: 1, maxBackoffMs: 1 })
  const b = { provider, cloud, region: 'us-east-1', zone: '', instanceType: 'p5.48xlarge' }
  const east = await provider.provision(contractRequest(b, 'rg', 1))
  t.equal(east.region, 'us-east-1')
  await t.rejects(provider.provision({ ...contractRequest(b, 'rg', 1), region: 'eu-north-1' }), { errorClass: 'fatal', code: 'NoImage' })
})

t.test('a rate-limited call is retried, then succeeds', async (t) => {
  const { provider, cloud } = await backend(t, { timeoutMs: 5_000, maxAttempts: 3, baseBackoffMs: 1, maxBackoffMs: 2 })
  cloud.injectFault({ kind: 'rate-limited', op: 'list', times: 2 })
  t.same(await provider.list('none'), [])
  t.equal(cloud.counters().errors['rate-limited'], 2)
})

t.test('quota is not retried', async (t) => {
  const { provider, cloud } = await backend(t, { timeoutMs: 5_000, maxAttempts: 4, baseBackoffMs: 1, maxBackoffMs: 2 })
  cloud.injectFault({ kind: 'quota', times: 4 })
  const b = { provider, cloud, region: 'us-east-1', zone: '', instanceType: 'p5.48xlarge' }
  await t.rejects(provider.provision(contractRequest(b, 'q', 1)), { errorClass: 'quota', code: 'VcpuLimitExceeded' })
  t.equal(cloud.counters().errors.quota, 1)
})
