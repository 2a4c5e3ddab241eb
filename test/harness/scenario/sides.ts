// Overlapping partitions, as both engines apply them: an agent's side is the set of cuts it is
// inside, so two overlapping cuts make up to four sides, and agents in no cut share one side.

/** A partition in force: its id (order of injection) and the agents it cuts off. */
export interface Cut<A> {
  readonly id: number
  readonly side: Iterable<A>
}

/** Each agent inside at least one cut, keyed by the cuts it is inside (agents absent: the '' side). */
export function sideKeys<A> (cuts: Iterable<Cut<A>>): Map<A, string> {
  const key = new Map<A, string>()
  for (const c of cuts) for (const a of c.side) key.set(a, `${key.get(a) ?? ''}${c.id},`)
  return key
}

/** The groups of agents that can reach each other (agents in no cut are left out: they are the rest). */
export function sideGroups<A> (cuts: Iterable<Cut<A>>): A[][] {
  const groups = new Map<string, A[]>()
  for (const [a, k] of sideKeys(cuts)) (groups.get(k) ?? groups.set(k, []).get(k)!).push(a)
  return [...groups.values()]
}

/** For each of `agents`, the others on another side: who it must deny. */
export function denyLists<A> (agents: readonly A[], cuts: Iterable<Cut<A>>): Map<A, A[]> {
  const key = sideKeys(cuts)
  const out = new Map<A, A[]>()
  for (const a of agents) {
    const mine = key.get(a) ?? ''
    out.set(a, agents.filter((b) => (key.get(b) ?? '') !== mine))
  }
  return out
}
