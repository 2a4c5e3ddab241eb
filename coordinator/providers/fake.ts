// A Provider over a FakeCloud, in process: the model decides, this waits the latency it asks for
// (on an injected clock), never answers a hang (the call's timeout fires) and retries like the
// real providers do, through the same `call`.
import type { Rng } from '../../agent/lib/rng.js'
import { seededRng } from '../../agent/lib/rng.js'
import type { FakeCloud, FakeOutcome } from './fake-cloud.js'
import type { CallPolicy } from './options.js'
import { DEFAULT_CALL_POLICY } from './options.js'
import { ProviderError, type Instance, type InstanceRef, type Offering, type Provider, type ProvisionRequest } from './provider.js'
import { call, callDepsOf, type CallDeps, type SetTimer } from './retry.js'

export interface FakeProviderDeps {
  sleep (ms: number): Promise<void>
  /** Milliseconds, the clock the cloud model sees (virtual in the simulator). */
  now (): number
  rng?: Rng
  /** The timeout timer; default real. The simulator passes its virtual one. */
  setTimer?: SetTimer
  call?: CallPolicy
  onAttemptError?: CallDeps['onAttemptError']
}

export class FakeProvider implements Provider {
  readonly name: string
  private readonly policy: CallPolicy
  private readonly callDeps: CallDeps

  constructor (readonly cloud: FakeCloud, private readonly deps: FakeProviderDeps, name?: string) {
    this.name = name ?? cloud.config.provider
    this.policy = deps.call ?? DEFAULT_CALL_POLICY
    this.callDeps = callDepsOf(deps, () => seededRng(`fake-provider:${this.name}`))
  }

  provision (req: ProvisionRequest): Promise<Instance> {
    return this.run(() => this.cloud.provision(req, this.deps.now()),
      (r) => this.cloud.toInstance(r.instance, this.deps.now()))
  }

  list (fleet: string): Promise<Instance[]> {
    return this.run(() => this.cloud.list(fleet, this.deps.now()),
      (all) => all.map((i) => this.cloud.toInstance(i, this.deps.now())))
  }

  async terminate (ref: InstanceRef): Promise<void> {
    try {
      await this.run(() => this.cloud.terminate(ref.id, this.deps.now()), () => undefined)
    } catch (err) {
      if (err instanceof ProviderError && err.errorClass === 'not-found') return
      throw err
    }
  }

  offerings (): Promise<Offering[]> {
    return Promise.resolve(this.cloud.offerings())
  }

  private run<R, T> (op: () => FakeOutcome<R>, map: (r: R) => T): Promise<T> {
    return call(this.policy, async (signal) => {
      const out = op()
      if (out.kind === 'hang') return await never(signal)
      await this.deps.sleep(out.latencyMs)
      if (out.kind === 'error') {
        const e = out.error
        throw new ProviderError(e.errorClass, e.code, e.message, e.retryAfterMs)
      }
      return map(out.value)
    }, this.callDeps)
  }
}

/** Settles only when the call is abandoned. */
function never (signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
  })
}
