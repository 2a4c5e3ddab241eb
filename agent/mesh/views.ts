// What the admin socket shows of the mesh: the MeshNode's records as the proto views `shoal
// status | nodes | node | coordinator` print. Pure: a snapshot at `now`.
import { create } from '@bufbuild/protobuf'
import {
  CoordinatorStatusSchema, CouncilSchema, FleetStatusSchema, HealthState, MemberState, NodeViewSchema,
  type CoordinatorStatus, type FleetStatus, type NodeView,
} from '../../proto/gen/shoal_pb.js'
import type { MeshNode, NodeRecord } from './node.js'
import { wireState } from './membership/records.js'

export function nodeView (r: NodeRecord): NodeView {
  return create(NodeViewSchema, {
    id: r.id,
    meta: r.member.meta,
    state: wireState(r.member.state),
    incarnation: r.member.incarnation,
    addrs: [...r.member.addrs],
    health: r.health,
    memberChangedMs: r.member.changedMs,
    council: r.council,
    coordinator: r.coordinator,
    self: r.self,
  })
}

/** Nodes sorted by name then id, so tables read the same on every agent. */
export function nodeViews (mesh: MeshNode, now: number): NodeView[] {
  return mesh.nodes(now).map(nodeView).sort((a, b) => (a.meta?.name ?? '').localeCompare(b.meta?.name ?? '') || a.id.localeCompare(b.id))
}

export function coordinatorStatus (mesh: MeshNode, now: number): CoordinatorStatus {
  const s = mesh.coordinator(now)
  return create(CoordinatorStatusSchema, {
    term: s.term,
    coordinator: s.coordinator ?? '',
    coordinatorName: s.coordinator === undefined ? '' : mesh.fleet.nameOf(s.coordinator),
    council: s.council === undefined ? undefined : create(CouncilSchema, { epoch: s.council.epoch, members: s.council.members }),
    role: s.role,
    acting: s.acting,
    leaseUntilMs: s.leaseUntilMs,
    sinceMs: s.sinceMs,
  })
}

export function fleetStatus (mesh: MeshNode, o: { fleet: string, connectedPeers: number, now: number }): FleetStatus {
  const nodes = nodeViews(mesh, o.now)
  const status = create(FleetStatusSchema, {
    node: mesh.self,
    name: mesh.fleet.nameOf(mesh.self),
    fleet: o.fleet,
    coordinator: coordinatorStatus(mesh, o.now),
    connectedPeers: o.connectedPeers,
    nodes,
  })
  for (const n of nodes) {
    switch (n.state) {
      case MemberState.ALIVE: status.alive++; break
      case MemberState.SUSPECT: status.suspect++; break
      case MemberState.DEAD: status.dead++; break
      case MemberState.LEFT: status.left++; break
    }
    if (n.state === MemberState.DEAD || n.state === MemberState.LEFT) continue
    switch (n.health?.verdict?.state ?? HealthState.UNKNOWN) {
      case HealthState.HEALTHY: status.healthy++; break
      case HealthState.DEGRADED: status.degraded++; break
      case HealthState.UNHEALTHY: status.unhealthy++; break
      default: status.unknown++
    }
    if (n.health?.cordoned === true) status.cordoned++
  }
  return status
}
