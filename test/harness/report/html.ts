// report.html: one page an operator opens offline (file://, no network, JavaScript off): every
// chart is inline SVG drawn here, every string from the report escaped (it carries user YAML).
// Deterministic: the same report renders to the same bytes (no clock, no randomness).
import { nodeLabel } from './recorder.js'
import type { FaultRecord, LatencyName, LatencySummary, ProviderStats, Report, TermSpan, TimelineEvent } from './types.js'

/** Bounds on what the page draws and lists: a 10,000-node, 48-hour run must still open in a browser. */
export const HTML_LIMITS = {
  /**
   * Points per chart line: 1,000 (500 buckets, each keeping its min and max so a one-sample spike
   * still shows). A chart is about 1,000 px wide: more points add bytes, not detail.
   */
  maxPointsPerLine: 1000,
  /** Fault rows listed: 500. An operator reads the first ones; the rest are counted. */
  faultRows: 500,
  /** Node timelines shown: 200, the recorder's default (report.node_timelines). */
  nodeTimelines: 200,
  /** Events per node timeline: 200, above the recorder's 100, so its bound is the one that bites. */
  nodeEvents: 200,
  /** Violation trace rows: 200, the recorder's trace length. */
  traceRows: 200,
  /** Term bars drawn: 2,000. A run with more is flapping; the count says so, every bar would not. */
  termSpans: 2000,
  /** Gantt lanes: 12 coordinators (a council is at most 9); later ones share an "other" lane. */
  termLanes: 12,
  /** Provider rows: 40 (4 providers times their operations, with room). */
  providerRows: 40,
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;' }

/** Text and attribute values from the report: it holds user YAML, node names and error messages. */
export function esc (s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}

/**
 * At most `maxPoints` points of a line: equal-count buckets, each contributing its minimum and
 * maximum in time order, so a single-sample spike or dip survives. Short lines pass unchanged.
 */
export function downsample (t: readonly number[], y: readonly number[], maxPoints = HTML_LIMITS.maxPointsPerLine): { t: number[], y: number[] } {
  const n = Math.min(t.length, y.length)
  if (n <= maxPoints) return { t: t.slice(0, n), y: y.slice(0, n) }
  const buckets = Math.max(1, Math.floor(maxPoints / 2))
  const ot: number[] = []
  const oy: number[] = []
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor(b * n / buckets)
    const hi = Math.floor((b + 1) * n / buckets)
    let iMin = lo
    let iMax = lo
    for (let i = lo + 1; i < hi; i++) {
      if (y[i]! < y[iMin]!) iMin = i
      if (y[i]! > y[iMax]!) iMax = i
    }
    const keep = iMin === iMax ? [iMin] : [Math.min(iMin, iMax), Math.max(iMin, iMax)]
    for (const i of keep) { ot.push(t[i]!); oy.push(y[i]!) }
  }
  return { t: ot, y: oy }
}

// ---------------------------------------------------------------- formatting

const r1 = (v: number): number => Math.round(v * 10) / 10

export function fmtInt (n: number): string {
  return Number.isFinite(n) ? String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : '—'
}

/** A time in the run: 1:23.450 (m:ss.mmm), 1:02:03 past an hour. */
export function fmtClock (ms: number): string {
  if (!Number.isFinite(ms)) return '—'
  const neg = ms < 0 ? '-' : ''
  const a = Math.abs(Math.round(ms))
  const h = Math.floor(a / 3_600_000)
  const m = Math.floor(a / 60_000) % 60
  const s = Math.floor(a / 1000) % 60
  const frac = String(a % 1000).padStart(3, '0')
  if (h > 0) return `${neg}${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`
  return `${neg}${m}:${String(s).padStart(2, '0')}.${frac}`
}

/** A latency or length: 350 ms, 1.25 s, 2m 05s, 1h 02m; null: —. */
export function fmtDur (ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—'
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`
  if (Math.abs(ms) < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
  const m = Math.floor(ms / 60_000)
  if (m < 60) return `${m}m ${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`
}

/** Axis labels: 0, 30s, 2m, 2m30s, 1h, 1h30. */
function fmtAxis (ms: number): string {
  if (ms === 0) return '0'
  const h = Math.floor(ms / 3_600_000)
  const m = Math.floor(ms / 60_000) % 60
  const s = Math.floor(ms / 1000) % 60
  if (h > 0) return m === 0 ? `${h}h` : `${h}h${String(m).padStart(2, '0')}`
  if (m > 0) return s === 0 ? `${m}m` : `${m}m${String(s).padStart(2, '0')}s`
  return ms % 1000 === 0 ? `${s}s` : `${ms}ms`
}

/** Histogram bounds: 100ms, 1s, 30s, 5m. */
function fmtBound (ms: number): string {
  if (ms < 1000) return `${ms}ms`
  if (ms < 60_000) return `${r1(ms / 1000)}s`
  if (ms < 3_600_000) return `${r1(ms / 60_000)}m`
  return `${r1(ms / 3_600_000)}h`
}

function plural (n: number, noun: string): string {
  return `${fmtInt(n)} ${noun}${n === 1 ? '' : 's'}`
}

function fmtPct (fraction: number): string {
  return Number.isFinite(fraction) ? `${r1(fraction * 100)}%` : '—'
}

// ---------------------------------------------------------------- chart frame and axes

interface Box { readonly w: number, readonly h: number, readonly l: number, readonly r: number, readonly t: number, readonly b: number }
const plotW = (f: Box): number => f.w - f.l - f.r
const plotH = (f: Box): number => f.h - f.t - f.b

function svg (name: string, f: Box, label: string, body: string): string {
  return `<svg data-chart="${esc(name)}" viewBox="0 0 ${f.w} ${f.h}" role="img" aria-label="${esc(label)}" class="chart"><title>${esc(label)}</title>${body}</svg>`
}

/** 1, 2 or 5 times a power of ten: the smallest at or above raw. */
function niceStep (raw: number): number {
  if (!(raw > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(raw))
  return ([1, 2, 5, 10].find((k) => k * p >= raw) ?? 10) * p
}

const TIME_STEPS_MS = [1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000]

function timeStep (xMax: number): number {
  const fit = TIME_STEPS_MS.find((s) => xMax / s <= 8)
  return fit ?? Math.ceil(xMax / 8 / 3_600_000) * 3_600_000
}

/** Vertical grid lines and labels under the plot, every nice time step from 0 to xMax. */
function timeAxis (f: Box, xMax: number): string {
  const step = timeStep(xMax)
  const x = (ms: number): number => r1(f.l + ms / xMax * plotW(f))
  let out = ''
  for (let ms = 0; ms <= xMax + 1e-9; ms += step) {
    out += `<line class="grid" x1="${x(ms)}" x2="${x(ms)}" y1="${f.t}" y2="${f.h - f.b}"/><text class="tick" x="${x(ms)}" y="${f.h - f.b + 14}" text-anchor="middle">${fmtAxis(ms)}</text>`
  }
  return out
}

/** Horizontal grid lines and labels on the left; returns the top of the scale (a tick). */
function valueAxis (f: Box, max: number): { svg: string, top: number } {
  const step = niceStep(Math.max(1, max) / 4)
  const top = Math.max(step, Math.ceil(max / step) * step)
  const y = (v: number): number => r1(f.t + plotH(f) - v / top * plotH(f))
  let out = ''
  for (let v = 0; v <= top + 1e-9; v += step) {
    out += `<line class="grid" x1="${f.l}" x2="${f.w - f.r}" y1="${y(v)}" y2="${y(v)}"/><text class="tick" x="${f.l - 6}" y="${y(v) + 4}" text-anchor="end">${fmtInt(v)}</text>`
  }
  return { svg: out, top }
}

function noData (f: Box, what: string): string {
  return `<text class="nodata" x="${f.l + plotW(f) / 2}" y="${f.t + plotH(f) / 2}" text-anchor="middle">${esc(what)}</text>`
}

// ---------------------------------------------------------------- time-series lines

interface Line { readonly key: string, readonly label: string, readonly values: readonly number[], readonly area?: boolean }

const SERIES_BOX: Box = { w: 1100, h: 240, l: 52, r: 16, t: 12, b: 24 }

function lineChart (name: string, label: string, t: readonly number[], lines: readonly Line[], xMax: number): string {
  const f = SERIES_BOX
  const n = Math.min(t.length, ...lines.map((l) => l.values.length))
  const max = lines.reduce((m, l) => l.values.reduce((a, v) => Math.max(a, v), m), 0)
  const axis = valueAxis(f, max)
  const x = (ms: number): number => r1(f.l + Math.min(1, Math.max(0, ms / xMax)) * plotW(f))
  const y = (v: number): number => r1(f.t + plotH(f) - v / axis.top * plotH(f))
  let body = axis.svg + timeAxis(f, xMax)
  if (n === 0) return svg(name, f, label, body + noData(f, 'no samples'))
  for (const line of lines) {
    const d = downsample(t.slice(0, n), line.values.slice(0, n))
    const pts = d.t.map((ms, i) => `${x(ms)},${y(d.y[i]!)}`)
    if (pts.length === 1) {
      body += `<circle class="dot s-${line.key}" cx="${x(d.t[0]!)}" cy="${y(d.y[0]!)}" r="3.5"><title>${esc(line.label)}: ${fmtInt(d.y[0]!)}</title></circle>`
      continue
    }
    if (line.area === true) body += `<path class="area s-${line.key}" d="M${pts.join('L')}L${x(d.t.at(-1)!)},${y(0)}L${x(d.t[0]!)},${y(0)}Z"/>`
    body += `<path class="ln s-${line.key}" d="M${pts.join('L')}"><title>${esc(line.label)}</title></path>`
  }
  return svg(name, f, label, body)
}

function legend (items: ReadonlyArray<{ key: string, label: string, dashed?: boolean }>): string {
  return `<div class="legend">${items.map((i) => `<span class="key"><i class="sw s-${i.key}${i.dashed === true ? ' dashed' : ''}"></i>${esc(i.label)}</span>`).join('')}</div>`
}

// ---------------------------------------------------------------- latency histograms

const HIST_BOX: Box = { w: 360, h: 232, l: 40, r: 14, t: 30, b: 44 }

/** Where a latency falls on the bucket axis: linear inside its bucket (the last bucket: up to twice its floor). */
function bucketX (v: number, bounds: readonly number[]): number {
  const k = bounds.findIndex((b) => v <= b)
  const i = k === -1 ? bounds.length : k
  const lo = i === 0 ? 0 : bounds[i - 1]!
  const hi = i < bounds.length ? bounds[i]! : lo * 2
  return i + (hi > lo ? Math.min(1, Math.max(0, (v - lo) / (hi - lo))) : 0)
}

function histogramChart (name: LatencyName, s: LatencySummary): string {
  const f = HIST_BOX
  const bounds = s.histogram.bounds_ms
  const counts = s.histogram.counts
  const band = plotW(f) / Math.max(1, counts.length)
  const max = counts.reduce((m, c) => Math.max(m, c), 0)
  const axis = valueAxis(f, max)
  const y = (v: number): number => r1(f.t + plotH(f) - v / axis.top * plotH(f))
  let body = axis.svg
  counts.forEach((c, k) => {
    const x0 = r1(f.l + k * band + 2)
    const range = `${k === 0 ? '0' : fmtBound(bounds[k - 1]!)}–${k < bounds.length ? fmtBound(bounds[k]!) : '∞'}`
    if (c > 0) {
      body += `<rect class="bar" x="${x0}" y="${y(c)}" width="${r1(band - 4)}" height="${r1(y(0) - y(c))}"><title>${range}: ${fmtInt(c)}</title></rect>`
      body += `<text class="count" x="${r1(x0 + (band - 4) / 2)}" y="${y(c) - 3}" text-anchor="middle">${fmtInt(c)}</text>`
    }
    const label = k < bounds.length ? fmtBound(bounds[k]!) : '∞'
    const lx = r1(f.l + (k + 1) * band)
    body += `<text class="tick" x="${lx + 3}" y="${f.h - f.b + 12}" text-anchor="end" transform="rotate(-40 ${lx + 3} ${f.h - f.b + 12})">${label}</text>`
  })
  body += `<line class="axis" x1="${f.l}" x2="${f.w - f.r}" y1="${y(0)}" y2="${y(0)}"/>`
  // p50's label to the left of its line, p99's to the right: close percentiles stay readable.
  for (const [q, v, side] of [['p50', s.p50_ms, 'end'], ['p99', s.p99_ms, 'start']] as const) {
    if (v === null) continue
    const x = r1(f.l + bucketX(v, bounds) * band)
    body += `<line class="mark m-${q}" x1="${x}" x2="${x}" y1="8" y2="${y(0)}"/><text class="mlabel" x="${side === 'end' ? x - 3 : x + 3}" y="14" text-anchor="${side}">${q}</text>`
  }
  if (s.count === 0) body += noData(f, 'no samples')
  return svg(`latency-${name}`, f, `${name.replaceAll('_', ' ')} latency histogram`, body)
}

const LATENCY_TITLES: Record<LatencyName, [string, string]> = {
  fault_to_detect: ['Fault → detection', 'injection to the first unhealthy verdict'],
  fault_to_request: ['Fault → replacement requested', 'injection to the coordinator asking a cloud for a node'],
  fault_to_replaced: ['Fault → replaced', 'injection to the new node passing its boot gate'],
}

function latencyPanel (name: LatencyName, s: LatencySummary): string {
  const [title, what] = LATENCY_TITLES[name]
  const stat = (k: string, v: string): string => `<div><dt>${k}</dt><dd>${v}</dd></div>`
  return `<div class="panel"><h3>${title}</h3><p class="muted">${what}</p>${histogramChart(name, s)}` +
    `<dl class="stats">${stat('count', fmtInt(s.count))}${stat('p50', fmtDur(s.p50_ms))}${stat('p90', fmtDur(s.p90_ms))}${stat('p99', fmtDur(s.p99_ms))}${stat('max', fmtDur(s.max_ms))}</dl></div>`
}

// ---------------------------------------------------------------- coordinator terms (Gantt)

/** Stretches of [0, end) with nobody acting. */
export function gaps (terms: readonly TermSpan[], end: number): Array<[number, number]> {
  const spans = terms.map((s) => [s.from_ms, s.to_ms ?? end] as const).sort((a, b) => a[0] - b[0])
  const out: Array<[number, number]> = []
  let covered = 0
  for (const [from, to] of spans) {
    if (from > covered) out.push([covered, Math.min(from, end)])
    covered = Math.max(covered, to)
  }
  if (covered < end) out.push([covered, end])
  return out.filter(([a, b]) => b > a)
}

function termsChart (terms: readonly TermSpan[], xMax: number): string {
  const lanes: string[] = []
  for (const s of terms) if (!lanes.includes(s.coordinator) && lanes.length < HTML_LIMITS.termLanes - 1) lanes.push(s.coordinator)
  const other = terms.some((s) => !lanes.includes(s.coordinator))
  const rows = ['none acting', ...lanes, ...(other ? ['other'] : [])]
  const rowH = 24
  const f: Box = { w: 1100, h: 12 + rows.length * rowH + 24, l: 130, r: 16, t: 12, b: 24 }
  const x = (ms: number): number => r1(f.l + Math.min(1, Math.max(0, ms / xMax)) * plotW(f))
  const rowY = (i: number): number => f.t + i * rowH
  let body = timeAxis(f, xMax)
  rows.forEach((name, i) => {
    body += `<text class="lane" x="${f.l - 8}" y="${rowY(i) + rowH / 2 + 4}" text-anchor="end">${esc(name.length > 18 ? `${name.slice(0, 17)}…` : name)}</text>`
  })
  for (const [a, b] of gaps(terms, xMax)) {
    body += `<rect class="gap" x="${x(a)}" y="${rowY(0) + 4}" width="${Math.max(1, r1(x(b) - x(a)))}" height="${rowH - 8}"><title>nobody acting ${fmtClock(a)} – ${fmtClock(b)} (${fmtDur(b - a)})</title></rect>`
  }
  for (const s of terms.slice(0, HTML_LIMITS.termSpans)) {
    const lane = lanes.indexOf(s.coordinator)
    const row = lane === -1 ? rows.length - 1 : lane + 1
    const to = s.to_ms ?? xMax
    const w = Math.max(1.5, r1(x(to) - x(s.from_ms)))
    body += `<rect class="term c${(lane === -1 ? lanes.length : lane) % 8}" x="${x(s.from_ms)}" y="${rowY(row) + 3}" width="${w}" height="${rowH - 6}" rx="2">` +
      `<title>term ${s.term}: ${esc(s.coordinator)} ${fmtClock(s.from_ms)} – ${s.to_ms === null ? 'end' : fmtClock(s.to_ms)} (${fmtDur(to - s.from_ms)})</title></rect>`
    if (w > 34) body += `<text class="tlabel" x="${r1(x(s.from_ms) + 4)}" y="${rowY(row) + rowH / 2 + 4}">t${s.term}</text>`
  }
  if (terms.length === 0) body += noData(f, 'no coordinator acted')
  return svg('terms', f, 'coordinator terms over time', body)
}

// ---------------------------------------------------------------- providers

function errorClasses (ps: readonly ProviderStats[]): string[] {
  return [...new Set(ps.flatMap((p) => Object.keys(p.errors)))].sort()
}

function providersChart (ps: readonly ProviderStats[]): string {
  const rows = ps.slice(0, HTML_LIMITS.providerRows)
  const classes = errorClasses(rows)
  const rowH = 24
  const f: Box = { w: 1100, h: 12 + Math.max(1, rows.length) * rowH + 24, l: 180, r: 110, t: 12, b: 24 }
  const max = rows.reduce((m, p) => Math.max(m, p.calls), 0)
  const step = niceStep(Math.max(1, max) / 5)
  const top = Math.max(step, Math.ceil(max / step) * step)
  const w = (n: number): number => r1(n / top * plotW(f))
  let body = ''
  for (let v = 0; v <= top + 1e-9; v += step) {
    const gx = r1(f.l + w(v))
    body += `<line class="grid" x1="${gx}" x2="${gx}" y1="${f.t}" y2="${f.h - f.b}"/><text class="tick" x="${gx}" y="${f.h - f.b + 14}" text-anchor="middle">${fmtInt(v)}</text>`
  }
  rows.forEach((p, i) => {
    const y = f.t + i * rowH
    body += `<text class="lane" x="${f.l - 8}" y="${y + rowH / 2 + 4}" text-anchor="end">${esc(`${p.provider} · ${p.op}`)}</text>`
    let x = f.l
    const seg = (cls: string, n: number, what: string): void => {
      if (n <= 0) return
      body += `<rect class="${cls}" x="${r1(x)}" y="${y + 4}" width="${Math.max(1, w(n))}" height="${rowH - 8}"><title>${esc(`${p.provider} ${p.op}: ${what}`)} ${fmtInt(n)}</title></rect>`
      x += w(n)
    }
    seg('okbar', p.ok, 'ok')
    for (const c of classes) seg(`err e${classes.indexOf(c) % 6}`, p.errors[c] ?? 0, c)
    const errs = p.calls - p.ok
    body += `<text class="tick" x="${r1(x + 6)}" y="${y + rowH / 2 + 4}">${fmtInt(p.calls)}${errs > 0 ? ` (${fmtInt(errs)} err)` : ''}</text>`
  })
  if (rows.length === 0) body += noData(f, 'no provider calls')
  return svg('providers', f, 'provider calls: ok and errors by class', body)
}

function providersTable (ps: readonly ProviderStats[]): string {
  const rows = ps.slice(0, HTML_LIMITS.providerRows).map((p) => {
    const errs = Object.entries(p.errors).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${esc(c)} ${fmtInt(n)}`).join(', ')
    const failed = p.calls - p.ok
    return `<tr class="${failed > 0 ? 'warnrow' : ''}"><td>${esc(p.provider)}</td><td>${esc(p.op)}</td><td class="num">${fmtInt(p.calls)}</td><td class="num">${fmtInt(p.ok)}</td>` +
      `<td class="num">${p.calls === 0 ? '—' : fmtPct(failed / p.calls)}</td><td>${errs === '' ? '—' : errs}</td><td class="num">${fmtDur(p.p50_ms)}</td><td class="num">${fmtDur(p.p99_ms)}</td></tr>`
  })
  const more = ps.length - rows.length
  return table(['provider', 'op', '#calls', '#ok', '#error rate', 'errors by class', '#p50', '#p99'], rows, 'no provider calls') +
    (more > 0 ? `<p class="muted">${fmtInt(more)} more rows not shown.</p>` : '')
}

// ---------------------------------------------------------------- tables and sections

/** `head`: column names; a name starting with '#' is a numeric (right-aligned) column, shown without the '#'. */
function table (head: readonly string[], rows: readonly string[], empty: string): string {
  if (rows.length === 0) return `<p class="muted">${esc(empty)}</p>`
  const th = head.map((h) => h.startsWith('#') ? `<th class="num">${esc(h.slice(1))}</th>` : `<th>${esc(h)}</th>`).join('')
  return `<div class="scroll"><table><thead><tr>${th}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`
}

function section (id: string, title: string, body: string, note = ''): string {
  return `<section id="${id}"><h2>${title}</h2>${note === '' ? '' : `<p class="muted">${note}</p>`}${body}</section>`
}

function eventRows (events: readonly TimelineEvent[], limit: number): string[] {
  return events.slice(0, limit).map((e) => `<tr class="${e.kind.startsWith('fault') || e.kind.startsWith('violation') ? 'badrow' : ''}"><td class="num">${fmtClock(e.t_ms)}</td><td>${esc(e.kind)}</td><td>${esc(e.detail)}</td></tr>`)
}

function header (r: Report): string {
  const s = r.scenario
  const pass = r.outcome === 'pass'
  const accel = s.accel === 1 ? '×1 (real fleet rates)' : `×${fmtInt(s.accel)} (${fmtInt(s.accel)}× real fleet rates)`
  const meta: Array<[string, string]> = [
    ['mode', esc(s.mode)], ['fidelity', esc(s.fidelity)], ['seed', `<code>${esc(s.seed)}</code>`],
    ['acceleration', `<strong>${esc(accel)}</strong>`], ['profile', esc(s.profile)], ['duration', esc(fmtDur(s.duration_ms))],
    ['fleet', esc(`${fmtInt(s.nodes)} pool nodes, council of ${s.council}, zones ${s.zones.join(', ')}, racks of ${s.rack_size}`)],
    ['file', `<code>${esc(s.file)}</code>`], ['digest', `<code title="${esc(r.digest)}">${esc(r.digest.slice(0, 16))}…</code>`],
    ['wall time', esc(`${r.wall_s} s`)],
  ]
  return `<header><div class="title"><span id="outcome" class="badge ${pass ? 'pass' : 'fail'}">${pass ? 'PASS' : 'FAIL'}</span>` +
    `<div><h1>${esc(s.name)}</h1>${s.description === '' ? '' : `<p class="desc">${esc(s.description)}</p>`}</div></div>` +
    `<dl class="meta">${meta.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl></header>`
}

function cards (r: Report): string {
  const m = r.summary
  const card = (label: string, value: string, sub: string, tone = ''): string =>
    `<div class="card ${tone}"><div class="label">${label}</div><div class="value">${value}</div><div class="sub">${sub}</div></div>`
  const errRate = m.provider_calls === 0 ? 0 : m.provider_errors / m.provider_calls
  return `<div class="cards">${[
    card('violations', fmtInt(m.violations), m.violations === 0 ? 'every invariant held' : 'run stopped at the first', m.violations === 0 ? 'good' : 'bad'),
    card('faults injected', fmtInt(m.faults), `${fmtInt(m.replace_class_faults)} replace-class`),
    card('replacements', `${fmtInt(m.replacements_completed)} / ${fmtInt(m.replacements_requested)}`, 'completed / requested',
      m.replacements_completed < m.replacements_requested ? 'warn' : ''),
    card('capacity', fmtPct(m.end_capacity_fraction), `at the end; lowest ${fmtPct(m.min_capacity_fraction)}`, m.end_capacity_fraction < 1 ? 'warn' : 'good'),
    card('coordinator terms', fmtInt(m.terms), `${fmtInt(r.terms.length === 0 ? 0 : new Set(r.terms.map((t) => t.coordinator)).size)} coordinators`),
    card('provider calls', fmtInt(m.provider_calls), `${fmtInt(m.provider_errors)} errors (${fmtPct(errRate)})`, m.provider_errors > 0 ? 'warn' : ''),
    card(r.scenario.mode === 'mesh' ? 'log lines read' : 'events simulated', fmtInt(m.events), `${fmtDur(r.scenario.duration_ms)} ${r.scenario.mode === 'mesh' ? 'wall' : 'virtual'}`),
  ].join('')}</div>`
}

function violationSection (r: Report): string {
  const v = r.violation
  if (v === null) return ''
  const body = `<p class="vmsg"><strong>${esc(v.invariant)}</strong> at <strong>${fmtClock(v.t_ms)}</strong> (seed <code>${esc(v.seed)}</code>): ${esc(v.message)}</p>` +
    `<h3>Reproduce</h3><pre class="cmd">${esc(v.reproduce)}</pre>` +
    `<h3>Trace</h3><p class="muted">The last ${fmtInt(Math.min(v.trace.length, HTML_LIMITS.traceRows))} things that happened, oldest first.</p>` +
    table(['#t', 'kind', 'detail'], eventRows(v.trace.slice(-HTML_LIMITS.traceRows), HTML_LIMITS.traceRows), 'no trace')
  return `<section id="violation" class="violation"><h2>Violation</h2>${body}</section>`
}

function invariantsTable (r: Report): string {
  const rows = r.invariants.map((i) => `<tr class="${i.violations > 0 ? 'badrow' : ''}"><td><code>${esc(i.name)}</code></td><td>${esc(i.description)}</td>` +
    `<td class="num">${fmtInt(i.checks)}</td><td class="num">${fmtInt(i.violations)}</td><td>${i.first === null ? '—' : `${fmtClock(i.first.t_ms)}: ${esc(i.first.message)}`}</td></tr>`)
  return table(['invariant', 'what it checks', '#checks', '#violations', 'first violation'], rows, 'no invariants recorded')
}

function since (f: FaultRecord, at: number | null): string {
  return at === null ? '—' : `+${fmtDur(at - f.t_ms)}`
}

function faultsTable (r: Report): string {
  const shown = r.faults.slice(0, HTML_LIMITS.faultRows)
  const rows = shown.map((f) => {
    const missing = f.expect === 'replace' && f.requested_ms === null
    return `<tr class="${missing ? 'warnrow' : ''}"><td class="num">${f.id}</td><td class="num">${fmtClock(f.t_ms)}</td><td>${esc(f.fault)}</td>` +
      `<td>${f.node === null ? '—' : esc(nodeLabel(f.node))}</td><td>${esc(f.expect)}</td><td>${esc(f.detail)}</td>` +
      `<td class="num">${since(f, f.detected_ms)}</td><td class="num">${since(f, f.requested_ms)}</td><td class="num">${since(f, f.replaced_ms)}</td></tr>`
  })
  const more = r.faults.length - shown.length + r.summary.faults_not_listed
  return table(['##', '#t', 'fault', 'node', 'expect', 'detail', '#detected', '#requested', '#replaced'], rows, 'no faults injected') +
    (more > 0 ? `<p class="more">${fmtInt(more)} more faults not listed (the first ${fmtInt(shown.length)} are).</p>` : '')
}

function nodeStrip (events: readonly TimelineEvent[], xMax: number): string {
  const ticks = events.map((e) => {
    const x = r1(2 + Math.min(1, Math.max(0, e.t_ms / xMax)) * 396)
    return `<line class="${e.kind.startsWith('fault') ? 'tk-fault' : 'tk'}" x1="${x}" x2="${x}" y1="2" y2="12"/>`
  })
  return `<svg class="strip" viewBox="0 0 400 14" aria-hidden="true"><line class="axis" x1="2" x2="398" y1="7" y2="7"/>${ticks.join('')}</svg>`
}

function nodesSection (r: Report, xMax: number): string {
  const shown = r.nodes.slice(0, HTML_LIMITS.nodeTimelines)
  const items = shown.map((n) => {
    const faults = n.events.filter((e) => e.kind.startsWith('fault')).length
    const rows = eventRows(n.events, HTML_LIMITS.nodeEvents)
    return `<details class="node"><summary><span class="nname" title="${esc(n.node)}">${esc(n.node)}</span><span class="ncount">${plural(n.events.length, 'event')}${faults > 0 ? `, <b>${plural(faults, 'fault')}</b>` : ''}</span>${nodeStrip(n.events.slice(0, HTML_LIMITS.nodeEvents), xMax)}</summary>` +
      `${table(['#t', 'kind', 'detail'], rows, 'no events')}${n.events.length > rows.length ? `<p class="more">${fmtInt(n.events.length - rows.length)} more events not shown.</p>` : ''}</details>`
  })
  const more = r.nodes.length - shown.length
  const tools = '<p class="tools" hidden><button type="button" data-open="1">expand all</button> <button type="button" data-open="0">collapse all</button></p>'
  return (items.length === 0 ? '<p class="muted">no node timelines</p>' : tools + items.join('')) +
    (more > 0 ? `<p class="more">${fmtInt(more)} more nodes not shown.</p>` : '')
}

// ---------------------------------------------------------------- the page

const NAV: Array<[string, string]> = [
  ['summary', 'Summary'], ['health', 'Fleet health'], ['capacity', 'Capacity'], ['latency', 'Latency'], ['terms', 'Coordinator'],
  ['providers', 'Providers'], ['invariants', 'Invariants'], ['faults', 'Faults'], ['nodes', 'Nodes'], ['scenario', 'Scenario'],
]

export function renderHtml (r: Report): string {
  const s = r.series
  // A run stopped by a violation ends there: drawn to the full duration, its charts would show a
  // coordinator gap and a flat fleet that never happened.
  const planned = r.violation === null ? r.scenario.duration_ms : r.violation.t_ms
  const xMax = r.terms.reduce((m, t) => Math.max(m, t.to_ms ?? 0), Math.max(1, planned, s.t_ms.at(-1) ?? 0))
  const nav = [...(r.violation === null ? [] : [['violation', 'Violation']]), ...NAV]
    .map(([id, label]) => `<a href="#${id}"${id === 'violation' ? ' class="bad"' : ''}>${label}</a>`).join('')
  const health = lineChart('health', 'pool nodes by agreed health over time', s.t_ms, [
    { key: 'healthy', label: 'healthy', values: s.healthy }, { key: 'degraded', label: 'degraded', values: s.degraded },
    { key: 'unhealthy', label: 'unhealthy', values: s.unhealthy }, { key: 'dead', label: 'dead', values: s.dead },
  ], xMax)
  const capacity = lineChart('capacity', 'pool live instances against target over time', s.t_ms, [
    { key: 'live', label: 'live', values: s.pool_live, area: true }, { key: 'target', label: 'target', values: s.pool_target },
  ], xMax)
  const latency = (['fault_to_detect', 'fault_to_request', 'fault_to_replaced'] as const).map((k) => latencyPanel(k, r.latency[k])).join('')
  const body = [
    header(r),
    `<nav>${nav}</nav>`,
    violationSection(r),
    section('summary', 'Summary', cards(r)),
    section('health', 'Fleet health over time', legend([{ key: 'healthy', label: 'healthy' }, { key: 'degraded', label: 'degraded' }, { key: 'unhealthy', label: 'unhealthy' }, { key: 'dead', label: 'dead' }]) + health,
      'Pool nodes by their agreed health: the acting coordinator\'s view (the first live agent\'s when none acts).'),
    section('capacity', 'Pool capacity against target', legend([{ key: 'live', label: 'live instances' }, { key: 'target', label: 'target', dashed: true }]) + capacity,
      'Live instances of the pool in the clouds, and the target (min_nodes or the scaler\'s).'),
    section('latency', 'Fault → detection → replacement', `<div class="panels">${latency}</div>`, 'Bars: count per latency bucket (upper bounds on the axis); lines: p50 and p99.'),
    section('terms', 'Coordinator terms', termsChart(r.terms, xMax), 'One lane per coordinator; red: nobody acting. Hover a bar for its term and span.'),
    section('providers', 'Provider calls', providersChart(r.providers) + providersLegend(r.providers) + providersTable(r.providers)),
    section('invariants', 'Invariants', invariantsTable(r)),
    section('faults', 'Faults', faultsTable(r), 'Each injected fault; detected, requested and replaced count from the injection. Amber: a replace-class fault with no replacement requested.'),
    section('nodes', 'Node timelines', nodesSection(r, xMax), 'The nodes with the most events; red ticks are faults.'),
    section('scenario', 'Scenario', `<pre class="source">${esc(r.scenario.source)}</pre>`, `<code>${esc(r.scenario.file)}</code>, as written.`),
    `<footer>${esc(r.format)} · digest <code>${esc(r.digest)}</code></footer>`,
  ].join('\n')
  return page(`${r.outcome === 'pass' ? 'PASS' : 'FAIL'} · ${r.scenario.name} · shoal report`, body)
}

function providersLegend (ps: readonly ProviderStats[]): string {
  const classes = errorClasses(ps.slice(0, HTML_LIMITS.providerRows))
  return legend([{ key: 'ok', label: 'ok' }, ...classes.map((c, i) => ({ key: `e${i % 6}`, label: c }))])
}

const CSP = 'default-src \'none\'; style-src \'unsafe-inline\'; script-src \'unsafe-inline\'; img-src data:'

function page (title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`
}

/** Expand / collapse every node timeline; the buttons stay hidden without JavaScript. */
const SCRIPT = `(function(){var t=document.querySelector('.tools');if(!t)return;t.hidden=false;t.addEventListener('click',function(e){var b=e.target.closest('button');if(!b)return;var o=b.getAttribute('data-open')==='1';document.querySelectorAll('details.node').forEach(function(d){d.open=o})})})()`

const STYLE = `
:root{--bg:#f6f8fa;--fg:#1f2328;--muted:#59636e;--panel:#fff;--line:#d1d9e0;--grid:#e8ecf0;
--healthy:#1a7f37;--degraded:#bf8700;--unhealthy:#e16f24;--dead:#cf222e;--live:#0969da;--target:#59636e;
--good:#1a7f37;--bad:#cf222e;--warn:#9a6700;--badbg:#ffebe9;--warnbg:#fff8c5;--goodbg:#dafbe1;
--c0:#0969da;--c1:#8250df;--c2:#1b7c83;--c3:#bf3989;--c4:#953800;--c5:#4d2d00;--c6:#0550ae;--c7:#6e7781;
--e0:#cf222e;--e1:#e16f24;--e2:#bf8700;--e3:#8250df;--e4:#bf3989;--e5:#6e7781}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--panel:#151b23;--line:#3d444d;--grid:#262c36;
--healthy:#3fb950;--degraded:#d29922;--unhealthy:#f0883e;--dead:#f85149;--live:#4493f8;--target:#9198a1;
--good:#3fb950;--bad:#f85149;--warn:#d29922;--badbg:#3c1618;--warnbg:#3a2d0b;--goodbg:#0f2d1a;
--c0:#4493f8;--c1:#ab7df8;--c2:#39c5cf;--c3:#db61a2;--c4:#f0883e;--c5:#d29922;--c6:#79c0ff;--c7:#9198a1}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 20px 40px}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
h1{margin:0;font-size:24px}h2{margin:0 0 8px;font-size:18px}h3{margin:12px 0 4px;font-size:14px}
header{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:16px 18px}
.title{display:flex;gap:16px;align-items:center}
.desc{margin:2px 0 0;color:var(--muted)}
.badge{font-weight:800;font-size:22px;letter-spacing:.06em;padding:8px 16px;border-radius:6px;color:#fff}
.badge.pass{background:var(--good)}.badge.fail{background:var(--bad)}
.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:4px 18px;margin:14px 0 0}
.meta div{display:flex;gap:8px;min-width:0}.meta dt{color:var(--muted);min-width:86px}.meta dd{margin:0;overflow-wrap:anywhere}
nav{position:sticky;top:0;z-index:2;display:flex;flex-wrap:wrap;gap:4px 14px;padding:8px 4px;margin:8px 0;background:var(--bg);border-bottom:1px solid var(--line)}
nav a{color:var(--fg);text-decoration:none;font-weight:600}nav a:hover{text-decoration:underline}nav a.bad{color:var(--bad)}
section{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:14px 0}
.muted{color:var(--muted);margin:0 0 8px}.more{color:var(--warn);font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{border:1px solid var(--line);border-left:4px solid var(--line);border-radius:6px;padding:8px 10px}
.card.good{border-left-color:var(--good)}.card.bad{border-left-color:var(--bad);background:var(--badbg)}.card.warn{border-left-color:var(--warn)}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:22px;font-weight:700}.card .sub{color:var(--muted);font-size:12px}
.violation{border:2px solid var(--bad);background:var(--badbg)}.violation h2{color:var(--bad)}.vmsg{font-size:15px}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px 12px;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}
pre.source{max-height:600px}pre.cmd{font-weight:600}
.scroll{overflow:auto;max-height:560px}
table{border-collapse:collapse;width:100%;font-size:13px}
th{position:sticky;top:0;background:var(--panel);text-align:left;border-bottom:2px solid var(--line);padding:4px 8px;white-space:nowrap}
td{border-bottom:1px solid var(--grid);padding:3px 8px;vertical-align:top}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.badrow td{background:var(--badbg)}tr.warnrow td{background:var(--warnbg)}
.legend{display:flex;gap:16px;flex-wrap:wrap;font-size:13px;margin:0 0 4px}
.key{display:inline-flex;align-items:center;gap:6px}
.sw{display:inline-block;width:18px;height:0;border-top:3px solid}.sw.dashed{border-top-style:dashed}
.chart{width:100%;height:auto;display:block}
.chart text{fill:var(--muted);font-size:11px}
.chart .grid{stroke:var(--grid);stroke-width:1}.chart .axis{stroke:var(--line);stroke-width:1}
.chart .nodata{font-size:14px;font-style:italic}
path.ln{fill:none;stroke-width:1.8;stroke-linejoin:round}.area{stroke:none;opacity:.12}.dot{stroke:none}
.s-healthy{stroke:var(--healthy);fill:var(--healthy);border-color:var(--healthy)}
.s-degraded{stroke:var(--degraded);fill:var(--degraded);border-color:var(--degraded)}
.s-unhealthy{stroke:var(--unhealthy);fill:var(--unhealthy);border-color:var(--unhealthy)}
.s-dead{stroke:var(--dead);fill:var(--dead);border-color:var(--dead)}
.s-live{stroke:var(--live);fill:var(--live);border-color:var(--live)}
.s-target{stroke:var(--target);fill:var(--target);border-color:var(--target)}
path.s-target{stroke-dasharray:6 4;fill:none}
.s-ok{border-color:var(--good)}.s-e0{border-color:var(--e0)}.s-e1{border-color:var(--e1)}.s-e2{border-color:var(--e2)}.s-e3{border-color:var(--e3)}.s-e4{border-color:var(--e4)}.s-e5{border-color:var(--e5)}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:14px}
.panel{border:1px solid var(--line);border-radius:6px;padding:8px 10px}.panel h3{margin:0}.panel .muted{font-size:12px;margin:0 0 4px}
.bar{fill:var(--live)}.chart .count{fill:var(--fg);font-size:10px}
.mark{stroke-width:1.5;stroke-dasharray:3 3}.m-p50{stroke:var(--healthy)}.m-p99{stroke:var(--dead)}.chart .mlabel{font-size:10px;fill:var(--fg)}
.stats{display:flex;gap:14px;flex-wrap:wrap;margin:6px 0 0}.stats dt{color:var(--muted);font-size:11px}.stats dd{margin:0;font-weight:700;font-variant-numeric:tabular-nums}
.gap{fill:var(--bad);opacity:.75}.term{opacity:.9}.chart .tlabel{fill:#fff;font-size:10px;font-weight:700}.chart .lane{fill:var(--fg);font-size:12px}
.c0{fill:var(--c0)}.c1{fill:var(--c1)}.c2{fill:var(--c2)}.c3{fill:var(--c3)}.c4{fill:var(--c4)}.c5{fill:var(--c5)}.c6{fill:var(--c6)}.c7{fill:var(--c7)}
.okbar{fill:var(--good)}.e0{fill:var(--e0)}.e1{fill:var(--e1)}.e2{fill:var(--e2)}.e3{fill:var(--e3)}.e4{fill:var(--e4)}.e5{fill:var(--e5)}
details.node{border-bottom:1px solid var(--grid)}details.node summary{cursor:pointer;display:flex;align-items:center;gap:12px;padding:4px 0}
.nname{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;width:220px;flex:none;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-weight:600}.ncount{color:var(--muted);width:150px;flex:none;font-size:12px}.ncount b{color:var(--bad)}
.strip{width:400px;max-width:50%;height:14px}.strip .tk{stroke:var(--muted);stroke-width:1.5}.strip .tk-fault{stroke:var(--bad);stroke-width:2.5}.strip .axis{stroke:var(--line)}
.tools button{font:inherit;padding:2px 10px;border:1px solid var(--line);border-radius:4px;background:var(--panel);color:var(--fg);cursor:pointer}
footer{color:var(--muted);font-size:12px;margin-top:18px;overflow-wrap:anywhere}
`
