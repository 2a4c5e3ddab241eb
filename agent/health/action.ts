// Names and order of the two scales a verdict is made of. Both enums are ordered mildest first
// (proto/shoal.proto), so combining is max; the names are what policies, logs and the CLI say.
import { HealthAction, HealthState } from '../../proto/gen/shoal_pb.js'

export const ACTION_NAMES = ['none', 'watch', 'reset', 'reboot', 'replace'] as const
export type ActionName = typeof ACTION_NAMES[number]

export const STATE_NAMES = ['unknown', 'healthy', 'degraded', 'unhealthy'] as const
export type StateName = typeof STATE_NAMES[number]

const ACTIONS: Record<ActionName, HealthAction> = {
  none: HealthAction.NONE,
  watch: HealthAction.WATCH,
  reset: HealthAction.RESET,
  reboot: HealthAction.REBOOT,
  replace: HealthAction.REPLACE,
}

const STATES: Record<StateName, HealthState> = {
  unknown: HealthState.UNKNOWN,
  healthy: HealthState.HEALTHY,
  degraded: HealthState.DEGRADED,
  unhealthy: HealthState.UNHEALTHY,
}

export function actionOf (name: ActionName): HealthAction { return ACTIONS[name] }
export function stateOf (name: StateName): HealthState { return STATES[name] }
/** An out-of-range number (a newer agent's report) shows as itself, never as a milder name. */
export function actionName (a: HealthAction): string { return ACTION_NAMES[a] ?? `action(${a})` }
export function stateName (s: HealthState): string { return STATE_NAMES[s] ?? `unknown(${s})` }

export function isActionName (s: string): s is ActionName { return (ACTION_NAMES as readonly string[]).includes(s) }
export function isStateName (s: string): s is StateName { return (STATE_NAMES as readonly string[]).includes(s) }
