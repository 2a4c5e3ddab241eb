// npm run bench:agent: one `shoal agent` (the compiled daemon, as installed) on the fake NVML
// library with 8 GPUs sampled at 1 Hz, for a bounded time; prints its RSS, CPU and policy cost.
// Targets (DESIGN.md §10): RSS ≤ 120 MB, CPU ≤ 1% of a core.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'

const SECONDS = Number(process.env.SHOAL_BENCH_SECONDS ?? 60)
const WARMUP_S = 5
const READY_TIMEOUT_MS = 30_000
const CLK_TCK = 100 // Linux USER_HZ

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-agent-'))
const config = join(dir, 'agent.yaml')
writeFileSync(config, `node:
  name: bench
  expect:
    gpus: 8
sampling:
  interval: 1s
kmsg:
  enabled: false
store:
  dir: ${join(dir, 'store')}
metrics:
  listen: 127.0.0.1:0
admin:
  socket: ${join(dir, 'admin.sock')}
log:
  level: info
`)

function cpuTicks (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime, stime
}

function statusKb (pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1])
}

async function metric (port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)
  return m === null ? NaN : Number(m[1])
}

const child = spawn(process.execPath, ['dist/agent/cli/main.js', 'agent', '--config', config, '--fake'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  // The fake's built-in machine: 8 x H100 (native/fake). Its event wait polls every 2 ms where a
  // real driver blocks in the kernel; 100 ms keeps the fake's polling out of the agent's figure.
  env: {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'SHOAL_FAKE_NVML_STATE')),
    SHOAL_FAKE_NVML_WAIT_POLL_MS: '100',
  },
})
const pid = child.pid!
let port: number | undefined
const ready = new Promise<void>((resolve, reject) => {
  const timer = setTimeout(() => { reject(new Error('agent did not report its metrics port in time')) }, READY_TIMEOUT_MS)
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const j = JSON.parse(line) as { msg?: string, port?: number, level?: number }
      if (j.msg === 'metrics listening' && typeof j.port === 'number') {
        port = j.port
        clearTimeout(timer)
        resolve()
      }
      if ((j.level ?? 0) >= 50) console.error(line)
    } catch { /* not a log line */ }
  })
  child.on('exit', (code) => { reject(new Error(`agent exited with ${code}`)) })
})

try {
  await ready
  await sleep(WARMUP_S * 1000)
  const t0 = process.hrtime.bigint()
  const c0 = cpuTicks(pid)
  const sum0 = await metric(port!, 'shoal_policy_eval_seconds_sum')
  const n0 = await metric(port!, 'shoal_policy_eval_seconds_count')
  await sleep(SECONDS * 1000)
  const c1 = cpuTicks(pid)
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9
  const sum1 = await metric(port!, 'shoal_policy_eval_seconds_sum')
  const n1 = await metric(port!, 'shoal_policy_eval_seconds_count')
  const rssMb = statusKb(pid, 'VmRSS') / 1024
  const hwmMb = statusKb(pid, 'VmHWM') / 1024
  const cpuPct = ((c1 - c0) / CLK_TCK) / wallS * 100
  const evalUs = (sum1 - sum0) / (n1 - n0) * 1e6
  console.log(`agent: 8 fake GPUs at 1 Hz for ${wallS.toFixed(1)} s after ${WARMUP_S} s warm-up`)
  console.log(`  RSS ${rssMb.toFixed(1)} MB (peak ${hwmMb.toFixed(1)} MB), target <= 120 MB`)
  console.log(`  CPU ${cpuPct.toFixed(2)}% of one core, target <= 1%`)
  console.log(`  policy evaluation ${evalUs.toFixed(0)} us per 8-GPU sample (${n1 - n0} cycles)`)
  console.log(JSON.stringify({
    bench: 'agent', gpus: 8, rss_mb: Number(rssMb.toFixed(1)), cpu_pct: Number(cpuPct.toFixed(2)),
    policy_eval_us: Number(evalUs.toFixed(0)),
  }))
} finally {
  child.kill('SIGTERM')
  await new Promise((resolve) => { if (child.exitCode !== null) resolve(undefined); else child.on('exit', resolve) })
  rmSync(dir, { recursive: true, force: true })
}
