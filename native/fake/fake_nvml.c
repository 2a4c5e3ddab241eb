/*
 * A scriptable fake libnvidia-ml.so.1: every call of native/src/nvml_symbols.h, answered from the
 * state file named by $SHOAL_FAKE_NVML_STATE (or a built-in DGX H100). docs/fake-nvml.md is the
 * contract; native/fake/machine.ts writes the files.
 *
 * Threads: the addon samples on one thread while another blocks in nvmlEventSetWait_v2. Parsed
 * states are immutable snapshots behind an atomic pointer, so the per-GPU calls take no lock and
 * make no syscall; only nvmlInit_v2, nvmlDeviceGetCount_v2 and the wait's polling steps stat the
 * file and, when it changed, parse it and swap the pointer under g_reload_mu.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_state.h"
#include "nvml_symbols.h"
#include "nvml_types.h"

/* Every export, declared from the generated table: a definition whose prototype differs from the
 * reference does not compile. Everything else is hidden by -fvisibility=hidden. */
#define FAKE_EXPORT(ret, name, params, required) \
  __attribute__((visibility("default"))) ret name params;
NVML_SYMBOLS(FAKE_EXPORT)
#undef FAKE_EXPORT

/* Poll interval of nvmlEventSetWait_v2: events written to the file arrive within about this. A
 * real driver blocks instead; SHOAL_FAKE_NVML_WAIT_POLL_MS lengthens it where the fake's own
 * polling would be mistaken for the caller's CPU (npm run bench:agent). */
#define FAKE_WAIT_POLL_NS 2000000L
#define FAKE_WAIT_POLL_ENV "SHOAL_FAKE_NVML_WAIT_POLL_MS"
#define FAKE_WAIT_POLL_MAX_MS 1000L

static long wait_poll_ns(void) {
  static long cached = 0;
  if (cached != 0) return cached;
  long ns = FAKE_WAIT_POLL_NS;
  const char *v = getenv(FAKE_WAIT_POLL_ENV);
  if (v != NULL && *v != '\0') {
    char *end = NULL;
    long ms = strtol(v, &end, 10);
    if (end != NULL && *end == '\0' && ms >= 1 && ms <= FAKE_WAIT_POLL_MAX_MS) ns = ms * 1000000L;
  }
  cached = ns;
  return ns;
}
/* gpuInstanceId / computeInstanceId of an event not attributed to a MIG instance. */
#define FAKE_NO_INSTANCE 0xffffffffu

/* ---- Global state ---- */

/* A handle is a pointer to a slot here, valid for the life of the process. */
struct nvmlDevice_st {
  unsigned int index;
};
static struct nvmlDevice_st g_devices[FAKE_MAX_GPUS];

/* Mutable, per set; mu guards everything below it (a wait and a register may race). */
struct nvmlEventSet_st {
  bool mu_ready; /* mu is initialised once, on first use of the slot, and never destroyed */
  pthread_mutex_t mu;
  atomic_bool in_use;
  unsigned long long mask[FAKE_MAX_GPUS]; /* registered event types per GPU */
  unsigned long long last_seq; /* highest seq delivered (or history at creation) */
  uint64_t lost_reported; /* GPUs whose loss this set has reported */
};
static struct nvmlEventSet_st g_sets[FAKE_MAX_EVENT_SETS];
static pthread_mutex_t g_sets_mu = PTHREAD_MUTEX_INITIALIZER; /* slot allocation only */

static _Atomic(struct fake_state *) g_state;
static atomic_int g_refcount;
/* Taken by init, shutdown and reloads; never by the per-GPU calls. Guards everything below. */
static pthread_mutex_t g_reload_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fake_sig g_sig; /* the file the last load attempt saw, good or bad */
static bool g_sig_valid;
static struct fake_state *g_retired[FAKE_SNAPSHOT_RING];
static unsigned int g_retired_next;

static inline const struct fake_state *current(void) {
  return atomic_load_explicit(&g_state, memory_order_acquire);
}

static inline bool initialized(void) {
  return atomic_load_explicit(&g_refcount, memory_order_acquire) > 0;
}

/* ---- Snapshots and reloads ---- */

#ifdef __SANITIZE_THREAD__
/* ThreadSanitizer cannot see the ring's grace period and calls the deferred free a race; under
 * it, replaced snapshots leak instead, so that its reports are about real races. */
#define FAKE_FREE_RETIRED 0
#else
#define FAKE_FREE_RETIRED 1
#endif

/*
 * Swaps in a new snapshot. A reader on another thread may still be inside a call using the old
 * one, so it is not freed now: it joins a ring of the last FAKE_SNAPSHOT_RING and is freed when
 * evicted. A call holds a snapshot for microseconds and never across a sleep, while each reload
 * needs the file to change and an Init/GetCount/wait step to notice; a reader would have to stall
 * across 16 rewrites to touch freed memory. Safe enough for a test fake, and it keeps the hot
 * path free of locks and reference counts. Caller holds g_reload_mu.
 */
static void publish(struct fake_state *st) {
  struct fake_state *old = atomic_exchange_explicit(&g_state, st, memory_order_acq_rel);
  if (!old) return;
  if (FAKE_FREE_RETIRED) free(g_retired[g_retired_next]);
  g_retired[g_retired_next] = old;
  g_retired_next = (g_retired_next + 1) % FAKE_SNAPSHOT_RING;
}

static nvmlReturn_t load_default(bool first_init) {
  if (!first_init && g_sig_valid && g_sig.is_default) return NVML_SUCCESS;
  struct fake_state *st = fake_state_default();
  if (!st) {
    fprintf(stderr, "fake-nvml: out of memory\n");
    return first_init ? NVML_ERROR_UNKNOWN : NVML_SUCCESS;
  }
  publish(st);
  memset(&g_sig, 0, sizeof g_sig);
  g_sig.is_default = true;
  g_sig_valid = true;
  return NVML_SUCCESS;
}

/*
 * Loads the state named by the environment. first_init (the refcount 0 -> 1 init) always reads
 * the file and fails with UNKNOWN on a bad one; a later check reads it only when its signature
 * changed and keeps the previous state on error. Either way the error is printed once per change.
 * Caller holds g_reload_mu.
 */
static nvmlReturn_t reload_locked(bool first_init) {
  const char *path = getenv(FAKE_STATE_ENV);
  if (!path || !*path) return load_default(first_init);
  struct fake_sig *sig = malloc(sizeof *sig); /* 4 KiB: kept off a caller's thread stack */
  if (!sig) return first_init ? NVML_ERROR_UNKNOWN : NVML_SUCCESS;
  nvmlReturn_t rc = NVML_SUCCESS;
  if (!first_init) fake_sig_stat(path, sig);
  if (first_init || !g_sig_valid || !fake_sig_equal(sig, &g_sig)) {
    char err[512];
    struct fake_state *st = fake_state_load(path, sig, err, sizeof err);
    g_sig = *sig;
    g_sig_valid = true;
    if (st)
      publish(st);
    else
      fprintf(stderr, "fake-nvml: %s\n", err);
    if (!st && first_init) rc = NVML_ERROR_UNKNOWN;
  }
  free(sig);
  return rc;
}

/* The reload check of GetCount and of each wait step. */
static void reload_check(void) {
  pthread_mutex_lock(&g_reload_mu);
  if (initialized()) (void)reload_locked(false);
  pthread_mutex_unlock(&g_reload_mu);
}

/* ---- The checks every call makes, in the contract's order ---- */

/* Uninitialized, then the global `rc`/`missing` override of sym. */
static inline nvmlReturn_t enter_system(enum fake_sym sym, const struct fake_state **st) {
  if (!initialized()) return NVML_ERROR_UNINITIALIZED;
  *st = current();
  int o = (*st)->rc[sym];
  return o == FAKE_RC_NONE ? NVML_SUCCESS : o;
}

/* Slot of a handle, or -1 when the pointer is not one we handed out. */
static inline int handle_index(nvmlDevice_t device) {
  uintptr_t off = (uintptr_t)device - (uintptr_t)g_devices;
  if (off >= sizeof g_devices || off % sizeof g_devices[0] != 0) return -1;
  return (int)(off / sizeof g_devices[0]);
}

/* enter_system, then the handle (foreign: INVALID_ARGUMENT; gone after a reload: GPU_IS_LOST),
 * lost, reset_required and the GPU's own override of sym. */
static inline nvmlReturn_t enter_gpu(enum fake_sym sym, nvmlDevice_t device,
                                     const struct fake_gpu **gpu) {
  const struct fake_state *st = NULL;
  nvmlReturn_t rc = enter_system(sym, &st);
  if (rc != NVML_SUCCESS) return rc;
  int i = handle_index(device);
  if (i < 0) return NVML_ERROR_INVALID_ARGUMENT;
  if ((unsigned int)i >= st->gpu_count) return NVML_ERROR_GPU_IS_LOST;
  const struct fake_gpu *g = &st->gpus[i];
  if (g->lost) return NVML_ERROR_GPU_IS_LOST;
  if (g->reset_required) return NVML_ERROR_RESET_REQUIRED;
  if (g->rc[sym] != FAKE_RC_NONE) return g->rc[sym];
  *gpu = g;
  return NVML_SUCCESS;
}

/* Opens a call: `sym` must be the enclosing function's name (it selects the overrides). */
#define ENTER_SYSTEM(sym)                                      \
  const struct fake_state *st = NULL;                          \
  do {                                                         \
    nvmlReturn_t enter_rc_ = enter_system(FAKE_SYM(sym), &st); \
    if (enter_rc_ != NVML_SUCCESS) return enter_rc_;           \
  } while (0)

#define ENTER_GPU(sym, device)                                         \
  const struct fake_gpu *gpu = NULL;                                   \
  do {                                                                 \
    nvmlReturn_t enter_rc_ = enter_gpu(FAKE_SYM(sym), (device), &gpu); \
    if (enter_rc_ != NVML_SUCCESS) return enter_rc_;                   \
  } while (0)

#define NEED(ptr)                                   \
  do {                                              \
    if (!(ptr)) return NVML_ERROR_INVALID_ARGUMENT; \
  } while (0)

#define VERSION(s, want)                                                     \
  do {                                                                       \
    if ((s)->version != (want)) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH; \
  } while (0)

static nvmlReturn_t copy_string(char *dst, unsigned int length, const char *src) {
  NEED(dst);
  size_t n = strlen(src);
  if (length <= n) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(dst, src, n + 1);
  return NVML_SUCCESS;
}

static nvmlReturn_t put_u32(unsigned int *dst, unsigned int v) {
  NEED(dst);
  *dst = v;
  return NVML_SUCCESS;
}

static nvmlReturn_t put_u64(unsigned long long *dst, unsigned long long v) {
  NEED(dst);
  *dst = v;
  return NVML_SUCCESS;
}

/* ---- Init, shutdown, errors ---- */

nvmlReturn_t nvmlInit_v2(void) {
  pthread_mutex_lock(&g_reload_mu);
  bool first = atomic_load(&g_refcount) == 0;
  nvmlReturn_t rc = reload_locked(first);
  if (rc == NVML_SUCCESS && current()->rc[FAKE_SYM(nvmlInit_v2)] != FAKE_RC_NONE)
    rc = current()->rc[FAKE_SYM(nvmlInit_v2)]; /* init_rc: a failed init does not count */
  if (rc == NVML_SUCCESS && first)
    for (unsigned int i = 0; i < FAKE_MAX_GPUS; i++) g_devices[i].index = i;
  if (rc == NVML_SUCCESS) atomic_fetch_add(&g_refcount, 1);
  pthread_mutex_unlock(&g_reload_mu);
  return rc;
}

/* Extra shutdowns are not errors (reference §1); the last one leaves every call UNINITIALIZED. */
nvmlReturn_t nvmlShutdown(void) {
  pthread_mutex_lock(&g_reload_mu);
  nvmlReturn_t rc = NVML_SUCCESS;
  if (initialized()) {
    int o = current()->rc[FAKE_SYM(nvmlShutdown)];
    if (o != FAKE_RC_NONE)
      rc = o;
    else
      atomic_fetch_sub(&g_refcount, 1);
  }
  pthread_mutex_unlock(&g_reload_mu);
  return rc;
}

const char *nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupt request issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires reset";
    case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch";
    case NVML_ERROR_IN_USE: return "In use by another client";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No data";
    case NVML_ERROR_VGPU_ECC_NOT_SUPPORTED:
      return "vGPU operation not available while ECC is enabled";
    case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Insufficient resources";
    case NVML_ERROR_FREQ_NOT_SUPPORTED: return "Frequency not supported";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    case NVML_ERROR_DEPRECATED: return "Deprecated";
    case NVML_ERROR_NOT_READY: return "Not Ready";
    case NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
    case NVML_ERROR_INVALID_STATE: return "Invalid state";
    case NVML_ERROR_RESET_TYPE_NOT_SUPPORTED: return "Reset type not supported";
    default: return "Unknown Error";
  }
}

/* ---- System ---- */

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  ENTER_SYSTEM(nvmlSystemGetDriverVersion);
  return copy_string(version, length, st->driver);
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
  ENTER_SYSTEM(nvmlSystemGetNVMLVersion);
  return copy_string(version, length, st->nvml);
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion) {
  ENTER_SYSTEM(nvmlSystemGetCudaDriverVersion_v2);
  NEED(cudaDriverVersion);
  *cudaDriverVersion = st->cuda;
  return NVML_SUCCESS;
}

/* One of the three reload points: a test rewrites the file, then GetCount sees the new machine. */
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
  if (!initialized()) return NVML_ERROR_UNINITIALIZED;
  reload_check();
  ENTER_SYSTEM(nvmlDeviceGetCount_v2);
  return put_u32(deviceCount, st->gpu_count);
}

/* ---- Handles ---- */

/* A found GPU becomes a handle unless it is lost or its own override of sym says otherwise. */
static nvmlReturn_t hand_out(const struct fake_state *st, unsigned int i, enum fake_sym sym,
                             nvmlDevice_t *device) {
  const struct fake_gpu *g = &st->gpus[i];
  if (g->lost) return NVML_ERROR_GPU_IS_LOST;
  if (g->rc[sym] != FAKE_RC_NONE) return g->rc[sym];
  *device = &g_devices[i];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  ENTER_SYSTEM(nvmlDeviceGetHandleByIndex_v2);
  NEED(device);
  if (index >= st->gpu_count) return NVML_ERROR_INVALID_ARGUMENT;
  return hand_out(st, index, FAKE_SYM(nvmlDeviceGetHandleByIndex_v2), device);
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
  ENTER_SYSTEM(nvmlDeviceGetHandleByUUID);
  NEED(uuid);
  NEED(device);
  for (unsigned int i = 0; i < st->gpu_count; i++)
    if (strcmp(st->gpus[i].uuid, uuid) == 0)
      return hand_out(st, i, FAKE_SYM(nvmlDeviceGetHandleByUUID), device);
  return NVML_ERROR_NOT_FOUND;
}

static bool hex_part(const char **p, unsigned long *out) {
  char *end;
  if (!isxdigit((unsigned char)**p)) return false;
  *out = strtoul(*p, &end, 16);
  *p = end;
  return true;
}

/* "[domain:]bus:device[.function]" in hex, as NVML accepts it (4- or 8-digit domain). */
static bool parse_bus_id(const char *s, unsigned long *domain, unsigned long *bus,
                         unsigned long *dev) {
  unsigned long part[3], fn;
  int n = 0;
  const char *p = s;
  while (n < 3 && hex_part(&p, &part[n])) {
    n++;
    if (*p != ':') break;
    p++;
  }
  if (*p == '.') {
    p++;
    if (!hex_part(&p, &fn)) return false;
  }
  if (*p != '\0' || n < 2) return false;
  *domain = n == 3 ? part[0] : 0;
  *bus = part[n - 2];
  *dev = part[n - 1];
  return true;
}

nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device) {
  ENTER_SYSTEM(nvmlDeviceGetHandleByPciBusId_v2);
  NEED(pciBusId);
  NEED(device);
  unsigned long domain, bus, dev;
  if (!parse_bus_id(pciBusId, &domain, &bus, &dev)) return NVML_ERROR_INVALID_ARGUMENT;
  for (unsigned int i = 0; i < st->gpu_count; i++) {
    const struct fake_gpu *g = &st->gpus[i];
    if (g->pci_domain == domain && g->pci_bus == bus && g->pci_device == dev)
      return hand_out(st, i, FAKE_SYM(nvmlDeviceGetHandleByPciBusId_v2), device);
  }
  return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
  ENTER_GPU(nvmlDeviceGetIndex, device);
  (void)gpu;
  return put_u32(index, (unsigned int)handle_index(device));
}

/* ---- Identity ---- */

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
  ENTER_GPU(nvmlDeviceGetUUID, device);
  return copy_string(uuid, length, gpu->uuid);
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
  ENTER_GPU(nvmlDeviceGetName, device);
  return copy_string(name, length, gpu->name);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) {
  ENTER_GPU(nvmlDeviceGetPciInfo_v3, device);
  NEED(pci);
  memset(pci, 0, sizeof *pci);
  /* The legacy id has room for a 4-digit domain only. */
  snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.0", gpu->pci_domain & 0xffffu,
           gpu->pci_bus & 0xffu, gpu->pci_device & 0x1fu);
  snprintf(pci->busId, sizeof pci->busId, "%08X:%02X:%02X.0", gpu->pci_domain, gpu->pci_bus & 0xffu,
           gpu->pci_device & 0x1fu);
  pci->domain = gpu->pci_domain;
  pci->bus = gpu->pci_bus;
  pci->device = gpu->pci_device;
  pci->pciDeviceId = gpu->pci_device_id;
  pci->pciSubSystemId = gpu->pci_subsystem_id;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char *serial, unsigned int length) {
  ENTER_GPU(nvmlDeviceGetSerial, device);
  return copy_string(serial, length, gpu->serial);
}

nvmlReturn_t nvmlDeviceGetVbiosVersion(nvmlDevice_t device, char *version, unsigned int length) {
  ENTER_GPU(nvmlDeviceGetVbiosVersion, device);
  return copy_string(version, length, gpu->vbios);
}

nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, nvmlEnableState_t *mode) {
  ENTER_GPU(nvmlDeviceGetPersistenceMode, device);
  NEED(mode);
  *mode = (nvmlEnableState_t)gpu->persistence;
  return NVML_SUCCESS;
}

/* ---- Memory ---- */

/* Free memory never goes below zero, whatever the file says about used and reserved. */
static unsigned long long memory_free(const struct fake_gpu *g) {
  unsigned long long taken = g->memory_used + g->memory_reserved;
  return taken < g->memory_total ? g->memory_total - taken : 0;
}

/* v1 counts the driver's reservation as used; v2 reports it apart. */
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
  ENTER_GPU(nvmlDeviceGetMemoryInfo, device);
  NEED(memory);
  memory->total = gpu->memory_total;
  memory->free = memory_free(gpu);
  memory->used = gpu->memory_total - memory->free;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
  ENTER_GPU(nvmlDeviceGetMemoryInfo_v2, device);
  NEED(memory);
  VERSION(memory, nvmlMemory_v2);
  memory->total = gpu->memory_total;
  memory->reserved = gpu->memory_reserved;
  memory->used = gpu->memory_used;
  memory->free = memory_free(gpu);
  return NVML_SUCCESS;
}

/* ---- Thermal, power, utilisation, clocks ---- */

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensorType,
                                      unsigned int *temp) {
  ENTER_GPU(nvmlDeviceGetTemperature, device);
  NEED(temp);
  if (sensorType != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  *temp = gpu->temp;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_t *temperature) {
  ENTER_GPU(nvmlDeviceGetTemperatureV, device);
  NEED(temperature);
  VERSION(temperature, nvmlTemperature_v1);
  if (temperature->sensorType != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  temperature->temperature = (int)gpu->temp;
  return NVML_SUCCESS;
}

/* Thresholds 0..3 are modelled; the acoustic and GPS ones (4..7) exist but are not supported. */
nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t device,
                                               nvmlTemperatureThresholds_t thresholdType,
                                               unsigned int *temp) {
  ENTER_GPU(nvmlDeviceGetTemperatureThreshold, device);
  NEED(temp);
  if (thresholdType >= FAKE_THRESHOLDS && thresholdType <= 7) return NVML_ERROR_NOT_SUPPORTED;
  if (thresholdType < 0 || thresholdType >= FAKE_THRESHOLDS) return NVML_ERROR_INVALID_ARGUMENT;
  *temp = gpu->threshold[thresholdType];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMarginTemperature(nvmlDevice_t device,
                                            nvmlMarginTemperature_t *marginTempInfo) {
  ENTER_GPU(nvmlDeviceGetMarginTemperature, device);
  NEED(marginTempInfo);
  VERSION(marginTempInfo, nvmlMarginTemperature_v1);
  marginTempInfo->marginTemperature = gpu->temp_margin;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
  ENTER_GPU(nvmlDeviceGetPowerUsage, device);
  return put_u32(power, gpu->power);
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit) {
  ENTER_GPU(nvmlDeviceGetEnforcedPowerLimit, device);
  return put_u32(limit, gpu->power_limit);
}

nvmlReturn_t nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit) {
  ENTER_GPU(nvmlDeviceGetPowerManagementLimit, device);
  return put_u32(limit, gpu->power_mgmt_limit);
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy) {
  ENTER_GPU(nvmlDeviceGetTotalEnergyConsumption, device);
  return put_u64(energy, gpu->energy);
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
  ENTER_GPU(nvmlDeviceGetUtilizationRates, device);
  NEED(utilization);
  utilization->gpu = gpu->util_gpu;
  utilization->memory = gpu->util_mem;
  return NVML_SUCCESS;
}

static nvmlReturn_t clock_of(const unsigned int *table, nvmlClockType_t type, unsigned int *clock) {
  NEED(clock);
  if (type < 0 || type >= FAKE_CLOCK_TYPES) return NVML_ERROR_INVALID_ARGUMENT;
  *clock = table[type];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type,
                                    unsigned int *clock) {
  ENTER_GPU(nvmlDeviceGetClockInfo, device);
  return clock_of(gpu->clock, type, clock);
}

nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, nvmlClockType_t type,
                                       unsigned int *clock) {
  ENTER_GPU(nvmlDeviceGetMaxClockInfo, device);
  return clock_of(gpu->max_clock, type, clock);
}

nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t device, nvmlPstates_t *pState) {
  ENTER_GPU(nvmlDeviceGetPerformanceState, device);
  NEED(pState);
  *pState = (nvmlPstates_t)gpu->pstate;
  return NVML_SUCCESS;
}

/* The event-reason and throttle-reason calls are one bitmask under two names (reference §7). */
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device,
                                                    unsigned long long *clocksEventReasons) {
  ENTER_GPU(nvmlDeviceGetCurrentClocksEventReasons, device);
  return put_u64(clocksEventReasons, gpu->clock_reasons);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device,
                                                       unsigned long long *clocksThrottleReasons) {
  ENTER_GPU(nvmlDeviceGetCurrentClocksThrottleReasons, device);
  return put_u64(clocksThrottleReasons, gpu->clock_reasons);
}

nvmlReturn_t nvmlDeviceGetSupportedClocksEventReasons(
    nvmlDevice_t device, unsigned long long *supportedClocksEventReasons) {
  ENTER_GPU(nvmlDeviceGetSupportedClocksEventReasons, device);
  return put_u64(supportedClocksEventReasons, gpu->supported_clock_reasons);
}

static unsigned long long now_realtime_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no syscall on the sampling path */
  return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000ull;
}

static unsigned long long field_as_u64(const struct fake_field *f) {
  return f->kind == FAKE_FIELD_DOUBLE ? (unsigned long long)f->value.dVal : f->value.ullVal;
}

/* Policies POWER..RELIABILITY (0..5) read fields 74..79; the clock totals (10, 11) are not
 * modelled. The violation time is the field's value, taken now. */
nvmlReturn_t nvmlDeviceGetViolationStatus(nvmlDevice_t device, nvmlPerfPolicyType_t perfPolicyType,
                                          nvmlViolationTime_t *violTime) {
  ENTER_GPU(nvmlDeviceGetViolationStatus, device);
  NEED(violTime);
  if (perfPolicyType == 10 || perfPolicyType == 11) return NVML_ERROR_NOT_SUPPORTED;
  if (perfPolicyType < 0 || perfPolicyType > 5) return NVML_ERROR_INVALID_ARGUMENT;
  struct fake_field f =
      fake_field_value(gpu, NVML_FI_DEV_PERF_POLICY_POWER + (unsigned int)perfPolicyType, 0);
  if (f.kind == FAKE_FIELD_UNSUPPORTED) return NVML_ERROR_NOT_SUPPORTED;
  violTime->referenceTime = now_realtime_us();
  violTime->violationTime = field_as_u64(&f);
  return NVML_SUCCESS;
}

/* ---- ECC, row remapping, page retirement ---- */

nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, nvmlEnableState_t *current,
                                  nvmlEnableState_t *pending) {
  ENTER_GPU(nvmlDeviceGetEccMode, device);
  NEED(current);
  NEED(pending);
  *current = (nvmlEnableState_t)gpu->ecc_mode;
  *pending = (nvmlEnableState_t)gpu->ecc_pending;
  return NVML_SUCCESS;
}

/* ECC counters exist only while ECC is on. */
static nvmlReturn_t ecc_args(const struct fake_gpu *g, nvmlMemoryErrorType_t type,
                             nvmlEccCounterType_t counter, const unsigned long long *out) {
  NEED(out);
  if (type < 0 || type >= FAKE_ECC_TYPES || counter < 0 || counter >= FAKE_ECC_COUNTERS)
    return NVML_ERROR_INVALID_ARGUMENT;
  return g->ecc_mode ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t errorType,
                                         nvmlEccCounterType_t counterType,
                                         unsigned long long *eccCounts) {
  ENTER_GPU(nvmlDeviceGetTotalEccErrors, device);
  nvmlReturn_t rc = ecc_args(gpu, errorType, counterType, eccCounts);
  if (rc != NVML_SUCCESS) return rc;
  *eccCounts = gpu->ecc[errorType][counterType];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryErrorCounter(nvmlDevice_t device, nvmlMemoryErrorType_t errorType,
                                             nvmlEccCounterType_t counterType,
                                             nvmlMemoryLocation_t locationType,
                                             unsigned long long *count) {
  ENTER_GPU(nvmlDeviceGetMemoryErrorCounter, device);
  nvmlReturn_t rc = ecc_args(gpu, errorType, counterType, count);
  if (rc != NVML_SUCCESS) return rc;
  if (locationType < 0 || locationType >= FAKE_ECC_LOCATIONS) return NVML_ERROR_INVALID_ARGUMENT;
  *count = gpu->ecc_location[errorType][counterType][locationType];
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int *corrRows,
                                       unsigned int *uncRows, unsigned int *isPending,
                                       unsigned int *failureOccurred) {
  ENTER_GPU(nvmlDeviceGetRemappedRows, device);
  NEED(corrRows && uncRows && isPending && failureOccurred);
  *corrRows = gpu->remap_corrected;
  *uncRows = gpu->remap_uncorrected;
  *isPending = gpu->remap_pending;
  *failureOccurred = gpu->remap_failure;
  return NVML_SUCCESS;
}

/* Every remap is active: the inactive split (v580) is not modelled. */
nvmlReturn_t nvmlDeviceGetRemappedRows_v2(nvmlDevice_t device, nvmlRemappedRowsInfo_v2_t *info) {
  ENTER_GPU(nvmlDeviceGetRemappedRows_v2, device);
  NEED(info);
  *info = (nvmlRemappedRowsInfo_v2_t){
      .corrActiveRemaps = gpu->remap_corrected,
      .uncActiveRemaps = gpu->remap_uncorrected,
      .bPending = gpu->remap_pending,
      .bFailureOccurred = gpu->remap_failure,
  };
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRowRemapperHistogram(nvmlDevice_t device,
                                               nvmlRowRemapperHistogramValues_t *values) {
  ENTER_GPU(nvmlDeviceGetRowRemapperHistogram, device);
  NEED(values);
  *values = gpu->remap_histogram;
  return NVML_SUCCESS;
}

/* Made-up but stable page addresses and retirement times. */
#define FAKE_PAGE_BASE 0x100000ull
#define FAKE_RETIRED_AT 1700000000ull

/* *pageCount 0 sizes; a short buffer gets INSUFFICIENT_SIZE and the count; else fill. */
static nvmlReturn_t retired_pages(const struct fake_gpu *g, nvmlPageRetirementCause_t cause,
                                  unsigned int *pageCount, unsigned long long *addresses,
                                  unsigned long long *timestamps) {
  NEED(pageCount);
  if (cause != 0 && cause != 1) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned int count = cause == 0 ? g->retired_sbe : g->retired_dbe;
  unsigned int room = *pageCount;
  *pageCount = count;
  if (room == 0) return NVML_SUCCESS;
  if (room < count) return NVML_ERROR_INSUFFICIENT_SIZE;
  if (count > 0) NEED(addresses);
  for (unsigned int k = 0; k < count; k++) {
    addresses[k] = FAKE_PAGE_BASE * (unsigned long long)(cause + 1) + k;
    if (timestamps) timestamps[k] = FAKE_RETIRED_AT + k;
  }
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t device, nvmlPageRetirementCause_t cause,
                                       unsigned int *pageCount, unsigned long long *addresses) {
  ENTER_GPU(nvmlDeviceGetRetiredPages, device);
  return retired_pages(gpu, cause, pageCount, addresses, NULL);
}

nvmlReturn_t nvmlDeviceGetRetiredPages_v2(nvmlDevice_t device, nvmlPageRetirementCause_t cause,
                                          unsigned int *pageCount, unsigned long long *addresses,
                                          unsigned long long *timestamps) {
  ENTER_GPU(nvmlDeviceGetRetiredPages_v2, device);
  return retired_pages(gpu, cause, pageCount, addresses, timestamps);
}

nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t device,
                                                    nvmlEnableState_t *isPending) {
  ENTER_GPU(nvmlDeviceGetRetiredPagesPendingStatus, device);
  NEED(isPending);
  *isPending = (nvmlEnableState_t)gpu->retired_pending;
  return NVML_SUCCESS;
}

/* ---- PCIe and NVLink ---- */

nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t device, unsigned int *value) {
  ENTER_GPU(nvmlDeviceGetPcieReplayCounter, device);
  return put_u32(value, gpu->pcie_replay);
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t device, unsigned int *currLinkGen) {
  ENTER_GPU(nvmlDeviceGetCurrPcieLinkGeneration, device);
  return put_u32(currLinkGen, gpu->pcie_gen);
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t device, unsigned int *currLinkWidth) {
  ENTER_GPU(nvmlDeviceGetCurrPcieLinkWidth, device);
  return put_u32(currLinkWidth, gpu->pcie_width);
}

nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t device, unsigned int *maxLinkGen) {
  ENTER_GPU(nvmlDeviceGetMaxPcieLinkGeneration, device);
  return put_u32(maxLinkGen, gpu->pcie_max_gen);
}

nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t device, unsigned int *maxLinkWidth) {
  ENTER_GPU(nvmlDeviceGetMaxPcieLinkWidth, device);
  return put_u32(maxLinkWidth, gpu->pcie_max_width);
}

/* Links past NVML_NVLINK_MAX_LINKS are invalid; links the GPU lacks are NOT_SUPPORTED. */
static nvmlReturn_t link_arg(const struct fake_gpu *g, unsigned int link) {
  if (link >= FAKE_MAX_LINKS) return NVML_ERROR_INVALID_ARGUMENT;
  return link < g->nvlinks ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link,
                                      nvmlEnableState_t *isActive) {
  ENTER_GPU(nvmlDeviceGetNvLinkState, device);
  NEED(isActive);
  nvmlReturn_t rc = link_arg(gpu, link);
  if (rc != NVML_SUCCESS) return rc;
  *isActive = (nvmlEnableState_t)gpu->nvlink[link].state;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNvLinkErrorCounter(nvmlDevice_t device, unsigned int link,
                                             nvmlNvLinkErrorCounter_t counter,
                                             unsigned long long *counterValue) {
  ENTER_GPU(nvmlDeviceGetNvLinkErrorCounter, device);
  NEED(counterValue);
  nvmlReturn_t rc = link_arg(gpu, link);
  if (rc != NVML_SUCCESS) return rc;
  if (counter < 0 || counter >= FAKE_NVLINK_COUNTERS) return NVML_ERROR_INVALID_ARGUMENT;
  *counterValue = gpu->nvlink[link].counters[counter];
  return NVML_SUCCESS;
}

/* ---- Field values ---- */

/* One entry: the call succeeds while each entry carries its own return code. */
static void fill_field(const struct fake_gpu *g, nvmlFieldValue_t *v, long long now_us) {
  v->timestamp = now_us;
  v->latencyUsec = 0;
  if (v->fieldId >= NVML_FI_MAX) {
    v->nvmlReturn = NVML_ERROR_INVALID_ARGUMENT;
    return;
  }
  struct fake_field f = fake_field_value(g, v->fieldId, v->scopeId);
  v->nvmlReturn = f.kind == FAKE_FIELD_UNSUPPORTED ? NVML_ERROR_NOT_SUPPORTED : NVML_SUCCESS;
  v->valueType =
      f.kind == FAKE_FIELD_DOUBLE ? NVML_VALUE_TYPE_DOUBLE : NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
  v->value = f.value;
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount,
                                      nvmlFieldValue_t *values) {
  ENTER_GPU(nvmlDeviceGetFieldValues, device);
  if (valuesCount < 0) return NVML_ERROR_INVALID_ARGUMENT;
  if (valuesCount > 0) NEED(values);
  long long now = (long long)now_realtime_us();
  for (int k = 0; k < valuesCount; k++) fill_field(gpu, &values[k], now);
  return NVML_SUCCESS;
}

/* The state file is the truth, so clearing changes nothing: write 0 to the file instead. Each
 * entry says whether the field exists. */
nvmlReturn_t nvmlDeviceClearFieldValues(nvmlDevice_t device, int valuesCount,
                                        nvmlFieldValue_t *values) {
  ENTER_GPU(nvmlDeviceClearFieldValues, device);
  if (valuesCount < 0) return NVML_ERROR_INVALID_ARGUMENT;
  if (valuesCount > 0) NEED(values);
  for (int k = 0; k < valuesCount; k++) {
    nvmlFieldValue_t probe = values[k];
    fill_field(gpu, &probe, 0);
    values[k].nvmlReturn = probe.nvmlReturn;
  }
  return NVML_SUCCESS;
}

/* ---- Fabric, repair, MIG, InfoROM ---- */

/* clusterUuid is zero and healthSummary 0: neither is modelled. */
nvmlReturn_t nvmlDeviceGetGpuFabricInfoV(nvmlDevice_t device, nvmlGpuFabricInfoV_t *gpuFabricInfo) {
  ENTER_GPU(nvmlDeviceGetGpuFabricInfoV, device);
  NEED(gpuFabricInfo);
  VERSION(gpuFabricInfo, nvmlGpuFabricInfo_v3);
  *gpuFabricInfo = (nvmlGpuFabricInfoV_t){
      .version = nvmlGpuFabricInfo_v3,
      .status = (nvmlReturn_t)gpu->fabric_status,
      .cliqueId = gpu->fabric_clique,
      .state = (unsigned char)gpu->fabric_state,
      .healthMask = gpu->fabric_health_mask,
  };
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRepairStatus(nvmlDevice_t device, nvmlRepairStatus_t *repairStatus) {
  ENTER_GPU(nvmlDeviceGetRepairStatus, device);
  NEED(repairStatus);
  VERSION(repairStatus, nvmlRepairStatus_v1);
  repairStatus->bChannelRepairPending = gpu->repair_channel;
  repairStatus->bTpcRepairPending = gpu->repair_tpc;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode,
                                  unsigned int *pendingMode) {
  ENTER_GPU(nvmlDeviceGetMigMode, device);
  NEED(currentMode);
  NEED(pendingMode);
  *currentMode = gpu->mig_mode;
  *pendingMode = gpu->mig_pending;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceValidateInforom(nvmlDevice_t device) {
  ENTER_GPU(nvmlDeviceValidateInforom, device);
  return gpu->inforom_valid ? NVML_SUCCESS : NVML_ERROR_CORRUPTED_INFOROM;
}

/* ---- Events ---- */

/* The set behind a handle, or NULL when it is not one of ours or was freed. */
static struct nvmlEventSet_st *set_slot(nvmlEventSet_t set) {
  uintptr_t off = (uintptr_t)set - (uintptr_t)g_sets;
  if (off >= sizeof g_sets || off % sizeof g_sets[0] != 0) return NULL;
  return atomic_load(&set->in_use) ? set : NULL;
}

/* Events already in the state are history: like real NVML, a new set does not replay them. */
nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
  ENTER_SYSTEM(nvmlEventSetCreate);
  NEED(set);
  pthread_mutex_lock(&g_sets_mu);
  struct nvmlEventSet_st *s = NULL;
  for (int k = 0; k < FAKE_MAX_EVENT_SETS && !s; k++)
    if (!atomic_load(&g_sets[k].in_use)) s = &g_sets[k];
  if (s && !s->mu_ready) {
    pthread_mutex_init(&s->mu, NULL);
    s->mu_ready = true;
  }
  if (s) {
    pthread_mutex_lock(&s->mu);
    memset(s->mask, 0, sizeof s->mask);
    s->last_seq = st->max_seq;
    s->lost_reported = 0;
    atomic_store(&s->in_use, true);
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&g_sets_mu);
  if (!s) return NVML_ERROR_INSUFFICIENT_RESOURCES;
  *set = s;
  return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long *eventTypes) {
  ENTER_GPU(nvmlDeviceGetSupportedEventTypes, device);
  return put_u64(eventTypes, gpu->supported_events);
}

/* Registers the supported part of the mask; NOT_SUPPORTED only when no requested bit is. */
nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes,
                                      nvmlEventSet_t set) {
  ENTER_GPU(nvmlDeviceRegisterEvents, device);
  struct nvmlEventSet_st *s = set_slot(set);
  if (!s) return NVML_ERROR_INVALID_ARGUMENT;
  unsigned long long mask = eventTypes & gpu->supported_events;
  if (mask == 0) return NVML_ERROR_NOT_SUPPORTED;
  pthread_mutex_lock(&s->mu);
  nvmlReturn_t rc = atomic_load(&s->in_use) ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
  if (rc == NVML_SUCCESS) s->mask[handle_index(device)] |= mask;
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static void fill_event(nvmlEventData_t *data, unsigned int gpu, unsigned long long type,
                       unsigned long long payload, unsigned int gi, unsigned int ci) {
  data->device = &g_devices[gpu];
  data->eventType = type;
  data->eventData = payload;
  data->gpuInstanceId = gi;
  data->computeInstanceId = ci;
}

/* The lowest-seq undelivered event that this set registered for. Caller holds s->mu. */
static nvmlReturn_t next_event(struct nvmlEventSet_st *s, const struct fake_state *st,
                               nvmlEventData_t *data) {
  for (unsigned int k = 0; k < st->event_count; k++) {
    const struct fake_event *e = &st->events[k];
    if (e->seq <= s->last_seq || !(s->mask[e->gpu] & e->type)) continue;
    s->last_seq = e->seq;
    fill_event(data, e->gpu, e->type, e->data, e->gpu_instance_id, e->compute_instance_id);
    return NVML_SUCCESS;
  }
  return NVML_ERROR_TIMEOUT;
}

/* GPU_IS_LOST once per set per registered GPU that is lost (or gone after a reload); a GPU that
 * comes back is reported again if lost again. data->device names it. Caller holds s->mu. */
static nvmlReturn_t lost_gpu(struct nvmlEventSet_st *s, const struct fake_state *st,
                             nvmlEventData_t *data) {
  for (unsigned int i = 0; i < FAKE_MAX_GPUS; i++) {
    uint64_t bit = 1ull << i;
    if (!s->mask[i]) continue;
    if (!(i >= st->gpu_count || st->gpus[i].lost)) {
      s->lost_reported &= ~bit;
    } else if (!(s->lost_reported & bit)) {
      s->lost_reported |= bit;
      fill_event(data, i, 0, 0, FAKE_NO_INSTANCE, FAKE_NO_INSTANCE);
      return NVML_ERROR_GPU_IS_LOST;
    }
  }
  return NVML_ERROR_TIMEOUT;
}

/* One polling step on the current snapshot: an event, a lost GPU, or TIMEOUT for "nothing yet".
 * Events come before losses, so an XID 79 written with `lost 1` is delivered first. */
static nvmlReturn_t wait_step(struct nvmlEventSet_st *s, nvmlEventData_t *data) {
  const struct fake_state *st = current();
  int o = st->rc[FAKE_SYM(nvmlEventSetWait_v2)];
  if (o != FAKE_RC_NONE) return o;
  pthread_mutex_lock(&s->mu);
  nvmlReturn_t rc = atomic_load(&s->in_use) ? next_event(s, st, data) : NVML_ERROR_INVALID_ARGUMENT;
  if (rc == NVML_ERROR_TIMEOUT) rc = lost_gpu(s, st, data);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static long long now_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Polls every FAKE_WAIT_POLL_NS, re-reading a changed state file at each step, until an event, a
 * lost GPU, the timeout, or the last nvmlShutdown (UNINITIALIZED, so a wait thread can exit). */
nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
                                 unsigned int timeoutms) {
  ENTER_SYSTEM(nvmlEventSetWait_v2);
  (void)st;
  struct nvmlEventSet_st *s = set_slot(set);
  if (!s) return NVML_ERROR_INVALID_ARGUMENT;
  NEED(data);
  long long deadline = now_monotonic_ns() + (long long)timeoutms * 1000000ll;
  for (;;) {
    if (!initialized()) return NVML_ERROR_UNINITIALIZED;
    reload_check();
    nvmlReturn_t rc = wait_step(s, data);
    if (rc != NVML_ERROR_TIMEOUT) return rc;
    long long left = deadline - now_monotonic_ns();
    if (left <= 0) return NVML_ERROR_TIMEOUT;
    long poll = wait_poll_ns();
    long long step = left < poll ? left : poll;
    struct timespec nap = {(time_t)(step / 1000000000ll), (long)(step % 1000000000ll)};
    nanosleep(&nap, NULL);
  }
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  ENTER_SYSTEM(nvmlEventSetFree);
  (void)st;
  struct nvmlEventSet_st *s = set_slot(set);
  if (!s) return NVML_ERROR_INVALID_ARGUMENT;
  pthread_mutex_lock(&s->mu);
  atomic_store(&s->in_use, false);
  pthread_mutex_unlock(&s->mu);
  return NVML_SUCCESS;
}
