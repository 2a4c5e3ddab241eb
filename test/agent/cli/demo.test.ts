// `shoal demo`, the README's first command, end to end: real agent processes on loopback converge,
// the coordinator fills a pool from the fake Lambda cloud and replaces a node after XID 79; the
// fleet is stopped, its folder removed, and report.json + report.html are written.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { demoCommand } from '../../../agent/cli/demo.js'
import { main } from '../../../agent/cli/shoal.js'
import type { Report } from '../../../test/harness/report/types.js'

t.setTimeout(120_000)

t.test('shoal demo: a fleet, its coordinator fills the pool from the fake cloud and replaces the node hit by XID 79', async (t) => {
  const out: string[] = []
  const err: string[] = []
  const dir = mkdtempSync(join(tmpdir(), 'shoal-demo-test-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const reportDir = join(dir, 'report')
  const io = { out: (s: string) => { out.push(s) }, err: (s: string) => { err.push(s) } }
  const code = await demoCommand({
    agents: 3,
    keep: false,
    out: reportDir,
    // The CLI's status and pools commands print through io; here a stand-in that says what it was asked.
    status: async (socket) => { io.out(`(status of ${socket})\n`); return 0 },
    pools: async (socket) => { io.out(`(pools of ${socket})\n`); return 0 },
  }, io, { on: () => {}, off: () => {} })
  const text = out.join('')
  t.equal(code, 0, err.join(''))
  t.match(text, /starting 3 agents on 127\.0\.0\.1/)
  t.match(text, /fake cloud \(Lambda Cloud API\) on http:\/\/127\.0\.0\.1:\d+; pool gpu: 2 nodes/)
  t.match(text, /converged in [\d.]+ s: the coordinator launched shoal-gpu-\d-g1-\w+, shoal-gpu-\d-g1-\w+; shoal status from agent-02/)
  const victim = /injecting XID 79 \(GPU 3 fell off the bus\) on (\S+) \.\.\./.exec(text)?.[1]
  t.ok(victim !== undefined, 'a fault was injected')
  const slot = /shoal-gpu-(\d)-g1-/.exec(victim ?? '')?.[1]
  t.match(text, new RegExp(`replaced in [\\d.]+ s: ${victim} -> shoal-gpu-${slot}-g2-\\w+`), 'the replacement is the next generation of the same slot')
  // The story, in order: the verdict, the provision first, the cordon and drain, then the terminate.
  const story = text.slice(text.indexOf('what the coordinator did:'))
  const at = (re: RegExp): number => story.search(re)
  t.ok(at(/unhealthy; action replace/) >= 0, 'the verdict')
  t.ok(at(/lambda provision shoal-gpu-/) > at(/unhealthy; action replace/), 'then the provision')
  t.ok(at(/draining, drained/) > at(/lambda provision shoal-gpu-/), 'then the drain')
  t.ok(at(/lambda terminated /) > at(/draining, drained/), 'and the old instance is terminated last')
  t.match(story, /\(pools of .*agent-02\/admin\.sock\)/, 'shoal pools from the last control agent')
  const state = /state in (\S+)\n/.exec(text)?.[1]
  t.ok(state !== undefined && !existsSync(state), `the demo removed its folder ${state}`)

  // The report.
  t.match(text, new RegExp(`report: file://${join(reportDir, 'report.html').replaceAll('.', '\\.')} \\(open it in a browser; it works offline\\)`))
  t.ok(existsSync(join(reportDir, 'report.html')), 'report.html written')
  const report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as Report
  t.equal(report.outcome, 'pass')
  t.equal(report.scenario.mode, 'mesh')
  t.equal(report.summary.violations, 0)
  t.equal(report.summary.replace_class_faults, 1)
  t.equal(report.faults.length, 1)
  t.match(report.faults[0], { fault: 'xid', node: 0, expect: 'replace' })
  t.ok(report.faults[0]!.requested_ms !== null && report.faults[0]!.replaced_ms !== null, 'requested and replaced')
  t.ok(report.faults[0]!.requested_ms! <= report.faults[0]!.replaced_ms!, 'requested before replaced')
  t.ok(report.summary.provider_calls > 0, 'the provider calls are counted')
  t.ok(report.series.t_ms.length > 0, 'samples taken')
})

t.test('shoal demo refuses a fleet size out of range, starting nothing', async (t) => {
  const err: string[] = []
  const code = await main(['demo', '--agents', '0'], { out: () => {}, err: (s) => err.push(s) }, {})
  t.equal(code, 2)
  t.match(err.join(''), /--agents must be 1\.\.50, got 0/)
})
