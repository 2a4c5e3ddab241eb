// The one suite every provider passes (the fake, AWS against our EC2 fake and moto, GCP and Lambda
// against their wire fakes): provisioning is tagged and idempotent by token, list reads the tags
// back, terminate is idempotent, and failures arrive as the planner's error classes.
import type { Test } from 'tap'
import type { FakeCloud, FakeFault } from '../../../coordinator/providers/fake-cloud.js'
import type { CallPolicy } from '../../../coordinator/providers/options.js'
import { ProviderError, type Instance, type Provider, type ProvisionRequest } from '../../../coordinator/providers/provider.js'

/** Quick retries so a retried call costs milliseconds; a short timeout for the hang item. */
export const CONTRACT_POLICY: CallPolicy = { timeoutMs: 5_000, maxAttempts: 3, baseBackoffMs: 1, maxBackoffMs: 5 }
export const HANG_POLICY: CallPolicy = { timeoutMs: 150, maxAttempts: 2, baseBackoffMs: 1, maxBackoffMs: 5 }

export interface ContractBackend {
  readonly provider: Provider
  /** The model behind the wire, for fault injection and the one-instance-per-token check; null for moto. */
  readonly cloud: FakeCloud | null
  readonly region: string
  readonly zone: string
  readonly instanceType: string
}

export type ContractItem = 'provision' | 'same-token' | 'list' | 'terminate' | 'capacity' | 'transient' | 'commit-unknown' | 'hang'

export interface ContractOptions {
  /** Items this backend cannot run, each with the reason printed in the skip. */
  readonly skip?: Partial<Record<ContractItem, string>>
}

export type ContractSetup = (t: Test, policy: CallPolicy) => Promise<ContractBackend>

export function contractRequest (b: ContractBackend, fleet: string, slot: number, generation = 1): ProvisionRequest {
  const token = `${fleet}-p1-${slot}-${generation}-0123456789abcdef`
  return {
    token,
    name: `shoal-${fleet}-${slot}-${generation}`,
    region: b.region,
    zone: b.zone,
    instanceType: b.instanceType,
    tags: { fleet, pool: 'p1', slot, generation, token },
    labels: { team: 'ml' },
  }
}

async function rejection (p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p
  } catch (err) {
    if (err instanceof ProviderError) return err
    throw err
  }
  throw new Error('expected a ProviderError')
}

function inject (t: Test, b: ContractBackend, f: FakeFault): boolean {
  if (b.cloud === null) return false
  b.cloud.injectFault(f)
  return true
}

export function providerContract (t: Test, name: string, setup: ContractSetup, o: ContractOptions = {}): void {
  const item = (id: ContractItem, title: string, body: (t: Test, b: ContractBackend) => Promise<void>, policy = CONTRACT_POLICY): void => {
    const reason = o.skip?.[id]
    if (reason !== undefined) {
      t.test(`${name}: ${title}`, { skip: reason }, async () => {})
      return
    }
    t.test(`${name}: ${title}`, async (t) => { await body(t, await setup(t, policy)) })
  }
  const onePerToken = (t: Test, b: ContractBackend, token: string): void => {
    if (b.cloud !== null) t.equal(b.cloud.instances().filter((i) => i.tags.token === token).length, 1, 'one instance for the token')
  }

  item('provision', 'provision returns an instance carrying its tags', async (t, b) => {
    const req = contractRequest(b, 'ctfleet', 1)
    const inst = await b.provider.provision(req)
    t.equal(inst.provider, b.provider.name)
    t.equal(inst.region, b.region)
    t.equal(inst.instanceType, b.instanceType)
    t.not(inst.id, '')
    t.ok(inst.state === 'pending' || inst.state === 'running', `fresh state ${inst.state}`)
    t.same(inst.tags, req.tags)
  })

  item('same-token', 'the same token twice yields one instance', async (t, b) => {
    const req = contractRequest(b, 'ctfleet', 2)
    const a = await b.provider.provision(req)
    const again = await b.provider.provision(req)
    t.equal(again.id, a.id)
    const listed = (await b.provider.list('ctfleet')).filter((i) => i.tags?.token === req.token)
    t.equal(listed.length, 1)
    onePerToken(t, b, req.token)
  })

  item('list', 'list shows the fleet\'s instances with parsed tags, and only them', async (t, b) => {
    const mine = contractRequest(b, 'ctfleet', 3)
    const other = contractRequest(b, 'otherfleet', 3)
    const a = await b.provider.provision(mine)
    const o = await b.provider.provision(other)
    const listed = await b.provider.list('ctfleet')
    const found = listed.find((i) => i.id === a.id)
    t.ok(found, 'own instance listed')
    t.same(found?.tags, mine.tags)
    t.notOk(listed.some((i) => i.id === o.id), 'another fleet\'s instance is not listed')
    t.ok(listed.every((i) => i.tags?.fleet === 'ctfleet'))
  })

  item('terminate', 'terminate is idempotent', async (t, b) => {
    const inst = await b.provider.provision(contractRequest(b, 'ctfleet', 4))
    await b.provider.terminate(inst)
    await b.provider.terminate(inst)
    const after = (await b.provider.list('ctfleet')).find((i) => i.id === inst.id)
    t.ok(after === undefined || after.state === 'terminating' || after.state === 'terminated', `state after terminate: ${after?.state}`)
  })

  item('capacity', 'a capacity error surfaces as capacity, without retry', async (t, b) => {
    t.ok(inject(t, b, { kind: 'capacity', region: b.region, instanceType: b.instanceType, times: 5 }))
    const err = await rejection(b.provider.provision(contractRequest(b, 'ctfleet', 5)))
    t.equal(err.errorClass, 'capacity')
    t.equal(b.cloud?.counters().errors.capacity, 1, 'asked once: capacity is not retried')
  })

  item('transient', 'a transient error is retried with the same token and succeeds', async (t, b) => {
    t.ok(inject(t, b, { kind: 'transient', times: 1 }))
    const req = contractRequest(b, 'ctfleet', 6)
    const inst = await b.provider.provision(req)
    t.same(inst.tags, req.tags)
    t.equal(b.cloud?.counters().errors.transient, 1)
    onePerToken(t, b, req.token)
  })

  item('commit-unknown', 'an answer lost after the cloud committed is retried into the same one instance', async (t, b) => {
    t.ok(inject(t, b, { kind: 'timeout-after-success', times: 1 }))
    const req = contractRequest(b, 'ctfleet', 7)
    const inst = await b.provider.provision(req)
    t.same(inst.tags, req.tags)
    onePerToken(t, b, req.token)
  }, HANG_POLICY)

  item('hang', 'a call that hangs times out as transient', async (t, b) => {
    t.ok(inject(t, b, { kind: 'hang', times: 10 }))
    const err = await rejection(b.provider.provision(contractRequest(b, 'ctfleet', 8)))
    t.equal(err.errorClass, 'transient')
    t.equal(err.code, 'timeout')
  }, HANG_POLICY)
}

export type { Instance }
