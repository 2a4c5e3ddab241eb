// AwsProvider against moto_server (a real EC2 wire implementation) where this machine has it:
// request shapes, tag filters, pagination and termination as a third party understands them.
// moto echoes ClientToken but does not honour it (same token → two instances), so that one
// contract item is skipped here; aws-fake.test.ts covers it against our EC2 fake.
import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { AwsProvider } from '../../../coordinator/providers/aws.js'
import { seededRng } from '../../../agent/lib/rng.js'
import { providerContract } from './contract.js'

const NO_FAULTS = 'moto has no fault injection (covered against the EC2 fake)'
const hasMoto = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' }).status === 0

async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => { s.listen(0, '127.0.0.1', resolve) })
  const addr = s.address()
  await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
  if (addr === null || typeof addr === 'string') throw new Error('no port')
  return addr.port
}

/** Starts moto_server and resolves once it says it is listening (its startup banner). */
async function startMoto (): Promise<{ url: string, proc: ChildProcess }> {
  const port = await freePort()
  const proc = spawn('timeout', ['300', 'moto_server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
  await new Promise<void>((resolve, reject) => {
    let seen = ''
    const onData = (b: Buffer): void => {
      seen += b.toString()
      if (seen.includes('Running on')) resolve()
    }
    proc.stdout?.on('data', onData)
    proc.stderr?.on('data', onData)
    proc.once('exit', (code) => { reject(new Error(`moto_server exited (${String(code)}): ${seen}`)) })
  })
  return { url: `http://127.0.0.1:${port}`, proc }
}

if (!hasMoto) {
  t.test('aws (moto)', { skip: 'moto_server is not on PATH: EC2 wire tests against moto skipped' }, async () => {})
} else {
  const moto = await startMoto()
  t.teardown(() => { if (moto.proc.pid !== undefined) process.kill(moto.proc.pid, 'SIGTERM') })
  // moto is one account for every test: each item uses its own fleet or slot, so they do not collide.
  providerContract(t, 'aws (moto)', async (t: Test, call) => {
    const provider = new AwsProvider({
      kind: 'aws',
      name: 'aws',
      regions: ['us-east-1'],
      endpoint: moto.url,
      profile: null,
      imageIds: { 'us-east-1': 'ami-12c6146b' },
      subnetIds: {},
      keyName: null,
      userData: null,
      call: { ...call, timeoutMs: 30_000 },
    }, { credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake' }, rng: seededRng(2) })
    t.teardown(() => { provider.destroy() })
    return { provider, cloud: null, region: 'us-east-1', zone: 'us-east-1a', instanceType: 'p5.48xlarge' }
  }, {
    skip: {
      'same-token': 'moto does not honour ClientToken (same token → two instances); covered by aws-fake.test.ts',
      capacity: NO_FAULTS,
      transient: NO_FAULTS,
      'commit-unknown': NO_FAULTS,
      hang: NO_FAULTS,
    },
  })
}
