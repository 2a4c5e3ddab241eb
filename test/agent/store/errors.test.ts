// What an operator sees when the store cannot be used: each failure is its own class with a message
// naming the directory, and a failed open releases the LevelDB lock. The damage cases plant what
// level 10 actually reports (checked against classic-level 3.0.0), not what we guess it reports.
import t from 'tap'
import { readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { create, toBinary } from '@bufbuild/protobuf'
import { StoreCorruptError, StoreError, StoreLockedError, StoreVersionError } from '../../../agent/store/errors.js'
import { seqKey } from '../../../agent/store/seq-key.js'
import { Store, type StoreConfig } from '../../../agent/store/store.js'
import { JournalEntrySchema } from '../../../proto/gen/shoal_pb.js'
import { FakeClock, note, storeConfig, tempDir, withRawLevel, type TapTest } from './fixtures/support.js'

/** The error Store.open fails with (undefined if it opened: then it is closed again). */
async function openError (config: StoreConfig): Promise<unknown> {
  try {
    const store = await Store.open(config, new FakeClock())
    await store.close()
    return undefined
  } catch (err) {
    return err
  }
}

/** A store with a few journal entries, closed. */
async function seededStore (t: TapTest): Promise<string> {
  const dir = await tempDir(t)
  const store = await Store.open(storeConfig(dir), new FakeClock())
  await store.journal.append([note('a'), note('b'), note('c'), note('d'), note('e')])
  await store.close()
  return dir
}

/** After a failed open, the lock must be free: a raw LevelDB open of the directory succeeds. */
async function lockReleased (t: TapTest, dir: string): Promise<void> {
  await t.resolves(withRawLevel(dir, async () => {}), 'the failed open released the LevelDB lock')
}

t.test('locked: a second open in this process is StoreLockedError naming the dir', async (t) => {
  const dir = await tempDir(t)
  const store = await Store.open(storeConfig(dir), new FakeClock())
  t.teardown(() => store.close())
  const err = await openError(storeConfig(dir))
  t.type(err, StoreLockedError)
  t.type(err, StoreError, 'every store error is a StoreError')
  t.equal((err as StoreLockedError).dir, dir)
  t.equal((err as StoreLockedError).code, 'LEVEL_LOCKED')
  t.equal((err as Error).message,
    `another shoal agent is using ${dir} (LevelDB lock held); stop it, or set store.dir to another directory`)
  await store.close()
  t.equal(await openError(storeConfig(dir)), undefined, 'opens once the first store is closed')
})

t.test('a MANIFEST overwritten with garbage: level reports LEVEL_CORRUPTION -> StoreCorruptError', async (t) => {
  const dir = await seededStore(t)
  const manifest = (await readdir(dir)).find((name) => name.startsWith('MANIFEST-'))
  t.ok(manifest, 'the store has a manifest')
  await writeFile(join(dir, manifest ?? 'MANIFEST-none'), Buffer.alloc(200, 0x5a))
  const err = await openError(storeConfig(dir))
  t.type(err, StoreCorruptError)
  t.equal((err as StoreCorruptError).damaged, 'LevelDB files')
  t.equal((err as StoreCorruptError).code, 'LEVEL_CORRUPTION')
  t.match((err as Error).message, `the agent store at ${dir} is damaged: LevelDB files: Corruption:`)
  t.match((err as Error).message, `move ${dir} aside`, 'says what to do')
  t.match((err as Error).message, 'new identity', 'says what that costs')
})

t.test('CURRENT overwritten with garbage: StoreCorruptError (level alone says only ENOENT)', async (t) => {
  const dir = await seededStore(t)
  await writeFile(join(dir, 'CURRENT'), 'garbage\n')
  const err = await openError(storeConfig(dir))
  t.type(err, StoreCorruptError)
  t.match((err as Error).message, `${dir} is damaged: LevelDB files: CURRENT ("garbage\\n") does not name a manifest`)
})

t.test('CURRENT missing beside data files: StoreCorruptError, not a fresh store with a new identity', async (t) => {
  const dir = await seededStore(t)
  await rm(join(dir, 'CURRENT'))
  const err = await openError(storeConfig(dir))
  t.type(err, StoreCorruptError)
  t.match((err as Error).message, /CURRENT is missing but LevelDB data files remain \(.*MANIFEST-\d+/)
})

t.test('a path that is a file: StoreError with ENOTDIR naming the path', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'not-a-dir')
  await writeFile(file, 'x')
  for (const path of [file, join(file, 'below')]) {
    const err = await openError(storeConfig(path))
    t.type(err, StoreError)
    t.notOk(err instanceof StoreCorruptError || err instanceof StoreLockedError, 'the base class, nothing more specific')
    t.equal((err as StoreError).code, 'ENOTDIR')
    t.match((err as Error).message, `the agent store at ${path}: ENOTDIR: `)
    t.notMatch((err as Error).message, 'ENOTDIR: ENOTDIR', 'the code is said once')
  }
})

t.test('identity damaged: StoreCorruptError naming identity, never a new key', async (t) => {
  const cases: Array<[string, (db: Parameters<Parameters<typeof withRawLevel>[1]>[0]) => Promise<void>, RegExp]> = [
    ['garbage key bytes', (db) => db.sublevel<string, Uint8Array>('identity', { valueEncoding: 'view' })
      .put('private-key', Uint8Array.of(1, 2, 3)), /identity: the private key record \(3 bytes\) does not decode/],
    ['key deleted', (db) => db.sublevel('identity').del('private-key'), /identity: the private key record is missing/],
    ['created-ms not JSON', (db) => db.sublevel<string, string>('identity', { valueEncoding: 'utf8' })
      .put('created-ms', '{nope'), /identity: the created-ms record is not JSON/],
  ]
  for (const [name, damage, message] of cases) {
    await t.test(name, async (t) => {
      const dir = await seededStore(t)
      await withRawLevel(dir, damage)
      const err = await openError(storeConfig(dir))
      t.type(err, StoreCorruptError)
      t.equal((err as StoreCorruptError).damaged, 'identity')
      t.match((err as Error).message, message)
      t.match((err as Error).message, dir)
      await lockReleased(t, dir)
      t.type(await openError(storeConfig(dir)), StoreCorruptError, 'still refused on the next try: nothing was regenerated')
    })
  }
})

t.test('meta damaged: StoreCorruptError naming meta', async (t) => {
  const cases: Array<[string, (db: Parameters<Parameters<typeof withRawLevel>[1]>[0]) => Promise<void>, RegExp]> = [
    ['schema record not JSON', (db) => db.sublevel<string, string>('meta', { valueEncoding: 'utf8' }).put('schema', 'garbage'),
      /meta: the schema version record is not JSON/],
    ['schema record without a version', (db) => db.sublevel<string, unknown>('meta', { valueEncoding: 'json' }).put('schema', { v: 1 }),
      /meta: the schema version record holds \{"v":1\}/],
    ['schema record deleted, data left', (db) => db.sublevel('meta').del('schema'),
      /meta: the schema version record is missing but the store holds data/],
  ]
  for (const [name, damage, message] of cases) {
    await t.test(name, async (t) => {
      const dir = await seededStore(t)
      await withRawLevel(dir, damage)
      const err = await openError(storeConfig(dir))
      t.type(err, StoreCorruptError)
      t.equal((err as StoreCorruptError).damaged, 'meta')
      t.match((err as Error).message, message)
      await lockReleased(t, dir)
    })
  }
})

t.test('a store written by a newer schema version is refused, naming both versions', async (t) => {
  const dir = await seededStore(t)
  await withRawLevel(dir, (db) => db.sublevel<string, unknown>('meta', { valueEncoding: 'json' }).put('schema', { version: 7 }))
  const err = await openError(storeConfig(dir))
  t.type(err, StoreVersionError)
  t.equal((err as StoreVersionError).found, 7)
  t.equal((err as StoreVersionError).supported, 1)
  t.match((err as Error).message, `the agent store at ${dir} was written with store schema version 7, but this agent understands up to version 1`)
  await lockReleased(t, dir)
  await withRawLevel(dir, async (db) => {
    t.same(await db.sublevel('meta', { valueEncoding: 'json' }).get('schema'), { version: 7 }, 'the newer record is left as it was')
  })
})

t.test('damaged journal values are skipped and counted, not a crash', async (t) => {
  const dir = await seededStore(t)
  await withRawLevel(dir, async (db) => {
    const journal = db.sublevel<string, Uint8Array>('journal', { valueEncoding: 'view' })
    await journal.put(seqKey(2), Uint8Array.of(0xff))  // a truncated varint: does not decode
    // Decodes, but says it is seq 99 under the key of seq 4.
    await journal.put(seqKey(4), toBinary(JournalEntrySchema, create(JournalEntrySchema, { seq: 99, entry: { case: 'note', value: 'x' } })))
  })
  const store = await Store.open(storeConfig(dir), new FakeClock())
  t.teardown(() => store.close())
  t.equal(store.journal.lastSeq, 5)
  t.same((await store.journal.since(0, 10)).map((e) => e.seq), [1, 3, 5])
  t.same((await store.journal.recent(2)).map((e) => e.seq), [5, 3], 'recent fills its limit past the damage')
  t.equal(store.journal.skipped, 2, 'two damaged entries, each counted once however often read')
  const [next] = await store.journal.append([note('f')])
  t.equal(next?.seq, 6)
})

t.test('bad config fails at open with the field and its legal range', async (t) => {
  const dir = await tempDir(t)
  t.match(await openError(storeConfig(dir, { maxEntries: 0 })), { name: 'RangeError', message: 'store.journal.maxEntries is 0' })
  t.match(await openError(storeConfig(dir, { maxAgeMs: -1 })), { name: 'RangeError', message: 'store.journal.maxAgeMs is -1' })
  t.match(await openError(storeConfig(dir, { pruneEveryEntries: 1.5 })), { name: 'RangeError', message: 'pruneEveryEntries is 1.5' })
  t.match(await openError(storeConfig('')), { name: 'RangeError', message: 'store.dir' })
})

t.test('a damaged config snapshot is StoreCorruptError from configSnapshot(); the next save replaces it', async (t) => {
  const dir = await seededStore(t)
  await withRawLevel(dir, (db) => db.sublevel<string, string>('config', { valueEncoding: 'utf8' }).put('snapshot', '{"text":'))
  const store = await Store.open(storeConfig(dir), new FakeClock())
  t.teardown(() => store.close())
  const err = await store.configSnapshot().then(() => undefined, (e: unknown) => e)
  t.type(err, StoreCorruptError)
  t.equal((err as StoreCorruptError).damaged, 'config snapshot')
  t.match((err as Error).message, 'the next saveConfigSnapshot replaces it')
  await store.saveConfigSnapshot({ text: 'a: 1\n', source: 'test' })
  t.match(await store.configSnapshot(), { text: 'a: 1\n', source: 'test' })
})

t.test('after close, operations are StoreError saying the store is closed', async (t) => {
  const dir = await tempDir(t)
  const store = await Store.open(storeConfig(dir), new FakeClock())
  await store.close()
  await t.rejects(store.journal.append([note('x')]), { name: 'StoreError', message: `cannot write to the journal of the agent store at ${dir}: it is closed` })
  await t.rejects(store.configSnapshot(), { name: 'StoreError', message: 'it is closed' })
})
