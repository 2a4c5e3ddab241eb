// docs/metrics.md's tables are generated from the code, and every series the agent registers is in them.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { replaceGenerated } from '../../../agent/lib/markdown.js'
import { CATALOG, DEFAULT_METRICS_PREFIX } from '../../../agent/metrics/catalog.js'
import { GPU_METRICS } from '../../../agent/metrics/gpu-metrics.js'
import { AgentMetrics } from '../../../agent/metrics/metrics.js'
import { METRICS_DOCS_COMMAND, renderAgentMetricsReference, renderGpuMetricsReference } from '../../../agent/metrics/reference.js'

t.test('docs/metrics.md is current', async (t) => {
  const current = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8')
  let next = replaceGenerated(current, 'gpu-metrics', METRICS_DOCS_COMMAND, renderGpuMetricsReference())
  next = replaceGenerated(next, 'agent-metrics', METRICS_DOCS_COMMAND, renderAgentMetricsReference())
  t.equal(current, next, `docs/metrics.md is out of date: run ${METRICS_DOCS_COMMAND}`)
})

t.test('every registered metric is documented, and every documented one registered', async (t) => {
  const registered = new AgentMetrics().registry.getMetricsAsArray().map((m) => m.name)
  const documented = new Set([...GPU_METRICS.map((m) => m.name), ...Object.values(CATALOG).map((d) => d.name)])
  const own = registered.filter((n) => !n.startsWith(DEFAULT_METRICS_PREFIX))
  t.same(new Set(own), documented)
  t.equal(own.length, documented.size, 'no name twice')
  t.ok(registered.some((n) => n.startsWith(DEFAULT_METRICS_PREFIX)))
})

t.test('the names the brief and dcgm-exporter dashboards rely on are present', async (t) => {
  const names = new Set([...GPU_METRICS.map((m) => m.name), ...Object.values(CATALOG).map((d) => d.name)])
  for (const n of [
    'DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_MEMORY_TEMP', 'DCGM_FI_DEV_POWER_USAGE', 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
    'DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_MEM_COPY_UTIL', 'DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_SM_CLOCK',
    'DCGM_FI_DEV_MEM_CLOCK', 'DCGM_FI_DEV_XID_ERRORS', 'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL', 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL',
    'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL', 'DCGM_FI_DEV_ECC_DBE_AGG_TOTAL', 'DCGM_FI_DEV_RETIRED_SBE', 'DCGM_FI_DEV_RETIRED_DBE',
    'DCGM_FI_DEV_RETIRED_PENDING', 'DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS', 'DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS',
    'DCGM_FI_DEV_ROW_REMAP_FAILURE', 'DCGM_FI_DEV_ROW_REMAP_PENDING', 'DCGM_FI_DEV_PCIE_REPLAY_COUNTER',
    'DCGM_FI_DEV_PCIE_LINK_GEN', 'DCGM_FI_DEV_PCIE_LINK_WIDTH', 'DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL',
    'DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL', 'DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL',
    'DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL', 'DCGM_FI_DEV_CLOCKS_EVENT_REASONS', 'DCGM_FI_DEV_POWER_VIOLATION',
    'DCGM_FI_DEV_THERMAL_VIOLATION', 'DCGM_FI_DEV_PSTATE', 'shoal_gpu_lost', 'shoal_gpu_xid_total', 'shoal_health_state',
    'shoal_health_action', 'shoal_health_reasons', 'shoal_incidents_total', 'shoal_incidents_open', 'shoal_gpu_events_total',
    'shoal_policy_info', 'shoal_policy_reload_errors_total', 'shoal_policy_last_error_timestamp_seconds',
    'shoal_policy_rule_errors_total', 'shoal_policy_eval_seconds', 'shoal_gpu_sample_seconds',
  ]) t.ok(names.has(n), n)
})
