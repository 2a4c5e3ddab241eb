// A scenario's GPU fault on a real agent's fake NVML machine (native/fake/machine.ts): the signals
// the driver would show, written to the state file the agent's library reads. What the policy is
// expected to do about each comes from simulate/gpu.ts's expectOf (the same default policy).
import { HW_POWER_BRAKE_SLOWDOWN, HW_SLOWDOWN, HW_THERMAL_SLOWDOWN } from '../../../native/clock-events.js'
import type { FakeMachine } from '../../../native/fake/machine.js'
import type { FaultEvent, GpuFaultKind } from '../scenario/faults.js'
import { expectOf } from '../simulate/gpu.js'
import type { Expect } from '../report/types.js'

export type GpuFaultEvent = Extract<FaultEvent, { fault: GpuFaultKind }>

export interface AppliedGpuFault {
  readonly detail: string
  readonly expect: Expect
  /** Ends a timed fault (thermal, power-brake, pcie-replay) after `forMs` (0: never). */
  readonly undo?: { readonly forMs: number, readonly run: (m: FakeMachine) => void }
}

export function isGpuFault (e: FaultEvent): e is GpuFaultEvent {
  return ['xid', 'gpu-lost', 'ecc-dbe', 'row-remap-pending', 'row-remap-failure', 'sram', 'nvlink', 'thermal', 'power-brake', 'pcie-replay', 'pcie-downtrain', 'sdc'].includes(e.fault)
}

/** Applies the fault to `m` (the caller writes the state file). */
export function applyGpuFault (m: FakeMachine, e: GpuFaultEvent, gpu: number): AppliedGpuFault {
  const forMs = 'for' in e ? e.for : undefined
  const expect = expectOf({ kind: e.fault, gpu, ...(e.fault === 'xid' ? { code: e.code } : {}), ...(forMs === undefined ? {} : { forMs }), ...(e.fault === 'nvlink' ? { cascade: e.cascade } : {}) })
  const at = `gpu ${gpu}`
  switch (e.fault) {
    case 'xid':
      m.injectXid(gpu, e.code)
      // 79 is the GPU falling off the bus: its handle goes with it.
      if (e.code === 79) m.lose(gpu)
      return { detail: `${at} xid ${e.code}`, expect }
    case 'gpu-lost':
      m.injectXid(gpu, 79)
      m.lose(gpu)
      return { detail: `${at} lost (xid 79)`, expect }
    case 'ecc-dbe':
      m.set(gpu, { ecc: { uncorrected: { volatile: 3, aggregate: 3 } }, retiredDbe: 1, retiredPending: true })
      m.injectEvent(gpu, 0x2)
      m.injectXid(gpu, 48)
      return { detail: `${at} double-bit ECC (xid 48)`, expect }
    case 'row-remap-pending':
      m.set(gpu, { remapPending: true, remapUncorrected: 1 })
      return { detail: `${at} row remap pending`, expect }
    case 'row-remap-failure':
      m.set(gpu, { remapFailure: true })
      m.injectXid(gpu, 64)
      return { detail: `${at} row remap failure (xid 64)`, expect }
    case 'sram':
      m.injectXid(gpu, 172)
      return { detail: `${at} SRAM uncorrectable (xid 172)`, expect }
    case 'nvlink':
      m.setNvLink(gpu, 0, { state: 0 })
      m.injectXid(gpu, 74)
      if (e.cascade) for (let g = 0; g < m.gpuCount; g++) if (g !== gpu) m.injectXid(g, 74)
      return { detail: `${at} nvlink 0 down (xid 74)${e.cascade ? ', cascade' : ''}`, expect }
    case 'thermal':
    case 'power-brake': {
      const bits = e.fault === 'thermal' ? HW_SLOWDOWN | HW_THERMAL_SLOWDOWN : HW_POWER_BRAKE_SLOWDOWN
      m.set(gpu, { clockReasons: bits, ...(e.fault === 'thermal' ? { temp: 92 } : {}) })
      return { detail: `${at} ${e.fault} for ${e.for} ms`, expect, undo: { forMs: e.for, run: (x) => { x.set(gpu, { clockReasons: 0, ...(e.fault === 'thermal' ? { temp: 40 } : {}) }) } } }
    }
    case 'pcie-replay':
      m.set(gpu, { pcieReplay: 10_000 })
      return { detail: `${at} PCIe replays`, expect }
    case 'pcie-downtrain':
      m.set(gpu, { pcieGen: 3, pcieWidth: 8 })
      return { detail: `${at} PCIe down-trained to gen 3 x8`, expect }
    case 'sdc':
      return { detail: `${at} silent data corruption (no signal)`, expect }
  }
}
