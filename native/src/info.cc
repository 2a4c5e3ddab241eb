#include "device.h"

namespace shoal {

std::string ReadUuid(Reader& r) {
  char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {0};
  if (!r.Ok("uuid", NVML_CALL(r.lib(), nvmlDeviceGetUUID, r.device(), uuid, sizeof uuid))) return "";
  return FromBuffer(uuid, sizeof uuid);
}

static void ReadStrings(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = {0};
  if (r.Ok("name", NVML_CALL(lib, nvmlDeviceGetName, r.device(), name, sizeof name))) {
    o.Set("name", FromBuffer(name, sizeof name));
  }
  char serial[NVML_DEVICE_SERIAL_BUFFER_SIZE] = {0};
  if (r.Ok("serial", NVML_CALL(lib, nvmlDeviceGetSerial, r.device(), serial, sizeof serial))) {
    o.Set("serial", FromBuffer(serial, sizeof serial));
  }
  char vbios[NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE] = {0};
  if (r.Ok("vbios", NVML_CALL(lib, nvmlDeviceGetVbiosVersion, r.device(), vbios, sizeof vbios))) {
    o.Set("vbiosVersion", FromBuffer(vbios, sizeof vbios));
  }
}

static void ReadPci(Reader& r, Napi::Object& o) {
  nvmlPciInfo_t pci{};
  if (!r.Ok("pci", NVML_CALL(r.lib(), nvmlDeviceGetPciInfo_v3, r.device(), &pci))) return;
  Napi::Env env = r.env();
  o.Set("pciBusId", FromBuffer(pci.busId, sizeof pci.busId));
  Napi::Object addr = Napi::Object::New(env);
  addr.Set("domain", Num(env, pci.domain));
  addr.Set("bus", Num(env, pci.bus));
  addr.Set("device", Num(env, pci.device));
  addr.Set("function", Num(env, 0));
  o.Set("pci", addr);
  o.Set("pciDeviceId", Num(env, pci.pciDeviceId));
}

static void ReadLimits(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  Napi::Env env = r.env();
  static const KeyedSignal kThresholds[] = {
      {NVML_TEMPERATURE_THRESHOLD_SHUTDOWN, "shutdownC", "threshold.shutdown"},
      {NVML_TEMPERATURE_THRESHOLD_SLOWDOWN, "slowdownC", "threshold.slowdown"},
      {NVML_TEMPERATURE_THRESHOLD_MEM_MAX, "memoryMaxC", "threshold.memory_max"},
      {NVML_TEMPERATURE_THRESHOLD_GPU_MAX, "gpuMaxC", "threshold.gpu_max"},
  };
  Napi::Object thresholds = Napi::Object::New(env);
  ReadKeyed(r, thresholds, lib.nvmlDeviceGetTemperatureThreshold, kThresholds);
  o.Set("thresholds", thresholds);

  static const KeyedSignal kClocks[] = {
      {NVML_CLOCK_GRAPHICS, "graphicsMhz", "max_clock.graphics"},
      {NVML_CLOCK_SM, "smMhz", "max_clock.sm"},
      {NVML_CLOCK_MEM, "memoryMhz", "max_clock.memory"},
      {NVML_CLOCK_VIDEO, "videoMhz", "max_clock.video"},
  };
  Napi::Object clocks = Napi::Object::New(env);
  ReadKeyed(r, clocks, lib.nvmlDeviceGetMaxClockInfo, kClocks);
  o.Set("maxClocks", clocks);

  unsigned int v = 0;
  if (r.Ok("pcie.max_link_gen", NVML_CALL(lib, nvmlDeviceGetMaxPcieLinkGeneration, r.device(), &v))) {
    o.Set("pcieMaxLinkGen", Num(env, v));
  }
  if (r.Ok("pcie.max_link_width", NVML_CALL(lib, nvmlDeviceGetMaxPcieLinkWidth, r.device(), &v))) {
    o.Set("pcieMaxLinkWidth", Num(env, v));
  }
  if (r.Ok("power.management_limit",
           NVML_CALL(lib, nvmlDeviceGetPowerManagementLimit, r.device(), &v))) {
    o.Set("powerManagementLimitMw", Num(env, v));
  }
  nvmlMemory_t mem{};
  if (r.Ok("memory.total", NVML_CALL(lib, nvmlDeviceGetMemoryInfo, r.device(), &mem))) {
    o.Set("memoryTotalBytes", Num(env, static_cast<double>(mem.total)));
  }
}

static void ReadModes(Reader& r, Napi::Object& o) {
  const Library& lib = r.lib();
  Napi::Env env = r.env();
  nvmlEnableState_t mode = 0, pending = 0;
  if (r.Ok("persistence_mode", NVML_CALL(lib, nvmlDeviceGetPersistenceMode, r.device(), &mode))) {
    o.Set("persistenceMode", Napi::Boolean::New(env, mode == NVML_FEATURE_ENABLED));
  }
  if (r.Ok("ecc_mode", NVML_CALL(lib, nvmlDeviceGetEccMode, r.device(), &mode, &pending))) {
    o.Set("eccEnabled", Napi::Boolean::New(env, mode == NVML_FEATURE_ENABLED));
    o.Set("eccPending", Napi::Boolean::New(env, pending == NVML_FEATURE_ENABLED));
  }
  unsigned int mig = 0, migPending = 0;
  if (r.Ok("mig_mode", NVML_CALL(lib, nvmlDeviceGetMigMode, r.device(), &mig, &migPending))) {
    o.Set("migMode", Num(env, mig));
  }
  nvmlReturn_t inforom = NVML_CALL(lib, nvmlDeviceValidateInforom, r.device());
  if (inforom == NVML_SUCCESS || inforom == NVML_ERROR_CORRUPTED_INFOROM) {
    o.Set("inforomValid", Napi::Boolean::New(env, inforom == NVML_SUCCESS));
  } else {
    r.Unread("inforom", inforom);
  }
  unsigned long long events = 0;
  if (r.Ok("supported_event_types",
           NVML_CALL(lib, nvmlDeviceGetSupportedEventTypes, r.device(), &events))) {
    o.Set("supportedEventTypes", Num(env, static_cast<double>(events)));
  }
  unsigned long long reasons = 0;
  if (r.Ok("supported_clock_event_reasons",
           NVML_CALL(lib, nvmlDeviceGetSupportedClocksEventReasons, r.device(), &reasons))) {
    o.Set("supportedClockEventReasons", Num(env, static_cast<double>(reasons)));
  }
  // Links that answer NvLinkState exist; absent links answer NOT_SUPPORTED, which is not a fault.
  uint32_t links = 0;
  for (unsigned int link = 0; link < NVML_NVLINK_MAX_LINKS; link++) {
    nvmlEnableState_t active = 0;
    if (NVML_CALL(lib, nvmlDeviceGetNvLinkState, r.device(), link, &active) == NVML_SUCCESS) links++;
  }
  o.Set("nvlinkCount", Num(env, links));
}

Napi::Object ReadInfo(Reader& r, uint32_t index) {
  Napi::Object o = Napi::Object::New(r.env());
  o.Set("index", Num(r.env(), index));
  o.Set("uuid", ReadUuid(r));
  if (!r.lost()) ReadStrings(r, o);
  if (!r.lost()) ReadPci(r, o);
  if (!r.lost()) ReadLimits(r, o);
  if (!r.lost()) ReadModes(r, o);
  o.Set("lost", Napi::Boolean::New(r.env(), r.lost()));
  o.Set("unread", r.unread());
  return o;
}

}  // namespace shoal
