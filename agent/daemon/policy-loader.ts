// Where the policy comes from, and what happens when a new one is bad: the file (or the built-in
// default) is compiled in full; on failure the judge keeps the last good policy and the status
// says so, loudly, until a good one loads (Navarch's policy failed open, navarch.md §2.4).
import { readFileSync } from 'node:fs'
import { create, type MessageInitShape } from '@bufbuild/protobuf'
import { PolicyStatusSchema, type PolicyStatus } from '../../proto/gen/shoal_pb.js'
import { DEFAULT_POLICY_SOURCE, DEFAULT_POLICY_YAML } from '../health/default-policy.js'
import { compilePolicy, PolicyError, type CompiledPolicy } from '../health/policy.js'

export type PolicyLoad =
  | { ok: true, policy: CompiledPolicy, status: PolicyStatus }
  | { ok: false, error: string, status: PolicyStatus }

export class PolicyLoader {
  readonly #path: string | null
  #current: CompiledPolicy | undefined
  #status: PolicyStatus

  constructor (path: string | null) {
    this.#path = path
    this.#status = create(PolicyStatusSchema, { source: path ?? DEFAULT_POLICY_SOURCE })
  }

  get status (): PolicyStatus { return this.#status }
  get current (): CompiledPolicy | undefined { return this.#current }
  get path (): string | null { return this.#path }

  /**
   * First load. A configured file that does not compile leaves the agent on the built-in policy
   * (never on none), with the error in the status.
   */
  initial (now: number): PolicyLoad {
    const r = this.reload(now)
    if (r.ok) return r
    const policy = compilePolicy(DEFAULT_POLICY_YAML, DEFAULT_POLICY_SOURCE)
    this.#current = policy
    this.#status = create(PolicyStatusSchema, {
      ...this.#describe(policy, now),
      lastError: `${r.error} (running the built-in policy until ${this.#path ?? 'it'} loads)`,
      lastErrorMs: now,
    })
    return { ok: false, error: r.error, status: this.#status }
  }

  /** Compile the source again; on failure keep the current policy and record why. */
  reload (now: number): PolicyLoad {
    let policy: CompiledPolicy
    try {
      const text = this.#path === null ? DEFAULT_POLICY_YAML : readFileSync(this.#path, 'utf8')
      policy = compilePolicy(text, this.#path ?? DEFAULT_POLICY_SOURCE)
    } catch (err) {
      const error = err instanceof PolicyError || !(err instanceof Error) ? String(err instanceof Error ? err.message : err)
        : `${this.#path ?? DEFAULT_POLICY_SOURCE}: cannot read: ${err.message}`
      const { $typeName: _t, ...previous } = this.#status
      this.#status = create(PolicyStatusSchema, {
        ...previous,
        source: this.#path ?? DEFAULT_POLICY_SOURCE,
        lastError: this.#current === undefined ? error : `${error} (keeping ${this.#current.name}@${this.#current.digest})`,
        lastErrorMs: now,
      })
      return { ok: false, error, status: this.#status }
    }
    this.#current = policy
    this.#status = create(PolicyStatusSchema, this.#describe(policy, now))
    return { ok: true, policy, status: this.#status }
  }

  #describe (p: CompiledPolicy, now: number): MessageInitShape<typeof PolicyStatusSchema> {
    return { name: p.name, source: p.source, digest: p.digest, loadedMs: now, rules: p.rules.length }
  }
}
