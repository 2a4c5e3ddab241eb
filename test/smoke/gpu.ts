// npm run smoke:gpu — the addon against this host's real NVIDIA driver: prints every signal it
// could read, every signal it could not (and NVML's reason), then listens for events briefly.
// Exit 0 when NVML answered, 1 when this host has no usable NVML (the message says why).
import '../../agent/polyfill.js'
import { toJson } from '@bufbuild/protobuf'
import { GpuInfoSchema, GpuSampleSchema } from '../../proto/gen/shoal_pb.js'
import { DEFAULT_NVML_LIBRARY, NvmlLoadError, nvmlReturnName, openNvml, type RawNvmlEvent } from '../../native/nvml.js'

const LISTEN_MS = Number(process.env.SHOAL_SMOKE_LISTEN_MS ?? 3000)
const libraryPath = process.env.SHOAL_NVML_LIBRARY ?? DEFAULT_NVML_LIBRARY

let nvml
try {
  nvml = openNvml({ libraryPath })
} catch (err) {
  if (!(err instanceof NvmlLoadError)) throw err
  console.log(`smoke:gpu: no usable NVML on this host (${err.reason}): ${err.message}`)
  process.exit(1)
}

const unreadText = (u: { signal: string, nvmlReturn: number }[]): string =>
  u.map((x) => `${x.signal}=${nvmlReturnName(x.nvmlReturn)}`).join(', ') || 'none'

console.log(`library: ${nvml.libraryPath}`)
console.log(`missing optional symbols: ${nvml.missingSymbols.join(', ') || 'none'}`)
console.log('system:', JSON.stringify(nvml.system()))
const { count, devices } = nvml.refresh()
console.log(`GPUs: ${count}; handles: ${devices.map((d) => nvmlReturnName(d.nvmlReturn)).join(', ')}`)
let readCount = 0
for (let i = 0; i < count; i++) {
  const t0 = process.hrtime.bigint()
  const info = nvml.info(i)
  const sample = nvml.sample(i, Date.now())
  const us = Number(process.hrtime.bigint() - t0) / 1e3
  console.log(`\n=== GPU ${i}: ${info.name} ${info.uuid} (info + sample ${us.toFixed(0)} us)`)
  console.log('info:', JSON.stringify(toJson(GpuInfoSchema, info)))
  console.log('sample:', JSON.stringify(toJson(GpuSampleSchema, sample)))
  console.log(`info unread: ${unreadText(info.unread)}`)
  console.log(`sample unread: ${unreadText(sample.unread)}`)
  console.log(`temperature() fine-grained call: ${nvml.temperature(i)} C`)
  readCount++
}

const events: RawNvmlEvent[] = []
const regs = nvml.watch((e) => events.push(e))
console.log(`\nevent registrations: ${regs.map((r) => `GPU${r.index}=0x${r.mask.toString(16)}/${nvmlReturnName(r.nvmlReturn)}`).join(', ')}`)
await new Promise((resolve) => setTimeout(resolve, LISTEN_MS))
const t0 = Date.now()
await nvml.close()
console.log(`events in ${LISTEN_MS} ms: ${events.length} ${JSON.stringify(events.slice(0, 10))}`)
console.log(`watcher stopped and NVML shut down in ${Date.now() - t0} ms`)
console.log(`smoke:gpu: ok, ${readCount} GPUs read`)
