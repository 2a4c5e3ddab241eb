import { createServer, type Server } from 'node:http'
import t from 'tap'
import { parseQueueDepth, queueSourceUrl, readQueueDepth } from '../../coordinator/queue-source.js'
import { parseCoordinatorFile } from '../../coordinator/config.js'

const cases: Array<{ name: string, body: string, prometheus: boolean, want: number | RegExp }> = [
  { name: 'a plain number', body: '42\n', prometheus: false, want: 42 },
  { name: 'a JSON number', body: '7', prometheus: false, want: 7 },
  { name: '{"depth": N}', body: '{"depth": 12.5}', prometheus: false, want: 12.5 },
  { name: 'a negative depth', body: '{"depth": -1}', prometheus: false, want: /not a queue depth/ },
  { name: 'text', body: 'lots', prometheus: false, want: /expected a number or JSON/ },
  { name: 'JSON without depth', body: '{"jobs": 3}', prometheus: false, want: /expected a number or \{"depth": N\}/ },
  { name: 'prometheus vector', body: '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"37"]}]}}', prometheus: true, want: 37 },
  { name: 'prometheus scalar', body: '{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}', prometheus: true, want: 3 },
  { name: 'prometheus empty vector', body: '{"status":"success","data":{"resultType":"vector","result":[]}}', prometheus: true, want: /returned no series/ },
  { name: 'prometheus error', body: '{"status":"error","errorType":"bad_data","error":"parse error at char 3"}', prometheus: true, want: /prometheus: parse error at char 3/ },
  { name: 'prometheus NaN', body: '{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}', prometheus: true, want: /not a queue depth/ },
  { name: 'a huge body', body: '1'.repeat(70_000), prometheus: false, want: /bytes; a queue depth is a number/ },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const r = parseQueueDepth(c.body, c.prometheus)
    if (typeof c.want === 'number') t.same(r, { ok: true, depth: c.want })
    else t.match(r.ok ? '' : r.error, c.want)
  })
}

t.test('a Prometheus source asks the instant-query API with the query encoded', async (t) => {
  t.equal(queueSourceUrl({ url: 'http://prom:9090/', query: 'sum(jobs{state="queued"})', intervalMs: 1, timeoutMs: 1 }), 'http://prom:9090/api/v1/query?query=sum(jobs%7Bstate%3D%22queued%22%7D)')
  t.equal(queueSourceUrl({ url: 'http://q/depth', query: null, intervalMs: 1, timeoutMs: 1 }), 'http://q/depth')
})

t.test('read over HTTP on loopback: a value, an HTTP error, a timeout', async (t) => {
  const seen: string[] = []
  const server: Server = createServer((req, res) => {
    seen.push(req.url ?? '')
    if (req.url === '/depth') { res.end('9'); return }
    if (req.url?.startsWith('/api/v1/query')) { res.end('{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"4"]}]}}'); return }
    if (req.url === '/broken') { res.statusCode = 500; res.end('oops'); return }
    // /slow: never answers; closed when the test ends
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  t.same(await readQueueDepth({ url: `${base}/depth`, query: null, intervalMs: 1000, timeoutMs: 2000 }, fetch), { ok: true, depth: 9 })
  t.same(await readQueueDepth({ url: base, query: 'sum(q)', intervalMs: 1000, timeoutMs: 2000 }, fetch), { ok: true, depth: 4 })
  t.same(await readQueueDepth({ url: `${base}/broken`, query: null, intervalMs: 1000, timeoutMs: 2000 }, fetch), { ok: false, error: 'HTTP 500' })
  t.same(await readQueueDepth({ url: `${base}/slow`, query: null, intervalMs: 1000, timeoutMs: 200 }, fetch), { ok: false, error: 'no answer within 200 ms' })
  t.same(seen.slice(0, 2), ['/depth', '/api/v1/query?query=sum(q)'])
})

const FILE = (source: string): string => `
providers:
  - {name: aws, kind: aws, regions: [us-east-1], image_ids: {us-east-1: ami-1}}
pools:
  - name: train
    min_nodes: 1
    max_nodes: 4
    providers: [{provider: aws, region: us-east-1, instance_type: p5.48xlarge}]
    autoscaling: {type: queue, jobs_per_node: 10}
${source}`

t.test('queue_source in the coordinator file: defaults, and errors that name the field', async (t) => {
  const c = parseCoordinatorFile(FILE('    queue_source: {url: "http://prom:9090", query: "sum(queued)"}'), 'test.yaml')
  t.same(c.pools[0]!.queueSource, { url: 'http://prom:9090', query: 'sum(queued)', intervalMs: 15_000, timeoutMs: 5_000 })
  t.equal(parseCoordinatorFile(FILE(''), 'test.yaml').pools[0]!.queueSource, null)
  t.throws(() => parseCoordinatorFile(FILE('    queue_source: {query: "x"}'), 'test.yaml'), /pools\[0\]\.queue_source\.url/)
  t.throws(() => parseCoordinatorFile(FILE('    queue_source: {url: "http://q", interval: 10ms}'), 'test.yaml'), /pools\[0\]\.queue_source\.interval/)
})
