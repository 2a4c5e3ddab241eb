// Every provider call goes through `call`: a timeout per attempt, and retries with exponential
// backoff and full jitter for the errors that may go away (transient, rate-limited). Capacity,
// quota, not-found and fatal are the planner's business, so they surface at once. Retries reuse
// the caller's request as is, so the idempotency token stays the same across attempts.
import type { Rng } from '../../agent/lib/rng.js'
import { assert } from '../../agent/lib/assert.js'
import type { CallPolicy } from './options.js'
import { ProviderError } from './provider.js'

/** Arms a one-shot timer; the returned function disarms it. */
export type SetTimer = (ms: number, fire: () => void) => () => void

export interface CallDeps {
  /** Waits between attempts (virtual in the simulator and in tests). */
  sleep (ms: number): Promise<void>
  rng: Rng
  /** The per-attempt timeout's timer. Default: a real setTimeout. */
  setTimer?: SetTimer
  /** Runs before each attempt, outside its timeout (Lambda's request pacing waits here). */
  beforeAttempt?: () => Promise<void>
  /** Sees each failed attempt and the delay before the next one (null: no retry follows). */
  onAttemptError?: (err: ProviderError, attempt: number, retryInMs: number | null) => void
  /**
   * Runs before every attempt and throws (a ProviderError) to stop the call: a coordinator that
   * lost its lease must not go on retrying a provision its successor may send elsewhere.
   */
  guard?: () => void
}

/** Backoff ceilings above this are a configuration mistake (hours of silent waiting). */
const MAX_BACKOFF_LIMIT_MS = 10 * 60_000
/** A server's Retry-After beyond this is clamped: the planner re-decides long before. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000

export const realSetTimer: SetTimer = (ms, fire) => {
  // Not unref'd: a call in flight keeps the process alive; `call` always disarms it.
  const handle = setTimeout(fire, ms)
  return () => { clearTimeout(handle) }
}

export function realSleep (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms) })
}

/** What every provider takes for its calls; each field defaults to the real thing. */
export interface ProviderCallDeps {
  sleep?: (ms: number) => Promise<void>
  rng?: Rng
  setTimer?: SetTimer
  /** Every failed attempt of every call (metrics: failures by class; events). */
  onAttemptError?: CallDeps['onAttemptError']
  guard?: CallDeps['guard']
}

/** The CallDeps a provider passes to `call`, from its optional deps (real sleep, system entropy by default). */
export function callDepsOf (d: Partial<CallDeps>, defaultRng: () => Rng): CallDeps {
  const out: CallDeps = { sleep: d.sleep ?? realSleep, rng: d.rng ?? defaultRng() }
  if (d.setTimer !== undefined) out.setTimer = d.setTimer
  if (d.onAttemptError !== undefined) out.onAttemptError = d.onAttemptError
  if (d.guard !== undefined) out.guard = d.guard
  return out
}

export function validateCallPolicy (p: CallPolicy): void {
  assert(Number.isFinite(p.timeoutMs) && p.timeoutMs > 0, `call.timeoutMs must be > 0, got ${p.timeoutMs}`)
  assert(Number.isInteger(p.maxAttempts) && p.maxAttempts >= 1 && p.maxAttempts <= 20,
    `call.maxAttempts must be an integer in 1..20, got ${p.maxAttempts}`)
  assert(p.baseBackoffMs >= 0 && p.baseBackoffMs <= p.maxBackoffMs,
    `call.baseBackoffMs must be in 0..maxBackoffMs, got ${p.baseBackoffMs}`)
  assert(p.maxBackoffMs <= MAX_BACKOFF_LIMIT_MS, `call.maxBackoffMs must be ≤ ${MAX_BACKOFF_LIMIT_MS}, got ${p.maxBackoffMs}`)
}

/**
 * Delay before attempt `attempt + 1` after `attempt` (1-based) failed: full jitter over
 * min(maxBackoffMs, baseBackoffMs · 2^(attempt−1)) (AWS architecture blog, "Exponential Backoff
 * and Jitter"), never shorter than the server's Retry-After (clamped to MAX_RETRY_AFTER_MS).
 */
export function backoffMs (policy: CallPolicy, attempt: number, rng: Rng, retryAfterMs?: number): number {
  assert(attempt >= 1, `attempt is 1-based, got ${attempt}`)
  const ceiling = Math.min(policy.maxBackoffMs, policy.baseBackoffMs * 2 ** Math.min(attempt - 1, 30))
  const jittered = Math.floor(rng.next() * ceiling)
  const floor = retryAfterMs === undefined ? 0 : Math.min(Math.max(0, retryAfterMs), MAX_RETRY_AFTER_MS)
  return Math.max(jittered, floor)
}

export function isRetryable (err: ProviderError): boolean {
  return err.errorClass === 'transient' || err.errorClass === 'rate-limited'
}

export function timeoutError (ms: number): ProviderError {
  return new ProviderError('transient', 'timeout', `no answer within ${ms} ms (the call may have succeeded)`)
}

/** One attempt: `fn` raced against the timeout; the signal tells `fn` to give up its I/O. */
async function attemptOnce<T> (timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>, setTimer: SetTimer): Promise<T> {
  const controller = new AbortController()
  let disarm = (): void => {}
  const timedOut = new Promise<never>((_resolve, reject) => {
    disarm = setTimer(timeoutMs, () => {
      const err = timeoutError(timeoutMs)
      controller.abort(err)
      reject(err)
    })
  })
  try {
    return await Promise.race([fn(controller.signal), timedOut])
  } finally {
    disarm()
    timedOut.catch(() => {})
  }
}

/**
 * Runs `fn` under `policy`. `fn` must throw ProviderError for cloud failures; anything else is a
 * bug and propagates untouched, without retry.
 */
export async function call<T> (policy: CallPolicy, fn: (signal: AbortSignal) => Promise<T>, deps: CallDeps): Promise<T> {
  validateCallPolicy(policy)
  const setTimer = deps.setTimer ?? realSetTimer
  for (let attempt = 1; ; attempt++) {
    deps.guard?.()
    if (deps.beforeAttempt !== undefined) await deps.beforeAttempt()
    deps.guard?.() // pacing may have waited long
    try {
      return await attemptOnce(policy.timeoutMs, fn, setTimer)
    } catch (err) {
      if (!(err instanceof ProviderError)) throw err
      const last = attempt >= policy.maxAttempts || !isRetryable(err)
      const delay = last ? null : backoffMs(policy, attempt, deps.rng, err.retryAfterMs)
      deps.onAttemptError?.(err, attempt, delay)
      if (delay === null) throw err
      await deps.sleep(delay)
    }
  }
}
