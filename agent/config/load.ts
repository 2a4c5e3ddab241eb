// agent.yaml text -> AgentConfig, or a ConfigError naming every problem. Bounded input, YAML 1.2
// core schema (no yes/no booleans, no merge keys, no custom tags), aliases capped.
import { hostname as osHostname } from 'node:os'
import YAML, { LineCounter } from 'yaml'
import { ConfigError, fromZodIssue, type ConfigIssue } from './errors.js'
import type { ListenAddress } from './leaves.js'
import { agentConfigSchema, type LogLevel, type ParsedConfig } from './schema.js'
import { emptySectionsToDefaults } from './walk.js'

export type { ListenAddress } from './leaves.js'
export type { LogLevel } from './schema.js'

/**
 * The agent's configuration. Each field is documented where it is declared, in schema.ts (and in
 * docs/config.md, rendered from it). Names are the YAML names in camelCase; durations are whole
 * milliseconds and carry the unit: YAML `sampling.dedup_window` is `sampling.dedupWindowMs`.
 */
export interface AgentConfig {
  readonly node: {
    readonly name: string
    readonly pool: string
    readonly instanceId: string | null
    readonly labels: Readonly<Record<string, string>>
    readonly expect: { readonly gpus: number | null, readonly model: string | null }
  }
  readonly nvml: { readonly library: string }
  readonly sampling: {
    readonly intervalMs: number
    readonly dedupWindowMs: number
    readonly eventWaitMs: number
    readonly eventQueue: number
  }
  readonly kmsg: { readonly enabled: boolean, readonly path: string }
  readonly health: { readonly policy: string | null, readonly watch: boolean, readonly burstGapMs: number }
  readonly store: {
    readonly dir: string
    readonly sync: boolean
    readonly journal: { readonly maxEntries: number, readonly maxAgeMs: number }
  }
  readonly metrics: { readonly listen: ListenAddress | null }
  /** `mode` is the file mode as a number (0o660), ready for chmod. */
  readonly admin: { readonly socket: string, readonly mode: number }
  readonly mesh: AgentMeshConfig
  readonly hooks: HooksConfig
  readonly coordinator: { readonly file: string | null }
  readonly log: { readonly level: LogLevel }
}

/** YAML `mesh:`. Multiaddrs are validated and in canonical text form (`multiaddr(s).toString()`). */
export interface AgentMeshConfig {
  readonly fleet: string
  /** null: no mesh; the agent runs alone and fleet admin requests answer `mesh-off`. */
  readonly keyFile: string | null
  readonly listen: readonly string[]
  readonly announce: readonly string[]
  /** Each ends in /p2p/<peer id>. */
  readonly bootstrap: readonly string[]
  readonly coordinatorEligible: boolean
  /** Odd, 1..7. */
  readonly councilSize: number
  readonly probeIntervalMs: number
  /** At most probeIntervalMs / 2. */
  readonly probeTimeoutMs: number
  /** Peer ids refused and cut off (absolute path, re-read while set); null: none. */
  readonly denyPeersFile: string | null
}

/** YAML `hooks:`. Each hook is an argv list (absolute program path first) or null: record only. */
export interface HooksConfig {
  readonly cordon: readonly string[] | null
  readonly uncordon: readonly string[] | null
  readonly drain: readonly string[] | null
  readonly drainStatus: readonly string[] | null
  readonly timeoutMs: number
  readonly drainTimeoutMs: number
  readonly drainPollMs: number
}

export interface LoadOptions {
  /** node.name's default. Default: os.hostname(); tests pass one for determinism. */
  readonly hostname?: string
}

/** 1 MiB: a full config is a few KB; anything near this is a mistake or an attack. */
export const CONFIG_MAX_BYTES = 1024 * 1024

/**
 * Alias expansions allowed (yaml's count, weighted by the size of what each alias copies). A
 * config has no need for many; a "billion laughs" file needs millions.
 */
const YAML_MAX_ALIAS_COUNT = 100

export function loadConfig (text: string, source: string, options: LoadOptions = {}): AgentConfig {
  const bytes = Buffer.byteLength(text)
  if (bytes > CONFIG_MAX_BYTES) {
    throw new ConfigError(source, [{ path: '', message: `is ${bytes} bytes; a config is at most ${CONFIG_MAX_BYTES} (1 MiB)` }])
  }
  const data = emptySectionsToDefaults(agentConfigSchema, parseYaml(text, source) ?? {})
  const result = agentConfigSchema.safeParse(data, { reportInput: true })
  if (!result.success) throw new ConfigError(source, result.error.issues.flatMap(fromZodIssue))
  return deepFreeze(toAgentConfig(result.data, options.hostname ?? osHostname()))
}

/** YAML 1.2 core, strict: duplicate keys, tags and alias bombs are errors naming their line. */
export function parseYaml (text: string, source: string): unknown {
  const lineCounter = new LineCounter()
  const doc = YAML.parseDocument(text, {
    version: '1.2',
    schema: 'core',
    strict: true,
    uniqueKeys: true,
    stringKeys: true,
    prettyErrors: false,
    // Not 'silent': that level also drops the multiple-documents error.
    logLevel: 'error',
    lineCounter,
  })
  // Warnings too: an unresolved tag (!foo) would otherwise quietly become a string.
  const problems = [...doc.errors, ...doc.warnings]
  if (problems.length > 0) {
    throw new ConfigError(source, problems.map((e): ConfigIssue => {
      const { line, col } = lineCounter.linePos(e.pos[0])
      return { path: '', message: `line ${line}, column ${col}: ${e.message}` }
    }))
  }
  try {
    return doc.toJS({ maxAliasCount: YAML_MAX_ALIAS_COUNT })
  } catch (err) {
    // toJS throws ReferenceError for an alias bomb or an alias to an unknown anchor.
    throw new ConfigError(source, [{ path: '', message: (err as Error).message }])
  }
}

function toAgentConfig (p: ParsedConfig, hostname: string): AgentConfig {
  return {
    node: {
      name: p.node.name ?? hostname,
      pool: p.node.pool,
      instanceId: p.node.instance_id,
      labels: p.node.labels,
      expect: { gpus: p.node.expect.gpus, model: p.node.expect.model },
    },
    nvml: { library: p.nvml.library },
    sampling: {
      intervalMs: p.sampling.interval,
      dedupWindowMs: p.sampling.dedup_window,
      eventWaitMs: p.sampling.event_wait,
      eventQueue: p.sampling.event_queue,
    },
    kmsg: { enabled: p.kmsg.enabled, path: p.kmsg.path },
    health: { policy: p.health.policy, watch: p.health.watch, burstGapMs: p.health.burst_gap },
    store: {
      dir: p.store.dir,
      sync: p.store.sync,
      journal: { maxEntries: p.store.journal.max_entries, maxAgeMs: p.store.journal.max_age },
    },
    metrics: { listen: p.metrics.listen },
    admin: { socket: p.admin.socket, mode: p.admin.mode },
    mesh: {
      fleet: p.mesh.fleet,
      keyFile: p.mesh.key_file,
      listen: p.mesh.listen,
      announce: p.mesh.announce,
      bootstrap: p.mesh.bootstrap,
      coordinatorEligible: p.mesh.coordinator_eligible,
      councilSize: p.mesh.council_size,
      probeIntervalMs: p.mesh.probe_interval,
      probeTimeoutMs: p.mesh.probe_timeout,
      denyPeersFile: p.mesh.deny_peers_file,
    },
    hooks: {
      cordon: p.hooks.cordon,
      uncordon: p.hooks.uncordon,
      drain: p.hooks.drain,
      drainStatus: p.hooks.drain_status,
      timeoutMs: p.hooks.timeout,
      drainTimeoutMs: p.hooks.drain_timeout,
      drainPollMs: p.hooks.drain_poll,
    },
    coordinator: { file: p.coordinator.file },
    log: { level: p.log.level },
  }
}

export function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/** Every default, node.name being this host's name. */
export const DEFAULT_CONFIG: AgentConfig = loadConfig('', 'defaults')
