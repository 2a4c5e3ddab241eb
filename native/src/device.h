// What the addon reads from one GPU: its inventory (once per init) and a sample (every poll).
#ifndef SHOAL_DEVICE_H
#define SHOAL_DEVICE_H

#include "reader.h"

namespace shoal {

// GpuInfo without the system-wide versions (the TypeScript face adds those from system()).
Napi::Object ReadInfo(Reader& r, uint32_t index);

// GpuSample without time_ms (the caller's clock stamps it).
Napi::Object ReadSample(Reader& r, uint32_t index);

// Device UUID, or "" when it cannot be read.
std::string ReadUuid(Reader& r);

}  // namespace shoal

#endif
