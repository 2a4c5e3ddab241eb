// renderHtml without a browser: every string from the report escaped (the scenario is user YAML),
// every section and chart present, charts that cope with no samples, one sample and 12,000, the
// violation block only when there is a violation, bounded tables, and writeReport's two files.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import t from 'tap'
import { parseScenario } from '../scenario/load.js'
import { HOSTILE, HOSTILE_NODE, scenarioText, syntheticReport } from './fixtures/synthetic.js'
import { downsample, esc, fmtClock, fmtDur, gaps, HTML_LIMITS, renderHtml } from './html.js'
import { Recorder } from './recorder.js'
import type { Report } from './types.js'
import { writeReport } from './write.js'

const CHARTS = ['health', 'capacity', 'latency-fault_to_detect', 'latency-fault_to_request', 'latency-fault_to_replaced', 'terms', 'providers']
const SECTIONS = ['summary', 'health', 'capacity', 'latency', 'terms', 'providers', 'invariants', 'faults', 'nodes', 'scenario']

const pass = syntheticReport({ samples: 300 })
const fail = syntheticReport({ samples: 300, violation: true })

/** A report with nothing in it: no samples, faults, terms, provider calls or node events. */
function emptyReport (samples = 0): Report {
  const rec = new Recorder(parseScenario('name: empty\nfleet: {pool: {nodes: 3}}\n', 'empty.yaml'), 'simulate', 'npm run harness -- simulate empty.yaml')
  for (let i = 0; i < samples; i++) rec.sample(i * 1000, { healthy: 3, degraded: 0, unhealthy: 0, dead: 0, poolLive: 3, poolTarget: 3, term: 0 })
  return rec.build({ events: 0, wallS: 0, endMs: 300_000 })
}

function unescape (s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, '\'').replace(/&amp;/g, '&')
}

function chart (html: string, name: string): string {
  const m = new RegExp(`<svg data-chart="${name}"[\\s\\S]*?</svg>`).exec(html)
  if (m === null) throw new Error(`no chart ${name}`)
  return m[0]
}

function sectionOf (html: string, id: string): string {
  const m = new RegExp(`<section id="${id}"[\\s\\S]*?</section>`).exec(html)
  if (m === null) throw new Error(`no section ${id}`)
  return m[0]
}

/** Points of each line path in a chart. */
function linePoints (svg: string): number[] {
  return [...svg.matchAll(/<path class="ln [^"]*" d="M([^"]*)"/g)].map((m) => m[1]!.split('L').length)
}

t.test('escape: markup from the scenario, node names and messages shows as text, never runs', async (t) => {
  t.equal(esc('<a href="x">Tom & Jerry\'s</a>'), '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;')
  for (const r of [pass, fail]) {
    const html = renderHtml(r)
    t.notMatch(html, /<script>alert/, 'no live <script> from the report')
    t.notMatch(html, /<img/, 'no live <img> from a node name')
    t.equal(html.match(/<script/g)?.length, 1, 'the one script is the page\'s own')
    t.match(html, esc(HOSTILE), 'the markup is shown escaped')
    t.match(html, `<span class="nname" title="${esc(HOSTILE_NODE)}">${esc(HOSTILE_NODE)}</span>`, 'the node name, escaped in text and attribute')
    const pre = /<pre class="source">([\s\S]*?)<\/pre>/.exec(html)
    t.equal(unescape(pre?.[1] ?? ''), r.scenario.source, 'the scenario source round-trips exactly')
    t.equal(r.scenario.source, scenarioText(48))
  }
  t.match(sectionOf(renderHtml(fail), 'violation'), `fault ${esc(HOSTILE)} on node-3`, 'the violation message, escaped')
})

t.test('self-contained: a CSP that forbids fetching, no external reference', async (t) => {
  const html = renderHtml(pass)
  t.match(html, '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; script-src \'unsafe-inline\'; img-src data:">')
  const refs = [...html.matchAll(/<[a-z][^<>]*?\b(?:src|href|action|xlink:href)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]!)
  t.ok(refs.length > 10, `${refs.length} references`)
  t.same(refs.filter((v) => !v.startsWith('#') && !v.startsWith('data:')), [], 'every src/href is an anchor or data:')
  t.notMatch(html, /@import|url\(|https?:\/\/(?!www\.w3\.org)/, 'no CSS import, url() or absolute URL')
})

t.test('every section and chart, once each; header states mode, fidelity, seed, acceleration, outcome', async (t) => {
  const html = renderHtml(pass)
  for (const id of SECTIONS) t.equal(html.split(`<section id="${id}"`).length - 1, 1, `section ${id}`)
  for (const name of CHARTS) t.equal(html.split(`data-chart="${name}"`).length - 1, 1, `chart ${name}`)
  t.match(html, '<span id="outcome" class="badge pass">PASS</span>')
  t.match(html, /<dt>mode<\/dt><dd>simulate<\/dd>/)
  t.match(html, /<dt>fidelity<\/dt><dd>fleet<\/dd>/)
  t.match(html, /<dt>seed<\/dt><dd><code>7<\/code><\/dd>/)
  t.match(html, /<dt>acceleration<\/dt><dd><strong>×100 \(100× real fleet rates\)<\/strong><\/dd>/)
  t.match(html, pass.digest, 'the full digest')
  t.match(html, /<dt>wall time<\/dt><dd>4\.2 s<\/dd>/)
  t.equal(renderHtml(pass), html, 'the same report renders to the same bytes')
})

t.test('the violation block is there only when there is a violation', async (t) => {
  const ok = renderHtml(pass)
  t.notMatch(ok, 'id="violation"')
  t.notMatch(ok, 'href="#violation"')
  const bad = renderHtml(fail)
  t.equal(fail.outcome, 'fail')
  t.match(bad, '<span id="outcome" class="badge fail">FAIL</span>')
  const v = sectionOf(bad, 'violation')
  t.match(v, '<strong>replacement-requested</strong>')
  t.match(v, `<pre class="cmd">${esc(fail.violation!.reproduce)}</pre>`, 'the reproduce command')
  t.equal(v.match(/<tr/g)?.length, fail.violation!.trace.length + 1, 'every trace row, and the header')
  t.ok(bad.indexOf('id="violation"') < bad.indexOf('id="summary"'), 'above everything else')
  t.match(sectionOf(bad, 'invariants'), /<tr class="badrow"><td><code>replacement-requested<\/code>/)
  const stopped = fail.violation!.t_ms
  t.ok(stopped < fail.scenario.duration_ms)
  t.equal(chart(bad, 'terms').match(/class="gap"/g)?.length, gaps(fail.terms, stopped).length, 'charts end where the run stopped: no gap after it')
  t.ok(gaps(fail.terms, fail.scenario.duration_ms).length > gaps(fail.terms, stopped).length, '(to the planned end there would be one)')
})

t.test('empty report: every chart drawn with axes and a "no samples" note, no NaN', async (t) => {
  const html = renderHtml(emptyReport())
  for (const name of CHARTS) t.match(chart(html, name), /<svg data-chart=/, `chart ${name}`)
  for (const name of ['health', 'capacity', 'latency-fault_to_detect']) t.match(chart(html, name), 'no samples')
  t.match(chart(html, 'terms'), 'no coordinator acted')
  t.match(chart(html, 'providers'), 'no provider calls')
  t.match(sectionOf(html, 'faults'), 'no faults injected')
  t.match(sectionOf(html, 'nodes'), 'no node timelines')
  t.notMatch(html, /NaN|Infinity|undefined/)
})

t.test('one sample: a dot per line, not an invisible one-point path', async (t) => {
  const html = renderHtml(emptyReport(1))
  t.equal(chart(html, 'health').match(/<circle class="dot/g)?.length, 4)
  t.equal(chart(html, 'capacity').match(/<circle class="dot/g)?.length, 2)
  t.same(linePoints(chart(html, 'health')), [])
  t.notMatch(html, /NaN|Infinity|undefined/)
})

t.test('downsample keeps at most 1,000 points, in time order, with every spike and dip', async (t) => {
  const n = 10_007
  const ts = Array.from({ length: n }, (_, i) => i * 10)
  const ys = ts.map((_, i) => 50 + (i % 7))
  ys[4321] = 999 // one-sample spike
  ys[8765] = -5 // one-sample dip
  const d = downsample(ts, ys)
  t.ok(d.t.length <= HTML_LIMITS.maxPointsPerLine, `${d.t.length} points`)
  t.ok(d.t.length > HTML_LIMITS.maxPointsPerLine / 2)
  t.ok(d.t.every((x, i) => i === 0 || x > d.t[i - 1]!), 'strictly increasing time')
  t.ok(d.y.includes(999) && d.t[d.y.indexOf(999)] === 43_210, 'the spike, at its time')
  t.ok(d.y.includes(-5) && d.t[d.y.indexOf(-5)] === 87_650, 'the dip, at its time')
  t.same(downsample([1, 2, 3], [4, 5, 6]), { t: [1, 2, 3], y: [4, 5, 6] }, 'short lines unchanged')
  t.same(downsample([], []), { t: [], y: [] })
  t.same(downsample([1, 2, 3], [7]), { t: [1], y: [7] }, 'unequal lengths: the shorter')
})

t.test('12,000 samples: every line in the page at most 1,000 points', async (t) => {
  const big = syntheticReport({ samples: 12_000 })
  t.equal(big.series.t_ms.length, 12_000)
  const html = renderHtml(big)
  for (const name of ['health', 'capacity']) {
    const pts = linePoints(chart(html, name))
    t.ok(pts.length > 0 && pts.every((p) => p > 100 && p <= HTML_LIMITS.maxPointsPerLine), `${name}: ${pts.join(', ')} points`)
  }
  t.ok(html.length < 2_000_000, `${html.length} bytes`)
})

t.test('faults table: the first 500 rows, and how many more', async (t) => {
  const rec = new Recorder(parseScenario('name: many\nfleet: {pool: {nodes: 3}}\n', 'many.yaml'), 'simulate', 'x')
  for (let i = 0; i < 700; i++) rec.fault(i * 100, 'xid', i % 3, 'XID 79', 'replace')
  const html = renderHtml(rec.build({ events: 700, wallS: 0, endMs: 300_000 }))
  const faults = sectionOf(html, 'faults')
  t.equal(faults.match(/<tr/g)?.length, HTML_LIMITS.faultRows + 1, '500 rows and the header')
  t.match(faults, '200 more faults not listed (the first 500 are).')
  t.equal(faults.match(/<tr class="warnrow">/g)?.length, 500, 'replace-class faults with no request stand out')
})

t.test('gaps: stretches with nobody acting', async (t) => {
  const span = (from_ms: number, to_ms: number | null) => ({ term: 1, coordinator: 'c', from_ms, to_ms })
  const rows: Array<[string, Parameters<typeof gaps>[0], number, Array<[number, number]>]> = [
    ['no terms: the whole run', [], 100, [[0, 100]]],
    ['covered', [span(0, null)], 100, []],
    ['a start, a hole, an end', [span(10, 40), span(50, 90)], 100, [[0, 10], [40, 50], [90, 100]]],
    ['overlapping spans are one', [span(0, 60), span(30, 50), span(55, null)], 100, []],
    ['a span past the end', [span(20, 500)], 100, [[0, 20]]],
  ]
  for (const [name, terms, end, want] of rows) t.same(gaps(terms, end), want, name)
})

t.test('formatting: clock times and durations an operator reads at a glance', async (t) => {
  const rows: Array<[string, string, string]> = [
    [fmtClock(0), '0:00.000', 'start'], [fmtClock(83_450), '1:23.450', 'm:ss.mmm'], [fmtClock(3_723_000), '1:02:03', 'past an hour'],
    [fmtDur(null), '—', 'none'], [fmtDur(350), '350 ms', 'ms'], [fmtDur(1250), '1.25 s', 's'], [fmtDur(125_000), '2m 05s', 'm s'],
    [fmtDur(3_720_000), '1h 02m', 'h m'],
  ]
  for (const [got, want, name] of rows) t.equal(got, want, name)
})

t.test('writeReport: mkdir -p, report.json (2-space JSON) and report.html, absolute paths', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'shoal-report-'))
  t.teardown(() => { rmSync(tmp, { recursive: true, force: true }) })
  const paths = await writeReport(join(tmp, 'a', 'b'), fail)
  t.ok(isAbsolute(paths.json) && isAbsolute(paths.html))
  t.equal(paths.json, join(tmp, 'a', 'b', 'report.json'))
  const json = readFileSync(paths.json, 'utf8')
  t.equal(json, `${JSON.stringify(fail, null, 2)}\n`)
  t.same(JSON.parse(json), fail)
  t.equal(readFileSync(paths.html, 'utf8'), renderHtml(fail))
  await writeReport(join(tmp, 'a', 'b'), pass)
  t.same(JSON.parse(readFileSync(paths.json, 'utf8')), pass, 'overwrites')
})
