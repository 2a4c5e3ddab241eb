// The boot gate: is this host what its pool expects, before it may take work? NVML initialised,
// the GPU count and model match, and every GPU answered its first sample. Pure: the daemon reads,
// this decides. Its result becomes a finding like any other (HealthJudge.bootGate).
import { create } from '@bufbuild/protobuf'
import { BootGateSchema, type BootGate, type GpuInfo, type GpuSample } from '../../proto/gen/shoal_pb.js'

export interface BootGateExpectation {
  /** Exact GPU count; undefined: at least one. */
  gpus?: number | undefined
  /** Substring every GPU's name must contain, e.g. "H100". */
  model?: string | undefined
}

export interface BootGateInput {
  /** Why NVML did not load or initialise; undefined when it did. */
  nvmlError?: string | undefined
  inventory: readonly GpuInfo[]
  samples: readonly GpuSample[]
  expect: BootGateExpectation
  now: number
}

export function runBootGate (input: BootGateInput): BootGate {
  const { inventory, samples, expect, now } = input
  const failures: string[] = []
  if (input.nvmlError !== undefined) failures.push(`NVML did not initialise: ${input.nvmlError}`)
  const count = inventory.length
  if (input.nvmlError === undefined) {
    if (expect.gpus !== undefined && count !== expect.gpus) failures.push(`${count} GPUs, the pool expects ${expect.gpus}`)
    if (expect.gpus === undefined && count === 0) failures.push('no GPUs found')
  }
  const model = expect.model
  if (model !== undefined && model !== '') {
    for (const g of inventory) {
      if (!g.name.includes(model)) failures.push(`GPU ${g.index} is "${g.name}", the pool expects ${model}`)
    }
  }
  for (const g of inventory) {
    if (g.lost) failures.push(`GPU ${g.index} was lost when the agent started`)
  }
  for (const s of samples) {
    if (s.lost) failures.push(`GPU ${s.index} did not answer (lost)`)
    else if (s.resetRequired) failures.push(`GPU ${s.index} needs a reset`)
  }
  return create(BootGateSchema, {
    passed: failures.length === 0,
    failures: [...new Set(failures)],
    gpuCount: count,
    expectedGpuCount: expect.gpus,
    models: [...new Set(inventory.map((g) => g.name))],
    expectedModel: model ?? '',
    timeMs: now,
  })
}
