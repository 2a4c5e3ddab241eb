// Overlapping partitions compose the same way in both engines: an agent's side is the set of cuts
// it is inside.
import t from 'tap'
import { denyLists, sideGroups, sideKeys } from './sides.js'

const agents = ['a', 'b', 'c', 'd', 'e']

t.test('no cut: one side, nobody denied', async (t) => {
  t.same(sideGroups<string>([]), [])
  for (const [, deny] of denyLists(agents, [])) t.same(deny, [])
})

t.test('one cut: the two sides deny each other, and only each other', async (t) => {
  const deny = denyLists(agents, [{ id: 0, side: ['a', 'b'] }])
  t.same(deny.get('a'), ['c', 'd', 'e'])
  t.same(deny.get('b'), ['c', 'd', 'e'])
  t.same(deny.get('c'), ['a', 'b'])
  t.same(sideGroups([{ id: 0, side: ['a', 'b'] }]), [['a', 'b']])
})

t.test('two overlapping cuts make four sides; lifting one leaves the other whole', async (t) => {
  const cuts = [{ id: 0, side: ['a', 'b', 'c'] }, { id: 1, side: ['c', 'd'] }]
  t.same(sideKeys(cuts), new Map([['a', '0,'], ['b', '0,'], ['c', '0,1,'], ['d', '1,']]))
  t.same(sideGroups(cuts), [['a', 'b'], ['c'], ['d']], 'and e is the rest')
  const deny = denyLists(agents, cuts)
  t.same(deny.get('a'), ['c', 'd', 'e'], 'a still reaches b only')
  t.same(deny.get('c'), ['a', 'b', 'd', 'e'], 'c is inside both cuts: alone')
  t.same(deny.get('e'), ['a', 'b', 'c', 'd'])
  const after = denyLists(agents, [cuts[1]!])
  t.same(after.get('a'), ['c', 'd'], 'the first cut lifted: a reaches b and e again')
  t.same(after.get('c'), ['a', 'b', 'e'])
})
