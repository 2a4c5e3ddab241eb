// report.html of a failed run in Debian's Chromium (headless, playwright-core): the hostile page.
// A synthetic report (the real Recorder, 2,000 samples) stops at a violation and carries markup in
// its scenario, node names and messages: nothing from it runs (no dialog), nothing is fetched, no
// console errors, every chart is drawn, FAIL and the violation are on screen, the expand-all
// script works. report-page.test.ts does the same for a real passing run. Screenshot:
// test-output/report-violation.png. Without /usr/bin/chromium this fails and says what to install.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { checkCharts, haveChromium, keepScreenshot, openReport } from './fixtures/browser.js'
import { HOSTILE_NODE, syntheticReport } from './fixtures/synthetic.js'
import { writeReport } from './write.js'

t.test('a failed run\'s report in Chromium: inert markup, nothing fetched, every chart drawn', async (t) => {
  if (!haveChromium(t)) return
  const report = syntheticReport({ samples: 2000, violation: true })
  t.equal(report.outcome, 'fail')
  const dir = mkdtempSync(join(tmpdir(), 'shoal-report-browser-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const { html } = await writeReport(dir, report)
  const { page, url, requests, problems, dialogs } = await openReport(t, html)

  t.same(requests, [url], 'nothing requested but the page itself')
  t.same(problems, [], 'no console errors or page errors')
  t.same(dialogs, [], 'no markup from the report ran')
  t.equal(await page.locator('#outcome').innerText(), 'FAIL', 'the badge')
  t.equal(await page.title(), 'FAIL · synthetic · shoal report')
  t.ok(await page.locator('#violation').isVisible(), 'the violation block is shown')
  t.match(await page.locator('#violation pre.cmd').innerText(), /--seed 7/, 'with its reproduce command')
  t.equal(await page.locator('.nname', { hasText: HOSTILE_NODE }).count(), 1, 'a hostile node name shows as text')

  await checkCharts(t, page, { width: 200, height: 80, minPoints: 3 })
  await keepScreenshot(t, page, 'report-violation.png')

  const nodes = await page.locator('details.node').count()
  t.ok(nodes > 10, `${nodes} node timelines`)
  t.equal(await page.locator('details.node[open]').count(), 0, 'collapsed at first')
  await page.getByRole('button', { name: 'expand all' }).click()
  t.equal(await page.locator('details.node[open]').count(), nodes, 'expand all opens every timeline')
  await page.getByRole('button', { name: 'collapse all' }).click()
  t.equal(await page.locator('details.node[open]').count(), 0, 'collapse all closes them')
})
