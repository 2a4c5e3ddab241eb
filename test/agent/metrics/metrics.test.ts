// agent/metrics/metrics.ts: the exact series a scrape shows, under dcgm-exporter's names and labels.
import t from 'tap'
import { create, type MessageInitShape } from '@bufbuild/protobuf'
import {
  GpuEventKind, GpuEventSchema, GpuEventSource, GpuInfoSchema, GpuSampleSchema, HealthAction, HealthState,
  IncidentSchema, NvLinkState, PolicyStatusSchema, RecoveryAction, VerdictSchema,
  type GpuEvent, type GpuInfo, type GpuSample,
} from '../../../proto/gen/shoal_pb.js'
import { AgentMetrics, INCIDENT_IDS_MAX } from '../../../agent/metrics/metrics.js'

const L0 = 'gpu="0",UUID="GPU-aaaa",pci_bus_id="00000000:18:00.0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-a"'
const L1 = 'gpu="1",UUID="GPU-bbbb",pci_bus_id="00000000:2A:00.0",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node-a"'

const info = (index: number, uuid: string, bus: string, extra: { lost?: boolean } = {}): GpuInfo => create(GpuInfoSchema, {
  index, uuid, name: 'NVIDIA H100 80GB HBM3', pciBusId: bus, driverVersion: '550.54.15', vbiosVersion: '96.00.99.00.01',
  thresholds: { slowdownC: 87, shutdownC: 92 }, pcieMaxLinkGen: 5, pcieMaxLinkWidth: 16, ...extra,
})
const gpu0 = info(0, 'GPU-aaaa', '00000000:18:00.0')
const gpu1 = info(1, 'GPU-bbbb', '00000000:2A:00.0')

const full = (): GpuSample => create(GpuSampleSchema, {
  index: 0,
  uuid: 'GPU-aaaa',
  temperatureGpuC: 45,
  temperatureMemoryC: 52,
  temperatureMarginC: 40,
  powerMw: 350_500,
  powerLimitMw: 700_000,
  energyMj: 123_456_789,
  utilizationGpuPct: 97,
  utilizationMemoryPct: 41,
  memoryUsedBytes: 1024 * 1024 * 1024 * 10.5,
  memoryTotalBytes: 1024 * 1024 * 81_559,
  clocks: { smMhz: 1980, memoryMhz: 2619 },
  performanceState: 0,
  clockEventReasons: 0x4 | 0x40,
  ecc: { volatileCorrected: 3, volatileUncorrected: 0, aggregateCorrected: 17, aggregateUncorrected: 1 },
  remappedRows: { corrected: 2, uncorrected: 1, pending: true, failure: false, banksLow: 1 },
  retiredPages: { singleBit: 0, doubleBit: 0, pending: false },
  pcie: { replayCounter: 9, linkGen: 5, linkWidth: 16 },
  nvlinks: [
    { link: 0, state: NvLinkState.ACTIVE, crcFlit: 1, crcData: 0, replay: 2, recovery: 0 },
    { link: 1, state: NvLinkState.ACTIVE, crcFlit: 4, crcData: 0, replay: 3 },
  ],
  nvlinkTotals: { crcData: 7 },
  violations: { powerNs: 2_500_000, thermalNs: 1000, hwThermalSlowdownNs: 42 },
  recoveryAction: RecoveryAction.NONE,
})

function lines (text: string): Set<string> {
  return new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')))
}

const text = async (m: AgentMetrics): Promise<string> => await m.metricsText()
const quiet = (): AgentMetrics => new AgentMetrics({ defaultMetrics: false })

t.test('every signal of a full sample, exactly as dcgm-exporter names and labels it', async (t) => {
  const m = quiet()
  m.updateGpus([gpu0], [full()], 'node-a')
  const out = await text(m)
  const got = lines(out)
  const want = [
    `DCGM_FI_DEV_GPU_TEMP{${L0}} 45`,
    `DCGM_FI_DEV_MEMORY_TEMP{${L0}} 52`,
    `DCGM_FI_DEV_GPU_TEMP_TLIMIT{${L0}} 40`,
    `DCGM_FI_DEV_SLOWDOWN_TEMP{${L0}} 87`,
    `DCGM_FI_DEV_SHUTDOWN_TEMP{${L0}} 92`,
    `DCGM_FI_DEV_POWER_USAGE{${L0}} 350.5`,
    `DCGM_FI_DEV_ENFORCED_POWER_LIMIT{${L0}} 700`,
    `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{${L0}} 123456789`,
    `DCGM_FI_DEV_GPU_UTIL{${L0}} 97`,
    `DCGM_FI_DEV_MEM_COPY_UTIL{${L0}} 41`,
    `DCGM_FI_DEV_FB_TOTAL{${L0}} 81559`,
    `DCGM_FI_DEV_FB_USED{${L0}} 10752`,
    `DCGM_FI_DEV_FB_FREE{${L0}} 70807`,
    `DCGM_FI_DEV_SM_CLOCK{${L0}} 1980`,
    `DCGM_FI_DEV_MEM_CLOCK{${L0}} 2619`,
    `DCGM_FI_DEV_PSTATE{${L0}} 0`,
    `DCGM_FI_DEV_CLOCKS_EVENT_REASONS{${L0}} 68`,
    `DCGM_FI_DEV_POWER_VIOLATION{${L0}} 2500`,
    `DCGM_FI_DEV_THERMAL_VIOLATION{${L0}} 1`,
    `DCGM_FI_DEV_CLOCKS_EVENT_REASON_HW_THERM_SLOWDOWN_NS{${L0}} 42`,
    `DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{${L0}} 3`,
    `DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{${L0}} 0`,
    `DCGM_FI_DEV_ECC_SBE_AGG_TOTAL{${L0}} 17`,
    `DCGM_FI_DEV_ECC_DBE_AGG_TOTAL{${L0}} 1`,
    `DCGM_FI_DEV_RETIRED_SBE{${L0}} 0`,
    `DCGM_FI_DEV_RETIRED_DBE{${L0}} 0`,
    `DCGM_FI_DEV_RETIRED_PENDING{${L0}} 0`,
    `DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS{${L0}} 1`,
    `DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS{${L0}} 2`,
    `DCGM_FI_DEV_ROW_REMAP_FAILURE{${L0}} 0`,
    `DCGM_FI_DEV_ROW_REMAP_PENDING{${L0}} 1`,
    `DCGM_FI_DEV_BANKS_REMAP_ROWS_AVAIL_LOW{${L0}} 1`,
    `DCGM_FI_DEV_PCIE_REPLAY_COUNTER{${L0}} 9`,
    `DCGM_FI_DEV_PCIE_LINK_GEN{${L0}} 5`,
    `DCGM_FI_DEV_PCIE_LINK_WIDTH{${L0}} 16`,
    `DCGM_FI_DEV_PCIE_MAX_LINK_GEN{${L0}} 5`,
    `DCGM_FI_DEV_PCIE_MAX_LINK_WIDTH{${L0}} 16`,
    // Totals: the field value when present (crc_data), else the sum over links (crc_flit, replay).
    `DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL{${L0}} 5`,
    `DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL{${L0}} 7`,
    `DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL{${L0}} 5`,
    `shoal_gpu_recovery_action{${L0}} 0`,
    `shoal_gpu_reset_required{${L0}} 0`,
    `shoal_gpu_unread_signals{${L0}} 0`,
    `shoal_gpu_lost{${L0}} 0`,
    `shoal_gpu_info{${L0},driver_version="550.54.15",vbios_version="96.00.99.00.01"} 1`,
    `shoal_gpu_clock_event_reason{${L0},reason="sw_power_cap"} 1`,
    `shoal_gpu_clock_event_reason{${L0},reason="hw_thermal"} 1`,
    `shoal_gpu_clock_event_reason{${L0},reason="gpu_idle"} 0`,
  ]
  for (const line of want) t.ok(got.has(line), line)
  // dcgm-exporter's Prometheus types.
  t.match(out, '# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter')
  t.match(out, '# TYPE DCGM_FI_DEV_PCIE_REPLAY_COUNTER counter')
  t.match(out, '# TYPE DCGM_FI_DEV_GPU_TEMP gauge')
  t.match(out, '# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).')
})

t.test('a signal NVML did not read has no series, never 0 or a stale value', async (t) => {
  const m = quiet()
  m.updateGpus([gpu0], [full()], 'node-a')
  const sparse = create(GpuSampleSchema, {
    index: 0, uuid: 'GPU-aaaa', temperatureGpuC: 46, unread: [{ signal: 'power', nvmlReturn: 3 }],
    nvlinks: [{ link: 0, crcFlit: 1 }, { link: 1 }],
  })
  m.updateGpus([gpu0], [sparse], 'node-a')
  const out = await text(m)
  t.ok(lines(out).has(`DCGM_FI_DEV_GPU_TEMP{${L0}} 46`))
  t.ok(lines(out).has(`shoal_gpu_unread_signals{${L0}} 1`))
  for (const name of ['DCGM_FI_DEV_POWER_USAGE', 'DCGM_FI_DEV_MEMORY_TEMP', 'DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL',
    'DCGM_FI_DEV_ROW_REMAP_PENDING', 'DCGM_FI_DEV_CLOCKS_EVENT_REASONS', 'shoal_gpu_clock_event_reason', 'DCGM_FI_DEV_POWER_VIOLATION',
    'DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL', 'DCGM_FI_DEV_PCIE_LINK_GEN', 'shoal_gpu_recovery_action']) {
    t.notMatch(out, `\n${name}{`, `${name} absent`)
  }
  // Static facts from the inventory stay.
  t.ok(lines(out).has(`DCGM_FI_DEV_SLOWDOWN_TEMP{${L0}} 87`))
  t.ok(lines(out).has(`DCGM_FI_DEV_PCIE_MAX_LINK_GEN{${L0}} 5`))
})

t.test('a lost GPU: shoal_gpu_lost 1 and nothing stale; a GPU gone from the inventory: no series', async (t) => {
  const m = quiet()
  const s1 = create(GpuSampleSchema, { index: 1, uuid: 'GPU-bbbb', temperatureGpuC: 50 })
  m.updateGpus([gpu0, gpu1], [full(), s1], 'node-a')
  t.ok(lines(await text(m)).has(`DCGM_FI_DEV_GPU_TEMP{${L1}} 50`))

  m.updateGpus([gpu0, gpu1], [full(), create(GpuSampleSchema, { index: 1, uuid: 'GPU-bbbb', lost: true })], 'node-a')
  let out = await text(m)
  t.ok(lines(out).has(`shoal_gpu_lost{${L1}} 1`))
  t.ok(lines(out).has(`shoal_gpu_lost{${L0}} 0`))
  t.notOk(lines(out).has(`DCGM_FI_DEV_GPU_TEMP{${L1}} 50`), 'no stale temperature')
  t.equal([...lines(out)].filter((l) => l.includes('GPU-bbbb') && l.startsWith('DCGM_')).length, 0, 'no DCGM series for the lost GPU')

  // Lost in the inventory too (GPU_IS_LOST when the handle was taken), with no sample at all.
  m.updateGpus([gpu0, info(1, 'GPU-bbbb', '00000000:2A:00.0', { lost: true })], [full()], 'node-a')
  t.ok(lines(await text(m)).has(`shoal_gpu_lost{${L1}} 1`))

  m.updateGpus([gpu0], [full()], 'node-a')
  out = await text(m)
  t.notMatch(out, 'GPU-bbbb', 'gone from the inventory: gone from the scrape')
})

t.test('a sample for a different GPU in that slot is not attributed', async (t) => {
  const m = quiet()
  m.updateGpus([gpu0], [create(GpuSampleSchema, { index: 0, uuid: 'GPU-other', temperatureGpuC: 99 })], 'node-a')
  t.notMatch(await text(m), 'DCGM_FI_DEV_GPU_TEMP{')
})

const event = (init: MessageInitShape<typeof GpuEventSchema>): GpuEvent => create(GpuEventSchema, { source: GpuEventSource.KMSG, ...init })

t.test('XIDs: the last-XID gauge (dcgm-exporter) and the per-code counter', async (t) => {
  const m = quiet()
  m.updateGpus([gpu0, gpu1], [], 'node-a')
  m.observeEvent(event({ kind: GpuEventKind.XID, xid: 48, gpuIndex: 0 }))
  m.observeEvent(event({ kind: GpuEventKind.XID, xid: 13, uuid: 'GPU-aaaa', source: GpuEventSource.NVML }))
  m.observeEvent(event({ kind: GpuEventKind.XID, xid: 13, uuid: 'GPU-aaaa', source: GpuEventSource.NVML }))
  m.observeEvent(event({ kind: GpuEventKind.GPU_LOST, xid: 0, gpuIndex: 1 }))
  m.observeEvent(event({ kind: GpuEventKind.XID, xid: 31 }))
  m.observeEvent(event({ kind: GpuEventKind.SXID, xid: 12028, nvswitch: 0 }))
  m.observeEvent(event({ kind: GpuEventKind.ECC_DOUBLE_BIT, gpuIndex: 0, source: GpuEventSource.NVML }))
  let got = lines(await text(m))
  for (const line of [
    `DCGM_FI_DEV_XID_ERRORS{${L0},err_code="13"} 13`,
    `DCGM_FI_DEV_XID_ERRORS{${L1},err_code="79"} 79`,
    'shoal_gpu_xid_total{gpu="0",xid="48"} 1',
    'shoal_gpu_xid_total{gpu="0",xid="13"} 2',
    'shoal_gpu_xid_total{gpu="1",xid="79"} 1',
    'shoal_gpu_xid_total{gpu="",xid="31"} 1',
    'shoal_gpu_events_total{kind="xid",source="kmsg"} 2',
    'shoal_gpu_events_total{kind="xid",source="nvml"} 2',
    'shoal_gpu_events_total{kind="gpu_lost",source="kmsg"} 1',
    'shoal_gpu_events_total{kind="sxid",source="kmsg"} 1',
    'shoal_gpu_events_total{kind="ecc_double_bit",source="nvml"} 1',
  ]) t.ok(got.has(line), line)
  t.notOk(got.has(`DCGM_FI_DEV_XID_ERRORS{${L0},err_code="48"} 48`), 'the last XID replaces the previous one')
  t.notOk([...got].some((l) => l.startsWith('shoal_gpu_xid_total') && l.includes('12028')), 'an SXID is not a GPU XID')

  // dcgm-exporter's flaw, kept for compatibility: the gauge survives sample cycles.
  m.updateGpus([gpu0, gpu1], [full()], 'node-a')
  got = lines(await text(m))
  t.ok(got.has(`DCGM_FI_DEV_XID_ERRORS{${L0},err_code="13"} 13`))
  m.updateGpus([gpu1], [], 'node-a')
  t.notMatch(await text(m), `DCGM_FI_DEV_XID_ERRORS{${L0}`, 'but not past the GPU\'s removal')
})

t.test('verdicts: a number, a one-hot, the action and the reasons', async (t) => {
  const m = quiet()
  m.observeVerdict(create(VerdictSchema, {
    state: HealthState.UNHEALTHY,
    action: HealthAction.REPLACE,
    timeMs: 1_700_000_000_500,
    reasons: [
      { rule: 'xid-79', gpuIndex: 3, incidentClass: 'gpu-lost', state: HealthState.UNHEALTHY, action: HealthAction.REPLACE },
      { rule: 'boot-gate', incidentClass: 'boot', state: HealthState.DEGRADED },
    ],
  }))
  let got = lines(await text(m))
  for (const line of [
    'shoal_health_state 3',
    'shoal_health_status{state="unhealthy"} 1',
    'shoal_health_status{state="healthy"} 0',
    'shoal_health_status{state="degraded"} 0',
    'shoal_health_status{state="unknown"} 0',
    'shoal_health_action 4',
    'shoal_health_reasons 2',
    'shoal_health_reason{rule="xid-79",gpu="3",class="gpu-lost"} 1',
    'shoal_health_reason{rule="boot-gate",gpu="",class="boot"} 1',
    'shoal_health_verdict_timestamp_seconds 1700000000.5',
  ]) t.ok(got.has(line), line)
  m.observeVerdict(create(VerdictSchema, { state: HealthState.HEALTHY, action: HealthAction.NONE, timeMs: 1_700_000_001_000 }))
  got = lines(await text(m))
  t.ok(got.has('shoal_health_state 1'))
  t.ok(got.has('shoal_health_status{state="healthy"} 1'))
  t.ok(got.has('shoal_health_status{state="unhealthy"} 0'))
  t.notOk([...got].some((l) => l.startsWith('shoal_health_reason{')), 'reasons that no longer hold are gone')
})

t.test('incidents are counted once per id; open ones are a gauge', async (t) => {
  const m = quiet()
  const inc = (id: string, open: boolean, action = HealthAction.REPLACE): void => {
    m.observeIncident(create(IncidentSchema, { id, class: 'gpu-lost', action, open }))
  }
  inc('a', true)
  inc('a', true)
  inc('a', true, HealthAction.REBOOT) // an update: still one incident, counted as first seen
  inc('b', true, HealthAction.WATCH)
  let got = lines(await text(m))
  t.ok(got.has('shoal_incidents_total{class="gpu-lost",action="replace"} 1'))
  t.ok(got.has('shoal_incidents_total{class="gpu-lost",action="watch"} 1'))
  t.notOk([...got].some((l) => l.includes('action="reboot"')))
  t.ok(got.has('shoal_incidents_open 2'))
  inc('a', false)
  inc('a', false)
  got = lines(await text(m))
  t.ok(got.has('shoal_incidents_open 1'))
  t.ok(got.has('shoal_incidents_total{class="gpu-lost",action="replace"} 1'))

  // Bounded memory: after INCIDENT_IDS_MAX others, the first id is forgotten (and would count again).
  for (let i = 0; i < INCIDENT_IDS_MAX; i++) inc(`x${i}`, false, HealthAction.NONE)
  inc('b', false, HealthAction.WATCH)
  got = lines(await text(m))
  t.ok(got.has('shoal_incidents_total{class="gpu-lost",action="watch"} 2'))
  t.ok(got.has('shoal_incidents_open 0'))
})

t.test('policy: info, rules, reload errors counted once each, failing flag', async (t) => {
  const m = quiet()
  const good = create(PolicyStatusSchema, { name: 'default', digest: 'abc123def456', source: 'built-in', rules: 12, loadedMs: 1000 })
  m.observePolicy(good)
  let got = lines(await text(m))
  t.ok(got.has('shoal_policy_info{name="default",digest="abc123def456",source="built-in"} 1'))
  t.ok(got.has('shoal_policy_rules 12'))
  t.ok(got.has('shoal_policy_reload_errors_total 0'))
  t.ok(got.has('shoal_policy_reload_failing 0'))
  t.ok(got.has('shoal_policy_last_error_timestamp_seconds 0'))

  const failed = create(PolicyStatusSchema, { ...good, lastError: 'policy.yaml: rules[2].when: syntax error', lastErrorMs: 5_000 })
  m.observePolicy(failed)
  m.observePolicy(failed) // the same status seen twice is one failure
  m.observePolicy(create(PolicyStatusSchema, { ...failed, lastErrorMs: 9_000 }))
  got = lines(await text(m))
  t.ok(got.has('shoal_policy_reload_errors_total 2'))
  t.ok(got.has('shoal_policy_reload_failing 1'))
  t.ok(got.has('shoal_policy_last_error_timestamp_seconds 9'))

  m.observePolicy(create(PolicyStatusSchema, { name: 'strict', digest: '0123456789ab', source: '/etc/shoal/policy.yaml', rules: 3 }))
  got = lines(await text(m))
  t.ok(got.has('shoal_policy_info{name="strict",digest="0123456789ab",source="/etc/shoal/policy.yaml"} 1'))
  t.notOk([...got].some((l) => l.includes('name="default"')), 'one policy in force')
  t.ok(got.has('shoal_policy_reload_failing 0'))
  t.ok(got.has('shoal_policy_last_error_timestamp_seconds 9'), 'the last failure is remembered')
})

t.test('rule errors, timings, journal sequence', async (t) => {
  const m = quiet()
  m.observeRuleErrors('thermal-hot', 2)
  m.observeRuleErrors('thermal-hot', 1)
  m.observePolicyEval(0.0003)
  m.observeSampleCycle(0.0004)
  m.observeSampleCycle(0.002)
  m.setJournalSeq(42)
  const got = lines(await text(m))
  t.ok(got.has('shoal_policy_rule_errors_total{rule="thermal-hot"} 3'))
  t.ok(got.has('shoal_policy_eval_seconds_count 1'))
  t.ok(got.has('shoal_policy_eval_seconds_bucket{le="0.0005"} 1'))
  t.ok(got.has('shoal_policy_eval_seconds_bucket{le="0.00025"} 0'))
  t.ok(got.has('shoal_gpu_sample_seconds_count 2'))
  t.ok(got.has('shoal_gpu_sample_seconds_bucket{le="0.001"} 1'))
  t.ok(got.has('shoal_journal_seq 42'))
  t.throws(() => { m.observePolicyEval(-1) }, { name: 'AssertionError' })
  t.throws(() => { m.observeSampleCycle(Number.NaN) }, { name: 'AssertionError' })
  t.throws(() => { m.observeRuleErrors('r', 1.5) }, { name: 'AssertionError' })
})

t.test('a private registry with the process metrics, prefixed', async (t) => {
  const a = new AgentMetrics()
  const b = new AgentMetrics()
  a.setJournalSeq(1)
  b.setJournalSeq(2)
  t.ok(lines(await a.metricsText()).has('shoal_journal_seq 1'))
  t.ok(lines(await b.metricsText()).has('shoal_journal_seq 2'), 'two instances do not share series')
  t.match(await a.metricsText(), /\nshoal_agent_process_cpu_seconds_total \d/)
  t.notMatch(await quiet().metricsText(), 'shoal_agent_')
  t.match(a.contentType, /^text\/plain; version=0\.0\.4/)
})
