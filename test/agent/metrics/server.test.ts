// agent/metrics/server.ts: GET /metrics on loopback, 404 elsewhere, a clear error for a taken port.
import t from 'tap'
import { request } from 'node:http'
import { AgentMetrics } from '../../../agent/metrics/metrics.js'
import { MetricsListenError, MetricsServer } from '../../../agent/metrics/server.js'

t.test('serves /metrics on an ephemeral port and 404s elsewhere', async (t) => {
  const metrics = new AgentMetrics({ defaultMetrics: false })
  metrics.setJournalSeq(7)
  const server = new MetricsServer(metrics, { host: '127.0.0.1', port: 0 })
  const at = await server.listen()
  t.teardown(async () => { await server.close() })
  t.equal(at.host, '127.0.0.1')
  t.ok(at.port > 0)
  t.same(server.address, at)
  const base = `http://127.0.0.1:${at.port}`

  const ok = await fetch(`${base}/metrics`)
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('content-type'), metrics.contentType)
  t.match(await ok.text(), /\nshoal_journal_seq 7\n/)

  const query = await fetch(`${base}/metrics?name[]=x`)
  t.equal(query.status, 200, 'a query string is ignored')
  await query.text()

  for (const path of ['/', '/metrics/', '/metricsx', '/debug/pprof']) {
    const r = await fetch(`${base}${path}`)
    t.equal(r.status, 404, path)
    t.match(await r.text(), /not found/)
  }
  const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x'.repeat(100_000) })
  t.equal(post.status, 405)
  t.equal(post.headers.get('allow'), 'GET, HEAD')
  t.equal(post.headers.get('connection'), 'close', 'a body is never read; the socket is not reused')
  await post.text()
  const head = await fetch(`${base}/metrics`, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(await head.text(), '')
})

t.test('a source that fails is a 500, and the server keeps serving', async (t) => {
  let fail = true
  const source = {
    contentType: 'text/plain',
    metricsText: async () => { if (fail) throw new Error('registry broke'); return 'up 1\n' },
  }
  const server = new MetricsServer(source, { host: '127.0.0.1', port: 0 })
  const { port } = await server.listen()
  t.teardown(async () => { await server.close() })
  const r = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.equal(r.status, 500)
  t.equal(await r.text(), 'metrics unavailable: registry broke\n')
  fail = false
  t.equal(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), 'up 1\n')
})

t.test('a port in use is a clear error naming metrics.listen', async (t) => {
  const first = new MetricsServer(new AgentMetrics({ defaultMetrics: false }), { host: '127.0.0.1', port: 0 })
  const { port } = await first.listen()
  t.teardown(async () => { await first.close() })
  const second = new MetricsServer(new AgentMetrics({ defaultMetrics: false }), { host: '127.0.0.1', port })
  const err = await second.listen().then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof MetricsListenError)
  t.equal((err as MetricsListenError).code, 'EADDRINUSE')
  t.equal((err as Error).message, `metrics.listen 127.0.0.1:${port} is in use`)
  await second.close()
})

t.test('close ends kept-alive connections and is idempotent', async (t) => {
  const server = new MetricsServer(new AgentMetrics({ defaultMetrics: false }), { host: '127.0.0.1', port: 0 })
  const { port } = await server.listen()
  // A raw keep-alive request whose socket stays open after the response.
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false, headers: { connection: 'keep-alive' } }, (res) => {
      res.resume()
      res.on('end', () => { resolve() })
    })
    req.on('error', reject)
    req.end()
  })
  await server.close()
  await server.close()
  t.equal(server.address, undefined)
  await t.rejects(fetch(`http://127.0.0.1:${port}/metrics`))
})
