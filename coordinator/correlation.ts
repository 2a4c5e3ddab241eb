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
  const byScope = { rack: new Map<string, ObservedNode[]>(), zone: new Map<string, ObservedNode[]>() }
  for (const n of nodes) {
    if (n.member === 'left') continue
    if (n.rack !== '') (byScope.rack.get(n.rack) ?? byScope.rack.set(n.rack, []).get(n.rack)!).push(n)
    if (n.zone !== '') (byScope.zone.get(n.zone) ?? byScope.zone.set(n.zone, []).get(n.zone)!).push(n)
  }
  const groups: CorrelatedGroup[] = []
  const ids = new Set<string>()
  for (const scope of ['rack', 'zone'] as const) {
    for (const [name, members] of [...byScope[scope]].sort((a, b) => a[0] < b[0] ? -1 : 1)) {
      const quiet = members.filter(silent).map((n) => n.id)
      if (members.length >= c.minGroup && quiet.length >= c.minSilent && quiet.length >= c.fraction * members.length) {
        groups.push({ scope, name, silent: quiet.sort(), size: members.length })
        for (const id of quiet) ids.add(id)
      }
    }
  }
  return { groups, nodes: ids }
}
