// The typed face of the NVML addon: the only module that touches native/build. Everything NVML says
// comes back as proto messages (GpuInfo, GpuSample) whose absent fields are listed in `unread` with
// the reason; errors are typed (NvmlError carries NVML's code, NvmlLoadError says why there is no
// NVML at all). One NVML library per process: the addon holds the dlopen handle.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { create } from '@bufbuild/protobuf'
import {
  GpuInfoSchema, GpuSampleSchema, NvLinkSchema, NvLinkState, type GpuInfo, type GpuSample, type NvLink,
  type SignalStatus,
} from '../proto/gen/shoal_pb.js'
import { NVML_RETURN_CODES } from './return-codes.js'
import { NvmlEventBits } from './events.js'

/** The soname the driver package installs; dlopen searches the usual library paths for it. */
export const DEFAULT_NVML_LIBRARY = 'libnvidia-ml.so.1'

export function nvmlReturnName (code: number): string {
  return NVML_RETURN_CODES.get(code) ?? `UNKNOWN_RETURN_${code}`
}

/** A failed NVML call: `code` is nvmlReturn_t, `codeName` its name (GPU_IS_LOST, NOT_SUPPORTED…). */
export class NvmlError extends Error {
  override readonly name = 'NvmlError'
  readonly codeName: string
  constructor (readonly call: string, readonly code: number, message?: string) {
    super(message ?? `${call}: ${nvmlReturnName(code)}`)
    this.codeName = nvmlReturnName(code)
  }
}

export type NvmlLoadFailure =
  | 'addon-missing'   // native/build was never built (npm ci builds it)
  | 'library-missing' // no libnvidia-ml.so.1: no NVIDIA driver on this host
  | 'not-nvml'        // the library lacks a required NVML symbol
  | 'init-failed'     // the driver is there but nvmlInit_v2 refused (code in `nvml`)

/** NVML is not usable on this host; `reason` says which of the four ways. */
export class NvmlLoadError extends Error {
  override readonly name = 'NvmlLoadError'
  constructor (readonly reason: NvmlLoadFailure, message: string, readonly nvml?: NvmlError) {
    super(message)
  }
}

export interface SystemInfo {
  driverVersion: string
  nvmlVersion: string
  cudaDriverVersion: string
  unread: SignalStatus[]
}

export interface DeviceHandle { index: number, nvmlReturn: number }
export interface DeviceRefresh { count: number, truncated: boolean, devices: DeviceHandle[] }

/** One event as the addon's thread saw it; `nvmlReturn` ≠ 0 means the wait itself failed. */
export interface RawNvmlEvent {
  index: number
  eventType: number
  eventData: number
  gpuInstanceId: number
  computeInstanceId: number
  nvmlReturn: number
  dropped: number
}

export interface EventRegistration { index: number, mask: number, nvmlReturn: number }

export interface WatchOptions {
  /** Event bits wanted; each GPU registers `mask & supported`. Default: every bit the agent uses. */
  mask?: number
  /** One native wait; bounds how long unwatch() takes. Default 500 ms (reference: 100–1000). */
  waitTimeoutMs?: number
  /** Events queued for JS before further ones are dropped and counted. Default 1024. */
  queueLimit?: number
}

/** The NVML interface the agent uses (the addon over a real or fake libnvidia-ml.so.1). */
export interface Nvml {
  readonly libraryPath: string
  /** Optional symbols this driver lacks; each degrades its signal to `unread` code 13. */
  readonly missingSymbols: readonly string[]
  system(): SystemInfo
  /** Re-reads the GPU count and handles; call once per sampling cycle. */
  refresh(): DeviceRefresh
  info(index: number): GpuInfo
  sample(index: number, timeMs: number): GpuSample
  /** GPU temperature in °C, one NVML call; throws NvmlError. */
  temperature(index: number): number
  watch(listener: (event: RawNvmlEvent) => void, options?: WatchOptions): EventRegistration[]
  unwatch(): Promise<void>
  /** Stops the watcher, then nvmlShutdown. */
  close(): Promise<void>
}

interface Binding {
  load(path: string): { path: string, missing: string[] }
  init(): void
  shutdown(): void
  system(): Omit<SystemInfo, 'driverVersion' | 'nvmlVersion' | 'cudaDriverVersion'> & Partial<SystemInfo>
  refresh(): DeviceRefresh
  info(index: number): object
  sample(index: number, nvlinks: Float64Array): object
  temperature(index: number): number
  errorString(code: number): string
  watchEvents(cb: (e: RawNvmlEvent) => void, mask: number, timeoutMs: number, queueLimit: number): EventRegistration[]
  unwatchEvents(): Promise<void>
  /** Layout of sample()'s NVLink table (native/src/device.h): a count, then `nvlinkRow` per link. */
  readonly nvlinkTableSize: number
  readonly nvlinkRow: number
}

/**
 * The addon's NVLink table: a count, then per link [link, state, replay, recovery, crc_flit,
 * crc_data, ecc_data]. NaN is "not read": the field stays absent, as in every other message.
 */
function nvlinksFromTable (table: Float64Array, row: number): NvLink[] {
  const n = table[0] ?? 0
  const links: NvLink[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const at = 1 + i * row
    const v = (k: number): number | undefined => {
      const x = table[at + k] ?? NaN
      return Number.isNaN(x) ? undefined : x
    }
    links[i] = {
      $typeName: NvLinkSchema.typeName,
      link: table[at] ?? 0,
      state: table[at + 1] === 1 ? NvLinkState.ACTIVE : NvLinkState.INACTIVE,
      replay: v(2),
      recovery: v(3),
      crcFlit: v(4),
      crcData: v(5),
      eccData: v(6),
    }
  }
  return links
}

const WATCH_DEFAULTS: Required<WatchOptions> = {
  mask: NvmlEventBits.AGENT,
  waitTimeoutMs: 500,
  queueLimit: 1024,
}

/** Where the built addon is, from native/ (sources via tsx/tap) or dist/native/ (compiled). */
function addonPath (): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [
    join(here, 'build', 'Release', 'shoal_nvml.node'),
    join(here, '..', '..', 'native', 'build', 'Release', 'shoal_nvml.node'),
  ]
  return candidates.find((p) => existsSync(p))
}

let binding: Binding | undefined

function loadBinding (): Binding {
  if (binding !== undefined) return binding
  const path = addonPath()
  if (path === undefined) {
    throw new NvmlLoadError('addon-missing',
      'the NVML addon is not built (native/build/Release/shoal_nvml.node): run `npm ci` or `npm run build:native`')
  }
  binding = createRequire(import.meta.url)(path) as Binding
  return binding
}

/** Turns the addon's thrown errors into typed ones; anything else is a bug and passes through. */
function typed (err: unknown): unknown {
  if (!(err instanceof Error)) return err
  const e = err as Error & { code?: string, nvmlReturn?: number, nvmlCall?: string }
  if (e.code === 'ERR_NVML' && typeof e.nvmlReturn === 'number') {
    return new NvmlError(e.nvmlCall ?? 'nvml', e.nvmlReturn, e.message)
  }
  return err
}

function call<T> (fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw typed(err)
  }
}

/**
 * Loads and initialises NVML. Throws NvmlLoadError when this host has no usable NVML (no driver,
 * not NVML, init refused) so a caller can say so plainly; a missing optional symbol is not an error.
 */
export function openNvml (options: { libraryPath?: string } = {}): Nvml {
  const b = loadBinding()
  const libraryPath = options.libraryPath ?? DEFAULT_NVML_LIBRARY
  let loaded: { path: string, missing: string[] }
  try {
    loaded = b.load(libraryPath)
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    const reason = /missing symbol/.test(message) ? 'not-nvml' : 'library-missing'
    throw new NvmlLoadError(reason, reason === 'library-missing'
      ? `no NVIDIA driver found: ${message}`
      : message)
  }
  try {
    b.init()
  } catch (err) {
    const t = typed(err)
    if (t instanceof NvmlError) {
      throw new NvmlLoadError('init-failed', `NVML did not initialise: ${t.message} (${t.codeName})`, t)
    }
    throw t
  }
  return new AddonNvml(b, loaded.path, Object.freeze([...loaded.missing]))
}

class AddonNvml implements Nvml {
  #watching = false
  readonly #nvlinkTable: Float64Array

  constructor (private readonly b: Binding, readonly libraryPath: string,
    readonly missingSymbols: readonly string[]) {
    this.#nvlinkTable = new Float64Array(b.nvlinkTableSize)
  }

  system (): SystemInfo {
    const s = call(() => this.b.system())
    return { driverVersion: '', nvmlVersion: '', cudaDriverVersion: '', ...s }
  }

  refresh (): DeviceRefresh {
    return call(() => this.b.refresh())
  }

  info (index: number): GpuInfo {
    return create(GpuInfoSchema, call(() => this.b.info(index)))
  }

  sample (index: number, timeMs: number): GpuSample {
    // The addon builds a complete GpuSample message (test/native/nvml-signals.test.ts proves it
    // survives binary and JSON round trips unchanged); copying it through create() would cost
    // more than reading the GPU.
    const sample = call(() => this.b.sample(index, this.#nvlinkTable)) as GpuSample
    if (sample.$typeName !== GpuSampleSchema.typeName) throw new Error(`addon sample is ${String(sample.$typeName)}`)
    sample.timeMs = timeMs
    sample.nvlinks = nvlinksFromTable(this.#nvlinkTable, this.b.nvlinkRow)
    return sample
  }

  temperature (index: number): number {
    // No closure on this path: it is the benchmark's per-call figure.
    try {
      return this.b.temperature(index)
    } catch (err) {
      throw typed(err)
    }
  }

  watch (listener: (event: RawNvmlEvent) => void, options: WatchOptions = {}): EventRegistration[] {
    const o = { ...WATCH_DEFAULTS, ...options }
    const regs = call(() => this.b.watchEvents(listener, o.mask, o.waitTimeoutMs, o.queueLimit))
    this.#watching = true
    return regs
  }

  async unwatch (): Promise<void> {
    if (!this.#watching) return
    this.#watching = false
    await this.b.unwatchEvents()
  }

  async close (): Promise<void> {
    await this.unwatch()
    call(() => this.b.shutdown())
  }
}

/** Raw binding, for the raw-shape tests and the benchmark only. */
export function rawBindingForTests (): { info(index: number): object, sample(index: number): object } {
  const b = loadBinding()
  return { info: (i) => b.info(i), sample: (i) => b.sample(i, new Float64Array(b.nvlinkTableSize)) }
}
