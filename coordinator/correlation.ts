// Correlated silence (DESIGN.md journey 4): when most of a rack or a zone goes quiet together, it is
// a switch, power or zone event, not N node faults. Those nodes are reported, not replaced; the
// breaker holds until they return or an operator acts.
import type { ObservedNode } from './observed.js'

export interface CorrelationConfig {
  /** A group is correlated when at least this fraction of it is silent. Default 0.5 (fleet-failures.md §7). */
  readonly fraction: number
  /** Groups smaller than this are never called correlated: two nodes is a coincidence. Default 3. */
  readonly minGroup: number
  /** And at least this many nodes must be silent. Default 2. */
  readonly minSilent: number
}

export const DEFAULT_CORRELATION_CONFIG: CorrelationConfig = { fraction: 0.5, minGroup: 3, minSilent: 2 }

export interface CorrelatedGroup {
  readonly scope: 'rack' | 'zone'
  readonly name: string
  readonly silent: readonly string[]
  readonly size: number
}

function silent (n: ObservedNode): boolean {
  return n.member === 'dead' || n.member === 'suspect'
}

/** Correlated groups, racks first; a node in one is in the returned set. */
export function correlatedSilence (nodes: Iterable<ObservedNode>, c: CorrelationConfig = DEFAULT_CORRELATION_CONFIG): { groups: CorrelatedGroup[], nodes: Set<string> } {
  // Per group only its size and its silent members (in node order): a plan runs this over every
  // node, and most groups have none silent.
  const byScope = { rack: new Map<string, Tally>(), zone: new Map<string, Tally>() }
  // Neighbours in the list tend to share a rack and a zone: the last group of each is kept at hand.
  let rack: Tally | undefined
  let rackName = ''
  let zone: Tally | undefined
  let zoneName = ''
  for (const n of nodes) {
    if (n.member === 'left') continue
    const quiet = silent(n)
    if (n.rack !== '') {
      if (rack === undefined || rackName !== n.rack) { rack = tally(byScope.rack, n.rack); rackName = n.rack }
      rack.size++
      if (quiet) rack.quiet.push(n.id)
    }
    if (n.zone !== '') {
      if (zone === undefined || zoneName !== n.zone) { zone = tally(byScope.zone, n.zone); zoneName = n.zone }
      zone.size++
      if (quiet) zone.quiet.push(n.id)
    }
  }
  const groups: CorrelatedGroup[] = []
  const ids = new Set<string>()
  for (const scope of ['rack', 'zone'] as const) {
    // Names are unique per scope, so sorting the qualifying groups gives the order sorting all of them would.
    const hits: Array<[string, Tally]> = []
    for (const [name, t] of byScope[scope]) {
      if (t.size >= c.minGroup && t.quiet.length >= c.minSilent && t.quiet.length >= c.fraction * t.size) hits.push([name, t])
    }
    for (const [name, t] of hits.sort((a, b) => a[0] < b[0] ? -1 : 1)) {
      groups.push({ scope, name, silent: t.quiet.sort(), size: t.size })
      for (const id of t.quiet) ids.add(id)
    }
  }
  return { groups, nodes: ids }
}

interface Tally { size: number, readonly quiet: string[] }

function tally (groups: Map<string, Tally>, name: string): Tally {
  let t = groups.get(name)
  if (t === undefined) groups.set(name, t = { size: 0, quiet: [] })
  return t
}
