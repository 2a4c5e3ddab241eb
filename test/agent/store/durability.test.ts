// The acknowledgement means written: a child appends and prints `ack <seq>` after each append
// resolves; the parent SIGKILLs it mid-stream, reopens the store and finds every acked entry, with
// its exact content, under the same identity; seq goes on from the highest entry present. Twice,
// so the sequence is shown to continue across kills. Also: the child's open store locks out this
// process (the cross-process case of StoreLockedError).
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { StoreLockedError } from '../../../agent/store/errors.js'
import { Store } from '../../../agent/store/store.js'
import type { JournalEntry } from '../../../proto/gen/shoal_pb.js'
import { FakeClock, entryFor, storeConfig, tempDir, type TapTest } from './fixtures/support.js'

const WRITER = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url))
const KILL_AFTER_ACKS = 300

interface WriterRun { peer: string | undefined, acks: number[], signal: NodeJS.Signals | null, stderr: string }

/** Runs the writer until it has acked KILL_AFTER_ACKS appends, SIGKILLs it, and returns what it printed. */
async function runAndKill (t: TapTest, dir: string, seed: number, whileOpen: () => Promise<void>): Promise<WriterRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const run: WriterRun = { peer: undefined, acks: [], signal: null, stderr: '' }
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.startsWith('peer ')) {
      run.peer = line.slice(5)
      await whileOpen()
    } else if (line.startsWith('ack ')) {
      run.acks.push(Number(line.slice(4)))
      if (run.acks.length === KILL_AFTER_ACKS) child.kill('SIGKILL')
    }
  }
  run.signal = (await exited)[1]
  run.stderr = stderr
  return run
}

/** Every entry in the journal, oldest first, paged through since(). */
async function allEntries (store: Store): Promise<JournalEntry[]> {
  const out: JournalEntry[] = []
  for (;;) {
    const page = await store.journal.since(out.at(-1)?.seq ?? 0, 10_000)
    if (page.length === 0) return out
    out.push(...page)
  }
}

/** Reopens the store after a kill and checks it against what the writer acknowledged. */
async function verify (t: TapTest, dir: string, run: WriterRun, firstSeq: number): Promise<number> {
  t.equal(run.signal, 'SIGKILL', `the writer was killed mid-run (stderr: ${run.stderr.slice(0, 500)})`)
  t.ok(run.acks.length >= KILL_AFTER_ACKS, `${run.acks.length} acks seen before the kill took effect`)
  const firstAck = run.acks[0] ?? 0
  t.ok(firstAck >= firstSeq && firstAck < firstSeq + 5, `the writer's first batch (1-5 entries) started at seq ${firstSeq}`)
  const store = await Store.open(storeConfig(dir), new FakeClock())
  t.teardown(() => store.close())
  t.equal(store.identity.peerId, run.peer, 'same identity as the killed writer')
  t.equal(store.identity.created, false, 'the identity was read back, not made')

  const entries = await allEntries(store)
  const highest = entries.at(-1)?.seq ?? 0
  const maxAck = Math.max(...run.acks)
  t.ok(highest >= maxAck, `highest seq present ${highest} >= highest acked ${maxAck}`)
  let wrong = 0
  entries.forEach((entry, i) => {
    const want = entryFor(i + 1)
    if (entry.seq !== i + 1 || entry.timeMs !== want.timeMs || entry.entry.case !== 'note' ||
      entry.entry.value !== want.entry.value) wrong++
  })
  t.equal(wrong, 0, `all ${entries.length} entries contiguous from seq 1 with the content written for their seq`)
  t.equal(store.journal.skipped, 0, 'no damaged entries')
  t.equal(store.journal.lastSeq, highest, 'lastSeq is the highest seq on disk')

  const [next] = await store.journal.append([entryFor(highest + 1)])
  t.equal(next?.seq, highest + 1, 'a new append continues from the highest seq present')
  await store.close()
  return highest + 1
}

t.test('SIGKILL: every acknowledged append survives, twice in a row', async (t) => {
  t.setTimeout(50_000)
  const dir = await tempDir(t)

  const first = await runAndKill(t, dir, 1, async () => {
    const err = await Store.open(storeConfig(dir), new FakeClock()).then(() => undefined, (e: unknown) => e)
    t.type(err, StoreLockedError, 'the child holds the store: opening it here is refused')
    t.match((err as Error).message, dir, 'the lock message names the directory')
  })
  t.ok(first.peer?.startsWith('12D3KooW'), 'the writer printed an Ed25519 peer id')
  const lastAfterFirst = await verify(t, dir, first, 1)

  const second = await runAndKill(t, dir, 2, async () => {})
  t.equal(second.peer, first.peer, 'the second writer has the same identity')
  await verify(t, dir, second, lastAfterFirst + 1)
})
