// agent/config/file.ts: reading agent.yaml from disk, every failure a ConfigError.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../../../agent/config/errors.js'
import { readConfigFile } from '../../../agent/config/file.js'
import { CONFIG_MAX_BYTES } from '../../../agent/config/load.js'

t.test('reads, validates, and names the file in errors', async (t) => {
  const dir = t.testdir({
    'good.yaml': 'log:\n  level: debug\n',
    'bad.yaml': 'log:\n  level: loud\n',
    sub: {},
  })
  const good = await readConfigFile(join(dir, 'good.yaml'), { hostname: 'h' })
  t.equal(good.log.level, 'debug')
  t.equal(good.node.name, 'h')

  const bad = join(dir, 'bad.yaml')
  await t.rejects(readConfigFile(bad), new ConfigError(bad, [{ path: 'log.level', message: 'must be one of fatal, error, warn, info, debug, trace, got "loud"' }]))
  const missing = join(dir, 'missing.yaml')
  await t.rejects(readConfigFile(missing), { name: 'ConfigError', message: `${missing}: cannot read: no such file` })
  await t.rejects(readConfigFile(join(dir, 'sub')), { name: 'ConfigError', message: /is not a regular file/ })

  const big = join(dir, 'big.yaml')
  writeFileSync(big, `# ${'x'.repeat(CONFIG_MAX_BYTES)}\n`)
  await t.rejects(readConfigFile(big), { name: 'ConfigError', message: /a config is at most 1048576 \(1 MiB\)/ })
})
