// The store around the journal: the identity made once and read back unchanged, the private
// directory, the config snapshot, the sublevels kept for later modules, and close.
import t from 'tap'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { StoreError } from '../../../agent/store/errors.js'
import { Store } from '../../../agent/store/store.js'
import { FakeClock, T0, note, storeConfig, tempDir } from './fixtures/support.js'

t.test('identity: made on first open (Ed25519), read back unchanged after', async (t) => {
  const dir = join(await tempDir(t), 'nested', 'state')
  const clock = new FakeClock()
  const first = await Store.open(storeConfig(dir), clock)
  const made = first.identity
  t.equal(made.created, true, 'a new store makes an identity')
  t.equal(made.privateKey.type, 'Ed25519')
  t.equal(made.createdMs, T0)
  t.equal(made.peerId, peerIdFromPrivateKey(made.privateKey).toString())
  t.match(made.peerId, /^12D3KooW/)
  await first.close()

  clock.advance(60_000)
  const again = await Store.open(storeConfig(dir), clock)
  t.teardown(() => again.close())
  t.equal(again.identity.created, false)
  t.equal(again.identity.peerId, made.peerId)
  t.equal(again.identity.createdMs, T0, 'created time is the first open\'s')
  t.same(again.identity.privateKey.raw, made.privateKey.raw, 'the same key bytes')
  t.equal((await stat(dir)).mode & 0o777, 0o700, 'the directory holding the private key is private')
})

t.test('config snapshot round trip, kept across reopen', async (t) => {
  const dir = await tempDir(t)
  const clock = new FakeClock()
  const first = await Store.open(storeConfig(dir), clock)
  t.equal(await first.configSnapshot(), undefined, 'none before the first save')
  await first.saveConfigSnapshot({ text: 'store:\n  dir: /x\n', source: '/etc/shoal/agent.yaml' })
  clock.advance(5)
  await first.saveConfigSnapshot({ text: 'store: {}\n', source: '/etc/shoal/agent.yaml' })
  await first.close()
  const store = await Store.open(storeConfig(dir), clock)
  t.teardown(() => store.close())
  t.same(await store.configSnapshot(), { text: 'store: {}\n', source: '/etc/shoal/agent.yaml', savedMs: T0 + 5 },
    'the last save, with its time')
})

t.test('the later modules\' sublevels are usable, JSON-valued, isolated and persistent', async (t) => {
  const dir = await tempDir(t)
  const first = await Store.open(storeConfig(dir), new FakeClock())
  await first.sublevel('fleet').put('node-a', { health: 'ok', gpus: [0, 1] })
  await first.sublevel('election').put('node-a', { term: 7 })
  await first.sublevel('commands').put('c1', 'accepted')
  t.same(await first.sublevel('coordinator').keys().all(), [], 'coordinator sees none of the others\' keys')
  t.same(await first.sublevel('fleet').keys().all(), ['node-a'])
  t.equal(first.journal.lastSeq, 0, 'the journal sees none of them')
  await first.close()

  const store = await Store.open(storeConfig(dir), new FakeClock())
  t.teardown(() => store.close())
  t.same(await store.sublevel('fleet').get('node-a'), { health: 'ok', gpus: [0, 1] })
  t.same(await store.sublevel('election').get('node-a'), { term: 7 })
  t.equal(await store.sublevel('commands').get('c1'), 'accepted')
  t.equal(await store.sublevel('fleet').get('missing'), undefined, 'a missing key is undefined (level 10)')
  t.equal(store.sublevel('fleet'), store.sublevel('fleet'), 'one sublevel object per name')
})

t.test('close waits for queued appends; the store is then closed', async (t) => {
  const dir = await tempDir(t)
  const store = await Store.open(storeConfig(dir), new FakeClock())
  const pending = store.journal.append([note('a'), note('b')])
  await store.close()
  t.same((await pending).map((e) => e.seq), [1, 2], 'the append queued before close was written')
  await store.close()
  t.pass('a second close is a no-op')
  await t.rejects(store.journal.append([note('c')]), StoreError, 'an append after close is a StoreError')
  await t.rejects(store.journal.recent(1), StoreError)

  const reopened = await Store.open(storeConfig(dir), new FakeClock())
  t.teardown(() => reopened.close())
  t.equal(reopened.journal.lastSeq, 2)
})
