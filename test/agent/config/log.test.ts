// agent/log.ts: one JSON object per line with level, time, pid, hostname and msg.
import t from 'tap'
import { Writable } from 'node:stream'
import { createLogger } from '../../../agent/log.js'

t.test('a line is JSON with the level as a word and the message', async (t) => {
  const lines: string[] = []
  const destination = new Writable({
    write (chunk: Buffer, _enc, done) { lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')); done() },
  })
  const log = createLogger({ level: 'info', destination, hostname: 'host-a' })
  log.info({ gpu: 3 }, 'GPU event')
  log.debug('not written at info')
  log.error('boom')
  t.equal(lines.length, 2)
  const first = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>
  t.match(first, { level: 'info', msg: 'GPU event', gpu: 3, pid: process.pid, hostname: 'host-a' })
  t.type(first.time, 'number')
  t.ok(Number.isInteger(first.time) && (first.time as number) > 1.6e12, 'epoch ms')
  t.match(JSON.parse(lines[1] ?? '{}'), { level: 'error', msg: 'boom' })
})
