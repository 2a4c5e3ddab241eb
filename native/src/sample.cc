#include <cmath>
#include <string>

#include "device.h"

namespace shoal {

namespace {


void ReadThermal(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  int celsius = 0;
  const char* call = nullptr;
  if (r.Ok("temperature.gpu", GpuTemperature(lib, r.device(), &celsius, &call))) {
    r.Put(o, "temperatureGpuC", celsius);
  }
  nvmlMarginTemperature_t m{};
  m.version = nvmlMarginTemperature_v1;
  if (r.Ok("temperature.margin", NVML_CALL(lib, nvmlDeviceGetMarginTemperature, r.device(), &m))) {
    r.Put(o, "temperatureMarginC", m.marginTemperature);
  }
}

void ReadPower(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  unsigned int mw = 0;
  if (r.Ok("power.usage", NVML_CALL(lib, nvmlDeviceGetPowerUsage, r.device(), &mw))) {
    r.Put(o, "powerMw", mw);
  }
  if (r.Ok("power.limit", NVML_CALL(lib, nvmlDeviceGetEnforcedPowerLimit, r.device(), &mw))) {
    r.Put(o, "powerLimitMw", mw);
  }
  unsigned long long mj = 0;
  if (r.Ok("power.energy", NVML_CALL(lib, nvmlDeviceGetTotalEnergyConsumption, r.device(), &mj))) {
    r.Put(o, "energyMj", static_cast<double>(mj));
  }
}

void ReadMemory(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  nvmlMemory_v2_t m2{};
  m2.version = nvmlMemory_v2;
  nvmlReturn_t rc = NVML_CALL(lib, nvmlDeviceGetMemoryInfo_v2, r.device(), &m2);
  if (rc == NVML_SUCCESS) {
    r.Put(o, "memoryUsedBytes", static_cast<double>(m2.used));
    r.Put(o, "memoryTotalBytes", static_cast<double>(m2.total));
    return;
  }
  if (rc != NVML_ERROR_FUNCTION_NOT_FOUND) {
    r.Unread("memory", rc);
    return;
  }
  nvmlMemory_t m{};
  if (r.Ok("memory", NVML_CALL(lib, nvmlDeviceGetMemoryInfo, r.device(), &m))) {
    r.Put(o, "memoryUsedBytes", static_cast<double>(m.used));
    r.Put(o, "memoryTotalBytes", static_cast<double>(m.total));
  }
}

void ReadActivity(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  nvmlUtilization_t u{};
  if (r.Ok("utilization", NVML_CALL(lib, nvmlDeviceGetUtilizationRates, r.device(), &u))) {
    r.Put(o, "utilizationGpuPct", u.gpu);
    r.Put(o, "utilizationMemoryPct", u.memory);
  }
  static const KeyedSignal kClocks[] = {
      {NVML_CLOCK_GRAPHICS, "graphicsMhz", "clock.graphics"},
      {NVML_CLOCK_SM, "smMhz", "clock.sm"},
      {NVML_CLOCK_MEM, "memoryMhz", "clock.memory"},
      {NVML_CLOCK_VIDEO, "videoMhz", "clock.video"},
  };
  Napi::Object clocks = r.Message("shoal.v1.Clocks");
  ReadKeyed(r, clocks, lib.nvmlDeviceGetClockInfo, kClocks);
  r.Put(o, "clocks", clocks);
  nvmlPstates_t p = NVML_PSTATE_UNKNOWN;
  if (r.Ok("performance_state", NVML_CALL(lib, nvmlDeviceGetPerformanceState, r.device(), &p))) {
    r.Put(o, "performanceState", p);
  }
  // The v535 name first; the deprecated throttle-reasons call has the same bits.
  unsigned long long reasons = 0;
  nvmlReturn_t rc = NVML_CALL(lib, nvmlDeviceGetCurrentClocksEventReasons, r.device(), &reasons);
  if (rc == NVML_ERROR_FUNCTION_NOT_FOUND) {
    rc = NVML_CALL(lib, nvmlDeviceGetCurrentClocksThrottleReasons, r.device(), &reasons);
  }
  if (r.Ok("clock_event_reasons", rc)) r.Put(o, "clockEventReasons", static_cast<double>(reasons));
}

void ReadEcc(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  Napi::Object ecc = r.Message("shoal.v1.EccCounts");
  static const struct { int type, counter; const char* key; const char* signal; } kTotals[] = {
      {NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_VOLATILE_ECC, "volatileCorrected", "ecc.volatile_corrected"},
      {NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, "volatileUncorrected", "ecc.volatile_uncorrected"},
      {NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_AGGREGATE_ECC, "aggregateCorrected", "ecc.aggregate_corrected"},
      {NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_AGGREGATE_ECC, "aggregateUncorrected", "ecc.aggregate_uncorrected"},
  };
  for (const auto& e : kTotals) {
    unsigned long long n = 0;
    if (r.Ok(e.signal, NVML_CALL(lib, nvmlDeviceGetTotalEccErrors, r.device(), e.type, e.counter, &n))) {
      r.Put(ecc, e.key, static_cast<double>(n));
    }
  }
  static const struct { int type, counter, location; const char* key; const char* signal; } kLoc[] = {
      {NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, NVML_MEMORY_LOCATION_DRAM, "dramVolatileUncorrected", "ecc.dram_volatile_uncorrected"},
      {NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_AGGREGATE_ECC, NVML_MEMORY_LOCATION_DRAM, "dramAggregateUncorrected", "ecc.dram_aggregate_uncorrected"},
      {NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_AGGREGATE_ECC, NVML_MEMORY_LOCATION_DRAM, "dramAggregateCorrected", "ecc.dram_aggregate_corrected"},
      {NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_VOLATILE_ECC, NVML_MEMORY_LOCATION_SRAM, "sramVolatileUncorrected", "ecc.sram_volatile_uncorrected"},
      {NVML_MEMORY_ERROR_TYPE_UNCORRECTED, NVML_AGGREGATE_ECC, NVML_MEMORY_LOCATION_SRAM, "sramAggregateUncorrected", "ecc.sram_aggregate_uncorrected"},
      {NVML_MEMORY_ERROR_TYPE_CORRECTED, NVML_AGGREGATE_ECC, NVML_MEMORY_LOCATION_SRAM, "sramAggregateCorrected", "ecc.sram_aggregate_corrected"},
  };
  for (const auto& e : kLoc) {
    unsigned long long n = 0;
    if (r.Ok(e.signal, NVML_CALL(lib, nvmlDeviceGetMemoryErrorCounter, r.device(), e.type,
                                 e.counter, e.location, &n))) {
      r.Put(ecc, e.key, static_cast<double>(n));
    }
  }
  r.Put(o, "ecc", ecc);
}

void ReadRemap(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  Napi::Object rows = r.Message("shoal.v1.RemappedRows");
  unsigned int corr = 0, unc = 0, pending = 0, failure = 0;
  nvmlReturn_t rc = NVML_CALL(lib, nvmlDeviceGetRemappedRows, r.device(), &corr, &unc, &pending, &failure);
  if (rc == NVML_ERROR_FUNCTION_NOT_FOUND) {
    nvmlRemappedRowsInfo_v2_t v2{};
    rc = NVML_CALL(lib, nvmlDeviceGetRemappedRows_v2, r.device(), &v2);
    corr = v2.corrActiveRemaps + v2.corrInactiveRemaps;
    unc = v2.uncActiveRemaps + v2.uncInactiveRemaps;
    pending = v2.bPending;
    failure = v2.bFailureOccurred;
  }
  if (r.Ok("remapped_rows", rc)) {
    r.Put(rows, "corrected", corr);
    r.Put(rows, "uncorrected", unc);
    r.PutBool(rows, "pending", pending != 0);
    r.PutBool(rows, "failure", failure != 0);
  }
  nvmlRowRemapperHistogramValues_t h{};
  if (r.Ok("remapped_rows.histogram", NVML_CALL(lib, nvmlDeviceGetRowRemapperHistogram, r.device(), &h))) {
    r.Put(rows, "banksMax", h.max);
    r.Put(rows, "banksHigh", h.high);
    r.Put(rows, "banksPartial", h.partial);
    r.Put(rows, "banksLow", h.low);
    r.Put(rows, "banksNone", h.none);
  }
  r.Put(o, "remappedRows", rows);

  Napi::Object pages = r.Message("shoal.v1.RetiredPages");
  static const struct { int cause; const char* key; const char* signal; } kCauses[] = {
      {NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS, "singleBit", "retired_pages.single_bit"},
      {NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR, "doubleBit", "retired_pages.double_bit"},
  };
  for (const auto& c : kCauses) {
    unsigned int count = 0;  // a zero-sized query: NVML answers with the count only
    rc = NVML_CALL(lib, nvmlDeviceGetRetiredPages, r.device(), c.cause, &count, nullptr);
    if (rc == NVML_ERROR_INSUFFICIENT_SIZE) rc = NVML_SUCCESS;
    if (r.Ok(c.signal, rc)) r.Put(pages, c.key, count);
  }
  nvmlEnableState_t retiredPending = 0;
  if (r.Ok("retired_pages.pending",
           NVML_CALL(lib, nvmlDeviceGetRetiredPagesPendingStatus, r.device(), &retiredPending))) {
    r.PutBool(pages, "pending", retiredPending == NVML_FEATURE_ENABLED);
  }
  r.Put(o, "retiredPages", pages);
}

Napi::Object ReadPcie(Reader& r) {
  const Library& lib = r.lib();
  Napi::Object pcie = r.Message("shoal.v1.PcieState");
  unsigned int v = 0;
  if (r.Ok("pcie.replay_counter", NVML_CALL(lib, nvmlDeviceGetPcieReplayCounter, r.device(), &v))) {
    r.Put(pcie, "replayCounter", v);
  }
  if (r.Ok("pcie.link_gen", NVML_CALL(lib, nvmlDeviceGetCurrPcieLinkGeneration, r.device(), &v))) {
    r.Put(pcie, "linkGen", v);
  }
  if (r.Ok("pcie.link_width", NVML_CALL(lib, nvmlDeviceGetCurrPcieLinkWidth, r.device(), &v))) {
    r.Put(pcie, "linkWidth", v);
  }
  if (r.Ok("pcie.max_link_gen", NVML_CALL(lib, nvmlDeviceGetMaxPcieLinkGeneration, r.device(), &v))) {
    r.Put(pcie, "maxLinkGen", v);
  }
  if (r.Ok("pcie.max_link_width", NVML_CALL(lib, nvmlDeviceGetMaxPcieLinkWidth, r.device(), &v))) {
    r.Put(pcie, "maxLinkWidth", v);
  }
  return pcie;
}

// Links go into a caller-owned table, not JS objects: 18 links x 7 fields built property by
// property in C++ cost a third of a sample; the TypeScript face builds them from the table.
void ReadNvLinks(Reader& r, double* table) {
  const Library& lib = r.lib();
  static const struct { int counter; const char* signal; } kCounters[kNvLinkCounters] = {
      {NVML_NVLINK_ERROR_DL_REPLAY, "nvlink.replay"},
      {NVML_NVLINK_ERROR_DL_RECOVERY, "nvlink.recovery"},
      {NVML_NVLINK_ERROR_DL_CRC_FLIT, "nvlink.crc_flit"},
      {NVML_NVLINK_ERROR_DL_CRC_DATA, "nvlink.crc_data"},
      {NVML_NVLINK_ERROR_DL_ECC_DATA, "nvlink.ecc_data"},
  };
  bool reported[kNvLinkCounters] = {false};  // one unread entry per counter, not per link
  uint32_t n = 0;
  for (unsigned int link = 0; link < NVML_NVLINK_MAX_LINKS && !r.lost(); link++) {
    nvmlEnableState_t active = 0;
    nvmlReturn_t rc = NVML_CALL(lib, nvmlDeviceGetNvLinkState, r.device(), link, &active);
    if (rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_INVALID_ARGUMENT) continue;  // absent
    if (!r.Ok("nvlink.state", rc)) break;
    double* row = table + 1 + n * kNvLinkRow;
    row[0] = link;
    row[1] = active == NVML_FEATURE_ENABLED ? 1 : 0;
    for (int i = 0; i < kNvLinkCounters; i++) {
      unsigned long long value = 0;
      rc = NVML_CALL(lib, nvmlDeviceGetNvLinkErrorCounter, r.device(), link, kCounters[i].counter, &value);
      row[2 + i] = rc == NVML_SUCCESS ? static_cast<double>(value) : std::nan("");
      if (rc != NVML_SUCCESS && !reported[i]) {
        reported[i] = true;
        r.Unread(kCounters[i].signal, rc);
      }
    }
    n++;
  }
  table[0] = n;
}

// Field values: one batched call for everything NVML only exposes as fields.
enum Group { kTop, kPcie, kViolations, kNvLinkTotals };
struct Field { unsigned int id; Group group; const char* key; const char* signal; };
const Field kFields[] = {
    {NVML_FI_DEV_MEMORY_TEMP, kTop, "temperatureMemoryC", "temperature.memory"},
    {NVML_FI_DEV_GET_GPU_RECOVERY_ACTION, kTop, "recoveryAction", "recovery_action"},
    {NVML_FI_DEV_PCIE_REPLAY_ROLLOVER_COUNTER, kPcie, "replayRollover", "pcie.replay_rollover"},
    {NVML_FI_DEV_PCIE_COUNT_CORRECTABLE_ERRORS, kPcie, "correctableErrors", "pcie.correctable_errors"},
    {NVML_FI_DEV_PCIE_COUNT_NAKS_RECEIVED, kPcie, "naksReceived", "pcie.naks_received"},
    {NVML_FI_DEV_PCIE_COUNT_RECEIVER_ERROR, kPcie, "receiverErrors", "pcie.receiver_errors"},
    {NVML_FI_DEV_PCIE_COUNT_BAD_TLP, kPcie, "badTlp", "pcie.bad_tlp"},
    {NVML_FI_DEV_PCIE_COUNT_NAKS_SENT, kPcie, "naksSent", "pcie.naks_sent"},
    {NVML_FI_DEV_PCIE_COUNT_BAD_DLLP, kPcie, "badDllp", "pcie.bad_dllp"},
    {NVML_FI_DEV_PCIE_COUNT_NON_FATAL_ERROR, kPcie, "nonFatalErrors", "pcie.non_fatal_errors"},
    {NVML_FI_DEV_PCIE_COUNT_FATAL_ERROR, kPcie, "fatalErrors", "pcie.fatal_errors"},
    {NVML_FI_DEV_PCIE_COUNT_UNSUPPORTED_REQ, kPcie, "unsupportedRequests", "pcie.unsupported_requests"},
    {NVML_FI_DEV_PCIE_COUNT_LCRC_ERROR, kPcie, "lcrcErrors", "pcie.lcrc_errors"},
    {NVML_FI_DEV_PERF_POLICY_POWER, kViolations, "powerNs", "violations.power"},
    {NVML_FI_DEV_PERF_POLICY_THERMAL, kViolations, "thermalNs", "violations.thermal"},
    {NVML_FI_DEV_PERF_POLICY_SYNC_BOOST, kViolations, "syncBoostNs", "violations.sync_boost"},
    {NVML_FI_DEV_PERF_POLICY_BOARD_LIMIT, kViolations, "boardLimitNs", "violations.board_limit"},
    {NVML_FI_DEV_PERF_POLICY_RELIABILITY, kViolations, "reliabilityNs", "violations.reliability"},
    {NVML_FI_DEV_CLOCKS_EVENT_REASON_SW_THERM_SLOWDOWN, kViolations, "swThermalSlowdownNs", "violations.sw_thermal_slowdown"},
    {NVML_FI_DEV_CLOCKS_EVENT_REASON_HW_THERM_SLOWDOWN, kViolations, "hwThermalSlowdownNs", "violations.hw_thermal_slowdown"},
    {NVML_FI_DEV_CLOCKS_EVENT_REASON_HW_POWER_BRAKE_SLOWDOWN, kViolations, "hwPowerBrakeSlowdownNs", "violations.hw_power_brake_slowdown"},
    {NVML_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL, kNvLinkTotals, "crcFlit", "nvlink_totals.crc_flit"},
    {NVML_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL, kNvLinkTotals, "crcData", "nvlink_totals.crc_data"},
    {NVML_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL, kNvLinkTotals, "replay", "nvlink_totals.replay"},
    {NVML_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL, kNvLinkTotals, "recovery", "nvlink_totals.recovery"},
    {NVML_FI_DEV_NVLINK_ECC_DATA_ERROR_COUNT_TOTAL, kNvLinkTotals, "eccData", "nvlink_totals.ecc_data"},
    {NVML_FI_DEV_NVLINK_COUNT_LINK_RECOVERY_SUCCESSFUL_EVENTS, kNvLinkTotals, "recoverySuccessful", "nvlink_totals.recovery_successful"},
    {NVML_FI_DEV_NVLINK_COUNT_LINK_RECOVERY_FAILED_EVENTS, kNvLinkTotals, "recoveryFailed", "nvlink_totals.recovery_failed"},
    {NVML_FI_DEV_NVLINK_COUNT_EFFECTIVE_ERRORS, kNvLinkTotals, "effectiveErrors", "nvlink_totals.effective_errors"},
    {NVML_FI_DEV_NVLINK_COUNT_SYMBOL_ERRORS, kNvLinkTotals, "symbolErrors", "nvlink_totals.symbol_errors"},
};
constexpr int kFieldCount = sizeof kFields / sizeof kFields[0];

// Deprecated violation call for drivers whose perf-policy fields do not answer.
void ViolationFallback(Reader& r, Napi::Object& violations, const Field& f, nvmlReturn_t fieldRc) {
  int policy = static_cast<int>(f.id) - NVML_FI_DEV_PERF_POLICY_POWER;  // 74..79 -> 0..5
  nvmlViolationTime_t v{};
  nvmlReturn_t rc = f.id <= NVML_FI_DEV_PERF_POLICY_RELIABILITY
                        ? NVML_CALL(r.lib(), nvmlDeviceGetViolationStatus, r.device(), policy, &v)
                        : fieldRc;
  if (rc == NVML_SUCCESS) {
    r.Put(violations, f.key, static_cast<double>(v.violationTime));
  } else {
    r.Unread(f.signal, fieldRc);
  }
}

void ReadFields(Reader& r, Napi::Object& o, Napi::Object& pcie) {
  nvmlFieldValue_t values[kFieldCount] = {};
  for (int i = 0; i < kFieldCount; i++) values[i].fieldId = kFields[i].id;
  nvmlReturn_t batch = NVML_CALL(r.lib(), nvmlDeviceGetFieldValues, r.device(), kFieldCount, values);
  Napi::Object violations = r.Message("shoal.v1.Violations");
  Napi::Object totals = r.Message("shoal.v1.NvLinkTotals");
  for (int i = 0; i < kFieldCount; i++) {
    const Field& f = kFields[i];
    Napi::Object target = f.group == kTop ? o : f.group == kPcie ? pcie
                          : f.group == kViolations ? violations : totals;
    nvmlReturn_t rc = batch != NVML_SUCCESS ? batch : values[i].nvmlReturn;
    if (rc == NVML_SUCCESS) {
      r.Put(target, f.key, FieldNumber(values[i]));
    } else if (f.group == kViolations) {
      ViolationFallback(r, violations, f, rc);
    } else {
      r.Unread(f.signal, rc);
    }
  }
  r.Put(o, "violations", violations);
  r.Put(o, "nvlinkTotals", totals);
}

void ReadFabricAndRepair(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  nvmlGpuFabricInfoV_t fab{};
  fab.version = nvmlGpuFabricInfo_v3;
  if (r.Ok("fabric", NVML_CALL(lib, nvmlDeviceGetGpuFabricInfoV, r.device(), &fab))) {
    Napi::Object f = r.Message("shoal.v1.Fabric");
    r.Put(f, "state", fab.state);
    r.Put(f, "status", fab.status);
    r.Put(f, "healthMask", fab.healthMask);
    r.Put(f, "cliqueId", fab.cliqueId);
    r.Put(o, "fabric", f);
  }
  nvmlRepairStatus_t rep{};
  rep.version = nvmlRepairStatus_v1;
  if (r.Ok("repair_status", NVML_CALL(lib, nvmlDeviceGetRepairStatus, r.device(), &rep))) {
    r.PutBool(o, "channelRepairPending", rep.bChannelRepairPending != 0);
    r.PutBool(o, "tpcRepairPending", rep.bTpcRepairPending != 0);
  }
}

}  // namespace

nvmlReturn_t GpuTemperature(const Library& lib, nvmlDevice_t device, int* celsius, const char** call) {
  nvmlTemperature_t t{};
  t.version = nvmlTemperature_v1;
  t.sensorType = NVML_TEMPERATURE_GPU;
  *call = "nvmlDeviceGetTemperatureV";
  nvmlReturn_t rc = NVML_CALL(lib, nvmlDeviceGetTemperatureV, device, &t);
  *celsius = t.temperature;
  if (rc != NVML_ERROR_FUNCTION_NOT_FOUND) return rc;
  unsigned int c = 0;
  *call = "nvmlDeviceGetTemperature";
  rc = NVML_CALL(lib, nvmlDeviceGetTemperature, device, NVML_TEMPERATURE_GPU, &c);
  *celsius = static_cast<int>(c);
  return rc;
}

Napi::Object ReadSample(Reader& r, uint32_t index, double* nvlinks) {
  Napi::Env env = r.env();
  Napi::Object o = r.Message("shoal.v1.GpuSample");
  r.Put(o, "index", index);
  r.Put(o, "uuid", ReadUuid(r));
  r.Put(o, "nvlinks", Napi::Array::New(env));  // repeated: present even when sampling stops early
  // Each group is skipped once the GPU is known lost: its calls would only repeat GPU_IS_LOST.
  void (*const groups[])(Reader&, Napi::Object&) = {ReadThermal, ReadPower, ReadMemory,
                                                     ReadActivity, ReadEcc, ReadRemap,
                                                     ReadFabricAndRepair};
  for (auto group : groups) {
    if (!r.lost()) group(r, o);
  }
  nvlinks[0] = 0;
  if (!r.lost()) ReadNvLinks(r, nvlinks);
  if (!r.lost()) {
    Napi::Object pcie = ReadPcie(r);
    if (!r.lost()) ReadFields(r, o, pcie);
    r.Put(o, "pcie", pcie);
  }
  r.PutBool(o, "lost", r.lost());
  r.PutBool(o, "resetRequired", r.resetRequired());
  r.Put(o, "unread", r.unread());
  return o;
}

}  // namespace shoal
