// Runs one hook program: argv as given (no shell), its own process group so a timeout takes down
// whatever it started, output kept up to a bound. The caller decides what the outcome means.
import { spawn, type ChildProcess } from 'node:child_process'
import { formatDuration } from '../lib/duration.js'

/** Output kept per stream. Enough for an error message or a count; a chatty hook cannot fill memory. */
export const HOOK_OUTPUT_MAX_BYTES = 4096

/** After a timeout's SIGTERM, how long the group has to exit before SIGKILL. */
export const HOOK_KILL_GRACE_MS = 2000

/**
 * After the hook exits, how long to wait for its output to end. A hook that leaves a background
 * process holding stdout open must not hold the command until its timeout.
 */
const STDIO_GRACE_MS = 1000

export type HookOutcome =
  | { kind: 'exit', code: number, stdout: string, stderr: string }
  | { kind: 'signal', signal: string, stdout: string, stderr: string }
  | { kind: 'timeout', stdout: string, stderr: string }
  | { kind: 'spawn-error', message: string }
  | { kind: 'stopped' }

export interface HookProcessOptions {
  argv: readonly string[]
  env: NodeJS.ProcessEnv
  timeoutMs: number
  /** Aborting kills the hook's process group and settles with `stopped`. */
  signal?: AbortSignal
}

/** Bytes up to a limit, then only a count of what was dropped. */
class BoundedText {
  readonly #chunks: Buffer[] = []
  #kept = 0
  #dropped = 0

  push (chunk: Buffer): void {
    const room = HOOK_OUTPUT_MAX_BYTES - this.#kept
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room)
      this.#chunks.push(part)
      this.#kept += part.length
    }
    this.#dropped += Math.max(0, chunk.length - Math.max(0, room))
  }

  text (): string {
    const s = Buffer.concat(this.#chunks).toString('utf8')
    return this.#dropped > 0 ? `${s}… (${this.#dropped} more bytes)` : s
  }
}

export async function runHookProcess (o: HookProcessOptions): Promise<HookOutcome> {
  const [program, ...args] = o.argv
  if (program === undefined) return { kind: 'spawn-error', message: 'empty argv' }
  if (o.signal?.aborted === true) return { kind: 'stopped' }
  return await new Promise<HookOutcome>((resolve) => {
    let child: ChildProcess
    try {
      // detached: a new process group led by the child, so one kill reaches its children too.
      child = spawn(program, args, { cwd: '/', env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false })
    } catch (err) {
      resolve({ kind: 'spawn-error', message: (err as Error).message })
      return
    }
    const stdout = new BoundedText()
    const stderr = new BoundedText()
    child.stdout?.on('data', (c: Buffer) => { stdout.push(c) })
    child.stderr?.on('data', (c: Buffer) => { stderr.push(c) })
    let settled = false
    let timedOut = false
    let stopped = false
    let exit: { code: number | null, signal: NodeJS.Signals | null } | undefined
    const timers: Array<ReturnType<typeof setTimeout>> = []
    const killGroup = (sig: NodeJS.Signals): void => {
      // Only the group this call created; it is gone once the leader and its children have exited.
      if (child.pid === undefined) return
      try { process.kill(-child.pid, sig) } catch { /* ESRCH: already gone */ }
    }
    const finish = (outcome: HookOutcome): void => {
      if (settled) return
      settled = true
      for (const t of timers) clearTimeout(t)
      o.signal?.removeEventListener('abort', onAbort)
      child.stdout?.destroy()
      child.stderr?.destroy()
      resolve(outcome)
    }
    const settleExit = (): void => {
      if (stopped) return finish({ kind: 'stopped' })
      if (timedOut) return finish({ kind: 'timeout', stdout: stdout.text(), stderr: stderr.text() })
      if (exit === undefined) return
      if (exit.code !== null) return finish({ kind: 'exit', code: exit.code, stdout: stdout.text(), stderr: stderr.text() })
      finish({ kind: 'signal', signal: exit.signal ?? 'unknown signal', stdout: stdout.text(), stderr: stderr.text() })
    }
    const onAbort = (): void => {
      stopped = true
      killGroup('SIGKILL')
    }
    o.signal?.addEventListener('abort', onAbort, { once: true })
    timers.push(setTimeout(() => {
      if (exit !== undefined) return // exited in time; only its output is still draining
      timedOut = true
      killGroup('SIGTERM')
      timers.push(setTimeout(() => { killGroup('SIGKILL') }, HOOK_KILL_GRACE_MS))
    }, o.timeoutMs))
    child.on('error', (err) => {
      // Spawn failures (ENOENT, EACCES) come here and no exit follows.
      if (child.pid === undefined) finish({ kind: 'spawn-error', message: err.message })
    })
    child.on('exit', (code, signal) => {
      exit = { code, signal }
      timers.push(setTimeout(settleExit, STDIO_GRACE_MS))
    })
    child.on('close', (code, signal) => {
      exit ??= { code, signal }
      settleExit()
    })
  })
}

/** "cordon hook /usr/local/bin/shoal-cordon": how details name a hook. */
export function hookLabel (action: string, argv: readonly string[]): string {
  return `${action} hook ${argv[0] ?? '?'}`
}

/** Hook output in an ack detail: one line, bounded. */
export const DETAIL_OUTPUT_MAX_CHARS = 1024

export function oneLineOutput (text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > DETAIL_OUTPUT_MAX_CHARS ? `${flat.slice(0, DETAIL_OUTPUT_MAX_CHARS)}…` : flat
}

/** A failed run in one sentence, with what the hook said (stderr first: that is where errors go). */
export function describeFailure (label: string, outcome: HookOutcome, timeoutMs: number): string {
  switch (outcome.kind) {
    case 'spawn-error': return `${label} could not start: ${outcome.message}`
    case 'stopped': return `${label} was stopped: the agent is shutting down`
    case 'timeout': return withOutput(`${label} timed out after ${formatDuration(timeoutMs)} and was killed`, outcome)
    case 'signal': return withOutput(`${label} was killed by ${outcome.signal}`, outcome)
    case 'exit': return withOutput(`${label} exited with code ${outcome.code}`, outcome)
  }
}

export function withOutput (sentence: string, outcome: { stdout: string, stderr: string }): string {
  const said = oneLineOutput(outcome.stderr) || oneLineOutput(outcome.stdout)
  return said === '' ? sentence : `${sentence}: ${said}`
}
