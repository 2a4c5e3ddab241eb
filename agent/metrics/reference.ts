// docs/metrics.md's tables, rendered from gpu-metrics.ts and catalog.ts so they match the code.
import { CATALOG, DEFAULT_METRICS_PREFIX } from './catalog.js'
import { GPU_LABELS, GPU_METRICS } from './gpu-metrics.js'

export const METRICS_DOCS_COMMAND = 'node --import tsx agent/metrics/docs.ts --write'

function cell (text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ')
}

const HEADER = ['| metric | type | unit | labels | source | description |', '|---|---|---|---|---|---|']

/** Every per-GPU series under a dcgm-exporter (DCGM) name, plus Shoal's with the same labels. */
export function renderGpuMetricsReference (): string {
  const labels = 'GPU labels'
  const rows = GPU_METRICS.map((m) =>
    `| \`${m.name}\` | ${m.type} | ${cell(m.unit)} | ${labels} | ${cell(m.source)} | ${cell(m.help)} |`)
  return [`GPU labels: ${GPU_LABELS.map((l) => `\`${l}\``).join(', ')} (dcgm-exporter's).`, '', ...HEADER, ...rows].join('\n') + '\n'
}

/** Shoal's own series: GPU extras, health, policy, agent. */
export function renderAgentMetricsReference (): string {
  const rows = Object.values(CATALOG).map((d) => {
    const all = GPU_LABELS.every((l) => d.labels.includes(l))
    const own = all ? d.labels.filter((l) => !(GPU_LABELS as readonly string[]).includes(l)) : d.labels
    const labels = [...(all ? ['GPU labels'] : []), ...own.map((l) => `\`${l}\``)].join(', ')
    return `| \`${d.name}\` | ${d.type} | ${cell(d.unit)} | ${labels === '' ? '—' : labels} | ${cell(d.source)} | ${cell(d.help)} |`
  })
  const process = `| \`${DEFAULT_METRICS_PREFIX}*\` | | | | prom-client | prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC, ...). |`
  return [...HEADER, ...rows, process].join('\n') + '\n'
}
