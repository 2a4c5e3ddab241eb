// Durations as operators write them in YAML: 500ms, 30s, 5m, 1h, 7d; one unit per value.
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const FORM = /^(\d{1,9}(?:\.\d{1,3})?)(ms|s|m|h|d)$/

/** Milliseconds, or undefined when `text` is not a duration. */
export function parseDuration (text: string): number | undefined {
  const m = FORM.exec(text.trim())
  if (m === null) return undefined
  const ms = Number(m[1]) * UNITS[m[2]!]!
  return Number.isFinite(ms) ? Math.round(ms) : undefined
}

/** The largest unit that divides the value: 90000 → "90s", 3600000 → "1h". */
export function formatDuration (ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit]!
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
