// AWS EC2 through @aws-sdk/client-ec2, loaded lazily (an agent that never coordinates never pays
// for it). RunInstances carries ClientToken = the provision token, so a retry or a successor
// coordinator gets the same instance back; the SDK's own retries are off (retry.ts retries, with
// the same token). Credentials: the SDK's default chain, or a named profile; never logged.
import type { EC2Client, Instance as Ec2Instance, _InstanceType } from '@aws-sdk/client-ec2'
import { systemRng } from '../../agent/lib/rng.js'
import type { AwsOptions } from './options.js'
import { ProviderError, type Instance, type InstanceRef, type InstanceState, type Provider, type ProvisionRequest } from './provider.js'
import { call, callDepsOf, type CallDeps, type ProviderCallDeps } from './retry.js'
import { allTags, parseTags } from './tags.js'
import { TAG_KEYS } from './provider.js'

export interface AwsDeps extends ProviderCallDeps {
  /** Static credentials for local fakes and moto; production uses the default chain or `profile`. */
  credentials?: { accessKeyId: string, secretAccessKey: string }
}

/** DescribeInstances page size (EC2 allows 5..1000); bounds one response. */
const DESCRIBE_PAGE_SIZE = 1000
/** Pages per region per list: 100 × 1,000 instances is far beyond any fleet; a loop beyond is a bug. */
const MAX_DESCRIBE_PAGES = 100

const CAPACITY_CODES = new Set(['InsufficientInstanceCapacity', 'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity', 'InsufficientCapacity', 'UnfulfillableCapacity', 'Unsupported'])
const QUOTA_CODES = new Set(['VcpuLimitExceeded', 'InstanceLimitExceeded', 'MaxSpotInstanceCountExceeded'])
const RATE_CODES = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException'])
const TRANSIENT_CODES = new Set(['InternalError', 'InternalFailure', 'Unavailable', 'ServiceUnavailable',
  'TimeoutError', 'RequestTimeout', 'RequestTimeoutException'])
const NOT_FOUND_CODES = new Set(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed'])
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET'])

/** Maps whatever the SDK threw to what the planner should do (clouds.md §3.2). */
export function classifyAwsError (err: unknown): ProviderError {
  if (err instanceof ProviderError) return err
  const e = (err ?? {}) as { name?: string, code?: string, message?: string, $fault?: string, $metadata?: { httpStatusCode?: number } }
  const code = e.name !== undefined && e.name !== 'Error' ? e.name : (e.code ?? 'Unknown')
  const message = `EC2: ${code}: ${e.message ?? String(err)}`
  const status = e.$metadata?.httpStatusCode
  if (CAPACITY_CODES.has(code)) return new ProviderError('capacity', code, message)
  if (QUOTA_CODES.has(code)) return new ProviderError('quota', code, message)
  if (RATE_CODES.has(code) || status === 429) return new ProviderError('rate-limited', code, message)
  if (NOT_FOUND_CODES.has(code)) return new ProviderError('not-found', code, message)
  if (TRANSIENT_CODES.has(code) || (e.code !== undefined && NETWORK_CODES.has(e.code))) {
    return new ProviderError('transient', code, message)
  }
  if ((status !== undefined && status >= 500) || (status === undefined && e.$fault === 'server')) {
    return new ProviderError('transient', code, message)
  }
  // IdempotentParameterMismatch, AuthFailure, UnauthorizedOperation, InvalidParameter*, ...
  return new ProviderError('fatal', code, message)
}

const STATES: Record<string, InstanceState> = {
  pending: 'pending',
  running: 'running',
  'shutting-down': 'terminating',
  terminated: 'terminated',
  // Stopped instances are not serving and never come back by themselves: treat as going away.
  stopping: 'terminating',
  stopped: 'terminating',
}

export class AwsProvider implements Provider {
  readonly name: string
  private readonly clients = new Map<string, EC2Client>()
  private sdk: Promise<typeof import('@aws-sdk/client-ec2')> | null = null
  private readonly callDeps: CallDeps

  constructor (readonly options: AwsOptions, private readonly deps: AwsDeps = {}) {
    this.name = options.name
    if (options.regions.length === 0) throw new Error(`aws provider ${options.name}: regions must not be empty`)
    this.callDeps = callDepsOf(deps, systemRng)
  }

  async provision (req: ProvisionRequest): Promise<Instance> {
    const image = this.options.imageIds[req.region]
    if (image === undefined) throw new ProviderError('fatal', 'NoImage', `aws provider ${this.name}: no imageIds entry for region ${req.region}`)
    const { RunInstancesCommand } = await this.load()
    const client = await this.client(req.region)
    const subnet = req.zone !== '' ? this.options.subnetIds[req.zone] : undefined
    const tags = Object.entries({ ...allTags(req.tags, req.labels), Name: req.name }).map(([Key, Value]) => ({ Key, Value }))
    const cmd = new RunInstancesCommand({
      ClientToken: req.token,
      ImageId: image,
      InstanceType: req.instanceType as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
      ...(subnet !== undefined ? { SubnetId: subnet } : {}),
      ...(req.zone !== '' && subnet === undefined ? { Placement: { AvailabilityZone: req.zone } } : {}),
      ...(this.options.keyName !== null ? { KeyName: this.options.keyName } : {}),
      ...(this.options.userData !== null ? { UserData: Buffer.from(this.options.userData).toString('base64') } : {}),
      TagSpecifications: [{ ResourceType: 'instance', Tags: tags }, { ResourceType: 'volume', Tags: tags }],
    })
    const out = await this.send((signal) => client.send(cmd, { abortSignal: signal }))
    const inst = out.Instances?.[0]
    if (inst === undefined) throw new ProviderError('transient', 'EmptyResponse', 'EC2 RunInstances returned no instance')
    return this.toInstance(req.region, inst, req)
  }

  async list (fleet: string): Promise<Instance[]> {
    const { DescribeInstancesCommand } = await this.load()
    const out: Instance[] = []
    for (const region of this.options.regions) {
      const client = await this.client(region)
      let nextToken: string | undefined
      for (let page = 0; ; page++) {
        if (page >= MAX_DESCRIBE_PAGES) throw new ProviderError('fatal', 'TooManyPages', `EC2 DescribeInstances: more than ${MAX_DESCRIBE_PAGES} pages in ${region}`)
        const cmd = new DescribeInstancesCommand({
          Filters: [{ Name: `tag:${TAG_KEYS.fleet}`, Values: [fleet] }],
          MaxResults: DESCRIBE_PAGE_SIZE,
          ...(nextToken !== undefined ? { NextToken: nextToken } : {}),
        })
        const res = await this.send((signal) => client.send(cmd, { abortSignal: signal }))
        for (const r of res.Reservations ?? []) for (const i of r.Instances ?? []) out.push(this.toInstance(region, i))
        nextToken = res.NextToken !== undefined && res.NextToken !== '' ? res.NextToken : undefined
        if (nextToken === undefined) break
      }
    }
    return out
  }

  async terminate (ref: InstanceRef): Promise<void> {
    const { TerminateInstancesCommand } = await this.load()
    const client = await this.client(ref.region)
    const cmd = new TerminateInstancesCommand({ InstanceIds: [ref.id] })
    try {
      await this.send((signal) => client.send(cmd, { abortSignal: signal }))
    } catch (err) {
      if (err instanceof ProviderError && err.errorClass === 'not-found') return
      throw err
    }
  }

  /** Closes the SDK clients (sockets). */
  destroy (): void {
    for (const c of this.clients.values()) c.destroy()
    this.clients.clear()
  }

  private send<T> (fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return call(this.options.call, async (signal) => {
      try {
        return await fn(signal)
      } catch (err) {
        throw classifyAwsError(err)
      }
    }, this.callDeps)
  }

  private load (): Promise<typeof import('@aws-sdk/client-ec2')> {
    this.sdk ??= import('@aws-sdk/client-ec2')
    return this.sdk
  }

  private async client (region: string): Promise<EC2Client> {
    const have = this.clients.get(region)
    if (have !== undefined) return have
    const { EC2Client } = await this.load()
    const o = this.options
    const client = new EC2Client({
      region,
      maxAttempts: 1,
      ...(o.endpoint !== null ? { endpoint: o.endpoint } : {}),
      ...(o.profile !== null ? { profile: o.profile } : {}),
      ...(this.deps.credentials !== undefined ? { credentials: this.deps.credentials } : {}),
    })
    this.clients.set(region, client)
    return client
  }

  private toInstance (region: string, i: Ec2Instance, req?: ProvisionRequest): Instance {
    const tagMap = new Map((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']))
    const name = tagMap.get('Name') ?? req?.name ?? i.InstanceId ?? ''
    const addresses = [i.PrivateIpAddress, i.PublicIpAddress].filter((a): a is string => a !== undefined && a !== '')
    return {
      provider: this.name,
      region,
      zone: i.Placement?.AvailabilityZone ?? '',
      id: i.InstanceId ?? '',
      name,
      instanceType: i.InstanceType ?? req?.instanceType ?? '',
      state: STATES[i.State?.Name ?? ''] ?? 'pending',
      tags: parseTags((k) => tagMap.get(k)) ?? (req !== undefined && tagMap.size === 0 ? req.tags : null),
      launchedMs: i.LaunchTime?.getTime() ?? 0,
      addresses,
    }
  }
}
