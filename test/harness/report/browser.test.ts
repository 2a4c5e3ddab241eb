// report.html of a failed run in Debian's Chromium (headless, playwright-core): the hostile page.
// A synthetic report (the real Recorder, 2,000 samples) stops at a violation and carries markup in
// its scenario, node names and messages: nothing from it runs (no dialog), nothing is fetched, no
// console errors, every chart is drawn, FAIL and the violation are on screen, the expand-all
// script works. report-page.test.ts does the same for a real passing run. Screenshot:
// test-output/report-violation.png. Without /usr/bin/chromium this fails and says what to install.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { chromium } from 'playwright-core'
import { HOSTILE_NODE, syntheticReport } from './fixtures/synthetic.js'
import { writeReport } from './write.js'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const CHARTS = ['health', 'capacity', 'latency-fault_to_detect', 'latency-fault_to_request', 'latency-fault_to_replaced', 'terms', 'providers']

t.test('a failed run\'s report in Chromium: inert markup, nothing fetched, every chart drawn', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium); .ci/run does`)
    return
  }
  const report = syntheticReport({ samples: 2000, violation: true })
  t.equal(report.outcome, 'fail')
  const dir = mkdtempSync(join(tmpdir(), 'shoal-report-browser-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const { html } = await writeReport(dir, report)
  const url = pathToFileURL(html).href

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
  t.teardown(async () => { await browser.close() })
  const context = await browser.newContext({ viewport: { width: 1300, height: 900 } })
  const page = await context.newPage()
  const problems: string[] = []
  const requests: string[] = []
  const dialogs: string[] = []
  await context.route('**/*', async (route) => { await (route.request().url() === url ? route.continue() : route.abort()) })
  page.on('request', (r) => { requests.push(r.url()) })
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`) })
  page.on('pageerror', (e) => { problems.push(`page error: ${e.message}`) })
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss() })
  await page.goto(url, { waitUntil: 'load' })

  t.same(requests, [url], 'nothing requested but the page itself')
  t.same(problems, [], 'no console errors or page errors')
  t.same(dialogs, [], 'no markup from the report ran')
  t.equal(await page.locator('#outcome').innerText(), 'FAIL', 'the badge')
  t.equal(await page.title(), 'FAIL · synthetic · shoal report')
  t.ok(await page.locator('#violation').isVisible(), 'the violation block is shown')
  t.match(await page.locator('#violation pre.cmd').innerText(), /--seed 7/, 'with its reproduce command')
  t.equal(await page.locator('.nname', { hasText: HOSTILE_NODE }).count(), 1, 'a hostile node name shows as text')

  for (const name of CHARTS) {
    const svg = page.locator(`svg[data-chart="${name}"]`)
    t.equal(await svg.count(), 1, `chart ${name} is on the page`)
    const box = await svg.boundingBox()
    t.ok(box !== null && box.width > 200 && box.height > 80, `chart ${name} has a size (${box?.width}x${box?.height})`)
    const marks = await svg.evaluate((el) => {
      let n = 0
      for (const p of el.querySelectorAll('path')) if ((p.getAttribute('d') ?? '').split('L').length >= 3) n++
      for (const r of el.querySelectorAll('rect')) if (r.getBoundingClientRect().height > 0 && r.getBoundingClientRect().width > 0) n++
      return n
    })
    t.ok(marks > 0, `chart ${name} draws ${marks} marks`)
  }

  const out = resolve('test-output')
  mkdirSync(out, { recursive: true })
  const shot = join(out, 'report-violation.png')
  await page.screenshot({ path: shot, fullPage: true })
  t.ok(existsSync(shot), 'screenshot kept')
  t.comment(`screenshot: ${shot}`)

  const nodes = await page.locator('details.node').count()
  t.ok(nodes > 10, `${nodes} node timelines`)
  t.equal(await page.locator('details.node[open]').count(), 0, 'collapsed at first')
  await page.getByRole('button', { name: 'expand all' }).click()
  t.equal(await page.locator('details.node[open]').count(), nodes, 'expand all opens every timeline')
  await page.getByRole('button', { name: 'collapse all' }).click()
  t.equal(await page.locator('details.node[open]').count(), 0, 'collapse all closes them')
})
