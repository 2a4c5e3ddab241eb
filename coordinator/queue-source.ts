// The queue autoscaler's optional metrics source (issue 5): a number from an HTTP endpoint, or a
// Prometheus instant query. Polled by the acting coordinator only; a value goes where `shoal queue
// set` goes. Parsing is pure and bounded; the fetch is injected.
import type { QueueSource } from './pool.js'

/** Bodies above this are not a queue depth. */
const MAX_BODY_BYTES = 64 * 1024

export type DepthResult = { ok: true, depth: number } | { ok: false, error: string }

/** The URL to GET: the endpoint itself, or Prometheus's instant-query API. */
export function queueSourceUrl (s: QueueSource): string {
  if (s.query === null) return s.url
  const base = s.url.replace(/\/+$/, '')
  return `${base}/api/v1/query?query=${encodeURIComponent(s.query)}`
}

/** A plain number, {"depth": N}, or a Prometheus vector/scalar answer (the first sample). */
export function parseQueueDepth (body: string, prometheus: boolean): DepthResult {
  if (body.length > MAX_BODY_BYTES) return { ok: false, error: `the answer is ${body.length} bytes; a queue depth is a number` }
  const text = body.trim()
  if (!prometheus && /^[0-9]+(\.[0-9]+)?$/.test(text)) return depth(Number(text))
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return { ok: false, error: `expected a number or JSON, got ${JSON.stringify(text.slice(0, 60))}` }
  }
  if (!prometheus) {
    if (typeof v === 'number') return depth(v)
    if (typeof v === 'object' && v !== null && 'depth' in v) return depth((v as { depth: unknown }).depth)
    return { ok: false, error: 'expected a number or {"depth": N}' }
  }
  const r = v as { status?: unknown, error?: unknown, data?: { resultType?: unknown, result?: unknown } }
  if (r.status !== 'success') return { ok: false, error: `prometheus: ${typeof r.error === 'string' ? r.error : 'status is not success'}` }
  const result = r.data?.result
  if (r.data?.resultType === 'scalar' && Array.isArray(result)) return depth(Number(result[1]))
  if (r.data?.resultType === 'vector' && Array.isArray(result)) {
    if (result.length === 0) return { ok: false, error: 'prometheus: the query returned no series' }
    const sample = (result[0] as { value?: unknown }).value
    if (Array.isArray(sample)) return depth(Number(sample[1]))
  }
  return { ok: false, error: 'prometheus: expected a scalar or a vector answer' }
}

function depth (n: unknown): DepthResult {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 1e12 ? { ok: true, depth: n } : { ok: false, error: `not a queue depth (a number ≥ 0): ${String(n)}` }
}

/** One poll; never throws. */
export async function readQueueDepth (s: QueueSource, fetchFn: typeof fetch): Promise<DepthResult> {
  try {
    const res = await fetchFn(queueSourceUrl(s), { signal: AbortSignal.timeout(s.timeoutMs), headers: { accept: 'application/json, text/plain' } })
    const body = await res.text()
    if (!res.ok) return { ok: false, error: `HTTP ${res.status}` }
    return parseQueueDepth(body, s.query !== null)
  } catch (err) {
    return { ok: false, error: (err as Error).name === 'TimeoutError' ? `no answer within ${s.timeoutMs} ms` : (err as Error).message }
  }
}
