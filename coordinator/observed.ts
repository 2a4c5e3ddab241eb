// What the planner sees of a node: the mesh's picture (membership and gossiped health), reduced to
// the fields a decision depends on. Built from the fleet view by the driver (coordinator/view.ts).
import type { MemberStateName } from '../agent/mesh/types.js'

export type HealthName = 'healthy' | 'degraded' | 'unhealthy' | 'unknown'
export type ActionName = 'none' | 'watch' | 'reset' | 'reboot' | 'replace'

export interface ObservedNode {
  readonly id: string
  readonly name: string
  readonly pool: string
  readonly instanceId: string
  readonly rack: string
  readonly zone: string
  readonly member: MemberStateName
  /** When this agent saw the member state change (for "dead for long enough"). */
  readonly memberSinceMs: number
  /** Dead, and this agent's last look at it since went unanswered: when (undefined: no such look). */
  readonly lookFailedMs?: number
  readonly health: HealthName
  readonly action: ActionName
  /** Undefined: no health heard yet. */
  readonly bootGatePassed: boolean | undefined
  readonly cordoned: boolean
  readonly draining: boolean
  readonly drained: boolean
  /** Mean GPU utilization (0..100) in the node's last health update. */
  readonly utilization: number | undefined
}
