// GpuSource: the agent's one view of its GPUs. A driver (DESIGN.md §2): it owns the NVML handle,
// the sampling timer and the event watcher, and turns what they say into proto messages: a
// GpuSample per GPU per cycle, and a stream of GpuEvents where NVML events, kernel-log lines fed
// in by the kmsg reader, and a GPU found lost while sampling are deduplicated into one occurrence.
// It decides nothing about health; agent/health does.
import { create } from '@bufbuild/protobuf'
import {
  GpuEventKind, GpuEventSchema, GpuEventSource, GpuSampleSchema, type GpuEvent, type GpuInfo,
  type GpuSample,
} from '../../proto/gen/shoal_pb.js'
import { eventKind, NvmlEventBits } from '../../native/events.js'
import type { Nvml, RawNvmlEvent, SystemInfo, WatchOptions } from '../../native/nvml.js'
import { XidDeduper, type XidDeduperStats } from './dedup.js'
import { pciKey } from './pci.js'
import { XID_GPU_LOST } from './kmsg/nvidia.js'
import { TypedEmitter } from '../lib/emitter.js'
import type { Timers, WallClock } from '../lib/time.js'

const NVML_GPU_IS_LOST = 15

export interface GpuSourceConfig {
  /** Sampling period. 1 s is the design's 8-GPU target; slower hides short thermal excursions. */
  sampleIntervalMs: number
  /** Event watcher options (mask, native wait timeout, queue bound). */
  events: WatchOptions
  /** Same-XID window for NVML + kmsg dedup (see agent/gpu/dedup.ts). */
  dedupWindowMs: number
}

export const DEFAULT_GPU_SOURCE_CONFIG: GpuSourceConfig = {
  sampleIntervalMs: 1000,
  events: { mask: NvmlEventBits.AGENT, waitTimeoutMs: 500, queueLimit: 1024 },
  dedupWindowMs: 10_000,
}

export interface GpuSourceComponents {
  nvml: Nvml
  clock: WallClock
  timers: Timers
}

export interface GpuSourceEvents {
  'gpu:inventory': GpuInfo[]
  'gpu:samples': GpuSample[]
  'gpu:event': GpuEvent
  /** Something went wrong reading GPUs that is not a GPU fault (a bug, NVML refusing to count). */
  'gpu:error': Error
}

export class GpuSource extends TypedEmitter<GpuSourceEvents> {
  readonly #nvml: Nvml
  readonly #clock: WallClock
  readonly #timers: Timers
  readonly #config: GpuSourceConfig
  readonly #dedup: XidDeduper
  #inventory: GpuInfo[] = []
  #system: SystemInfo | undefined
  #timer: unknown
  #lost = new Set<number>()
  #lastCycleMs = 0

  constructor (components: GpuSourceComponents, config: Partial<GpuSourceConfig> = {}) {
    super()
    this.#nvml = components.nvml
    this.#clock = components.clock
    this.#timers = components.timers
    this.#config = { ...DEFAULT_GPU_SOURCE_CONFIG, ...config }
    this.#dedup = new XidDeduper({ windowMs: this.#config.dedupWindowMs })
  }

  get inventory (): readonly GpuInfo[] { return this.#inventory }
  get system (): SystemInfo | undefined { return this.#system }
  /** Dedup counters: offered, emitted, suppressed as duplicates, evicted keys. */
  get dedupStats (): Readonly<XidDeduperStats> { return this.#dedup.stats }
  /** How long the last sampleOnce took to read every GPU (a monotonic measure, for metrics). */
  get lastCycleMs (): number { return this.#lastCycleMs }

  /** Reads the inventory, starts the event watcher and the sampling timer. */
  start (): void {
    this.readInventory()
    this.#nvml.watch((e) => this.#onNvmlEvent(e), this.#config.events)
    this.#timer = this.#timers.setInterval(() => this.#cycle(), this.#config.sampleIntervalMs)
  }

  async stop (): Promise<void> {
    if (this.#timer !== undefined) this.#timers.clearInterval(this.#timer)
    this.#timer = undefined
    await this.#nvml.unwatch()
  }

  readInventory (): GpuInfo[] {
    this.#system = this.#nvml.system()
    const { count } = this.#nvml.refresh()
    const s = this.#system
    this.#inventory = Array.from({ length: count }, (_, i) => {
      const info = this.#nvml.info(i)
      info.driverVersion = s.driverVersion
      info.cudaDriverVersion = s.cudaDriverVersion
      info.nvmlVersion = s.nvmlVersion
      return info
    })
    this.emit('gpu:inventory', this.#inventory)
    return this.#inventory
  }

  /**
   * One sampling cycle: refresh handles (a GPU that vanished shows up now), sample each GPU, and
   * report a GPU that became lost as a GPU_LOST event. GPUs missing from the count keep their slot,
   * marked lost, so the health policy sees eight GPUs with one gone rather than seven healthy ones.
   */
  sampleOnce (): GpuSample[] {
    const now = this.#clock.wallMs()
    const t0 = performance.now()
    const { count } = this.#nvml.refresh()
    const samples: GpuSample[] = []
    const total = Math.max(count, this.#inventory.length)
    for (let i = 0; i < total; i++) {
      const sample = i < count ? this.#nvml.sample(i, now) : this.#vanished(i, now)
      if (sample.uuid === '') sample.uuid = this.#inventory[i]?.uuid ?? ''
      samples.push(sample)
      this.#trackLost(sample, now)
    }
    this.#lastCycleMs = performance.now() - t0
    this.emit('gpu:samples', samples)
    return samples
  }

  /** A GpuEvent from another source (the kmsg reader): attributed to a GPU, deduplicated, emitted. */
  ingest (event: GpuEvent): void {
    if (event.uuid === '' && event.pci !== undefined) {
      const key = pciKey(event.pci)
      const gpu = this.#inventory.find((g) => g.pci !== undefined && pciKey(g.pci) === key)
      if (gpu !== undefined) {
        event.uuid = gpu.uuid
        event.gpuIndex = gpu.index
      }
    }
    if (!this.#dedup.offer(event, this.#clock.wallMs()).emit) return
    this.emit('gpu:event', event)
  }

  #cycle (): void {
    try {
      this.sampleOnce()
    } catch (err) {
      this.emit('gpu:error', err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** A GPU the driver no longer counts: still this host's GPU, now lost. */
  #vanished (index: number, now: number): GpuSample {
    return create(GpuSampleSchema, {
      index,
      uuid: this.#inventory[index]?.uuid ?? '',
      timeMs: now,
      lost: true,
      unread: [{ signal: 'handle', nvmlReturn: NVML_GPU_IS_LOST }],
    })
  }

  #trackLost (sample: GpuSample, now: number): void {
    if (!sample.lost) {
      this.#lost.delete(sample.index)
      return
    }
    if (this.#lost.has(sample.index)) return
    this.#lost.add(sample.index)
    const gpu = this.#inventory[sample.index]
    this.ingest(create(GpuEventSchema, {
      timeMs: now,
      uuid: sample.uuid,
      gpuIndex: sample.index,
      pci: gpu?.pci,
      kind: GpuEventKind.GPU_LOST,
      xid: XID_GPU_LOST,
      detail: 'GPU_IS_LOST while sampling',
      source: GpuEventSource.NVML,
    }))
  }

  #onNvmlEvent (raw: RawNvmlEvent): void {
    const now = this.#clock.wallMs()
    const gpu = raw.index >= 0 ? this.#inventory[raw.index] : undefined
    if (raw.nvmlReturn !== 0) {
      this.ingest(create(GpuEventSchema, {
        timeMs: now,
        kind: GpuEventKind.WAIT_ERROR,
        source: GpuEventSource.NVML,
        nvmlReturn: raw.nvmlReturn,
        detail: `nvmlEventSetWait_v2 failed (${raw.nvmlReturn})`,
      }))
      // A lost GPU stops the wait without saying which: the next cycle finds it, now.
      this.#cycle()
      return
    }
    let kind = eventKind(raw.eventType)
    // XID 79 is "fallen off the bus" however it arrives: the same kind as the kernel-log forms.
    if (kind === GpuEventKind.XID && raw.eventData === XID_GPU_LOST) kind = GpuEventKind.GPU_LOST
    this.ingest(create(GpuEventSchema, {
      timeMs: now,
      uuid: gpu?.uuid ?? '',
      gpuIndex: gpu?.index,
      pci: gpu?.pci,
      kind,
      xid: raw.eventType === NvmlEventBits.XID_CRITICAL ? raw.eventData : 0,
      detail: raw.dropped > 0 ? `${raw.dropped} earlier events dropped (queue full)` : '',
      source: GpuEventSource.NVML,
      nvmlEventType: raw.eventType,
      gpuInstanceId: raw.gpuInstanceId === 0xFFFFFFFF ? undefined : raw.gpuInstanceId,
      computeInstanceId: raw.computeInstanceId === 0xFFFFFFFF ? undefined : raw.computeInstanceId,
    }))
  }
}
