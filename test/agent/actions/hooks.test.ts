// agent/actions/hooks.ts with real hook programs (small sh scripts in a temp dir): the environment
// a hook sees, exit codes, timeouts that kill the hook's process group, bounded output, and the
// drain protocol, polled on a fake clock so a ten-minute drain takes milliseconds.
import t from 'tap'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create } from '@bufbuild/protobuf'
import { CommandKind, CommandSchema, CommandStatus, type Command } from '../../../proto/gen/shoal_pb.js'
import { DRAIN_STATUS_ERRORS_MAX, HookRunner, workloadCount, type HookRunnerDeps } from '../../../agent/actions/hooks.js'
import type { HooksConfig } from '../../../agent/config/load.js'

const dir = mkdtempSync(join(tmpdir(), 'shoal-hooks-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })

/** An executable sh script in the temp dir; returns its path. */
function script (name: string, body: string): string {
  const path = join(dir, name)
  writeFileSync(path, `#!/bin/sh\n${body}\n`)
  chmodSync(path, 0o755)
  return path
}

const NO_HOOKS: HooksConfig = { cordon: null, uncordon: null, drain: null, drainStatus: null, timeoutMs: 5000, drainTimeoutMs: 600_000, drainPollMs: 5000 }
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', SHOAL_TEST_BASE: 'kept' }

function command (kind: CommandKind, extra: Partial<Pick<Command, 'reason' | 'id' | 'term'>> = {}): Command {
  return create(CommandSchema, {
    id: `${kind}-abc123`, term: 7, coordinator: '12D3KooWCoord', target: '12D3KooWSelf', kind, reason: 'xid 79 on gpu 3', ...extra,
  })
}

/** A clock that only moves when the runner sleeps; the sleeps are recorded. */
function fakeTime (): Required<Pick<HookRunnerDeps, 'now' | 'sleep'>> & { sleeps: number[] } {
  let now = 1_000_000
  const sleeps: number[] = []
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms)
      now += ms
    },
  }
}

function runner (config: Partial<HooksConfig>, deps: Partial<HookRunnerDeps> = {}): HookRunner {
  return new HookRunner({ ...NO_HOOKS, ...config }, { node: '12D3KooWSelf', nodeName: 'gpu-17', env: ENV, ...fakeTime(), ...deps })
}

t.test('no hook configured: applied and recorded, a drain counts as drained', async (t) => {
  const r = runner({})
  for (const kind of [CommandKind.CORDON, CommandKind.UNCORDON]) {
    t.same(await r.run(command(kind)), { status: CommandStatus.APPLIED, detail: 'no hook configured' })
  }
  t.same(await r.run(command(CommandKind.DRAIN)), { status: CommandStatus.APPLIED, detail: 'no hook configured', drained: true })
  t.same(await r.run(command(99 as CommandKind)), { status: CommandStatus.FAILED, detail: 'unknown command kind 99: this agent applies cordon, uncordon, drain' })
})

t.test('a hook sees the command in its environment, with the agent\'s own, and runs in /', async (t) => {
  const env = script('env.sh', 'pwd; for v in NODE NODE_NAME ACTION COMMAND COMMAND_ID TERM COORDINATOR REASON; do eval "echo SHOAL_$v=\\$SHOAL_$v"; done; echo "base=$SHOAL_TEST_BASE"')
  const r = runner({ cordon: [env] })
  const res = await r.run(command(CommandKind.CORDON, { reason: 'line one\nline two' }))
  t.equal(res.status, CommandStatus.APPLIED)
  t.equal(res.detail, `cordon hook ${env} exited 0: / SHOAL_NODE=12D3KooWSelf SHOAL_NODE_NAME=gpu-17 SHOAL_ACTION=cordon SHOAL_COMMAND=cordon ` +
    'SHOAL_COMMAND_ID=1-abc123 SHOAL_TERM=7 SHOAL_COORDINATOR=12D3KooWCoord SHOAL_REASON=line one line two base=kept')
})

t.test('arguments are passed as given, without a shell', async (t) => {
  const echo = script('args.sh', 'for a in "$@"; do echo "[$a]"; done')
  const r = runner({ uncordon: [echo, 'two words', '$HOME', '; rm -rf /', '*'] })
  const res = await r.run(command(CommandKind.UNCORDON))
  t.equal(res.detail, `uncordon hook ${echo} exited 0: [two words] [$HOME] [; rm -rf /] [*]`)
})

t.test('failures: exit code, signal, missing or not executable program; stderr is the detail', async (t) => {
  const exit3 = script('exit3.sh', 'echo "working on it"; echo "kubectl: node gpu-17 not found" >&2; exit 3')
  const segv = script('segv.sh', 'kill -SEGV $$')
  const quiet = script('quiet.sh', 'exit 1')
  const notExec = join(dir, 'not-exec.sh')
  writeFileSync(notExec, '#!/bin/sh\nexit 0\n')
  chmodSync(notExec, 0o644)
  const rows: Array<[string[], string]> = [
    [[exit3], `cordon hook ${exit3} exited with code 3: kubectl: node gpu-17 not found`],
    [[segv], `cordon hook ${segv} was killed by SIGSEGV`],
    [[quiet], `cordon hook ${quiet} exited with code 1`],
    [[join(dir, 'missing')], `cordon hook ${join(dir, 'missing')} could not start: spawn ${join(dir, 'missing')} ENOENT`],
    [[notExec], `cordon hook ${notExec} could not start: spawn ${notExec} EACCES`],
  ]
  for (const [argv, detail] of rows) {
    t.same(await runner({ cordon: argv }).run(command(CommandKind.CORDON)), { status: CommandStatus.FAILED, detail }, argv[0] ?? '')
  }
})

t.test('a hook past its timeout fails, and its whole process group is killed', async (t) => {
  const pidFile = join(dir, 'grandchild.pid')
  const hang = script('hang.sh', `echo "asking the scheduler"; sleep 30 & echo $! > ${pidFile}; wait`)
  // Long enough for a loaded machine to start sh and let it print and fork before the kill.
  const res = await runner({ cordon: [hang], timeoutMs: 1000 }).run(command(CommandKind.CORDON))
  t.same(res, { status: CommandStatus.FAILED, detail: `cordon hook ${hang} timed out after 1s and was killed: asking the scheduler` })
  const pid = Number(readFileSync(pidFile, 'utf8'))
  t.ok(pid > 0)
  // The grandchild held stdout, so the run could only end once it was gone (or a zombie awaiting its reaper).
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : ''
  t.ok(stat === '' || / Z /.test(stat), `the hook's child ${pid} is gone: ${stat}`)
})

t.test('output is bounded: a flood becomes a short detail', async (t) => {
  const flood = script('flood.sh', 'i=0; while [ $i -lt 2000 ]; do echo "line $i of noise"; i=$((i+1)); done >&2; exit 2')
  const res = await runner({ cordon: [flood] }).run(command(CommandKind.CORDON))
  t.equal(res.status, CommandStatus.FAILED)
  t.match(res.detail, new RegExp(`^cordon hook ${flood} exited with code 2: line 0 of noise line 1 of noise`))
  t.ok(res.detail.length < 1200, `detail is ${res.detail.length} characters`)
  t.match(res.detail, /…$/)
})

t.test('close() kills a running hook and fails later runs at once', async (t) => {
  const slow = script('slow.sh', 'sleep 30')
  const r = runner({ cordon: [slow], timeoutMs: 60_000 })
  // spawn is synchronous inside run(): the hook is running when run() returns its promise.
  const running = r.run(command(CommandKind.CORDON))
  r.close()
  t.same(await running, { status: CommandStatus.FAILED, detail: `cordon hook ${slow} was stopped: the agent is shutting down` })
  t.same(await r.run(command(CommandKind.CORDON)), { status: CommandStatus.FAILED, detail: `cordon hook ${slow} was stopped: the agent is shutting down` })
})

/** drain_status printing the numbers in `counts`, one per run, then the last one forever. */
function countdown (name: string, counts: readonly string[]): string {
  const state = join(dir, `${name}.state`)
  writeFileSync(state, '0')
  const cases = counts.map((c, i) => `  ${i}) ${c} ;;`).join('\n')
  return script(`${name}.sh`, `n=$(cat ${state}); echo $((n+1)) > ${state}\ncase $n in\n${cases}\n  *) ${counts.at(-1) ?? 'echo 0'} ;;\nesac`)
}

t.test('drain: the drain hook, then drain_status every drain_poll until it reports 0', async (t) => {
  const marker = join(dir, 'drain-ran')
  const drain = script('drain.sh', `echo "$SHOAL_ACTION $SHOAL_COMMAND" > ${marker}; echo "evicting 3 pods"`)
  const status = countdown('status-ok', ['echo 3', 'echo "2 jobs"', 'echo 1', 'echo 0'])
  const time = fakeTime()
  const res = await runner({ drain: [drain], drainStatus: [status] }, time).run(command(CommandKind.DRAIN))
  t.same(res, { status: CommandStatus.APPLIED, detail: `drained: drain_status hook ${status} reports no workloads (poll 4)`, drained: true })
  t.same(time.sleeps, [5000, 5000, 5000])
  t.equal(readFileSync(marker, 'utf8'), 'drain drain\n', 'SHOAL_ACTION names the hook, SHOAL_COMMAND the command')
})

t.test('drain: still running at drain_timeout fails with the count', async (t) => {
  const status = script('busy.sh', 'echo 2')
  const time = fakeTime()
  const res = await runner({ drainStatus: [status], drainTimeoutMs: 600_000, drainPollMs: 120_000 }, time).run(command(CommandKind.DRAIN))
  t.same(res, { status: CommandStatus.FAILED, detail: '2 workloads still running after 10m', drained: false })
  t.same(time.sleeps, [120_000, 120_000, 120_000, 120_000, 120_000], 'polls at 0, 2, 4, 6, 8, 10 minutes')
  const one = script('one.sh', 'echo 1')
  const last = await runner({ drainStatus: [one], drainTimeoutMs: 250_000, drainPollMs: 100_000 }, fakeTime()).run(command(CommandKind.DRAIN))
  t.same(last, { status: CommandStatus.FAILED, detail: '1 workload still running after 4m10s', drained: false }, 'the last wait is cut to the deadline')
})

t.test('drain: drain_status failing repeatedly fails the drain early; one failure is forgiven', async (t) => {
  const broken = script('broken.sh', 'echo "scheduler unreachable" >&2; exit 1')
  const time = fakeTime()
  const res = await runner({ drainStatus: [broken] }, time).run(command(CommandKind.DRAIN))
  t.same(res, {
    status: CommandStatus.FAILED,
    detail: `drain_status hook ${broken} failed ${DRAIN_STATUS_ERRORS_MAX} times in a row: drain_status hook ${broken} exited with code 1: scheduler unreachable`,
    drained: false,
  })
  t.equal(time.sleeps.length, DRAIN_STATUS_ERRORS_MAX - 1)
  const garbage = script('garbage.sh', 'echo "about three"')
  const g = await runner({ drainStatus: [garbage] }).run(command(CommandKind.DRAIN))
  t.match(g.detail, /printed "about", not a workload count \(first word of stdout: a whole number, 0 = drained\)$/)
  const flaky = countdown('flaky', ['exit 1', 'echo 4', 'echo nonsense', 'echo 0'])
  const f = await runner({ drainStatus: [flaky] }).run(command(CommandKind.DRAIN))
  t.equal(f.status, CommandStatus.APPLIED, f.detail)
})

t.test('drain: a failing drain hook fails the drain before any poll; a drain hook alone decides', async (t) => {
  const marker = join(dir, 'status-ran')
  const status = script('status-marker.sh', `touch ${marker}; echo 0`)
  const bad = script('bad-drain.sh', 'echo "eviction blocked by PDB" >&2; exit 4')
  const res = await runner({ drain: [bad], drainStatus: [status] }).run(command(CommandKind.DRAIN))
  t.same(res, { status: CommandStatus.FAILED, detail: `drain hook ${bad} exited with code 4: eviction blocked by PDB`, drained: false })
  t.notOk(existsSync(marker), 'drain_status never ran')
  const good = script('good-drain.sh', 'echo "all pods evicted"')
  t.same(await runner({ drain: [good] }).run(command(CommandKind.DRAIN)),
    { status: CommandStatus.APPLIED, detail: `drain hook ${good} exited 0: all pods evicted`, drained: true })
})

t.test('drain: the drain hook runs under drain_timeout, not the per-hook timeout', async (t) => {
  const slowDrain = script('slow-drain.sh', 'sleep 0.3; echo done')
  const res = await runner({ drain: [slowDrain], timeoutMs: 100, drainTimeoutMs: 10_000 }).run(command(CommandKind.DRAIN))
  t.equal(res.status, CommandStatus.APPLIED, res.detail)
  const stuck = script('stuck-drain.sh', 'sleep 30')
  const timedOut = await runner({ drain: [stuck], drainTimeoutMs: 300 }).run(command(CommandKind.DRAIN))
  t.same(timedOut, { status: CommandStatus.FAILED, detail: `drain hook ${stuck} timed out after 300ms and was killed`, drained: false })
})

t.test('drain: close() during a poll wait ends the drain', async (t) => {
  const status = script('status-5.sh', 'echo 5')
  let r: HookRunner | undefined
  const time = fakeTime()
  r = runner({ drainStatus: [status] }, { ...time, sleep: async (ms) => { await time.sleep(ms, new AbortController().signal); r?.close() } })
  t.same(await r.run(command(CommandKind.DRAIN)), {
    status: CommandStatus.FAILED, detail: 'the drain was stopped: the agent is shutting down (5 workloads running)', drained: false,
  })
  r = undefined
})

t.test('workloadCount: the drain_status protocol (table)', async (t) => {
  const exit = (code: number, stdout: string): Parameters<typeof workloadCount>[0] => ({ kind: 'exit', code, stdout, stderr: '' })
  const rows: Array<[string, Parameters<typeof workloadCount>[0], number | 'error']> = [
    ['0 = drained', exit(0, '0\n'), 0],
    ['first word only', exit(0, '  12 pods still running\n'), 12],
    ['first line only', exit(0, '3\nand more\n'), 3],
    ['non-zero exit', exit(1, '0\n'), 'error'],
    ['empty output', exit(0, ''), 'error'],
    ['negative', exit(0, '-1'), 'error'],
    ['fraction', exit(0, '1.5'), 'error'],
    ['not a number', exit(0, 'zero'), 'error'],
    ['absurdly large', exit(0, '12345678901'), 'error'],
    ['timeout', { kind: 'timeout', stdout: '0', stderr: '' }, 'error'],
  ]
  for (const [name, outcome, want] of rows) {
    const got = workloadCount(outcome)
    t.equal(typeof got === 'number' ? got : 'error', want, name)
  }
})
