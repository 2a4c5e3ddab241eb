// `shoal gpus` end to end in-process: argument errors, a host without a driver, then the fake
// machine as a table and as JSON. The no-driver case runs first: one NVML library per process.
import t from 'tap'
import { FakeMachine } from '../../../native/fake/machine.js'
import { main } from '../../../agent/cli/shoal.js'
import { stateFile } from '../../support/fake-nvml.js'

async function run (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await main(argv, { out: (s) => { out += s }, err: (s) => { err += s } }, env)
  return { code, out, err }
}

t.test('usage errors exit 2 and print usage', async (t) => {
  for (const argv of [[], ['frobnicate'], ['gpus', '--nope'], ['gpus', 'extra']]) {
    const r = await run(argv)
    t.equal(r.code, 2, argv.join(' ') || '(none)')
    t.match(r.err, /usage: shoal/)
  }
  const help = await run(['--help'])
  t.equal(help.code, 0)
  t.match(help.out, /gpus \[--fake\] \[--json\]/)
})

t.test('a host without a driver: exit 1 and a clear message', async (t) => {
  const r = await run(['gpus'], { SHOAL_NVML_LIBRARY: '/nonexistent/libnvidia-ml.so.1' })
  t.equal(r.code, 1)
  t.match(r.err, /no NVIDIA driver found: cannot load \/nonexistent\/libnvidia-ml\.so\.1/)
  t.equal(r.out, '')
})

const machine = FakeMachine.preset('dgx-h100').lose(2).set(5, { remapPending: true })
const file = stateFile(machine)
t.teardown(file.remove)

t.test('--fake: one row per GPU, with what NVML says', async (t) => {
  const r = await run(['gpus', '--fake'])
  t.equal(r.code, 0, r.err)
  const lines = r.out.split('\n')
  t.match(lines[0], /^8 GPUs · driver \S+ · CUDA \d+\.\d · NVML \S+/)
  const rows = lines.filter((l) => /^\d+\s+NVIDIA/.test(l) || /^\d+\s+-/.test(l))
  t.equal(rows.length, 8)
  t.match(rows[0], /NVIDIA H100 80GB HBM3 .* ok$/)
  t.match(rows[2], /LOST/)
  t.match(rows[5], /row remap pending$/)
  t.match(r.out, /6\/8 GPUs without notes/)
})

t.test('--fake --json: protobuf JSON per GPU', async (t) => {
  const r = await run(['gpus', '--fake', '--json'])
  t.equal(r.code, 0, r.err)
  const doc = JSON.parse(r.out) as { fake: boolean, gpus: Array<{ info: { uuid: string }, sample: { lost?: boolean }, notes: string[] }> }
  t.equal(doc.fake, true)
  t.equal(doc.gpus.length, 8)
  t.equal(doc.gpus[0]?.info.uuid, machine.gpu(0).uuid)
  t.equal(doc.gpus[2]?.sample.lost, true)
  t.same(doc.gpus[5]?.notes, ['row remap pending'])
})
