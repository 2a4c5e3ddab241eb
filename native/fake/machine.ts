/**
 * Scripts the fake libnvidia-ml.so.1 built from native/fake/ (contract: docs/fake-nvml.md).
 *
 * A FakeMachine is plain data: GPUs, system values, return-code overrides and an event log. It
 * renders to the state file the C library reads at nvmlInit_v2 and re-reads, when the file
 * changed, at nvmlDeviceGetCount_v2 and while nvmlEventSetWait_v2 polls. Tests, the simulation
 * harness and `shoal gpus --fake` point $SHOAL_FAKE_NVML_STATE at a file and call write() to change
 * the machine under a running addon.
 */
import {
  existsSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync,
} from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The variable the C library reads (with getenv, at each nvmlInit_v2) to find the state file. */
export const FAKE_STATE_ENV = 'SHOAL_FAKE_NVML_STATE'

/** Limits shared with native/fake/fake_state.h; a machine past one fails here, not in C. */
export const FAKE_MAX_GPUS = 64
export const FAKE_MAX_NVLINKS = 36
export const FAKE_MAX_FIELDS_PER_GPU = 64
export const FAKE_MAX_EVENTS = 1024
export const FAKE_MAX_FILE_BYTES = 1024 * 1024
export const FAKE_MAX_LINE_BYTES = 512
/** NVML_FI_MAX: field ids are 0..302. */
export const FAKE_FIELD_ID_LIMIT = 303

/** Calls the old-driver library does not export (NEWER_SYMBOLS in native/fake/Makefile). */
export const OLD_DRIVER_MISSING_SYMBOLS: readonly string[] = Object.freeze([
  'nvmlDeviceGetTemperatureV',
  'nvmlDeviceGetMarginTemperature',
  'nvmlDeviceGetCurrentClocksEventReasons',
  'nvmlDeviceGetSupportedClocksEventReasons',
  'nvmlDeviceGetRemappedRows_v2',
  'nvmlDeviceGetGpuFabricInfoV',
  'nvmlDeviceGetRepairStatus',
  'nvmlDeviceGetMemoryInfo_v2',
])

// ---- Where the built libraries are ----

/** Walks up to the folder holding native/fake/Makefile: the same from native/fake/machine.ts and
 * from the compiled dist/native/fake/machine.js, whose build output stays under the source tree. */
function findRepoRoot (start: string): string | undefined {
  let dir = start
  for (let depth = 0; depth < 32; depth++) {
    if (existsSync(join(dir, 'native', 'fake', 'Makefile'))) return dir
    const up = dirname(dir)
    if (up === dir) return undefined
    dir = up
  }
  return undefined
}

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = findRepoRoot(here)
const buildDir = repoRoot === undefined
  ? join(here, 'build')
  : join(repoRoot, 'native', 'fake', 'build')

/** Absolute path of the fake library with every call of native/src/nvml_symbols.h. */
export const FAKE_LIBRARY = join(buildDir, 'libnvidia-ml.so.1')
/** Absolute path of the "old driver": the same library without OLD_DRIVER_MISSING_SYMBOLS. */
export const FAKE_OLD_DRIVER_LIBRARY = join(buildDir, 'old', 'libnvidia-ml.so.1')

// ---- Types ----

/** A 64-bit counter: a safe integer or a bigint. */
export type Count = number | bigint
export type EccErrorType = 'corrected' | 'uncorrected'
export type EccCounter = 'volatile' | 'aggregate'
export type MemoryLocation =
  'l1' | 'l2' | 'dram' | 'register' | 'texture' | 'texture_shm' | 'cbu' | 'sram'

export interface FakePci { domain: number, bus: number, device: number }

export type FakeEccLocations = Partial<Record<MemoryLocation, Count>>

export interface FakeNvLink {
  state?: 0 | 1
  replay?: Count
  recovery?: Count
  crcFlit?: Count
  crcData?: Count
  eccData?: Count
}

/** Banks by spare rows left (nvmlRowRemapperHistogramValues_t). */
export interface FakeRemapHistogram {
  max: number
  high: number
  partial: number
  low: number
  none: number
}

/**
 * One answer of nvmlDeviceGetFieldValues. Without scope it answers every scopeId not set exactly.
 * A non-integer value, or double: true, is served as a double; 'unsupported' gives the entry
 * NOT_SUPPORTED.
 */
export interface FakeField {
  id: number
  scope?: number
  value: Count | 'unsupported'
  double?: boolean
}

/** Every per-GPU key of the state file (docs/fake-nvml.md); absent ones keep the H100 default. */
export interface FakeGpu {
  name?: string
  uuid?: string
  serial?: string
  vbios?: string
  pci?: FakePci
  pciDeviceId?: number
  pciSubsystemId?: number
  memoryTotal?: Count
  memoryUsed?: Count
  memoryReserved?: Count
  temp?: number
  tempMargin?: number
  thresholdShutdown?: number
  thresholdSlowdown?: number
  thresholdMemMax?: number
  thresholdGpuMax?: number
  power?: number
  powerLimit?: number
  powerMgmtLimit?: number
  energy?: Count
  utilGpu?: number
  utilMem?: number
  clockGraphics?: number
  clockSm?: number
  clockMem?: number
  clockVideo?: number
  maxClockGraphics?: number
  maxClockSm?: number
  maxClockMem?: number
  maxClockVideo?: number
  pstate?: number
  clockReasons?: Count
  supportedClockReasons?: Count
  eccMode?: boolean
  eccPending?: boolean
  ecc?: Partial<Record<EccErrorType, Partial<Record<EccCounter, Count>>>>
  eccLocation?: Partial<Record<EccErrorType, Partial<Record<EccCounter, FakeEccLocations>>>>
  remapCorrected?: number
  remapUncorrected?: number
  remapPending?: boolean
  remapFailure?: boolean
  remapHistogram?: FakeRemapHistogram
  retiredSbe?: number
  retiredDbe?: number
  retiredPending?: boolean
  pcieReplay?: number
  pcieGen?: number
  pcieWidth?: number
  pcieMaxGen?: number
  pcieMaxWidth?: number
  nvlinks?: number
  nvlink?: Record<number, FakeNvLink>
  fields?: FakeField[]
  fabricState?: number
  fabricStatus?: number
  fabricHealthMask?: number
  fabricClique?: number
  repairChannel?: boolean
  repairTpc?: boolean
  migMode?: boolean
  migPending?: boolean
  persistence?: boolean
  inforomValid?: boolean
  supportedEvents?: Count
  lost?: boolean
  resetRequired?: boolean
  /** This GPU's calls of a symbol return the code. */
  rc?: Record<string, number>
}

/** Machine-wide keys. `missing` is `rc <symbol> 13` (FUNCTION_NOT_FOUND). */
export interface FakeSystem {
  driver?: string
  nvml?: string
  cuda?: number
  initRc?: number
  rc?: Record<string, number>
  missing?: string[]
}

export interface FakeEvent {
  seq: number
  gpu: number
  type: Count
  data: Count
  gpuInstanceId?: number
  computeInstanceId?: number
}

export interface FakePreset {
  readonly description: string
  readonly system: Readonly<FakeSystem>
  readonly gpus: ReadonlyArray<Readonly<FakeGpu>>
}

// ---- Schema of the scalar keys: drives validation and rendering ----

type Kind = 'u32' | 'u64' | 'i32' | 'flag' | 'str'
interface Scalar { key: keyof FakeGpu, file: string, kind: Kind, max: number }

/** Ids and bit masks read better in hex; the C parser takes both. */
const HEX_KEYS: ReadonlySet<keyof FakeGpu> = new Set<keyof FakeGpu>([
  'pciDeviceId', 'pciSubsystemId', 'clockReasons', 'supportedClockReasons', 'fabricHealthMask',
  'supportedEvents',
])

const U32 = 0xffffffff
const s = (key: keyof FakeGpu, file: string, kind: Kind, max = U32): Scalar =>
  ({ key, file, kind, max })

/** Order is render order. `max` is the largest value, or for strings the longest length (the C
 * buffer size minus its NUL). Ranges match fake_state.c's table. */
const SCALARS: readonly Scalar[] = [
  s('name', 'name', 'str', 95), s('uuid', 'uuid', 'str', 95), s('serial', 'serial', 'str', 29),
  s('vbios', 'vbios', 'str', 31), s('pciDeviceId', 'pci_device_id', 'u32'),
  s('pciSubsystemId', 'pci_subsystem_id', 'u32'), s('memoryTotal', 'memory_total', 'u64'),
  s('memoryUsed', 'memory_used', 'u64'), s('memoryReserved', 'memory_reserved', 'u64'),
  s('temp', 'temp', 'u32', 1000), s('tempMargin', 'temp_margin', 'i32'),
  s('thresholdShutdown', 'threshold_shutdown', 'u32', 1000),
  s('thresholdSlowdown', 'threshold_slowdown', 'u32', 1000),
  s('thresholdMemMax', 'threshold_mem_max', 'u32', 1000),
  s('thresholdGpuMax', 'threshold_gpu_max', 'u32', 1000),
  s('power', 'power', 'u32'), s('powerLimit', 'power_limit', 'u32'),
  s('powerMgmtLimit', 'power_mgmt_limit', 'u32'), s('energy', 'energy', 'u64'),
  s('utilGpu', 'util_gpu', 'u32', 100), s('utilMem', 'util_mem', 'u32', 100),
  s('clockGraphics', 'clock_graphics', 'u32', 100000), s('clockSm', 'clock_sm', 'u32', 100000),
  s('clockMem', 'clock_mem', 'u32', 100000), s('clockVideo', 'clock_video', 'u32', 100000),
  s('maxClockGraphics', 'max_clock_graphics', 'u32', 100000),
  s('maxClockSm', 'max_clock_sm', 'u32', 100000), s('maxClockMem', 'max_clock_mem', 'u32', 100000),
  s('maxClockVideo', 'max_clock_video', 'u32', 100000), s('pstate', 'pstate', 'u32', 32),
  s('clockReasons', 'clock_reasons', 'u64'),
  s('supportedClockReasons', 'supported_clock_reasons', 'u64'),
  s('eccMode', 'ecc_mode', 'flag'), s('eccPending', 'ecc_pending', 'flag'),
  s('remapCorrected', 'remap_corrected', 'u32'), s('remapUncorrected', 'remap_uncorrected', 'u32'),
  s('remapPending', 'remap_pending', 'flag'), s('remapFailure', 'remap_failure', 'flag'),
  s('retiredSbe', 'retired_sbe', 'u32'), s('retiredDbe', 'retired_dbe', 'u32'),
  s('retiredPending', 'retired_pending', 'flag'), s('pcieReplay', 'pcie_replay', 'u32'),
  s('pcieGen', 'pcie_gen', 'u32', 32), s('pcieWidth', 'pcie_width', 'u32', 32),
  s('pcieMaxGen', 'pcie_max_gen', 'u32', 32), s('pcieMaxWidth', 'pcie_max_width', 'u32', 32),
  s('nvlinks', 'nvlinks', 'u32', FAKE_MAX_NVLINKS), s('fabricState', 'fabric_state', 'u32', 3),
  s('fabricStatus', 'fabric_status', 'u32', 999),
  s('fabricHealthMask', 'fabric_health_mask', 'u32'),
  s('fabricClique', 'fabric_clique', 'u32'), s('repairChannel', 'repair_channel', 'flag'),
  s('repairTpc', 'repair_tpc', 'flag'), s('migMode', 'mig_mode', 'flag'),
  s('migPending', 'mig_pending', 'flag'), s('persistence', 'persistence', 'flag'),
  s('inforomValid', 'inforom_valid', 'flag'), s('supportedEvents', 'supported_events', 'u64'),
  s('lost', 'lost', 'flag'), s('resetRequired', 'reset_required', 'flag'),
]

const ECC_TYPES: readonly EccErrorType[] = ['corrected', 'uncorrected']
const ECC_COUNTERS: readonly EccCounter[] = ['volatile', 'aggregate']
const LOCATIONS: readonly MemoryLocation[] = [
  'l1', 'l2', 'dram', 'register', 'texture', 'texture_shm', 'cbu', 'sram',
]
const NVLINK_COUNTERS = [
  ['replay', 'replay'], ['recovery', 'recovery'], ['crcFlit', 'crc_flit'], ['crcData', 'crc_data'],
  ['eccData', 'ecc_data'],
] as const
const HISTOGRAM_KEYS = ['max', 'high', 'partial', 'low', 'none'] as const
const U64_MAX = (1n << 64n) - 1n

// ---- Validation: every error names the field and the legal range ----

function fail (where: string, message: string): never {
  throw new Error(`FakeMachine: ${where} ${message}`)
}

function checkInt (where: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(where, `must be an integer in ${min}..${max} (got ${String(v)})`)
  }
}

function checkCount (where: string, v: unknown): void {
  const ok = typeof v === 'bigint'
    ? v >= 0n && v <= U64_MAX
    : typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  if (!ok) fail(where, `must be a safe integer or bigint in 0..2^64-1 (got ${String(v)})`)
}

/** What the C parser can take back: printable ASCII, no '#', no blanks at the ends. */
function checkString (where: string, v: unknown, max: number): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    fail(where, `must be a string of 1..${max} characters (got ${JSON.stringify(v)})`)
  }
  if (!/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(v) || v.includes('#')) {
    fail(where, `must be printable ASCII without '#' or end blanks (got ${JSON.stringify(v)})`)
  }
}

function checkScalar (where: string, sc: Scalar, v: unknown): void {
  const at = `${where} ${sc.key}`
  switch (sc.kind) {
    case 'str': return checkString(at, v, sc.max)
    case 'flag':
      if (typeof v !== 'boolean') fail(at, `must be a boolean (got ${String(v)})`)
      return
    case 'u64': return checkCount(at, v)
    case 'i32': return checkInt(at, v, -0x7fffffff, 0x7fffffff)
    case 'u32': return checkInt(at, v, 0, sc.max)
  }
}

let symbolCache: ReadonlySet<string> | undefined

/** The call names, read from the generated X-macro so this list cannot drift from the C side. */
function knownSymbols (): ReadonlySet<string> | undefined {
  if (symbolCache !== undefined || repoRoot === undefined) return symbolCache
  const header = join(repoRoot, 'native', 'src', 'nvml_symbols.h')
  if (!existsSync(header)) return undefined
  const text = readFileSync(header, 'utf8')
  symbolCache = new Set([...text.matchAll(/\bX\([^,]+,\s*(nvml\w+),/g)].map((m) => m[1] ?? ''))
  return symbolCache
}

function checkSymbol (where: string, symbol: unknown): void {
  if (typeof symbol !== 'string' || !/^nvml\w+$/.test(symbol)) {
    fail(where, `is not an NVML symbol: ${String(symbol)}`)
  }
  if (symbol === 'nvmlErrorString') fail(where, 'nvmlErrorString returns a string, not a code')
  const known = knownSymbols()
  if (known !== undefined && !known.has(symbol)) {
    fail(where, `names ${symbol}, which native/src/nvml_symbols.h lacks`)
  }
}

function checkRcTable (where: string, table: Record<string, number>): void {
  for (const [symbol, code] of Object.entries(table)) {
    checkSymbol(`${where} rc`, symbol)
    checkInt(`${where} rc ${symbol}`, code, 0, 999)
  }
}

function checkField (where: string, f: FakeField): void {
  checkInt(`${where} field id`, f.id, 0, FAKE_FIELD_ID_LIMIT - 1)
  if (f.scope !== undefined) checkInt(`${where} field ${f.id} scope`, f.scope, 0, U32)
  if (f.value === 'unsupported') return
  const double = f.double === true || (typeof f.value === 'number' && !Number.isInteger(f.value))
  if (double && !(typeof f.value === 'number' && Number.isFinite(f.value))) {
    fail(`${where} field ${f.id}`, 'must be a finite number')
  }
  if (!double) checkCount(`${where} field ${f.id}`, f.value)
}

function checkWord<T extends string> (where: string, word: string, words: readonly T[]): void {
  if (!words.includes(word as T)) fail(where, `has unknown key ${word} (${words.join(', ')})`)
}

function checkEcc (where: string, g: FakeGpu): void {
  for (const [t, counters] of Object.entries(g.ecc ?? {})) {
    checkWord(`${where} ecc`, t, ECC_TYPES)
    for (const [c, n] of Object.entries(counters ?? {})) {
      checkWord(`${where} ecc.${t}`, c, ECC_COUNTERS)
      checkCount(`${where} ecc.${t}.${c}`, n)
    }
  }
  for (const [t, counters] of Object.entries(g.eccLocation ?? {})) {
    checkWord(`${where} eccLocation`, t, ECC_TYPES)
    for (const [c, locations] of Object.entries(counters ?? {})) {
      checkWord(`${where} eccLocation.${t}`, c, ECC_COUNTERS)
      for (const [l, n] of Object.entries(locations ?? {})) {
        checkWord(`${where} eccLocation.${t}.${c}`, l, LOCATIONS)
        checkCount(`${where} eccLocation.${t}.${c}.${l}`, n)
      }
    }
  }
}

function checkPciAndHistogram (where: string, g: FakeGpu): void {
  if (g.pci !== undefined) {
    checkInt(`${where} pci.domain`, g.pci.domain, 0, U32)
    checkInt(`${where} pci.bus`, g.pci.bus, 0, 0xff)
    checkInt(`${where} pci.device`, g.pci.device, 0, 0x1f)
  }
  const h = g.remapHistogram
  for (const k of HISTOGRAM_KEYS) {
    if (h !== undefined) checkInt(`${where} remapHistogram.${k}`, h[k], 0, U32)
  }
}

function checkNvLinks (where: string, g: FakeGpu): void {
  for (const [link, l] of Object.entries(g.nvlink ?? {})) {
    const at = `${where} nvlink ${link}`
    checkInt(`${where} nvlink`, Number(link), 0, FAKE_MAX_NVLINKS - 1)
    if (l.state !== undefined && l.state !== 0 && l.state !== 1) {
      fail(`${at} state`, 'must be 0 or 1')
    }
    for (const [key] of NVLINK_COUNTERS) {
      if (l[key] !== undefined) checkCount(`${at} ${key}`, l[key])
    }
  }
}

function checkFields (where: string, g: FakeGpu): void {
  const fields = g.fields ?? []
  if (fields.length > FAKE_MAX_FIELDS_PER_GPU) {
    fail(`${where} fields`, `has ${fields.length} entries, limit ${FAKE_MAX_FIELDS_PER_GPU}`)
  }
  for (const f of fields) checkField(where, f)
}

const NESTED_KEYS = ['pci', 'ecc', 'eccLocation', 'remapHistogram', 'nvlink', 'fields', 'rc']
const GPU_KEYS: ReadonlySet<string> = new Set([...SCALARS.map((sc) => sc.key), ...NESTED_KEYS])

function checkGpu (where: string, g: FakeGpu): void {
  for (const k of Object.keys(g)) if (!GPU_KEYS.has(k)) fail(where, `has unknown key ${k}`)
  for (const sc of SCALARS) {
    const v = g[sc.key]
    if (v !== undefined) checkScalar(where, sc, v)
  }
  checkPciAndHistogram(where, g)
  checkEcc(where, g)
  checkNvLinks(where, g)
  checkFields(where, g)
  if (g.rc !== undefined) checkRcTable(where, g.rc)
}

function checkSystem (sys: FakeSystem): void {
  const known = new Set(['driver', 'nvml', 'cuda', 'initRc', 'rc', 'missing'])
  for (const k of Object.keys(sys)) if (!known.has(k)) fail('system', `has unknown key ${k}`)
  if (sys.driver !== undefined) checkString('system driver', sys.driver, 79)
  if (sys.nvml !== undefined) checkString('system nvml', sys.nvml, 79)
  if (sys.cuda !== undefined) checkInt('system cuda', sys.cuda, 0, 0x7fffffff)
  if (sys.initRc !== undefined) checkInt('system initRc', sys.initRc, 0, 999)
  if (sys.rc !== undefined) checkRcTable('system', sys.rc)
  for (const m of sys.missing ?? []) checkSymbol('system missing', m)
}

// ---- Rendering ----

const num = (v: Count | boolean): string => {
  if (typeof v === 'boolean') return v ? '1' : '0'
  return v.toString()
}
const hex = (v: number, width: number): string => v.toString(16).padStart(width, '0')

/** A double always carries a '.', which is how the C parser tells it from an integer. */
function doubleText (v: number): string {
  const text = String(v)
  if (text.includes('.')) return text
  return text.includes('e') ? v.toExponential(16) : `${text}.0`
}

function fieldText (f: FakeField): string {
  if (f.value === 'unsupported') return 'unsupported'
  const double = f.double === true || (typeof f.value === 'number' && !Number.isInteger(f.value))
  return double ? doubleText(Number(f.value)) : num(f.value)
}

function renderEcc (p: string, g: FakeGpu, out: string[]): void {
  for (const t of ECC_TYPES) {
    for (const c of ECC_COUNTERS) {
      const n = g.ecc?.[t]?.[c]
      if (n !== undefined) out.push(`${p} ecc ${t} ${c} ${num(n)}`)
      for (const l of LOCATIONS) {
        const m = g.eccLocation?.[t]?.[c]?.[l]
        if (m !== undefined) out.push(`${p} ecc_location ${t} ${c} ${l} ${num(m)}`)
      }
    }
  }
}

function renderNvLinks (p: string, g: FakeGpu, out: string[]): void {
  const links = Object.keys(g.nvlink ?? {}).map(Number).sort((a, b) => a - b)
  for (const link of links) {
    const l = g.nvlink?.[link] ?? {}
    if (l.state !== undefined) out.push(`${p} nvlink ${link} state ${l.state}`)
    for (const [key, file] of NVLINK_COUNTERS) {
      const n = l[key]
      if (n !== undefined) out.push(`${p} nvlink ${link} ${file} ${num(n)}`)
    }
  }
}

function renderNested (p: string, g: FakeGpu, out: string[]): void {
  const pci = g.pci
  if (pci !== undefined) {
    out.push(`${p} pci ${hex(pci.domain, 4)}:${hex(pci.bus, 2)}:${hex(pci.device, 2)}`)
  }
  renderEcc(p, g, out)
  const h = g.remapHistogram
  if (h !== undefined) out.push(`${p} remap_histogram ${HISTOGRAM_KEYS.map((k) => h[k]).join(' ')}`)
  renderNvLinks(p, g, out)
  for (const f of g.fields ?? []) {
    const scope = f.scope === undefined ? '' : ` ${f.scope}`
    out.push(`${p} field ${f.id}${scope} ${fieldText(f)}`)
  }
  for (const [symbol, code] of Object.entries(g.rc ?? {})) out.push(`${p} rc ${symbol} ${code}`)
}

function scalarText (sc: Scalar, v: NonNullable<FakeGpu[keyof FakeGpu]>): string {
  if (typeof v === 'string') return v
  if (HEX_KEYS.has(sc.key)) return `0x${(v as Count).toString(16)}`
  return num(v as Count | boolean)
}

function renderGpu (i: number, g: FakeGpu, out: string[]): void {
  const p = `gpu ${i}`
  for (const sc of SCALARS) {
    const v = g[sc.key]
    if (v !== undefined) out.push(`${p} ${sc.file} ${scalarText(sc, v)}`)
  }
  renderNested(p, g, out)
}

function renderSystem (sys: FakeSystem, out: string[]): void {
  if (sys.driver !== undefined) out.push(`driver ${sys.driver}`)
  if (sys.nvml !== undefined) out.push(`nvml ${sys.nvml}`)
  if (sys.cuda !== undefined) out.push(`cuda ${sys.cuda}`)
  if (sys.initRc !== undefined) out.push(`init_rc ${sys.initRc}`)
  for (const [symbol, code] of Object.entries(sys.rc ?? {})) out.push(`rc ${symbol} ${code}`)
  const missing = sys.missing ?? []
  if (missing.length > 0) out.push(`missing ${missing.join(' ')}`)
}

function renderEvent (e: FakeEvent): string {
  const ids = e.gpuInstanceId === undefined && e.computeInstanceId === undefined
    ? ''
    : ` ${e.gpuInstanceId ?? U32} ${e.computeInstanceId ?? U32}`
  return `event ${e.seq} ${e.gpu} 0x${e.type.toString(16)} ${num(e.data)}${ids}`
}

// ---- Merging ----

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Keys replaced whole by a patch even though they are objects. */
const WHOLE_KEYS: ReadonlySet<string> = new Set(['pci', 'remapHistogram'])

/** Records merge key by key (ecc, eccLocation, nvlink, rc); pci, the histogram and arrays are
 * replaced whole, except fields, which replace entry by entry on (id, scope). */
function mergeInto (target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue
    const old = target[k]
    if (k === 'fields' && Array.isArray(v)) {
      target[k] = mergeFields((old ?? []) as FakeField[], v as FakeField[])
    } else if (isRecord(v) && isRecord(old) && !WHOLE_KEYS.has(k)) {
      mergeInto(old, v)
    } else {
      target[k] = structuredClone(v)
    }
  }
}

function mergeFields (old: readonly FakeField[], patch: readonly FakeField[]): FakeField[] {
  const out = old.map((f) => ({ ...f }))
  for (const f of patch) {
    const at = out.findIndex((o) => o.id === f.id && o.scope === f.scope)
    if (at >= 0) out[at] = { ...f }
    else out.push({ ...f })
  }
  return out
}

function deepFreeze<T> (v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x)
    Object.freeze(v)
  }
  return v
}

// ---- Presets ----

/** FNV-1a 32-bit then murmur3's finalizer, as hash32 in fake_state.c: UUIDs and serials derive
 * from "<preset>/<index>/<what>", so the C built-in machine and preset dgx-h100 agree. */
function hash32 (text: string): number {
  let h = 0x811c9dc5
  for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

/** Deterministic GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx for GPU `index` of `preset`. */
export function fakeUuid (preset: string, index: number): string {
  const [a, b, c, d] = [0, 1, 2, 3].map((k) => hash32(`${preset}/${index}/uuid${k}`))
  const w = (v: number | undefined, width: number): string => hex(v ?? 0, width)
  return `GPU-${w(a, 8)}-${w((b ?? 0) >>> 16, 4)}-${w((b ?? 0) & 0xffff, 4)}-` +
    `${w((c ?? 0) >>> 16, 4)}-${w((c ?? 0) & 0xffff, 4)}${w(d, 8)}`
}

/** Deterministic 13-digit board serial for GPU `index` of `preset`. */
export function fakeSerial (preset: string, index: number): string {
  return `1654${String(hash32(`${preset}/${index}/serial`) % 1_000_000_000).padStart(9, '0')}`
}

const MiB = 1024 * 1024
const NOT_SUPPORTED = 3

/** An idle, healthy H100 SXM5 80GB in a DGX H100: exactly the C library's built-in GPU. */
const H100: Readonly<FakeGpu> = {
  name: 'NVIDIA H100 80GB HBM3',
  vbios: '96.00.99.00.01',
  pciDeviceId: 0x233010de,
  pciSubsystemId: 0x16c110de,
  memoryTotal: 81559 * MiB,
  memoryUsed: 0,
  memoryReserved: 542 * MiB,
  temp: 33,
  thresholdShutdown: 92,
  thresholdSlowdown: 89,
  thresholdMemMax: 95,
  thresholdGpuMax: 87,
  power: 72000,
  powerLimit: 700000,
  powerMgmtLimit: 700000,
  energy: 1_000_000_000,
  utilGpu: 0,
  utilMem: 0,
  clockGraphics: 345,
  clockSm: 345,
  clockMem: 2619,
  clockVideo: 765,
  maxClockGraphics: 1980,
  maxClockSm: 1980,
  maxClockMem: 2619,
  maxClockVideo: 1755,
  pstate: 0,
  clockReasons: 0x1,
  supportedClockReasons: 0x1ff,
  eccMode: true,
  eccPending: true,
  remapCorrected: 0,
  remapUncorrected: 0,
  remapPending: false,
  remapFailure: false,
  remapHistogram: { max: 2560, high: 0, partial: 0, low: 0, none: 0 },
  retiredSbe: 0,
  retiredDbe: 0,
  retiredPending: false,
  pcieReplay: 0,
  pcieGen: 5,
  pcieWidth: 16,
  pcieMaxGen: 5,
  pcieMaxWidth: 16,
  nvlinks: 18,
  fabricState: 3,
  fabricStatus: 0,
  fabricHealthMask: 0,
  fabricClique: 0,
  repairChannel: false,
  repairTpc: false,
  migMode: false,
  migPending: false,
  persistence: true,
  inforomValid: true,
  supportedEvents: 0x1 | 0x2 | 0x8 | 0x200 | 0x400 | 0x800 | 0x1000 | 0x2000 | 0x4000 | 0x8000,
  lost: false,
  resetRequired: false,
}

/** A100: no fabric info (Hopper+), 12 NVLink3 links, PCIe 4. */
const A100: Readonly<FakeGpu> = {
  ...H100,
  name: 'NVIDIA A100-SXM4-80GB',
  vbios: '92.00.45.00.03',
  pciDeviceId: 0x20b210de,
  pciSubsystemId: 0x147f10de,
  memoryTotal: 81920 * MiB,
  memoryReserved: 568 * MiB,
  temp: 31,
  thresholdGpuMax: 85,
  power: 62000,
  powerLimit: 400000,
  powerMgmtLimit: 400000,
  clockGraphics: 210,
  clockSm: 210,
  clockMem: 1593,
  clockVideo: 585,
  maxClockGraphics: 1410,
  maxClockSm: 1410,
  maxClockMem: 1593,
  maxClockVideo: 1290,
  remapHistogram: { max: 640, high: 0, partial: 0, low: 0, none: 0 },
  pcieGen: 4,
  pcieMaxGen: 4,
  nvlinks: 12,
  fabricState: 0,
  rc: { nvmlDeviceGetGpuFabricInfoV: NOT_SUPPORTED },
}

/** L4: a PCIe card with GDDR6; no NVLink, no HBM temperature, no row remapper, no fabric. */
const L4: Readonly<FakeGpu> = {
  ...H100,
  name: 'NVIDIA L4',
  vbios: '95.04.29.00.06',
  pciDeviceId: 0x27b810de,
  pciSubsystemId: 0x16ca10de,
  memoryTotal: 23034 * MiB,
  memoryReserved: 335 * MiB,
  temp: 38,
  thresholdShutdown: 95,
  thresholdSlowdown: 92,
  thresholdMemMax: 95,
  thresholdGpuMax: 90,
  power: 16000,
  powerLimit: 72000,
  powerMgmtLimit: 72000,
  clockGraphics: 210,
  clockSm: 210,
  clockMem: 405,
  clockVideo: 765,
  maxClockGraphics: 2040,
  maxClockSm: 2040,
  maxClockMem: 6251,
  maxClockVideo: 1770,
  remapHistogram: { max: 0, high: 0, partial: 0, low: 0, none: 0 },
  pcieGen: 4,
  pcieMaxGen: 4,
  nvlinks: 0,
  fabricState: 0,
  fields: [82, 38, 45, 52, 59, 160].map((id) => ({ id, value: 'unsupported' as const })),
  rc: {
    nvmlDeviceGetRemappedRows: NOT_SUPPORTED,
    nvmlDeviceGetRemappedRows_v2: NOT_SUPPORTED,
    nvmlDeviceGetRowRemapperHistogram: NOT_SUPPORTED,
    nvmlDeviceGetGpuFabricInfoV: NOT_SUPPORTED,
  },
}

/** GB200: NVLink5, so the per-link error counter call is gone (v565) and fields 213/214/219/221
 * carry link health instead. */
const GB200: Readonly<FakeGpu> = {
  ...H100,
  name: 'NVIDIA GB200',
  vbios: '97.00.82.00.01',
  pciDeviceId: 0x294110de,
  pciSubsystemId: 0x20d510de,
  memoryTotal: 189471 * MiB,
  memoryReserved: 1024 * MiB,
  temp: 30,
  power: 150000,
  powerLimit: 1200000,
  powerMgmtLimit: 1200000,
  clockMem: 3996,
  maxClockGraphics: 2062,
  maxClockSm: 2062,
  maxClockMem: 3996,
  maxClockVideo: 1965,
  nvlinks: 18,
  fabricClique: 1,
  fields: [213, 214, 219, 221].map((id) => ({ id, value: 0 })),
  rc: { nvmlDeviceGetNvLinkErrorCounter: NOT_SUPPORTED },
}

/** One GPU of `model` per PCI address, with the preset's own UUIDs and serials. */
function gpusOf (preset: string, pcis: readonly FakePci[], model: Readonly<FakeGpu>): FakeGpu[] {
  return pcis.map((pci, i) => ({
    ...structuredClone(model),
    uuid: fakeUuid(preset, i),
    serial: fakeSerial(preset, i),
    pci,
  }))
}

const onBuses = (buses: readonly number[]): FakePci[] =>
  buses.map((bus) => ({ domain: 0, bus, device: 0 }))

export type FakePresetName = 'dgx-h100' | 'hgx-a100' | 'l4x1' | 'gb200x4'

/** Machines as data. Values are plausible for each model, not measured on one: a test that
 * depends on a figure should set it. */
export const PRESETS: Readonly<Record<FakePresetName, FakePreset>> = deepFreeze({
  'dgx-h100': {
    description: 'DGX H100: 8 x H100 SXM5 80GB, 18 NVLinks each (the C library\'s default)',
    system: {},
    gpus: gpusOf('dgx-h100', onBuses([0x18, 0x2a, 0x3a, 0x5d, 0x9a, 0xab, 0xba, 0xdb]), H100),
  },
  'hgx-a100': {
    description: 'HGX A100: 8 x A100 SXM4 80GB, 12 NVLinks each',
    system: {},
    gpus: gpusOf('hgx-a100', onBuses([0x07, 0x0f, 0x47, 0x4e, 0x87, 0x90, 0xb7, 0xbd]), A100),
  },
  l4x1: {
    description: 'One L4 on PCIe (a cloud g2 VM): no NVLink, no row remapping',
    system: {},
    gpus: gpusOf('l4x1', [{ domain: 0, bus: 0, device: 3 }], L4),
  },
  gb200x4: {
    description: 'GB200 compute tray: 4 x GB200, NVLink5, driver 570',
    system: { driver: '570.133.20', nvml: '12.570.133.20', cuda: 12080 },
    gpus: gpusOf('gb200x4', [0x0008, 0x0009, 0x0018, 0x0019].map((domain) =>
      ({ domain, bus: 1, device: 0 })), GB200),
  },
})

// ---- The machine ----

export interface FakeMachineInit {
  /** Start from a preset (default 'dgx-h100' when gpus is not given either). */
  preset?: FakePresetName
  /** Explicit GPUs; keys left out keep the C library's H100 defaults. */
  gpus?: readonly FakeGpu[]
  system?: FakeSystem
}

export interface FakeInstance { gpuInstanceId: number, computeInstanceId: number }

/** Last mtime this process gave each state file: see write(). */
const lastMtimeNs = new Map<string, bigint>()
let tmpCounter = 0

export class FakeMachine {
  #system: FakeSystem = {}
  #gpus: FakeGpu[] = []
  #events: FakeEvent[] = []
  #nextSeq = 1

  constructor (init: FakeMachineInit = {}) {
    if (init.preset !== undefined && init.gpus !== undefined) {
      fail('init', 'takes a preset or gpus, not both')
    }
    if (init.preset !== undefined && !Object.hasOwn(PRESETS, init.preset)) {
      fail('init preset', `is unknown: ${String(init.preset)}`)
    }
    const preset = init.gpus === undefined ? PRESETS[init.preset ?? 'dgx-h100'] : undefined
    const gpus = init.gpus ?? preset?.gpus ?? []
    if (gpus.length > FAKE_MAX_GPUS) fail('gpus', `has ${gpus.length} GPUs, limit ${FAKE_MAX_GPUS}`)
    gpus.forEach((g, i) => checkGpu(`gpu ${i}`, g))
    this.#gpus = gpus.map((g) => structuredClone(g) as FakeGpu)
    this.setSystem({ ...structuredClone(preset?.system ?? {}), ...(init.system ?? {}) })
  }

  /** Shorthand for new FakeMachine({ preset }). */
  static preset (name: FakePresetName): FakeMachine {
    return new FakeMachine({ preset: name })
  }

  get gpuCount (): number {
    return this.#gpus.length
  }

  /** A copy of GPU i's explicit keys (defaults the C library applies are not listed). */
  gpu (i: number): FakeGpu {
    return structuredClone(this.#gpuAt(i))
  }

  get system (): FakeSystem {
    return structuredClone(this.#system)
  }

  get events (): readonly FakeEvent[] {
    return structuredClone(this.#events)
  }

  #gpuAt (i: number): FakeGpu {
    checkInt('gpu index', i, 0, this.#gpus.length - 1)
    return this.#gpus[i] as FakeGpu
  }

  /** Merges system keys; the next write() makes them visible. */
  setSystem (patch: FakeSystem): this {
    const next = structuredClone(this.#system) as Record<string, unknown>
    mergeInto(next, patch as Record<string, unknown>)
    checkSystem(next as FakeSystem)
    this.#system = next as FakeSystem
    return this
  }

  /** Merges per-GPU keys (records key by key, fields by id and scope). */
  set (gpu: number, patch: FakeGpu): this {
    const next = structuredClone(this.#gpuAt(gpu)) as Record<string, unknown>
    mergeInto(next, patch as Record<string, unknown>)
    checkGpu(`gpu ${gpu}`, next as FakeGpu)
    this.#gpus[gpu] = next as FakeGpu
    return this
  }

  /** Grows (new GPUs are default H100s) or shrinks the machine; old handles past the end then
   * answer GPU_IS_LOST. */
  setGpuCount (n: number): this {
    checkInt('gpu count', n, 0, FAKE_MAX_GPUS)
    const stranded = this.#events.find((e) => e.gpu >= n)
    if (stranded !== undefined) {
      fail('gpu count', `${n} strands event ${stranded.seq} on gpu ${stranded.gpu}: drop it first`)
    }
    while (this.#gpus.length < n) this.#gpus.push({})
    this.#gpus.length = n
    return this
  }

  /** Every call of symbol returns code: machine-wide, or only on one GPU's handle. */
  setRc (symbol: string, code: number, gpu?: number): this {
    const rc = { [symbol]: code }
    return gpu === undefined ? this.setSystem({ rc }) : this.set(gpu, { rc })
  }

  /** Removes an override made by setRc (or, machine-wide, by setMissing). */
  clearRc (symbol: string, gpu?: number): this {
    if (gpu !== undefined) {
      delete this.#gpuAt(gpu).rc?.[symbol]
      return this
    }
    delete this.#system.rc?.[symbol]
    this.#system.missing = (this.#system.missing ?? []).filter((m) => m !== symbol)
    return this
  }

  /** The library answers these calls with FUNCTION_NOT_FOUND (13), as a driver lacking them. */
  setMissing (...symbols: string[]): this {
    return this.setSystem({ missing: [...new Set([...(this.#system.missing ?? []), ...symbols])] })
  }

  setField (gpu: number, id: number, value: FakeField['value'], scope?: number): this {
    return this.set(gpu, { fields: [scope === undefined ? { id, value } : { id, scope, value }] })
  }

  setNvLink (gpu: number, link: number, patch: FakeNvLink): this {
    return this.set(gpu, { nvlink: { [link]: patch } })
  }

  /** The GPU falls off the bus: GetHandleByIndex and every call on its handle say GPU_IS_LOST,
   * and each event set registered on it gets GPU_IS_LOST once from its wait. */
  lose (gpu: number): this {
    return this.set(gpu, { lost: true })
  }

  /** Every call on the GPU's handle answers RESET_REQUIRED. */
  requireReset (gpu: number): this {
    return this.set(gpu, { resetRequired: true })
  }

  /** Appends an NVML event (one type bit, e.g. 0x8 for an XID) and returns its seq. */
  injectEvent (gpu: number, typeBit: Count, data: Count = 0, instance?: FakeInstance): number {
    this.#gpuAt(gpu)
    if (this.#events.length >= FAKE_MAX_EVENTS) {
      fail('events', `are at the limit of ${FAKE_MAX_EVENTS}: dropEventsThrough() delivered ones`)
    }
    checkCount('event type', typeBit)
    if (BigInt(typeBit) === 0n) fail('event type', 'must be a nonzero event bit')
    checkCount('event data', data)
    if (instance !== undefined) {
      checkInt('event gpuInstanceId', instance.gpuInstanceId, 0, U32)
      checkInt('event computeInstanceId', instance.computeInstanceId, 0, U32)
    }
    const seq = this.#nextSeq++
    this.#events.push({ seq, gpu, type: typeBit, data, ...instance })
    return seq
  }

  /** An XID critical error (event bit 0x8) carrying the XID code. */
  injectXid (gpu: number, xid: number): number {
    checkInt('xid', xid, 0, U32)
    return this.injectEvent(gpu, 0x8, xid)
  }

  /** Forgets events up to seq (already delivered), keeping a long run under FAKE_MAX_EVENTS.
   * Seqs keep counting up, so nothing is delivered twice. */
  dropEventsThrough (seq: number): this {
    this.#events = this.#events.filter((e) => e.seq > seq)
    return this
  }

  /** The state-file text (docs/fake-nvml.md). */
  render (): string {
    const out = ['# Shoal fake NVML state (docs/fake-nvml.md), written by native/fake/machine.ts']
    renderSystem(this.#system, out)
    out.push(`gpus ${this.#gpus.length}`)
    this.#gpus.forEach((g, i) => renderGpu(i, g, out))
    for (const e of this.#events) out.push(renderEvent(e))
    const long = out.find((line) => Buffer.byteLength(line) > FAKE_MAX_LINE_BYTES)
    if (long !== undefined) {
      fail('state', `has a line over ${FAKE_MAX_LINE_BYTES} bytes: ${long.slice(0, 60)}...`)
    }
    const text = `${out.join('\n')}\n`
    if (Buffer.byteLength(text) > FAKE_MAX_FILE_BYTES) {
      fail('state', `renders to more than ${FAKE_MAX_FILE_BYTES} bytes`)
    }
    return text
  }

  /**
   * Writes the state atomically: a temporary file in the same folder, renamed over path, so the
   * library reads the old file or the new one, never half of one. The library notices a change by
   * (inode, size, mtime). Before Linux 6.13 two writes within one timestamp tick (up to 10 ms) get
   * the same mtime, may have the same size and, on ext4, the first one's freed inode; so each
   * write moves the mtime past the previous one this process made, and every rewrite is seen.
   */
  write (path: string): void {
    const target = resolve(path)
    const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${++tmpCounter}.tmp`)
    writeFileSync(tmp, this.render())
    try {
      lastMtimeNs.set(target, advanceMtime(tmp, lastMtimeNs.get(target) ?? -1n))
      renameSync(tmp, target)
    } catch (err) {
      try { unlinkSync(tmp) } catch { /* already gone */ }
      throw err
    }
  }
}

/** Sets file's mtime past `after` (ns) when the clock tick has not moved; returns the new mtime. */
function advanceMtime (file: string, after: bigint): bigint {
  let mtime = statSync(file, { bigint: true }).mtimeNs
  for (let step = 1n; mtime <= after && step <= 4n; step++) {
    const wantMs = new Date(Number(after / 1_000_000n + step))
    utimesSync(file, wantMs, wantMs)
    mtime = statSync(file, { bigint: true }).mtimeNs
  }
  if (mtime <= after) fail('write', `could not move the mtime of ${file} forward`)
  return mtime
}
