// Durations as operators write them ("500ms", "1s", "5m", "1h30m", "30d") and as the code holds
// them (whole milliseconds). A bare number is not a duration: "1000" could mean ms or s, and a
// config that guesses wrong sleeps 1000x too long, so the unit is required.

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const
type Unit = keyof typeof UNIT_MS
/** Largest unit first: formatDuration's order, and the order a term list must follow. */
const UNITS: readonly Unit[] = ['d', 'h', 'm', 's', 'ms']

/**
 * 1,000 days: past any timeout, window or retention a host could mean, and far inside 2^53 ms.
 * Fields set their own, tighter bounds; this one only stops nonsense such as "9e99h".
 */
export const DURATION_MAX_MS = 1000 * UNIT_MS.d

/** 64 characters: "1d2h3m4s5ms" is 11; anything longer is not a duration someone typed. */
const TEXT_MAX_CHARS = 64
const TERM = /(\d+(?:\.\d+)?)(ms|d|h|m|s)/y
export const DURATION_HINT = 'use 500ms, 1s, 5m, 1h'

function quote (text: string): string {
  return JSON.stringify(text.length > TEXT_MAX_CHARS ? `${text.slice(0, TEXT_MAX_CHARS)}…` : text)
}

/**
 * "1h30m" -> 5_400_000. Terms are a decimal number and a unit (ms, s, m, h, d), largest unit first,
 * each unit at most once; "0" alone is zero. Throws RangeError with a sentence naming the text.
 */
export function parseDuration (text: string): number {
  const bad = (why: string): RangeError => new RangeError(`${quote(text)} ${why}`)
  if (text === '0') return 0
  if (text.length === 0 || text.length > TEXT_MAX_CHARS) throw bad(`is not a duration (${DURATION_HINT})`)
  if (text.startsWith('-')) throw bad('is negative: a duration must be 0 or more')
  let total = 0
  let lastUnit = -1
  TERM.lastIndex = 0
  while (TERM.lastIndex < text.length) {
    const m = TERM.exec(text)
    if (m === null) throw bad(`is not a duration (${DURATION_HINT})`)
    const unit = m[2] as Unit
    const rank = UNITS.indexOf(unit)
    if (rank <= lastUnit) throw bad(`is not a duration: units must go from largest to smallest, each once (${DURATION_HINT})`)
    lastUnit = rank
    total += Number(m[1]) * UNIT_MS[unit]
  }
  if (!(total <= DURATION_MAX_MS)) throw bad(`is too long (at most ${formatDuration(DURATION_MAX_MS)})`)
  // 1.5s is fine; 1.5ms is not: everything downstream counts whole milliseconds.
  const ms = Math.round(total)
  if (Math.abs(ms - total) > 1e-6) throw bad('is not a whole number of milliseconds')
  return ms
}

/** 5_400_000 -> "1h30m"; 0 -> "0ms". The inverse of parseDuration for whole ms in range. */
export function formatDuration (ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`not a duration in ms: ${ms}`)
  if (ms === 0) return '0ms'
  let rest = ms
  let out = ''
  for (const unit of UNITS) {
    const n = Math.floor(rest / UNIT_MS[unit])
    if (n > 0) out += `${n}${unit}`
    rest -= n * UNIT_MS[unit]
  }
  return out
}
