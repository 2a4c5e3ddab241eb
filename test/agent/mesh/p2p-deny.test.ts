// mesh.deny_peers_file: the file's parsing, the list's changes, the watcher's reads (driven by
// poll(), no timers), the gater's answers, and two live hosts cut apart and healed through it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import t from 'tap'
import { DENY_LIMITS, DenyFileWatcher, DenyList, denyGater, parseDenyFile } from '../../../agent/mesh/p2p/deny.js'
import { host, until } from './fixtures/hosts.js'

const A = '12D3KooWGzBsZ7jH4s5D1hQdZr7h1LbqXEpyR8bKT3vUZtJ7vB2n'
const B = '12D3KooWQfh8z3Wy9bYBc2nYzU1xTzD5Qh4PrB1mF6pZx3LkMtDw'

t.test('parseDenyFile: one id a line; blanks, comments and junk skipped', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['', []],
    [`${A}\n`, [A]],
    [`  ${A}  \n\n# a comment\n${B} # trailing comment\n`, [A, B]],
    [`${A}\n${A}\n`, [A]],
    ['not a peer id\n/ip4/127.0.0.1/tcp/1\nshort\n', []],
    [`${A}\r\n`, [A]],
  ]
  for (const [text, want] of cases) t.same([...parseDenyFile(text)], want, JSON.stringify(text))
  const many = Array.from({ length: DENY_LIMITS.maxPeers + 5 }, (_, i) => `${A.slice(0, 40)}${i.toString(7).padStart(8, '0').replace(/\d/g, (d) => 'abcdefg'[Number(d)]!)}`)
  t.equal(parseDenyFile(many.join('\n')).size, DENY_LIMITS.maxPeers, 'bounded')
})

t.test('DenyList.replace reports only the peers newly denied', async (t) => {
  const l = new DenyList()
  t.same(l.replace(new Set([A])), [A])
  t.ok(l.has(A))
  t.same(l.replace(new Set([A, B])), [B])
  t.same(l.replace(new Set()), [], 'healing denies no one')
  t.notOk(l.has(A))
  t.same(l.replace(new Set([A])), [A], 'denied again after a heal')
})

t.test('the gater refuses a denied peer on every path and lets others through', async (t) => {
  const l = new DenyList()
  l.replace(new Set([A]))
  const g = denyGater(l)
  const a = peerIdFromString(A)
  const b = peerIdFromString(B)
  const conn = {} as never
  t.equal(g.denyDialPeer?.(a), true)
  t.equal(g.denyDialPeer?.(b), false)
  t.equal(g.denyInboundEncryptedConnection?.(a, conn), true)
  t.equal(g.denyOutboundEncryptedConnection?.(a, conn), true)
  t.equal(g.denyInboundUpgradedConnection?.(b, conn), false)
  t.equal(g.denyOutboundConnection?.(a, conn), true)
})

t.test('the watcher follows the file: missing, written, emptied', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-deny-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const path = join(dir, 'deny')
  const list = new DenyList()
  const denied: string[][] = []
  const w = new DenyFileWatcher({ path, list, onDenied: (p) => { denied.push(p) } })
  t.teardown(() => { w.stop() })
  await w.poll()
  t.equal(list.size, 0, 'a missing file denies no one')
  writeFileSync(path, `${A}\n${B}\n`)
  await w.poll()
  t.same(denied, [[A, B]])
  await w.poll()
  t.same(denied, [[A, B]], 'an unchanged file reports nothing new')
  writeFileSync(path, '')
  await w.poll()
  t.equal(list.size, 0, 'emptied: healed')
  w.stop()
  writeFileSync(path, `${A}\n`)
  await w.poll()
  t.equal(list.size, 0, 'a stopped watcher applies nothing')
})

t.test('two live hosts: denying the peer cuts the connection and refuses redials; emptying heals', { timeout: 20_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-deny-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const path = join(dir, 'deny')
  writeFileSync(path, '')
  const fast = { bootstrapBackoffMinMs: 100, bootstrapBackoffMaxMs: 300 }
  const a = await host(t, { config: fast })
  const b = await host(t, { bootstrap: a.addrs(), denyPeersFile: path, config: fast })
  await until('b connected to a', () => b.connectedPeers().includes(a.peerId))
  writeFileSync(path, `# cut off\n${a.peerId}\n`)
  await until('the connection closed on both sides', () => !b.connectedPeers().includes(a.peerId) && !a.connectedPeers().includes(b.peerId), 5000)
  await t.rejects(a.send(b.peerId, { case: 'ping', value: { $typeName: 'shoal.v1.Ping', seq: 1, target: b.peerId } as never }), 'a cannot reach b: b refuses it')
  t.notOk(b.connectedPeers().includes(a.peerId), 'b\'s bootstrap redials are refused by its own gater')
  writeFileSync(path, '')
  await until('b redialled a after the heal', () => b.connectedPeers().includes(a.peerId), 10_000)
})
