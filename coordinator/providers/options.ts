// How each provider is configured: the shape coordinator/config.ts produces from the coordinator
// file and coordinator/providers/create.ts turns into a Provider. Credentials are never here in
// clear unless an operator put them in a file we read: each SDK's standard chain is the default.

export interface CallPolicy {
  /** Every call is abandoned after this long (and counts as transient: it may have succeeded). */
  readonly timeoutMs: number
  /** Attempts per call for transient and rate-limited errors (1 = no retry). */
  readonly maxAttempts: number
  /** First backoff; doubles per attempt with full jitter, capped at maxBackoffMs. */
  readonly baseBackoffMs: number
  readonly maxBackoffMs: number
}

export interface AwsOptions {
  readonly kind: 'aws'
  readonly name: string
  readonly regions: readonly string[]
  /** Null: the SDK's default (https://ec2.<region>.amazonaws.com). A local fake or moto in tests. */
  readonly endpoint: string | null
  /** Null: the SDK's default credential chain (env, shared files, SSO, IMDS). */
  readonly profile: string | null
  /** AMI per region. */
  readonly imageIds: Readonly<Record<string, string>>
  /** Subnet per zone (placement); a zone without one uses the region default. */
  readonly subnetIds: Readonly<Record<string, string>>
  readonly keyName: string | null
  readonly userData: string | null
  readonly call: CallPolicy
}

export interface GcpOptions {
  readonly kind: 'gcp'
  readonly name: string
  readonly project: string
  /** Zones listed and used; a pool offer's region picks `<region>-a` unless it names a zone. */
  readonly zones: readonly string[]
  /** Null: compute.googleapis.com over HTTPS. A local fake in tests (plain http on loopback). */
  readonly endpoint: string | null
  /** Null: Application Default Credentials. */
  readonly credentialsFile: string | null
  readonly image: string
  readonly diskSizeGb: number
  readonly startupScript: string | null
  readonly call: CallPolicy
}

export interface LambdaOptions {
  readonly kind: 'lambda'
  readonly name: string
  /** Default https://cloud.lambda.ai/api/v1. */
  readonly endpoint: string
  /** The API key is read from this environment variable (default LAMBDA_API_KEY) … */
  readonly apiKeyEnv: string
  /** … or from this file when set (mode 0600 recommended); never logged. */
  readonly apiKeyFile: string | null
  readonly sshKeyName: string
  readonly userData: string | null
  /** Launches are paced to one per this long, process-wide (Lambda allows 1 per 12 s). */
  readonly launchIntervalMs: number
  /** Other calls at most one per this long (Lambda allows about 1 per second). */
  readonly requestIntervalMs: number
  readonly call: CallPolicy
}

export type ProviderOptions = AwsOptions | GcpOptions | LambdaOptions

export const DEFAULT_CALL_POLICY: CallPolicy = {
  timeoutMs: 30_000,
  maxAttempts: 4,
  baseBackoffMs: 500,
  maxBackoffMs: 10_000,
}
