// Webhooks (a driver): node and pool events POSTed as signed JSON to the URLs in the coordinator
// file. Delivery is best effort and never slows the coordinator: notify() only enqueues; one
// worker per URL sends in order, with a timeout per call and bounded retries; a full queue drops
// its oldest event and counts it. Secrets sign bodies and are never logged (nor are URLs, whose
// paths often carry tokens: logs show the origin only).
import { createHmac, timingSafeEqual } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { assert } from '../agent/lib/assert.js'
import { systemRng, type Rng } from '../agent/lib/rng.js'

/** What a webhook can subscribe to. Membership, verdicts, the replacement lifecycle, pool events. */
export const WEBHOOK_EVENT_KINDS = [
  'joined', 'suspect', 'dead', 'left',
  'unhealthy', 'healthy',
  'cordoned', 'draining', 'replacing', 'replaced', 'dead-on-arrival', 'slot-failed', 'terminated',
  'breaker-tripped', 'breaker-reset', 'correlated-silence', 'orphan', 'scaled',
] as const
export type WebhookEventKind = typeof WEBHOOK_EVENT_KINDS[number]

export interface WebhookEvent {
  readonly kind: WebhookEventKind
  /** The node's peer id; empty for pool-level events (breaker, scaled). */
  readonly node: string
  /** The node's name (node.name in its agent.yaml); empty for pool-level events. */
  readonly name: string
  readonly pool: string
  /** One line for a human: the verdict's reason, the replacement's new instance, … */
  readonly detail: string
  /** The coordinator term that saw it (receivers may drop a lower term's late events). */
  readonly term: number
  /** Wall-clock ms when it happened. */
  readonly timeMs: number
}

/** One `webhooks:` entry of the coordinator file (coordinator/config.ts parses it). */
export interface WebhookConfig {
  readonly url: string
  /** The signing secret is read from this environment variable … */
  readonly secretEnv: string
  /** … or from this file when set. */
  readonly secretFile: string | null
  /** Kinds sent to this URL. */
  readonly events: readonly WebhookEventKind[]
  readonly timeoutMs: number
}

export interface WebhookDriverConfig {
  /** Retries after a failed first attempt (5xx, 429, timeout, connection error). Default 3: rides
   * out a receiver's restart (about 7 s of backoff in all) without holding its queue for minutes. */
  readonly retries: number
  /** First backoff, doubling per retry with full jitter. Default 1 s. */
  readonly baseBackoffMs: number
  /** Backoff cap. Default 10 s. */
  readonly maxBackoffMs: number
  /** Events queued per URL. Default 1,000: a fleet-wide event storm (every node of a 1,000-node
   * fleet going dead at once) fits; beyond that the oldest are least useful and are dropped. */
  readonly queueMax: number
  /** `detail` is cut to this many characters: a payload stays small whatever a reason says. */
  readonly detailMaxChars: number
}

export const DEFAULT_WEBHOOK_DRIVER_CONFIG: WebhookDriverConfig = {
  retries: 3,
  baseBackoffMs: 1_000,
  maxBackoffMs: 10_000,
  queueMax: 1_000,
  detailMaxChars: 2_048,
}

/** A webhook with its secret resolved (webhookTargets). */
export interface WebhookTarget extends WebhookConfig {
  readonly secret: string
}

export interface WebhookLog {
  warn (fields: Record<string, unknown>, message: string): void
}

export interface WebhookComponents {
  readonly fetch: typeof globalThis.fetch
  /** Backoff waits. Resolves early (without throwing) when the signal aborts. */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>
  /** Wall clock, ms (X-Shoal-Timestamp). */
  readonly now: () => number
  readonly rng: Rng
  readonly log?: WebhookLog
}

export const SIGNATURE_HEADER = 'X-Shoal-Signature'
export const TIMESTAMP_HEADER = 'X-Shoal-Timestamp'

export function sign (body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

/** For receivers: does `header` (X-Shoal-Signature) sign `body` with `secret`? Constant time. */
export function verifySignature (body: string | Uint8Array, header: string | null | undefined, secret: string): boolean {
  if (typeof header !== 'string' || !/^sha256=[0-9a-f]{64}$/.test(header)) return false
  const expected = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'), 'hex')
  return timingSafeEqual(expected, Buffer.from(header.slice('sha256='.length), 'hex'))
}

/** Resolves each webhook's secret; throws naming the webhook and the variable or file, never the value. */
export async function webhookTargets (configs: readonly WebhookConfig[], from: {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly readFile: (path: string) => Promise<string>
}): Promise<WebhookTarget[]> {
  const out: WebhookTarget[] = []
  for (const [i, c] of configs.entries()) {
    let secret: string | undefined
    if (c.secretFile !== null) {
      try {
        secret = (await from.readFile(c.secretFile)).trim()
      } catch (err) {
        throw new Error(`webhooks[${i}].secret_file: cannot read ${c.secretFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
      }
    } else {
      secret = from.env[c.secretEnv]
    }
    if (secret === undefined || secret.length === 0) {
      throw new Error(c.secretFile !== null
        ? `webhooks[${i}].secret_file: ${c.secretFile} is empty`
        : `webhooks[${i}].secret_env: the environment variable ${c.secretEnv} is not set (it holds the signing secret)`)
    }
    out.push({ ...c, secret })
  }
  return out
}

export interface WebhookStats {
  readonly delivered: number
  /** Events given up on after every retry, or refused by the receiver (4xx other than 429). */
  readonly failed: number
  /** Events dropped, oldest first, because the queue was full. */
  readonly dropped: number
  readonly queued: number
}

class Lane {
  readonly queue: string[] = []
  delivered = 0
  failed = 0
  dropped = 0
  busy = false
  constructor (readonly target: WebhookTarget) {}
}

function origin (url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return '(invalid url)'
  }
}

export class Webhooks {
  readonly #lanes: Lane[]
  readonly #c: WebhookComponents
  readonly #config: WebhookDriverConfig
  readonly #stop = new AbortController()
  readonly #running = new Set<Promise<void>>()
  #seq = 0

  constructor (targets: readonly WebhookTarget[], components: WebhookComponents, config: WebhookDriverConfig = DEFAULT_WEBHOOK_DRIVER_CONFIG) {
    assert(config.queueMax >= 1 && config.retries >= 0, 'webhook queue and retries are bounded below')
    for (const t of targets) assert(t.secret.length > 0, 'a webhook target has a secret')
    this.#lanes = targets.map((t) => new Lane(t))
    this.#c = components
    this.#config = config
  }

  /** Enqueues the event for every URL that wants its kind; returns at once. */
  notify (event: WebhookEvent): void {
    if (this.#stop.signal.aborted) return
    const lanes = this.#lanes.filter((l) => l.target.events.includes(event.kind))
    if (lanes.length === 0) return
    this.#seq += 1
    const detail = event.detail.length > this.#config.detailMaxChars ? `${event.detail.slice(0, this.#config.detailMaxChars)}…` : event.detail
    const body = JSON.stringify({
      id: `${event.timeMs}-${this.#seq}`,
      kind: event.kind,
      node: event.node,
      name: event.name,
      pool: event.pool,
      detail,
      term: event.term,
      timeMs: event.timeMs,
      time: new Date(event.timeMs).toISOString(),
    })
    for (const lane of lanes) {
      if (lane.queue.length >= this.#config.queueMax) {
        lane.queue.shift()
        lane.dropped += 1
      }
      lane.queue.push(body)
      assert(lane.queue.length <= this.#config.queueMax, 'webhook queue within its bound')
      if (!lane.busy) this.#start(lane)
    }
  }

  /** Per URL, in configuration order. */
  stats (): WebhookStats[] {
    return this.#lanes.map((l) => ({ delivered: l.delivered, failed: l.failed, dropped: l.dropped, queued: l.queue.length }))
  }

  /** Resolves once every queue is empty and nothing is in flight (tests; a graceful shutdown). */
  async idle (): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running])
  }

  /** Stops accepting, abandons queued events and in-flight calls. */
  async stop (): Promise<void> {
    this.#stop.abort()
    for (const l of this.#lanes) l.queue.length = 0
    await this.idle()
  }

  #start (lane: Lane): void {
    lane.busy = true
    const run = this.#drain(lane).finally(() => {
      lane.busy = false
      this.#running.delete(run)
    })
    this.#running.add(run)
  }

  async #drain (lane: Lane): Promise<void> {
    for (let body = lane.queue.shift(); body !== undefined; body = lane.queue.shift()) {
      if (await this.#deliver(lane.target, body)) lane.delivered += 1
      else if (!this.#stop.signal.aborted) lane.failed += 1
    }
  }

  /** true: the receiver took it (2xx). false: given up. Never throws. */
  async #deliver (target: WebhookTarget, body: string): Promise<boolean> {
    const signature = sign(body, target.secret)
    for (let attempt = 0; attempt <= this.#config.retries; attempt++) {
      if (attempt > 0) {
        const cap = Math.min(this.#config.maxBackoffMs, this.#config.baseBackoffMs * 2 ** (attempt - 1))
        await this.#c.sleep(Math.floor(this.#c.rng.next() * cap), this.#stop.signal)
      }
      if (this.#stop.signal.aborted) return false
      const outcome = await this.#attempt(target, body, signature)
      if (outcome === 'ok') return true
      if (outcome === 'refused') return false
    }
    this.#c.log?.warn({ webhook: origin(target.url), attempts: this.#config.retries + 1 }, 'webhook: giving up on an event')
    return false
  }

  async #attempt (target: WebhookTarget, body: string, signature: string): Promise<'ok' | 'retry' | 'refused'> {
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(target.timeoutMs)])
    try {
      const res = await this.#c.fetch(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'shoal-coordinator',
          [SIGNATURE_HEADER]: signature,
          [TIMESTAMP_HEADER]: String(Math.floor(this.#c.now() / 1000)),
        },
        body,
        signal,
        redirect: 'manual',
      })
      // The body is not read beyond what closes the connection: receivers' replies mean nothing to us.
      await res.body?.cancel().catch(() => {})
      if (res.status >= 200 && res.status < 300) return 'ok'
      const retry = res.status >= 500 || res.status === 429 || res.status === 408
      this.#c.log?.warn({ webhook: origin(target.url), status: res.status }, retry ? 'webhook: receiver failed, will retry' : 'webhook: receiver refused the event')
      return retry ? 'retry' : 'refused'
    } catch (err) {
      const why = (err as Error).name === 'TimeoutError' ? 'timeout' : (err as Error).name
      this.#c.log?.warn({ webhook: origin(target.url), error: why }, 'webhook: call failed, will retry')
      return 'retry'
    }
  }
}

/** The real components: global fetch, real timers (unref'd), the system clock and entropy. */
export function systemWebhookComponents (log?: WebhookLog): WebhookComponents {
  return {
    fetch: globalThis.fetch,
    sleep: async (ms, signal) => {
      await delay(ms, undefined, { signal, ref: false }).catch(() => {})
    },
    now: () => Date.now(),
    rng: systemRng(),
    ...(log === undefined ? {} : { log }),
  }
}
