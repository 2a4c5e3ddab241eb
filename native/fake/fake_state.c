/*
 * State model of the fake libnvidia-ml.so.1: the built-in DGX H100 and the state-file parser.
 *
 * A parse builds a complete snapshot or nothing: any bad line rejects the whole file, so the
 * library never serves half of a scenario. Grammar and defaults: docs/fake-nvml.md.
 */
#define _GNU_SOURCE
#include "fake_state.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const fake_sym_names[FAKE_SYM_COUNT] = {
#define FAKE_SYM_NAME(ret, name, params, required) #name,
    NVML_SYMBOLS(FAKE_SYM_NAME)
#undef FAKE_SYM_NAME
};

/* ---- The built-in machine: DGX H100 (machine.ts preset dgx-h100 renders the same values) ---- */

/* PCI buses of the eight H100s in a DGX H100, in NVML index order. */
static const unsigned int dgx_h100_bus[8] = {0x18, 0x2a, 0x3a, 0x5d, 0x9a, 0xab, 0xba, 0xdb};

/* FNV-1a, 32 bit, then murmur3's finalizer so that keys differing in one character share no
 * visible digits. machine.ts derives the same UUIDs and serials, without needing BigInt. */
static uint32_t hash32(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 16777619u;
  }
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

static uint32_t derive(const char *preset, unsigned int index, const char *what) {
  char key[96];
  snprintf(key, sizeof key, "%s/%u/%s", preset, index, what);
  return hash32(key);
}

/* GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx from four hashes of "<preset>/<index>/uuid<k>". */
static void default_uuid(char *out, size_t size, unsigned int index) {
  uint32_t h[4];
  static const char *const parts[4] = {"uuid0", "uuid1", "uuid2", "uuid3"};
  for (int k = 0; k < 4; k++) h[k] = derive(FAKE_DEFAULT_PRESET, index, parts[k]);
  snprintf(out, size, "GPU-%08x-%04x-%04x-%04x-%04x%08x", h[0], h[1] >> 16, h[1] & 0xffffu,
           h[2] >> 16, h[2] & 0xffffu, h[3]);
}

/* 13 digits like a real board serial: "1654" and nine digits of the hash. */
static void default_serial(char *out, size_t size, unsigned int index) {
  snprintf(out, size, "1654%09u", derive(FAKE_DEFAULT_PRESET, index, "serial") % 1000000000u);
}

static void defaults_identity(struct fake_gpu *g, unsigned int index) {
  snprintf(g->name, sizeof g->name, "NVIDIA H100 80GB HBM3");
  default_uuid(g->uuid, sizeof g->uuid, index);
  default_serial(g->serial, sizeof g->serial, index);
  snprintf(g->vbios, sizeof g->vbios, "96.00.99.00.01");
  /* Past eight GPUs the bus list repeats in the next PCI domain, so bus ids stay unique. */
  g->pci_domain = index / 8;
  g->pci_bus = dgx_h100_bus[index % 8];
  g->pci_device = 0;
  g->pci_device_id = 0x233010deu; /* H100 SXM5 80GB */
  g->pci_subsystem_id = 0x16c110deu; /* DGX H100 board */
}

static void defaults_memory_thermal_power(struct fake_gpu *g) {
  g->memory_total = 85520809984ull; /* 81559 MiB */
  g->memory_reserved = 568328192ull; /* 542 MiB held by the driver */
  g->memory_used = 0;
  g->temp = 33;
  g->temp_margin = FAKE_MARGIN_DERIVED;
  g->threshold[NVML_TEMPERATURE_THRESHOLD_SHUTDOWN] = 92;
  g->threshold[NVML_TEMPERATURE_THRESHOLD_SLOWDOWN] = 89;
  g->threshold[NVML_TEMPERATURE_THRESHOLD_MEM_MAX] = 95;
  g->threshold[NVML_TEMPERATURE_THRESHOLD_GPU_MAX] = 87;
  g->power = 72000;
  g->power_limit = 700000;
  g->power_mgmt_limit = 700000;
  g->energy = 1000000000ull;
}

static void defaults_clocks(struct fake_gpu *g) {
  static const unsigned int idle[FAKE_CLOCK_TYPES] = {345, 345, 2619, 765};
  static const unsigned int max[FAKE_CLOCK_TYPES] = {1980, 1980, 2619, 1755};
  memcpy(g->clock, idle, sizeof idle);
  memcpy(g->max_clock, max, sizeof max);
  g->pstate = 0;
  g->clock_reasons = 0x1; /* GpuIdle */
  g->supported_clock_reasons = 0x1ff; /* every bit of reference §7 */
}

static void defaults_links(struct fake_gpu *g) {
  g->pcie_gen = 5;
  g->pcie_width = 16;
  g->pcie_max_gen = 5;
  g->pcie_max_width = 16;
  g->nvlinks = 18;
  for (unsigned int l = 0; l < FAKE_MAX_LINKS; l++) g->nvlink[l].state = NVML_FEATURE_ENABLED;
  g->fabric_state = 3; /* COMPLETED: the NVSwitch fabric is up */
}

static void defaults_health(struct fake_gpu *g) {
  g->ecc_mode = 1;
  g->ecc_pending = 1;
  g->remap_histogram.max = 2560; /* every bank still has all its spare rows */
  g->persistence = 1;
  g->inforom_valid = 1;
  g->supported_events = nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError |
                        nvmlEventTypeXidCriticalError | nvmlEventTypeSingleBitEccErrorStorm |
                        nvmlEventTypeDramRetirementEvent | nvmlEventTypeDramRetirementFailure |
                        nvmlEventTypeNonFatalPoisonError | nvmlEventTypeFatalPoisonError |
                        nvmlEventTypeGpuUnavailableError | nvmlEventTypeGpuRecoveryAction;
  for (int s = 0; s < FAKE_SYM_COUNT; s++) g->rc[s] = FAKE_RC_NONE;
}

/* A healthy idle H100 80GB at NVML index `index`: what an undescribed GPU looks like. */
static void gpu_defaults(struct fake_gpu *g, unsigned int index) {
  memset(g, 0, sizeof *g);
  defaults_identity(g, index);
  defaults_memory_thermal_power(g);
  defaults_clocks(g);
  defaults_links(g);
  defaults_health(g);
}

/* Everything but the GPUs, which are filled lazily (a 64-slot array of defaults is 300 KiB). */
static struct fake_state *state_new(void) {
  struct fake_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  snprintf(st->driver, sizeof st->driver, "550.54.15");
  snprintf(st->nvml, sizeof st->nvml, "12.550.54.15");
  st->cuda = 12040;
  st->gpu_count = FAKE_DEFAULT_GPUS;
  for (int s = 0; s < FAKE_SYM_COUNT; s++) st->rc[s] = FAKE_RC_NONE;
  return st;
}

static void derive_margin(struct fake_gpu *g) {
  if (g->temp_margin == FAKE_MARGIN_DERIVED)
    g->temp_margin = (int)g->threshold[NVML_TEMPERATURE_THRESHOLD_GPU_MAX] - (int)g->temp;
}

struct fake_state *fake_state_default(void) {
  struct fake_state *st = state_new();
  if (!st) return NULL;
  for (unsigned int i = 0; i < st->gpu_count; i++) {
    gpu_defaults(&st->gpus[i], i);
    derive_margin(&st->gpus[i]);
  }
  return st;
}

/* ---- Field values ---- */

static unsigned long long link_sum(const struct fake_gpu *g, int counter) {
  unsigned long long sum = 0;
  for (unsigned int l = 0; l < g->nvlinks && l < FAKE_MAX_LINKS; l++)
    sum += g->nvlink[l].counters[counter];
  return sum;
}

/* HBM temperature of an idle H100 (field 82) when the state does not set it. */
#define FAKE_DEFAULT_MEMORY_TEMP 36

static bool in_range(unsigned int id, unsigned int lo, unsigned int hi) {
  return id >= lo && id <= hi;
}

/* The fields an H100 answers unless overridden; the NVLink totals sum the per-link counters. */
static bool default_field(const struct fake_gpu *g, unsigned int id, unsigned long long *v) {
  *v = 0;
  switch (id) {
    case NVML_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL:
      *v = link_sum(g, NVML_NVLINK_ERROR_DL_CRC_FLIT);
      return true;
    case NVML_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL:
      *v = link_sum(g, NVML_NVLINK_ERROR_DL_CRC_DATA);
      return true;
    case NVML_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL:
      *v = link_sum(g, NVML_NVLINK_ERROR_DL_REPLAY);
      return true;
    case NVML_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL:
      *v = link_sum(g, NVML_NVLINK_ERROR_DL_RECOVERY);
      return true;
    case NVML_FI_DEV_NVLINK_ECC_DATA_ERROR_COUNT_TOTAL:
      *v = link_sum(g, NVML_NVLINK_ERROR_DL_ECC_DATA);
      return true;
    case NVML_FI_DEV_MEMORY_TEMP: *v = FAKE_DEFAULT_MEMORY_TEMP; return true;
    case NVML_FI_DEV_POWER_AVERAGE:
    case NVML_FI_DEV_POWER_INSTANT: *v = g->power; return true;
    case NVML_FI_DEV_PCIE_REPLAY_ROLLOVER_COUNTER:
    case NVML_FI_DEV_GET_GPU_RECOVERY_ACTION: /* 0 = NONE */ return true;
    default:
      return in_range(id, 74, 79) || /* perf-policy violation times */
             in_range(id, 173, 182) || /* PCIe error counters */
             in_range(id, 269, 271); /* clock-event-reason times */
  }
}

struct fake_field fake_field_value(const struct fake_gpu *g, unsigned int id, unsigned int scope) {
  const struct fake_field *any = NULL;
  for (unsigned int k = 0; k < g->field_count; k++) {
    const struct fake_field *f = &g->fields[k];
    if (f->id != id) continue;
    if (!f->any_scope && f->scope == scope) return *f; /* an exact scope wins over "any" */
    if (f->any_scope) any = f;
  }
  if (any) return *any;
  struct fake_field out = {.id = id, .scope = scope, .kind = FAKE_FIELD_ULL};
  if (!default_field(g, id, &out.value.ullVal)) out.kind = FAKE_FIELD_UNSUPPORTED;
  return out;
}

/* ---- Parser ---- */

struct parse_ctx {
  const char *name; /* the path, for messages */
  unsigned int line;
  char *err;
  size_t errlen;
  struct fake_state *st;
  bool touched[FAKE_MAX_GPUS]; /* GPU i has had its defaults applied */
  unsigned int gpu_line[FAKE_MAX_GPUS]; /* first line naming GPU i: the range check is at the end */
  unsigned int event_line[FAKE_MAX_EVENTS];
};

/* One line, split in place. raw keeps the untouched text for values that are the rest of a line. */
struct tokens {
  char raw[FAKE_MAX_LINE_BYTES + 1];
  char buf[FAKE_MAX_LINE_BYTES + 1];
  char *tok[FAKE_MAX_TOKENS];
  size_t off[FAKE_MAX_TOKENS];
  unsigned int n;
};

__attribute__((format(printf, 2, 3))) static bool fail(struct parse_ctx *c, const char *fmt, ...) {
  char reason[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  snprintf(c->err, c->errlen, "%s:%u: %s", c->name, c->line, reason);
  return false;
}

/* Decimal, or hex with 0x. No sign, no octal: "010" is ten, as a person writing the file means. */
static bool parse_u64(const char *s, unsigned long long max, unsigned long long *out) {
  int base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  /* strtoull would accept a sign or blanks first; the state file never has them. */
  if (!(base == 16 ? isxdigit((unsigned char)s[0]) : isdigit((unsigned char)s[0]))) return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, base);
  if (errno != 0 || *end != '\0' || v > max) return false;
  *out = v;
  return true;
}

static bool parse_i32(const char *s, int *out) {
  bool neg = s[0] == '-';
  unsigned long long v;
  if (!parse_u64(neg ? s + 1 : s, (unsigned long long)INT_MAX, &v)) return false;
  *out = neg ? -(int)v : (int)v;
  return true;
}

static bool parse_hex(const char *s, unsigned long long max, unsigned long long *out) {
  if (!isxdigit((unsigned char)s[0])) return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 16);
  if (errno != 0 || *end != '\0' || v > max) return false;
  *out = v;
  return true;
}

static bool num_arg(struct parse_ctx *c, const char *s, unsigned long long max, const char *what,
                    unsigned long long *out) {
  if (parse_u64(s, max, out)) return true;
  return fail(c, "bad number '%s' for %s (expected 0..%llu)", s, what, max);
}

static bool want_args(struct parse_ctx *c, const struct tokens *t, unsigned int n,
                      const char *usage) {
  if (t->n == n) return true;
  return fail(c, "expected '%s'", usage);
}

/* Strips the comment and trailing blanks, rejects control bytes, splits on blanks. */
static bool tokenize(struct parse_ctx *c, const char *line, size_t len, struct tokens *t) {
  if (len > FAKE_MAX_LINE_BYTES) return fail(c, "line longer than %d bytes", FAKE_MAX_LINE_BYTES);
  memcpy(t->raw, line, len);
  t->raw[len] = '\0';
  char *hash = strchr(t->raw, '#');
  if (hash) *hash = '\0';
  size_t n = strlen(t->raw);
  if (n < len && !hash) return fail(c, "NUL byte in line");
  while (n > 0 && (t->raw[n - 1] == ' ' || t->raw[n - 1] == '\t' || t->raw[n - 1] == '\r'))
    t->raw[--n] = '\0';
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)t->raw[i] < 0x20 && t->raw[i] != '\t')
      return fail(c, "control character in line");
  memcpy(t->buf, t->raw, n + 1);
  t->n = 0;
  for (char *p = t->buf; *p;) {
    while (*p == ' ' || *p == '\t') *p++ = '\0';
    if (!*p) break;
    if (t->n == FAKE_MAX_TOKENS) return fail(c, "more than %d tokens", FAKE_MAX_TOKENS);
    t->off[t->n] = (size_t)(p - t->buf);
    t->tok[t->n++] = p;
    while (*p && *p != ' ' && *p != '\t') p++;
  }
  return true;
}

/* The value of a string key is the rest of the line after token k: names contain spaces. */
static bool string_arg(struct parse_ctx *c, const struct tokens *t, unsigned int k, char *dst,
                       size_t size, const char *what) {
  if (t->n <= k) return fail(c, "%s needs a value", what);
  const char *v = t->raw + t->off[k];
  if (strlen(v) >= size) return fail(c, "%s longer than %zu characters", what, size - 1);
  memcpy(dst, v, strlen(v) + 1);
  return true;
}

static int sym_index(const char *name) {
  for (int s = 0; s < FAKE_SYM_COUNT; s++)
    if (strcmp(fake_sym_names[s], name) == 0) return s;
  return -1;
}

/* `<symbol> <code>` into an override table; nvmlErrorString returns a string, not a code. */
static bool rc_arg(struct parse_ctx *c, const char *sym, const char *code, int *table) {
  int s = sym_index(sym);
  if (s < 0) return fail(c, "unknown symbol '%s'", sym);
  if (s == FAKE_SYM(nvmlErrorString))
    return fail(c, "nvmlErrorString has no return code to override");
  unsigned long long v;
  if (!num_arg(c, code, FAKE_MAX_RC, "a return code", &v)) return false;
  table[s] = (int)v;
  return true;
}

static bool parse_missing(struct parse_ctx *c, const struct tokens *t) {
  if (t->n < 2) return fail(c, "expected 'missing <symbol> [...]'");
  for (unsigned int k = 1; k < t->n; k++)
    if (!rc_arg(c, t->tok[k], "13", c->st->rc)) return false;
  return true;
}

static bool parse_system(struct parse_ctx *c, const struct tokens *t, bool *matched) {
  const char *key = t->tok[0];
  struct fake_state *st = c->st;
  unsigned long long v;
  *matched = true;
  if (!strcmp(key, "driver")) return string_arg(c, t, 1, st->driver, sizeof st->driver, "driver");
  if (!strcmp(key, "nvml")) return string_arg(c, t, 1, st->nvml, sizeof st->nvml, "nvml");
  if (!strcmp(key, "cuda")) {
    if (!want_args(c, t, 2, "cuda <version>") || !num_arg(c, t->tok[1], INT_MAX, "cuda", &v))
      return false;
    st->cuda = (int)v;
    return true;
  }
  if (!strcmp(key, "init_rc"))
    return want_args(c, t, 2, "init_rc <code>") && rc_arg(c, "nvmlInit_v2", t->tok[1], st->rc);
  if (!strcmp(key, "rc"))
    return want_args(c, t, 3, "rc <symbol> <code>") && rc_arg(c, t->tok[1], t->tok[2], st->rc);
  if (!strcmp(key, "missing")) return parse_missing(c, t);
  if (!strcmp(key, "gpus")) {
    if (!want_args(c, t, 2, "gpus <n>") || !num_arg(c, t->tok[1], FAKE_MAX_GPUS, "gpus", &v))
      return false;
    st->gpu_count = (unsigned int)v;
    return true;
  }
  *matched = false;
  return true;
}

/* ---- Per-GPU keys ---- */

enum key_kind { K_U32, K_U64, K_I32, K_STR };

struct gpu_key {
  const char *key;
  enum key_kind kind;
  size_t offset;
  unsigned long long max; /* K_U32/K_U64: largest value; K_STR: buffer size */
};

#define KEY(k, kind, member, max) \
  { k, kind, offsetof(struct fake_gpu, member), max }
#define U32(k, member, max) KEY(k, K_U32, member, max)
#define U64(k, member) KEY(k, K_U64, member, ULLONG_MAX)
#define FLAG(k, member) KEY(k, K_U32, member, 1)
#define STR(k, member) KEY(k, K_STR, member, sizeof(((struct fake_gpu *)0)->member))

/* Temperatures and clocks get ranges no GPU leaves, so a typo is an error rather than a value. */
static const struct gpu_key gpu_keys[] = {
    STR("name", name),
    STR("uuid", uuid),
    STR("serial", serial),
    STR("vbios", vbios),
    U32("pci_device_id", pci_device_id, UINT_MAX),
    U32("pci_subsystem_id", pci_subsystem_id, UINT_MAX),
    U64("memory_total", memory_total),
    U64("memory_used", memory_used),
    U64("memory_reserved", memory_reserved),
    U32("temp", temp, 1000),
    KEY("temp_margin", K_I32, temp_margin, 0),
    U32("threshold_shutdown", threshold[0], 1000),
    U32("threshold_slowdown", threshold[1], 1000),
    U32("threshold_mem_max", threshold[2], 1000),
    U32("threshold_gpu_max", threshold[3], 1000),
    U32("power", power, UINT_MAX),
    U32("power_limit", power_limit, UINT_MAX),
    U32("power_mgmt_limit", power_mgmt_limit, UINT_MAX),
    U64("energy", energy),
    U32("util_gpu", util_gpu, 100),
    U32("util_mem", util_mem, 100),
    U32("clock_graphics", clock[0], 100000),
    U32("clock_sm", clock[1], 100000),
    U32("clock_mem", clock[2], 100000),
    U32("clock_video", clock[3], 100000),
    U32("max_clock_graphics", max_clock[0], 100000),
    U32("max_clock_sm", max_clock[1], 100000),
    U32("max_clock_mem", max_clock[2], 100000),
    U32("max_clock_video", max_clock[3], 100000),
    U32("pstate", pstate, NVML_PSTATE_UNKNOWN),
    U64("clock_reasons", clock_reasons),
    U64("supported_clock_reasons", supported_clock_reasons),
    FLAG("ecc_mode", ecc_mode),
    FLAG("ecc_pending", ecc_pending),
    U32("remap_corrected", remap_corrected, UINT_MAX),
    U32("remap_uncorrected", remap_uncorrected, UINT_MAX),
    FLAG("remap_pending", remap_pending),
    FLAG("remap_failure", remap_failure),
    U32("retired_sbe", retired_sbe, UINT_MAX),
    U32("retired_dbe", retired_dbe, UINT_MAX),
    FLAG("retired_pending", retired_pending),
    U32("pcie_replay", pcie_replay, UINT_MAX),
    U32("pcie_gen", pcie_gen, 32),
    U32("pcie_width", pcie_width, 32),
    U32("pcie_max_gen", pcie_max_gen, 32),
    U32("pcie_max_width", pcie_max_width, 32),
    U32("nvlinks", nvlinks, FAKE_MAX_LINKS),
    U32("fabric_state", fabric_state, 3),
    U32("fabric_status", fabric_status, FAKE_MAX_RC),
    U32("fabric_health_mask", fabric_health_mask, UINT_MAX),
    U32("fabric_clique", fabric_clique, UINT_MAX),
    FLAG("repair_channel", repair_channel),
    FLAG("repair_tpc", repair_tpc),
    FLAG("mig_mode", mig_mode),
    FLAG("mig_pending", mig_pending),
    FLAG("persistence", persistence),
    FLAG("inforom_valid", inforom_valid),
    U64("supported_events", supported_events),
    FLAG("lost", lost),
    FLAG("reset_required", reset_required),
};

static bool set_table_key(struct parse_ctx *c, const struct tokens *t, const struct gpu_key *k,
                          struct fake_gpu *g) {
  char *dst = (char *)g + k->offset;
  unsigned long long v;
  if (k->kind == K_STR) return string_arg(c, t, 3, dst, (size_t)k->max, k->key);
  if (t->n != 4) return fail(c, "expected 'gpu <i> %s <value>'", k->key);
  if (k->kind == K_I32) {
    int i;
    if (!parse_i32(t->tok[3], &i) || i == FAKE_MARGIN_DERIVED)
      return fail(c, "bad number '%s' for %s (expected a signed 32-bit integer)", t->tok[3],
                  k->key);
    memcpy(dst, &i, sizeof i);
    return true;
  }
  if (!num_arg(c, t->tok[3], k->max, k->key, &v)) return false;
  if (k->kind == K_U64) {
    memcpy(dst, &v, sizeof v);
  } else {
    unsigned int u = (unsigned int)v;
    memcpy(dst, &u, sizeof u);
  }
  return true;
}

/* `pci <domain>:<bus>:<device>`, hex, as lspci prints it. */
static bool parse_pci(struct parse_ctx *c, const struct tokens *t, struct fake_gpu *g) {
  if (t->n != 4) return fail(c, "expected 'gpu <i> pci <domain>:<bus>:<device>'");
  char buf[64];
  if (strlen(t->tok[3]) >= sizeof buf) return fail(c, "pci address longer than 63 characters");
  memcpy(buf, t->tok[3], strlen(t->tok[3]) + 1);
  char *bus = strchr(buf, ':');
  char *dev = bus ? strchr(bus + 1, ':') : NULL;
  if (!dev)
    return fail(c, "bad pci address '%s' (expected <domain>:<bus>:<device> in hex)", t->tok[3]);
  *bus++ = '\0';
  *dev++ = '\0';
  unsigned long long d, b, v;
  if (!parse_hex(buf, UINT_MAX, &d) || !parse_hex(bus, 0xff, &b) || !parse_hex(dev, 0x1f, &v))
    return fail(c, "bad pci address '%s' (domain <= ffffffff, bus <= ff, device <= 1f)", t->tok[3]);
  g->pci_domain = (unsigned int)d;
  g->pci_bus = (unsigned int)b;
  g->pci_device = (unsigned int)v;
  return true;
}

static int word_index(const char *word, const char *const *words, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(word, words[i])) return i;
  return -1;
}

static const char *const ecc_types[FAKE_ECC_TYPES] = {"corrected", "uncorrected"};
static const char *const ecc_counters[FAKE_ECC_COUNTERS] = {"volatile", "aggregate"};
static const char *const ecc_locations[FAKE_ECC_LOCATIONS] = {
    "l1", "l2", "dram", "register", "texture", "texture_shm", "cbu", "sram"};

/* `ecc <type> <counter> <n>` and `ecc_location <type> <counter> <location> <n>`. */
static bool parse_ecc(struct parse_ctx *c, const struct tokens *t, struct fake_gpu *g,
                      bool located) {
  unsigned int want = located ? 7 : 6;
  if (t->n != want)
    return fail(c, located
                       ? "expected 'gpu <i> ecc_location <corrected|uncorrected> "
                         "<volatile|aggregate> <location> <n>'"
                       : "expected 'gpu <i> ecc <corrected|uncorrected> <volatile|aggregate> <n>'");
  int type = word_index(t->tok[3], ecc_types, FAKE_ECC_TYPES);
  int counter = word_index(t->tok[4], ecc_counters, FAKE_ECC_COUNTERS);
  int loc = located ? word_index(t->tok[5], ecc_locations, FAKE_ECC_LOCATIONS) : 0;
  if (type < 0) return fail(c, "unknown ECC error type '%s' (corrected, uncorrected)", t->tok[3]);
  if (counter < 0) return fail(c, "unknown ECC counter '%s' (volatile, aggregate)", t->tok[4]);
  if (loc < 0)
    return fail(
        c, "unknown memory location '%s' (l1, l2, dram, register, texture, texture_shm, cbu, sram)",
        t->tok[5]);
  unsigned long long v;
  if (!num_arg(c, t->tok[want - 1], ULLONG_MAX, "an ECC count", &v)) return false;
  if (located)
    g->ecc_location[type][counter][loc] = v;
  else
    g->ecc[type][counter] = v;
  return true;
}

static bool parse_histogram(struct parse_ctx *c, const struct tokens *t, struct fake_gpu *g) {
  if (t->n != 8)
    return fail(c, "expected 'gpu <i> remap_histogram <max> <high> <partial> <low> <none>'");
  unsigned long long v[5];
  for (int k = 0; k < 5; k++)
    if (!num_arg(c, t->tok[3 + k], UINT_MAX, "remap_histogram", &v[k])) return false;
  g->remap_histogram =
      (nvmlRowRemapperHistogramValues_t){(unsigned int)v[0], (unsigned int)v[1], (unsigned int)v[2],
                                         (unsigned int)v[3], (unsigned int)v[4]};
  return true;
}

static const char *const nvlink_counters[FAKE_NVLINK_COUNTERS] = {"replay", "recovery", "crc_flit",
                                                                  "crc_data", "ecc_data"};

/* `nvlink <link> state <0|1>` or `nvlink <link> <counter> <n>`. */
static bool parse_nvlink(struct parse_ctx *c, const struct tokens *t, struct fake_gpu *g) {
  if (t->n != 6)
    return fail(
        c,
        "expected 'gpu <i> nvlink <link> <state|replay|recovery|crc_flit|crc_data|ecc_data> <n>'");
  unsigned long long link, v;
  if (!num_arg(c, t->tok[3], FAKE_MAX_LINKS - 1, "an NVLink number", &link)) return false;
  if (!strcmp(t->tok[4], "state")) {
    if (!num_arg(c, t->tok[5], 1, "an NVLink state", &v)) return false;
    g->nvlink[link].state = (unsigned int)v;
    return true;
  }
  int counter = word_index(t->tok[4], nvlink_counters, FAKE_NVLINK_COUNTERS);
  if (counter < 0)
    return fail(
        c, "unknown NVLink counter '%s' (state, replay, recovery, crc_flit, crc_data, ecc_data)",
        t->tok[4]);
  if (!num_arg(c, t->tok[5], ULLONG_MAX, "an NVLink counter", &v)) return false;
  g->nvlink[link].counters[counter] = v;
  return true;
}

/* A value with a '.' is a double, `unsupported` a per-entry NOT_SUPPORTED, else an integer. */
static bool field_value(struct parse_ctx *c, const char *s, struct fake_field *f) {
  if (!strcmp(s, "unsupported")) {
    f->kind = FAKE_FIELD_UNSUPPORTED;
    return true;
  }
  if (!strchr(s, '.')) {
    f->kind = FAKE_FIELD_ULL;
    return num_arg(c, s, ULLONG_MAX, "a field value", &f->value.ullVal);
  }
  char *end;
  errno = 0;
  f->kind = FAKE_FIELD_DOUBLE;
  f->value.dVal = strtod(s, &end);
  if (errno != 0 || *end != '\0' || !isfinite(f->value.dVal))
    return fail(c, "bad number '%s' for a field value", s);
  return true;
}

/* Later lines replace earlier ones for the same (id, scope), so a scenario can append changes. */
static bool store_field(struct parse_ctx *c, struct fake_gpu *g, const struct fake_field *f) {
  for (unsigned int k = 0; k < g->field_count; k++) {
    struct fake_field *o = &g->fields[k];
    if (o->id == f->id && o->any_scope == f->any_scope && o->scope == f->scope) {
      *o = *f;
      return true;
    }
  }
  if (g->field_count == FAKE_MAX_FIELDS)
    return fail(c, "more than %d field overrides on one GPU", FAKE_MAX_FIELDS);
  g->fields[g->field_count++] = *f;
  return true;
}

static bool parse_field(struct parse_ctx *c, const struct tokens *t, struct fake_gpu *g) {
  if (t->n != 5 && t->n != 6)
    return fail(c, "expected 'gpu <i> field <id> [<scope>] <value|unsupported>'");
  struct fake_field f = {.any_scope = t->n == 5};
  unsigned long long id, scope = 0;
  if (!num_arg(c, t->tok[3], NVML_FI_MAX - 1, "a field id", &id)) return false;
  if (t->n == 6 && !num_arg(c, t->tok[4], UINT_MAX, "a field scope", &scope)) return false;
  f.id = (unsigned int)id;
  f.scope = (unsigned int)scope;
  return field_value(c, t->tok[t->n - 1], &f) && store_field(c, g, &f);
}

static bool parse_gpu_special(struct parse_ctx *c, const struct tokens *t, struct fake_gpu *g) {
  const char *key = t->tok[2];
  if (!strcmp(key, "pci")) return parse_pci(c, t, g);
  if (!strcmp(key, "ecc")) return parse_ecc(c, t, g, false);
  if (!strcmp(key, "ecc_location")) return parse_ecc(c, t, g, true);
  if (!strcmp(key, "remap_histogram")) return parse_histogram(c, t, g);
  if (!strcmp(key, "nvlink")) return parse_nvlink(c, t, g);
  if (!strcmp(key, "field")) return parse_field(c, t, g);
  if (!strcmp(key, "rc"))
    return want_args(c, t, 5, "gpu <i> rc <symbol> <code>") &&
           rc_arg(c, t->tok[3], t->tok[4], g->rc);
  return fail(c, "unknown GPU key '%s'", key);
}

/* `gpu <i> <key> <value...>`: the first mention of GPU i gives it the H100 defaults. */
static bool parse_gpu(struct parse_ctx *c, const struct tokens *t) {
  if (t->n < 3) return fail(c, "expected 'gpu <i> <key> <value...>'");
  unsigned long long i;
  if (!num_arg(c, t->tok[1], FAKE_MAX_GPUS - 1, "a GPU index", &i)) return false;
  struct fake_gpu *g = &c->st->gpus[i];
  if (!c->touched[i]) {
    gpu_defaults(g, (unsigned int)i);
    c->touched[i] = true;
    c->gpu_line[i] = c->line;
  }
  for (size_t k = 0; k < sizeof gpu_keys / sizeof gpu_keys[0]; k++)
    if (!strcmp(gpu_keys[k].key, t->tok[2])) return set_table_key(c, t, &gpu_keys[k], g);
  return parse_gpu_special(c, t, g);
}

/* `event <seq> <gpu> <type> <data> [<gi> <ci>]`, seqs strictly increasing through the file. */
static bool parse_event(struct parse_ctx *c, const struct tokens *t) {
  struct fake_state *st = c->st;
  if (t->n != 5 && t->n != 7)
    return fail(c,
                "expected 'event <seq> <gpu> <type> <data> [<gpuInstanceId> <computeInstanceId>]'");
  if (st->event_count == FAKE_MAX_EVENTS) return fail(c, "more than %d events", FAKE_MAX_EVENTS);
  unsigned long long seq, gpu, type, data, gi = 0xffffffffu, ci = 0xffffffffu;
  if (!num_arg(c, t->tok[1], ULLONG_MAX, "an event seq", &seq) ||
      !num_arg(c, t->tok[2], FAKE_MAX_GPUS - 1, "an event GPU", &gpu) ||
      !num_arg(c, t->tok[3], ULLONG_MAX, "an event type", &type) ||
      !num_arg(c, t->tok[4], ULLONG_MAX, "event data", &data))
    return false;
  if (t->n == 7 && (!num_arg(c, t->tok[5], UINT_MAX, "a GPU instance id", &gi) ||
                    !num_arg(c, t->tok[6], UINT_MAX, "a compute instance id", &ci)))
    return false;
  if (seq == 0) return fail(c, "event seq must be at least 1");
  if (seq <= st->max_seq)
    return fail(c, "event seq %llu not above the previous one (%llu)", seq, st->max_seq);
  if (type == 0) return fail(c, "event type must be a nonzero event bit");
  c->event_line[st->event_count] = c->line;
  st->events[st->event_count++] =
      (struct fake_event){seq, (unsigned int)gpu, type, data, (unsigned int)gi, (unsigned int)ci};
  st->max_seq = seq;
  return true;
}

static bool parse_tokens(struct parse_ctx *c, const struct tokens *t) {
  if (t->n == 0) return true;
  if (!strcmp(t->tok[0], "gpu")) return parse_gpu(c, t);
  if (!strcmp(t->tok[0], "event")) return parse_event(c, t);
  bool matched;
  if (!parse_system(c, t, &matched)) return false;
  return matched || fail(c, "unknown key '%s'", t->tok[0]);
}

/* Checks that need the whole file (the `gpus` line may come last), then fills the rest. */
static bool finish(struct parse_ctx *c) {
  struct fake_state *st = c->st;
  for (unsigned int i = st->gpu_count; i < FAKE_MAX_GPUS; i++) {
    if (!c->touched[i]) continue;
    c->line = c->gpu_line[i];
    return fail(c, "gpu %u out of range: the file describes %u GPUs", i, st->gpu_count);
  }
  for (unsigned int e = 0; e < st->event_count; e++) {
    if (st->events[e].gpu < st->gpu_count) continue;
    c->line = c->event_line[e];
    return fail(c, "event on gpu %u out of range: the file describes %u GPUs", st->events[e].gpu,
                st->gpu_count);
  }
  for (unsigned int i = 0; i < st->gpu_count; i++) {
    if (!c->touched[i]) gpu_defaults(&st->gpus[i], i);
    derive_margin(&st->gpus[i]);
  }
  return true;
}

struct fake_state *fake_state_parse(const char *name, const char *text, size_t len, char *err,
                                    size_t errlen) {
  struct parse_ctx *c = calloc(1, sizeof *c);
  struct tokens *t = malloc(sizeof *t);
  struct fake_state *st = state_new();
  bool ok = c && t && st;
  if (!ok) snprintf(err, errlen, "%s:0: out of memory", name);
  if (ok) *c = (struct parse_ctx){.name = name, .err = err, .errlen = errlen, .st = st};
  for (size_t pos = 0; ok && pos < len;) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - text) : len;
    c->line++;
    ok = tokenize(c, text + pos, end - pos, t) && parse_tokens(c, t);
    pos = end + 1;
  }
  ok = ok && finish(c);
  free(c);
  free(t);
  if (ok) return st;
  free(st);
  return NULL;
}

/* ---- Files ---- */

static void sig_from_stat(struct fake_sig *sig, const struct stat *s) {
  sig->error = 0;
  sig->dev = s->st_dev;
  sig->ino = s->st_ino;
  sig->size = s->st_size;
  sig->mtime_ns = (long long)s->st_mtim.tv_sec * 1000000000ll + s->st_mtim.tv_nsec;
}

static bool sig_path(const char *path, struct fake_sig *sig) {
  memset(sig, 0, sizeof *sig);
  size_t n = strlen(path);
  if (n >= sizeof sig->path) {
    sig->error = ENAMETOOLONG;
    return false;
  }
  memcpy(sig->path, path, n + 1);
  return true;
}

void fake_sig_stat(const char *path, struct fake_sig *sig) {
  struct stat s;
  if (!sig_path(path, sig)) return;
  if (stat(path, &s) != 0)
    sig->error = errno;
  else
    sig_from_stat(sig, &s);
}

bool fake_sig_equal(const struct fake_sig *a, const struct fake_sig *b) {
  if (a->is_default || b->is_default) return a->is_default == b->is_default;
  if (strcmp(a->path, b->path) != 0 || a->error != b->error) return false;
  if (a->error != 0) return true; /* still missing: report it once */
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

static char *read_all(int fd, struct fake_sig *sig, size_t *len, char *err, size_t errlen) {
  if (sig->size > FAKE_MAX_FILE_BYTES) {
    snprintf(err, errlen, "%s:0: file is %lld bytes, limit %d", sig->path, (long long)sig->size,
             FAKE_MAX_FILE_BYTES);
    return NULL;
  }
  /* One byte more than the limit, so a file that grew after fstat is still caught. */
  char *buf = malloc(FAKE_MAX_FILE_BYTES + 1);
  size_t n = 0;
  ssize_t r = 1;
  while (buf && n <= FAKE_MAX_FILE_BYTES &&
         (r = read(fd, buf + n, FAKE_MAX_FILE_BYTES + 1 - n)) > 0)
    n += (size_t)r;
  if (!buf || r < 0 || n > FAKE_MAX_FILE_BYTES) {
    char e[128];
    snprintf(err, errlen, "%s:0: %s", sig->path,
             !buf    ? "out of memory"
             : r < 0 ? strerror_r(errno, e, sizeof e)
                     : "file grew past the limit");
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

struct fake_state *fake_state_load(const char *path, struct fake_sig *sig, char *err,
                                   size_t errlen) {
  char e[128];
  if (!sig_path(path, sig)) {
    snprintf(err, errlen, "%.200s...:0: path longer than %d bytes", path, FAKE_MAX_PATH - 1);
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat s;
  if (fd < 0 || fstat(fd, &s) != 0) {
    sig->error = errno;
    snprintf(err, errlen, "%s:0: cannot read: %s", path, strerror_r(errno, e, sizeof e));
    if (fd >= 0) close(fd);
    return NULL;
  }
  sig_from_stat(sig, &s); /* of the descriptor read, not of a later rename */
  size_t len = 0;
  char *text = read_all(fd, sig, &len, err, errlen);
  close(fd);
  if (!text) return NULL;
  struct fake_state *st = fake_state_parse(path, text, len, err, errlen);
  free(text);
  return st;
}
