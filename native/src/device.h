// What the addon reads from one GPU: its inventory (once per init) and a sample (every poll).
#ifndef SHOAL_DEVICE_H
#define SHOAL_DEVICE_H

#include "reader.h"

namespace shoal {

// GpuInfo without the system-wide versions (the TypeScript face adds those from system()).
Napi::Object ReadInfo(Reader& r, uint32_t index);

// GPU temperature: TemperatureV, which replaces the call deprecated in NVML 13, else the older call
// when the driver lacks it. `call` names the call whose code is returned.
nvmlReturn_t GpuTemperature(const Library& lib, nvmlDevice_t device, int* celsius, const char** call);

// NVLink table written by ReadSample: [links, then per link: link, state, replay, recovery,
// crc_flit, crc_data, ecc_data], NaN for a counter not read.
constexpr int kNvLinkCounters = 5;
constexpr int kNvLinkRow = 2 + kNvLinkCounters;
constexpr size_t kNvLinkTableSize = 1 + NVML_NVLINK_MAX_LINKS * kNvLinkRow;

// GpuSample without time_ms (the caller's clock stamps it) and with nvlinks empty: the links go
// into `nvlinks` (kNvLinkTableSize doubles).
Napi::Object ReadSample(Reader& r, uint32_t index, double* nvlinks);

// Device UUID, or "" when it cannot be read.
std::string ReadUuid(Reader& r);

}  // namespace shoal

#endif
