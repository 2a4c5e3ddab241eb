// A config that does not load says every problem at once, one line each:
// `agent.yaml: sampling.interval: "10 parsecs" is not a duration (use 500ms, 1s, 5m, 1h)`.
import type * as z from 'zod'
import { agentConfigSchema } from './schema.js'
import { show } from './leaves.js'
import { leaves, sectionAt } from './walk.js'

export interface ConfigIssue {
  /** Dotted YAML path ("sampling.interval"); empty for the file as a whole (size, syntax). */
  readonly path: string
  readonly message: string
}

/** Lines in the message; the rest are counted. A file of garbage should not print a novel. */
const MESSAGE_ISSUES_MAX = 50

export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly source: string
  readonly issues: readonly ConfigIssue[]

  constructor (source: string, issues: readonly ConfigIssue[]) {
    const lines = issues.slice(0, MESSAGE_ISSUES_MAX)
      .map((i) => i.path === '' ? `${source}: ${i.message}` : `${source}: ${i.path}: ${i.message}`)
    if (issues.length > MESSAGE_ISSUES_MAX) lines.push(`${source}: … and ${issues.length - MESSAGE_ISSUES_MAX} more problems`)
    super(lines.join('\n'))
    this.source = source
    this.issues = issues
  }
}

/** Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`. */
export function editDistance (a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      const v = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost)
      row.push(v)
      best = Math.min(best, v)
    }
    if (best > limit) return limit + 1
    prev = row
  }
  return prev[b.length] ?? limit + 1
}

/** Typos within 2 edits ("intervl", "dedupWindow" -> dedup_window) are suggested. */
const SUGGEST_MAX_EDITS = 2

/** "did you mean ...": a sibling key within 2 edits, else the same key in another section. */
export function suggestKey (section: readonly string[], key: string): string | undefined {
  const siblings = Object.keys(sectionAt(agentConfigSchema, section) ?? {})
  let best: string | undefined
  let bestDistance = SUGGEST_MAX_EDITS + 1
  for (const s of siblings) {
    const d = editDistance(key.toLowerCase(), s, SUGGEST_MAX_EDITS)
    if (d < bestDistance) [best, bestDistance] = [s, d]
  }
  if (best !== undefined) return best
  const elsewhere = leaves(agentConfigSchema).find((l) => l.path.split('.').at(-1) === key)
  return elsewhere?.path
}

function joinPath (path: readonly PropertyKey[]): string {
  return path.map(String).join('.')
}

/** zod's issues in our words. Leaves already speak for themselves (code "custom"). */
export function fromZodIssue (issue: z.core.$ZodIssue): ConfigIssue[] {
  const path = joinPath(issue.path)
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const hint = suggestKey(issue.path.map(String), key)
      return {
        path: path === '' ? key : `${path}.${key}`,
        message: `unknown field${hint === undefined ? '' : ` (did you mean ${hint}?)`}`,
      }
    })
  }
  if (issue.code === 'invalid_type' && issue.expected === 'object') {
    const what = path === '' ? 'the file must be a mapping of sections (node:, sampling:, ...)' : 'expected a mapping of fields'
    return [{ path, message: `${what}, got ${show(issue.input)}` }]
  }
  return [{ path, message: issue.message }]
}
