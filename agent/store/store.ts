// The agent's state on disk (DESIGN.md §7): one LevelDB directory, a sublevel per concern. A driver:
// cores never import it; they return `persist` effects and the agent writes them here before
// anything that depends on them leaves the host.
import { Level } from 'level'
import type { WallClock } from '../lib/time.js'
import { assert } from '../lib/assert.js'
import { StoreCorruptError, isDecodeError, storeErrorFrom } from './errors.js'
import { CREATED_MS_KEY, PRIVATE_KEY_KEY, identityFromRecord, newIdentity, type Identity } from './identity.js'
import { DEFAULT_JOURNAL_CONFIG, Journal, type JournalConfig } from './journal.js'
import { prepareStoreDir } from './layout.js'
import type { RootLevel, Sublevel } from './levels.js'
import { SCHEMA_KEY, SCHEMA_VERSION, checkSchema, type SchemaRecord } from './schema.js'

export interface StoreConfig {
  /** The LevelDB directory, created 0700 if missing (it holds the private key). One agent per directory. */
  dir: string
  journal: JournalConfig
  /**
   * fsync every write. Off by default: an acknowledged write is in the OS already, so a process
   * crash loses nothing (reference §2 #28, and the SIGKILL test); only an OS crash or power loss
   * can, and fsync costs about 4x per write. The identity is always written with fsync.
   */
  sync: boolean
}

export const DEFAULT_STORE_CONFIG: Omit<StoreConfig, 'dir'> = {
  journal: DEFAULT_JOURNAL_CONFIG,
  sync: false,
}

/** Sublevels kept for the issues that follow; each holds JSON values under string keys. */
export type ExtraSublevelName = 'fleet' | 'election' | 'commands' | 'coordinator'
const EXTRA_SUBLEVELS: readonly ExtraSublevelName[] = ['fleet', 'election', 'commands', 'coordinator']

export interface ConfigSnapshot {
  /** The config file's text, as loaded. */
  text: string
  /** Where it came from (a path, or 'defaults'). */
  source: string
}

const SNAPSHOT_KEY = 'snapshot'

interface Sublevels {
  meta: Sublevel<unknown>
  identity: Sublevel<Uint8Array>
  config: Sublevel<unknown>
  journal: Sublevel<Uint8Array>
  extra: Map<ExtraSublevelName, Sublevel<unknown>>
}

export class Store {
  readonly identity: Identity
  readonly journal: Journal
  readonly #root: RootLevel
  readonly #subs: Sublevels
  readonly #config: StoreConfig
  readonly #clock: WallClock
  #closed = false

  private constructor (root: RootLevel, subs: Sublevels, config: StoreConfig, clock: WallClock,
    identity: Identity, journal: Journal) {
    this.#root = root
    this.#subs = subs
    this.#config = config
    this.#clock = clock
    this.identity = identity
    this.journal = journal
  }

  /** Opens (or creates) the store in config.dir; a new store gets a new identity. */
  static async open (config: StoreConfig, clock: WallClock): Promise<Store> {
    checkConfig(config)
    await prepareStoreDir(config.dir)
    const root: RootLevel = new Level<string, unknown>(config.dir, { keyEncoding: 'utf8', valueEncoding: 'json' })
    try {
      await root.open()
    } catch (err) {
      throw storeErrorFrom(err, config.dir, 'open')
    }
    try {
      return await Store.#load(root, config, clock)
    } catch (err) {
      // Release the LevelDB lock; the load error is the one worth reporting.
      await root.close().catch(() => undefined)
      throw err
    }
  }

  static async #load (root: RootLevel, config: StoreConfig, clock: WallClock): Promise<Store> {
    const { dir } = config
    const subs: Sublevels = {
      meta: root.sublevel<string, unknown>('meta', { valueEncoding: 'json' }),
      identity: root.sublevel<string, Uint8Array>('identity', { valueEncoding: 'view' }),
      config: root.sublevel<string, unknown>('config', { valueEncoding: 'json' }),
      journal: root.sublevel<string, Uint8Array>('journal', { valueEncoding: 'view' }),
      extra: new Map(EXTRA_SUBLEVELS.map((name) => [name, root.sublevel<string, unknown>(name, { valueEncoding: 'json' })])),
    }
    const identity = (await checkSchema(dir, root, subs.meta)) === 'new'
      ? await Store.#create(root, subs, dir, clock)
      : await Store.#readIdentity(subs, dir)
    const journal = await Journal.open({
      dir, root, journal: subs.journal, meta: subs.meta, clock, config: config.journal, sync: config.sync,
    })
    return new Store(root, subs, config, clock, identity, journal)
  }

  // The schema record and the identity go in one batch, fsynced: a store either has both or neither,
  // so a crash here cannot leave a store that later looks new and gets a second identity.
  static async #create (root: RootLevel, subs: Sublevels, dir: string, clock: WallClock): Promise<Identity> {
    const { identity, record } = await newIdentity(clock.wallMs())
    const schema: SchemaRecord = { version: SCHEMA_VERSION }
    try {
      await root.batch<string, unknown>([
        { type: 'put', sublevel: subs.meta, key: SCHEMA_KEY, value: schema },
        { type: 'put', sublevel: subs.identity, key: PRIVATE_KEY_KEY, value: record.privateKey },
        { type: 'put', sublevel: subs.identity, key: CREATED_MS_KEY, value: record.createdMs, valueEncoding: 'json' },
      ], { sync: true })
    } catch (err) {
      throw storeErrorFrom(err, dir, 'write the identity to')
    }
    return identity
  }

  static async #readIdentity (subs: Sublevels, dir: string): Promise<Identity> {
    let key: Uint8Array | undefined
    let createdMs: unknown
    try {
      key = await subs.identity.get(PRIVATE_KEY_KEY)
      createdMs = await subs.identity.get<string, unknown>(CREATED_MS_KEY, { valueEncoding: 'json' })
    } catch (err) {
      if (isDecodeError(err)) {
        throw new StoreCorruptError(dir, 'identity', 'the created-ms record is not JSON', err)
      }
      throw storeErrorFrom(err, dir, 'read the identity from')
    }
    return identityFromRecord(dir, key, createdMs)
  }

  get dir (): string {
    return this.#config.dir
  }

  /** Records the config file as loaded, for `shoal` to show what the agent runs with. */
  async saveConfigSnapshot (snapshot: ConfigSnapshot): Promise<void> {
    const value = { text: snapshot.text, source: snapshot.source, savedMs: this.#clock.wallMs() }
    try {
      await this.#root.batch([{ type: 'put', sublevel: this.#subs.config, key: SNAPSHOT_KEY, value }],
        { sync: this.#config.sync })
    } catch (err) {
      throw storeErrorFrom(err, this.#config.dir, 'write the config snapshot to')
    }
  }

  /** The last saved config snapshot, or undefined if none was saved. */
  async configSnapshot (): Promise<(ConfigSnapshot & { savedMs: number }) | undefined> {
    let value: unknown
    try {
      value = await this.#subs.config.get(SNAPSHOT_KEY)
    } catch (err) {
      if (isDecodeError(err)) value = null
      else throw storeErrorFrom(err, this.#config.dir, 'read the config snapshot from')
    }
    if (value === undefined) return undefined
    const v = value as { text?: unknown, source?: unknown, savedMs?: unknown } | null
    if (typeof v?.text !== 'string' || typeof v.source !== 'string' || typeof v.savedMs !== 'number') {
      throw new StoreCorruptError(this.#config.dir, 'config snapshot',
        'the record does not decode (the next saveConfigSnapshot replaces it)')
    }
    return { text: v.text, source: v.source, savedMs: v.savedMs }
  }

  /** A sublevel for state owned by a later module: JSON values under string keys. */
  sublevel (name: ExtraSublevelName): Sublevel<unknown> {
    const sub = this.#subs.extra.get(name)
    assert(sub !== undefined, `no store sublevel named ${JSON.stringify(name)}`)
    return sub
  }

  /** Writes to the extra sublevels atomically: all of `ops` or none. */
  async batch (ops: ReadonlyArray<{ type: 'put', sublevel: ExtraSublevelName, key: string, value: unknown } | { type: 'del', sublevel: ExtraSublevelName, key: string }>, options: { sync: boolean }): Promise<void> {
    const resolved = ops.map((op) => ({ ...op, sublevel: this.sublevel(op.sublevel) }))
    try {
      await this.#root.batch<string, unknown>(resolved as never, { sync: options.sync || this.#config.sync })
    } catch (err) {
      throw storeErrorFrom(err, this.#config.dir, 'write mesh state to')
    }
  }

  /** Waits for queued journal writes, then closes LevelDB (releasing the directory lock). */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.journal.idle()
    try {
      await this.#root.close()
    } catch (err) {
      throw storeErrorFrom(err, this.#config.dir, 'close')
    }
  }
}

function checkConfig (config: StoreConfig): void {
  const { dir, journal } = config
  if (typeof dir !== 'string' || dir === '') throw new RangeError('store.dir must be a non-empty path')
  const positiveInt = (name: string, v: number): void => {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`store.journal.${name} is ${v}: must be an integer >= 1`)
  }
  positiveInt('maxEntries', journal.maxEntries)
  positiveInt('pruneEveryEntries', journal.pruneEveryEntries)
  if (!Number.isFinite(journal.maxAgeMs) || journal.maxAgeMs <= 0) {
    throw new RangeError(`store.journal.maxAgeMs is ${journal.maxAgeMs}: must be a number > 0`)
  }
}
