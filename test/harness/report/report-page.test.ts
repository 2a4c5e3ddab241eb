// report.html in a real browser: Debian's Chromium, headless, driven by playwright-core. The page of
// a real simulate run (test/scenarios/quick.yaml) renders with no console errors and no request
// besides itself (it is self-contained), every chart is drawn, and a screenshot is kept in
// test-output/report.png. .ci/run installs Chromium; without it this test fails and says so.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { readScenario } from '../scenario/load.js'
import { runSimulate } from '../simulate/run.js'
import { checkCharts, haveChromium, keepScreenshot, openReport } from './fixtures/browser.js'
import { writeReport } from './write.js'

t.test('report.html renders offline in Chromium with every chart drawn', async (t) => {
  if (!haveChromium(t)) return
  const dir = mkdtempSync(join(tmpdir(), 'shoal-report-page-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const report = runSimulate(await readScenario('test/scenarios/quick.yaml'))
  t.equal(report.outcome, 'pass')
  const { html } = await writeReport(join(dir, 'report'), report)
  const { page, url, requests, problems } = await openReport(t, html)

  t.same(problems, [], 'no console errors or page errors')
  t.same(requests, [url], 'nothing fetched but the page itself')
  t.match(await page.locator('body').innerText(), /PASS/, 'the outcome is shown')
  t.match(await page.locator('body').innerText(), /quick/, 'and the scenario')
  await checkCharts(t, page, { width: 100, height: 40, minPoints: 2 })
  await keepScreenshot(t, page, 'report.png')
})
