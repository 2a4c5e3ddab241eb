// Ownership tags, written and read back the same way in every cloud: the five TAG_KEYS with slot
// and generation as decimal strings. A set we cannot read back whole is not ours (tags: null).
import { TAG_KEYS, type InstanceTags } from './provider.js'

/** Cloud tag and label values are capped at 63 (GCP) / 256 (EC2) characters; we stay under both. */
export const MAX_TAG_VALUE_CHARS = 63

export function tagRecord (tags: InstanceTags): Record<string, string> {
  return {
    [TAG_KEYS.fleet]: tags.fleet,
    [TAG_KEYS.pool]: tags.pool,
    [TAG_KEYS.slot]: String(tags.slot),
    [TAG_KEYS.generation]: String(tags.generation),
    [TAG_KEYS.token]: tags.token,
  }
}

const DECIMAL = /^(0|[1-9][0-9]{0,8})$/

export function parseTags (get: (key: string) => string | undefined): InstanceTags | null {
  const fleet = get(TAG_KEYS.fleet)
  const pool = get(TAG_KEYS.pool)
  const slot = get(TAG_KEYS.slot)
  const generation = get(TAG_KEYS.generation)
  const token = get(TAG_KEYS.token)
  if (fleet === undefined || pool === undefined || token === undefined) return null
  if (fleet === '' || pool === '' || token === '') return null
  if (slot === undefined || !DECIMAL.test(slot) || generation === undefined || !DECIMAL.test(generation)) return null
  return { fleet, pool, slot: Number(slot), generation: Number(generation), token }
}

export function parseTagRecord (r: Readonly<Record<string, string>> | null | undefined): InstanceTags | null {
  if (r === null || r === undefined) return null
  return parseTags((k) => Object.prototype.hasOwnProperty.call(r, k) ? r[k] : undefined)
}

/** Pool labels merged under the ownership tags (ours win: a pool label cannot forge ownership). */
export function allTags (tags: InstanceTags, labels: Readonly<Record<string, string>>): Record<string, string> {
  return { ...labels, ...tagRecord(tags) }
}
