// `shoal gpus`: this host's GPU inventory and what NVML says about each GPU right now.
import { toJson } from '@bufbuild/protobuf'
import { GpuInfoSchema, GpuSampleSchema, type GpuInfo, type GpuSample } from '../../proto/gen/shoal_pb.js'
import { DEFAULT_NVML_LIBRARY, NvmlLoadError, openNvml } from '../../native/nvml.js'
import { GpuSource } from '../gpu/source.js'
import { gpuNotes } from '../gpu/notes.js'
import { renderTable, type Column } from './table.js'
import { systemTimers, systemWallClock } from '../lib/time.js'

export interface GpusOptions {
  libraryPath: string
  json: boolean
  fake: boolean
}

export interface Output { out(text: string): void, err(text: string): void }

interface Row { info: GpuInfo | undefined, sample: GpuSample, notes: string[] }

const GIB = 1024 ** 3
const opt = (v: number | undefined, f: (v: number) => string): string => v === undefined ? '-' : f(v)

const COLUMNS: ReadonlyArray<Column<Row>> = [
  { header: 'GPU', value: (r) => String(r.sample.index) },
  { header: 'NAME', value: (r) => r.info?.name ?? '-' },
  { header: 'UUID', value: (r) => r.sample.uuid.slice(0, 12) || '-' },
  { header: 'BUS', value: (r) => r.info?.pciBusId.replace(/^0000/, '') || '-' },
  { header: 'TEMP', value: (r) => opt(r.sample.temperatureGpuC, (c) => `${c} C`), align: 'right' },
  {
    header: 'POWER',
    value: (r) => r.sample.powerMw === undefined ? '-'
      : `${Math.round(r.sample.powerMw / 1000)}/${opt(r.sample.powerLimitMw, (l) => String(Math.round(l / 1000)))} W`,
    align: 'right',
  },
  { header: 'UTIL', value: (r) => opt(r.sample.utilizationGpuPct, (u) => `${u}%`), align: 'right' },
  {
    header: 'MEMORY',
    value: (r) => r.sample.memoryUsedBytes === undefined ? '-'
      : `${(r.sample.memoryUsedBytes / GIB).toFixed(1)}/${opt(r.sample.memoryTotalBytes, (t) => (t / GIB).toFixed(1))} GiB`,
    align: 'right',
  },
  { header: 'ECC DBE', value: (r) => opt(r.sample.ecc?.volatileUncorrected, String), align: 'right' },
  {
    header: 'PCIE',
    value: (r) => {
      const p = r.sample.pcie
      return p?.linkGen === undefined ? '-' : `gen${p.linkGen} x${p.linkWidth ?? '?'}`
    },
  },
  {
    header: 'NVLINK',
    value: (r) => r.sample.nvlinks.length === 0 ? '-'
      : `${r.sample.nvlinks.filter((l) => l.state === 1).length}/${r.sample.nvlinks.length} up`,
  },
  { header: 'STATUS', value: (r) => r.notes.length === 0 ? 'ok' : r.notes.join('; ') },
]

/** Exit code: 0 shown, 1 no usable NVML on this host (the message says why and what to do). */
export async function gpusCommand (options: GpusOptions, io: Output): Promise<number> {
  let nvml
  try {
    nvml = openNvml({ libraryPath: options.libraryPath })
  } catch (err) {
    if (!(err instanceof NvmlLoadError)) throw err
    io.err(`shoal: ${err.message}\n`)
    if (err.reason === 'library-missing' && options.libraryPath === DEFAULT_NVML_LIBRARY) {
      io.err('shoal: this host has no NVIDIA driver. To see Shoal on fake GPUs: shoal gpus --fake\n')
    }
    return 1
  }
  try {
    const source = new GpuSource({ nvml, clock: systemWallClock, timers: systemTimers })
    const inventory = source.readInventory()
    const samples = source.sampleOnce()
    const rows = samples.map((sample) => {
      const info = inventory[sample.index]
      return { info, sample, notes: gpuNotes(sample, info) }
    })
    io.out(options.json ? renderJson(rows, nvml.libraryPath, options.fake) : renderText(rows, source, nvml.libraryPath, options.fake))
    return 0
  } finally {
    await nvml.close()
  }
}

function renderText (rows: Row[], source: GpuSource, libraryPath: string, fake: boolean): string {
  const s = source.system
  const head = [
    `${rows.length} GPU${rows.length === 1 ? '' : 's'}`,
    `driver ${s?.driverVersion || '?'}`,
    `CUDA ${s?.cudaDriverVersion || '?'}`,
    `NVML ${s?.nvmlVersion || '?'}`,
  ].join(' · ')
  const origin = fake ? `fake NVML (${libraryPath})` : libraryPath
  const healthy = rows.filter((r) => r.notes.length === 0).length
  return `${head}\nsource: ${origin}\n\n${renderTable(COLUMNS, rows)}\n\n${healthy}/${rows.length} GPUs without notes\n`
}

function renderJson (rows: Row[], libraryPath: string, fake: boolean): string {
  return JSON.stringify({
    library: libraryPath,
    fake,
    gpus: rows.map((r) => ({
      info: r.info === undefined ? null : toJson(GpuInfoSchema, r.info),
      sample: toJson(GpuSampleSchema, r.sample),
      notes: r.notes,
    })),
  }, null, 2) + '\n'
}
