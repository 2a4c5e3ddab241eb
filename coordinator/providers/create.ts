// One provider from its options: the coordinator's composition root calls this per configured
// provider. SDKs are imported inside the providers on first use, so building one costs nothing.
import { AwsProvider } from './aws.js'
import { GcpProvider, type GcpConfig } from './gcp.js'
import { LambdaProvider, type Pacer } from './lambda.js'
import type { ProviderOptions } from './options.js'
import type { Provider } from './provider.js'
import type { ProviderCallDeps } from './retry.js'

export interface CreateProviderDeps extends ProviderCallDeps {
  now?: () => number
  /** AWS against a local fake or moto only; production uses the default chain or a profile. */
  awsCredentials?: { accessKeyId: string, secretAccessKey: string }
  gcpConfig?: Partial<GcpConfig>
  env?: Readonly<Record<string, string | undefined>>
  fetch?: typeof fetch
  lambdaPacer?: Pacer
}

export function createProvider (o: ProviderOptions, deps: CreateProviderDeps = {}): Provider {
  const common = {
    ...(deps.sleep !== undefined ? { sleep: deps.sleep } : {}),
    ...(deps.rng !== undefined ? { rng: deps.rng } : {}),
    ...(deps.setTimer !== undefined ? { setTimer: deps.setTimer } : {}),
    ...(deps.onAttemptError !== undefined ? { onAttemptError: deps.onAttemptError } : {}),
  }
  const now = deps.now !== undefined ? { now: deps.now } : {}
  switch (o.kind) {
    case 'aws':
      return new AwsProvider(o, { ...common, ...(deps.awsCredentials !== undefined ? { credentials: deps.awsCredentials } : {}) })
    case 'gcp':
      return new GcpProvider(o, { ...common, ...now, ...(deps.gcpConfig !== undefined ? { config: deps.gcpConfig } : {}) })
    case 'lambda':
      return new LambdaProvider(o, {
        ...common,
        ...now,
        ...(deps.env !== undefined ? { env: deps.env } : {}),
        ...(deps.fetch !== undefined ? { fetch: deps.fetch } : {}),
        ...(deps.lambdaPacer !== undefined ? { pacer: deps.lambdaPacer } : {}),
      })
  }
}
