// The store's schema version, in meta. A store written by a newer agent is refused, never
// reinterpreted: its records may mean something this agent does not know.
import { StoreCorruptError, StoreVersionError, isDecodeError, storeErrorFrom } from './errors.js'
import type { RootLevel, Sublevel } from './levels.js'

/** Bump when a record's meaning or layout changes, and add the migration from the previous one. */
export const SCHEMA_VERSION = 1
export const SCHEMA_KEY = 'schema'

export interface SchemaRecord {
  version: number
}

/** 'new' for an empty store (nothing written yet), 'current' for one this agent can read. */
export async function checkSchema (dir: string, root: RootLevel, meta: Sublevel<unknown>): Promise<'new' | 'current'> {
  let record: unknown
  let anyKey: string | undefined
  try {
    record = await meta.get(SCHEMA_KEY)
    if (record === undefined) anyKey = (await root.keys({ limit: 1 }).all())[0]
  } catch (err) {
    if (isDecodeError(err)) {
      throw new StoreCorruptError(dir, 'meta', 'the schema version record is not JSON', err)
    }
    throw storeErrorFrom(err, dir, 'read the schema version of')
  }
  if (record === undefined) {
    if (anyKey !== undefined) {
      throw new StoreCorruptError(dir, 'meta', `the schema version record is missing but the store holds data (${JSON.stringify(anyKey)})`)
    }
    return 'new'
  }
  const version = (record as Partial<SchemaRecord> | null)?.version
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new StoreCorruptError(dir, 'meta', `the schema version record holds ${JSON.stringify(record)}`)
  }
  if (version > SCHEMA_VERSION) throw new StoreVersionError(dir, version, SCHEMA_VERSION)
  // Versions below SCHEMA_VERSION would be migrated here; version 1 is the first.
  return 'current'
}
