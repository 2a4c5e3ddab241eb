// The harness command line: validate's exit codes and messages, run writing report.json and
// report.html and saying where, a violation's exit code and reproduction line; the progress bar;
// the recorder's percentiles and bounds.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { harnessMain, type CliIo } from './cli.js'
import { ProgressBar, renderBar } from './progress.js'
import { quantile, summarize } from './report/recorder.js'
import type { Report } from './report/types.js'

function io (tty = false): CliIo & { text: () => string, errors: () => string, bar: () => string } {
  let out = ''; let err = ''; let bar = ''
  return {
    out: (s) => { out += s },
    err: (s) => { err += s },
    stderr: { isTTY: tty, columns: 100, write: (s) => { bar += s } },
    text: () => out,
    errors: () => err,
    bar: () => bar,
  }
}

const dir = mkdtempSync(join(tmpdir(), 'shoal-harness-cli-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })

t.test('validate', async (t) => {
  const good = io()
  t.equal(await harnessMain(['validate', 'test/scenarios/quick.yaml', 'test/scenarios/fleet-10000.yaml'], good), 0)
  t.match(good.text(), /quick\.yaml: ok \(quick, mesh fidelity, 12 nodes, 3m\)/)
  t.match(good.text(), /fleet-10000\.yaml: ok \(fleet-10000, fleet fidelity, 9995 nodes/)
  const badFile = join(dir, 'bad.yaml')
  writeFileSync(badFile, 'name: bad\nfleet:\n  pool: {nodes: 0}\n')
  const bad = io()
  t.equal(await harnessMain(['validate', badFile], bad), 2)
  t.match(bad.errors(), /bad\.yaml: fleet\.pool\.nodes: must be 1\.\.20000, got 0/)
  const missing = io()
  t.equal(await harnessMain(['validate', join(dir, 'nope.yaml')], missing), 2)
  t.match(missing.errors(), /nope\.yaml/)
  t.equal(await harnessMain(['validate'], io()), 2, 'no file')
  t.equal(await harnessMain(['frobnicate', 'x'], io()), 2, 'unknown command')
  t.equal(await harnessMain(['run', 'test/scenarios/quick.yaml', '--mode', 'telepathy'], io()), 2, 'unknown mode')
})

t.test('run writes the report and says where', async (t) => {
  const file = join(dir, 'small.yaml')
  writeFileSync(file, `name: small
seed: 5
duration: 40s
fleet:
  council: 3
  spares: 2
  pool: {nodes: 4}
failures:
  events:
    - {at: 5s, fault: xid, code: 79, target: "node:2"}
`)
  const out = join(dir, 'out')
  const c = io(true)
  t.equal(await harnessMain(['run', file, '--out', out, '--seed', '7'], c), 0, c.errors())
  const r = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Report
  t.equal(r.scenario.seed, '7', '--seed overrides the file')
  t.equal(r.outcome, 'pass')
  t.ok(readFileSync(join(out, 'report.html'), 'utf8').includes('<svg'), 'report.html has its charts')
  t.match(c.text(), /^PASS {2}small {2}digest [0-9a-f]{16}/m)
  t.match(c.text(), /report: file:\/\/.*\/report\.html \(opens offline\)/)
  t.match(c.bar(), /small \(simulate\) \[#+-*\] +\d+%/, 'a progress bar on a terminal')

  const doomed = join(dir, 'doomed.yaml')
  writeFileSync(doomed, readFileSync(file, 'utf8').replace('name: small', 'name: doomed').replace('fault: xid, code: 79', 'fault: host-loss') + 'assertions:\n  replacement_within: 1s\n')
  const d = io()
  t.equal(await harnessMain(['run', doomed, '--out', join(dir, 'doomed')], d), 1, 'a violation exits 1')
  t.match(d.text(), /violation of replacement-requested at t=\d+ ms, seed 5/)
  t.match(d.text(), /reproduce: npm run harness -- run .*doomed\.yaml --mode simulate --seed 5/)
  t.notMatch(d.bar(), /#/, 'no progress bar when stderr is not a terminal')
})

t.test('progress bar', async (t) => {
  t.equal(renderBar('x', 5, 10, String, 3, 80), 'x [####################--------------------]  50%  5 of 10  3 s')
  t.match(renderBar('x', 20, 10, String, 0, 80), /\[#{40}\] 100%/, 'clamped at 100%')
  let drawn = ''
  const bar = new ProgressBar({ isTTY: true, columns: 60, write: (s) => { drawn += s } }, 'y')
  bar.update(1, 4)
  bar.update(2, 4) // within the redraw interval: skipped
  bar.update(4, 4) // done: always drawn
  t.equal((drawn.match(/\r/g) ?? []).length, 2)
  bar.done()
  t.match(drawn, /\r\x1b\[2K$/, 'cleared at the end')
})

t.test('recorder statistics', async (t) => {
  t.equal(quantile([], 0.5), null)
  t.equal(quantile([5, 1, 3], 0.5), 3)
  t.equal(quantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.99), 99)
  const s = summarize([50, 150, 900, 70_000, 400_000])
  t.same(s.histogram.counts, [1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1], 'one per bucket hit, the last for above 300 s')
  t.equal(s.max_ms, 400_000)
  t.equal(summarize(Array.from({ length: 200_000 }, () => 1)).max_ms, 1, 'a long list does not blow the stack')
})
