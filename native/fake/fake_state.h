/*
 * The fake libnvidia-ml.so.1's machine model: one parsed state file is an immutable snapshot.
 *
 * fake_state.c builds snapshots (the built-in DGX H100 default, or a parsed state file) and knows
 * nothing about NVML calls; fake_nvml.c publishes snapshots and answers the calls from them. The
 * state-file grammar is documented in docs/fake-nvml.md and written by native/fake/machine.ts.
 */
#ifndef SHOAL_FAKE_STATE_H
#define SHOAL_FAKE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nvml_symbols.h"

/* Read with getenv at nvmlInit_v2 (not at load), so a test can point each init at a new file. */
#define FAKE_STATE_ENV "SHOAL_FAKE_NVML_STATE"

/* Limits. Each is checked where the state file enters, so the calls never index past an array. */
/* Slots in the handle array: 8x a DGX, and a bit mask of GPUs fits a uint64_t. */
#define FAKE_MAX_GPUS 64
/* NVML_NVLINK_MAX_LINKS since driver 590 (18 before); link numbers at or above it are invalid. */
#define FAKE_MAX_LINKS NVML_NVLINK_MAX_LINKS
/* Field overrides per GPU: a sampler reads about 40 fields; 64 leaves room for per-link ones. */
#define FAKE_MAX_FIELDS 64
/* Events per state file: a scenario injects tens; the wait scans them linearly every 2 ms. */
#define FAKE_MAX_EVENTS 1024
/* A full 64-GPU state file renders to about 150 KiB; 1 MiB bounds the read and the parse time. */
#define FAKE_MAX_FILE_BYTES (1024 * 1024)
/* Longest line, newline excluded: the longest legal line (a 95-character name) is far below. */
#define FAKE_MAX_LINE_BYTES 512
/* Tokens per line: the longest form, `event` with instance ids, has 7. */
#define FAKE_MAX_TOKENS 16
/* Longest state-file path we remember for the reload check (Linux PATH_MAX). */
#define FAKE_MAX_PATH 4096
/* Open event sets: the addon opens one; tests that leak a few still fit. */
#define FAKE_MAX_EVENT_SETS 16
/* Replaced snapshots kept alive before being freed; see fake_publish in fake_nvml.c. */
#define FAKE_SNAPSHOT_RING 16
/* GPUs of the built-in machine and of a state file without a `gpus` line. */
#define FAKE_DEFAULT_GPUS 8
/* Highest return code accepted by `rc` (NVML_ERROR_UNKNOWN). */
#define FAKE_MAX_RC 999

/* No override: the call does its work. */
#define FAKE_RC_NONE (-1)
/* temp_margin not set: the margin is derived as threshold_gpu_max - temp. */
#define FAKE_MARGIN_DERIVED INT32_MIN
/* The preset the built-in machine mirrors: default UUIDs and serials are derived from its name. */
#define FAKE_DEFAULT_PRESET "dgx-h100"

/* One index per NVML entry point, generated from the same X-macro as the exports. */
enum fake_sym {
#define FAKE_SYM_ENUM(ret, name, params, required) FAKE_SYM_##name,
  NVML_SYMBOLS(FAKE_SYM_ENUM)
#undef FAKE_SYM_ENUM
      FAKE_SYM_COUNT
};
#define FAKE_SYM(name) FAKE_SYM_##name

extern const char *const fake_sym_names[FAKE_SYM_COUNT];

enum fake_field_kind { FAKE_FIELD_ULL, FAKE_FIELD_DOUBLE, FAKE_FIELD_UNSUPPORTED };

/* `field <id> [<scope>] <value|unsupported>`: an answer for nvmlDeviceGetFieldValues. */
struct fake_field {
  unsigned int id;
  unsigned int scope;
  bool any_scope; /* written without a scope: answers every scopeId not overridden exactly */
  enum fake_field_kind kind;
  nvmlValue_t value;
};

/* Indexes into fake_nvlink.counters: the nvmlNvLinkErrorCounter_t values. */
#define FAKE_NVLINK_COUNTERS 5

struct fake_nvlink {
  unsigned int state; /* nvmlEnableState_t */
  unsigned long long counters[FAKE_NVLINK_COUNTERS];
};

/* Indexes of the ECC arrays: nvmlMemoryErrorType_t, nvmlEccCounterType_t, nvmlMemoryLocation_t. */
#define FAKE_ECC_TYPES 2
#define FAKE_ECC_COUNTERS 2
#define FAKE_ECC_LOCATIONS 8
/* Clock types (graphics, SM, memory, video); thresholds (shutdown, slowdown, mem max, GPU max). */
#define FAKE_CLOCK_TYPES 4
#define FAKE_THRESHOLDS 4

struct fake_gpu {
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
  char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
  char serial[NVML_DEVICE_SERIAL_BUFFER_SIZE];
  char vbios[NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE];
  unsigned int pci_domain, pci_bus, pci_device, pci_device_id, pci_subsystem_id;
  unsigned long long memory_total, memory_used, memory_reserved;
  unsigned int temp;
  int temp_margin;
  unsigned int threshold[FAKE_THRESHOLDS];
  unsigned int power, power_limit, power_mgmt_limit;
  unsigned long long energy;
  unsigned int util_gpu, util_mem;
  unsigned int clock[FAKE_CLOCK_TYPES], max_clock[FAKE_CLOCK_TYPES];
  unsigned int pstate;
  unsigned long long clock_reasons, supported_clock_reasons;
  unsigned int ecc_mode, ecc_pending;
  unsigned long long ecc[FAKE_ECC_TYPES][FAKE_ECC_COUNTERS];
  unsigned long long ecc_location[FAKE_ECC_TYPES][FAKE_ECC_COUNTERS][FAKE_ECC_LOCATIONS];
  unsigned int remap_corrected, remap_uncorrected, remap_pending, remap_failure;
  nvmlRowRemapperHistogramValues_t remap_histogram;
  unsigned int retired_sbe, retired_dbe, retired_pending;
  unsigned int pcie_replay, pcie_gen, pcie_width, pcie_max_gen, pcie_max_width;
  unsigned int nvlinks;
  struct fake_nvlink nvlink[FAKE_MAX_LINKS];
  unsigned int field_count;
  struct fake_field fields[FAKE_MAX_FIELDS];
  unsigned int fabric_state, fabric_status, fabric_health_mask, fabric_clique;
  unsigned int repair_channel, repair_tpc;
  unsigned int mig_mode, mig_pending;
  unsigned int persistence, inforom_valid;
  unsigned long long supported_events;
  unsigned int lost, reset_required;
  int rc[FAKE_SYM_COUNT]; /* per-GPU overrides, FAKE_RC_NONE when absent */
};

struct fake_event {
  unsigned long long seq;
  unsigned int gpu;
  unsigned long long type;
  unsigned long long data;
  unsigned int gpu_instance_id, compute_instance_id;
};

/* One machine. Immutable once published: readers use it without locks. */
struct fake_state {
  char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  char nvml[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE];
  int cuda;
  /* Global overrides (`rc`, `missing`, `init_rc`), FAKE_RC_NONE when absent. */
  int rc[FAKE_SYM_COUNT];
  unsigned int gpu_count;
  struct fake_gpu gpus[FAKE_MAX_GPUS]; /* only [0, gpu_count) are meaningful */
  unsigned int event_count;
  struct fake_event events[FAKE_MAX_EVENTS]; /* sorted by seq, seqs unique */
  unsigned long long max_seq; /* highest seq in events, 0 when none */
};

/* What the reload check compares: a changed file is a new inode, size or mtime. */
struct fake_sig {
  bool is_default; /* no state file: the built-in machine */
  int error; /* errno of a failed stat, 0 otherwise */
  dev_t dev;
  ino_t ino;
  off_t size;
  long long mtime_ns;
  char path[FAKE_MAX_PATH];
};

/* The built-in machine (8 x H100 80GB, as preset dgx-h100). NULL when out of memory. */
struct fake_state *fake_state_default(void);

/*
 * Reads and parses the state file at path. On success returns the snapshot and fills sig from the
 * descriptor actually read. On failure returns NULL and writes "<path>:<line>: <reason>" to err
 * (line 0 for whole-file problems); sig still describes what was found, so an unchanged bad file
 * is not reported again.
 */
struct fake_state *fake_state_load(const char *path, struct fake_sig *sig, char *err,
                                   size_t errlen);

/* Parses len bytes of text (not NUL-terminated) into a new snapshot: fake_state_load, tests. */
struct fake_state *fake_state_parse(const char *name, const char *text, size_t len, char *err,
                                    size_t errlen);

/* stat()s path into sig (no open, no read): the cheap half of the reload check. */
void fake_sig_stat(const char *path, struct fake_sig *sig);

bool fake_sig_equal(const struct fake_sig *a, const struct fake_sig *b);

/* Answer of field (id, scope) on gpu: an override, a derived default, or unsupported. */
struct fake_field fake_field_value(const struct fake_gpu *gpu, unsigned int id, unsigned int scope);

#endif /* SHOAL_FAKE_STATE_H */
