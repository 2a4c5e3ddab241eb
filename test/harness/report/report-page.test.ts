// report.html in a real browser: Debian's Chromium, headless, driven by playwright-core. The page of
// a real simulate run (test/scenarios/quick.yaml) renders with no console errors and no request
// besides itself (it is self-contained), every chart is drawn, and a screenshot is kept in
// test-output/report.png. .ci/run installs Chromium; without it this test fails and says so.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { chromium } from 'playwright-core'
import { readScenario } from '../scenario/load.js'
import { runSimulate } from '../simulate/run.js'
import { writeReport } from './write.js'

const CHROMIUM = '/usr/bin/chromium'
const CHARTS = ['health', 'capacity', 'latency-fault_to_detect', 'latency-fault_to_request', 'latency-fault_to_replaced', 'terms', 'providers']

t.test('report.html renders offline in Chromium with every chart drawn', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does`)
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'shoal-report-page-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const report = runSimulate(await readScenario('test/scenarios/quick.yaml'))
  t.equal(report.outcome, 'pass')
  const { html } = await writeReport(join(dir, 'report'), report)
  const url = pathToFileURL(html).href

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  t.teardown(async () => { await browser.close() })
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } })
  const problems: string[] = []
  const requests: string[] = []
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`) })
  page.on('pageerror', (e) => { problems.push(`page error: ${e.message}`) })
  page.on('request', (r) => { requests.push(r.url()) })
  await page.goto(url, { waitUntil: 'load' })

  t.same(problems, [], 'no console errors or page errors')
  t.same(requests, [url], 'nothing fetched but the page itself')
  t.match(await page.locator('body').innerText(), /PASS/, 'the outcome is shown')
  t.match(await page.locator('body').innerText(), /quick/, 'and the scenario')
  for (const name of CHARTS) {
    const svg = page.locator(`svg[data-chart="${name}"]`)
    t.equal(await svg.count(), 1, `chart ${name} is on the page`)
    const box = await svg.boundingBox()
    t.ok(box !== null && box.width > 100 && box.height > 40, `chart ${name} has a size (${box?.width}x${box?.height})`)
    const marks = await svg.evaluate((el) => {
      let n = 0
      for (const p of el.querySelectorAll('path, polyline')) {
        const d = p.getAttribute('d') ?? p.getAttribute('points') ?? ''
        if ((d.match(/[0-9.]+[ ,][0-9.]+/g) ?? []).length >= 2) n++
      }
      for (const r of el.querySelectorAll('rect')) if (Number(r.getAttribute('height')) > 0 && Number(r.getAttribute('width')) > 0) n++
      return n
    })
    t.ok(marks > 0, `chart ${name} draws ${marks} marks`)
  }
  const out = resolve('test-output')
  mkdirSync(out, { recursive: true })
  const shot = join(out, 'report.png')
  await page.screenshot({ path: shot, fullPage: true })
  t.ok(existsSync(shot), 'screenshot kept')
  t.comment(`screenshot: ${shot}`)
})
