/*
 * Smoke check of a built fake libnvidia-ml.so.1, run by `make -C fake check`:
 *
 *   selftest <lib> [<symbol that must be missing>...]
 *
 * It covers each mechanism once (default machine, scripted file, reload, overrides, lost GPU,
 * events, missing symbols) and stops at the first failure. The behaviour tests proper are the
 * TypeScript tests against the addon.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_state.h"
#include "nvml_symbols.h"

/* Typed pointers p_<name> to every call, filled by dlsym; NULL when the library lacks it. */
#define FAKE_PTR(ret, name, params, required) static ret(*p_##name) params;
NVML_SYMBOLS(FAKE_PTR)
#undef FAKE_PTR

static char g_dir[] = "/tmp/fake-nvml-selftest-XXXXXX";
static char g_state[sizeof g_dir + 16];

__attribute__((format(printf, 2, 3))) static void fail_at(int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("selftest: FAIL (selftest.c:%d): ", line);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  exit(1);
}

#define CHECK(cond, ...)                         \
  do {                                           \
    if (!(cond)) fail_at(__LINE__, __VA_ARGS__); \
  } while (0)
#define RC(call, want)                                                                     \
  do {                                                                                     \
    nvmlReturn_t got_ = (call);                                                            \
    if (got_ != (want)) fail_at(__LINE__, "%s returned %d, want %d", #call, got_, (want)); \
  } while (0)

/* ---- Loading ---- */

static bool listed(const char *name, int argc, char **argv) {
  for (int k = 2; k < argc; k++)
    if (!strcmp(argv[k], name)) return true;
  return false;
}

/* Every symbol resolves except exactly those named on the command line. */
static void load(int argc, char **argv) {
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  CHECK(lib, "dlopen: %s", dlerror());
#define FAKE_LOAD(ret, name, params, required)                                                 \
  {                                                                                            \
    void *sym = dlsym(lib, #name);                                                             \
    memcpy(&p_##name, &sym, sizeof sym);                                                       \
    CHECK(!sym == listed(#name, argc, argv), "%s is %s", #name, sym ? "exported" : "missing"); \
  }
  NVML_SYMBOLS(FAKE_LOAD)
#undef FAKE_LOAD
  for (int k = 2; k < argc; k++)
    CHECK(dlsym(lib, argv[k]) == NULL, "%s is not an NVML call", argv[k]);
}

/* ---- Helpers ---- */

/* Like machine.ts: write beside the target, then rename, so the library never reads half a file. */
static void write_state(const char *text) {
  char tmp[sizeof g_state + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", g_state);
  FILE *f = fopen(tmp, "w");
  CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", tmp);
  CHECK(rename(tmp, g_state) == 0, "cannot rename %s", tmp);
}

static unsigned int temperature(nvmlDevice_t d) {
  if (p_nvmlDeviceGetTemperatureV) {
    nvmlTemperature_t t = {.version = nvmlTemperature_v1, .sensorType = NVML_TEMPERATURE_GPU};
    RC(p_nvmlDeviceGetTemperatureV(d, &t), NVML_SUCCESS);
    return (unsigned int)t.temperature;
  }
  unsigned int t = 0;
  RC(p_nvmlDeviceGetTemperature(d, NVML_TEMPERATURE_GPU, &t), NVML_SUCCESS);
  return t;
}

static nvmlDevice_t handle(unsigned int i) {
  nvmlDevice_t d = NULL;
  RC(p_nvmlDeviceGetHandleByIndex_v2(i, &d), NVML_SUCCESS);
  return d;
}

static unsigned int count(void) {
  unsigned int n = 0;
  RC(p_nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
  return n;
}

static void shutdown_all(void) {
  unsigned int n;
  while (p_nvmlDeviceGetCount_v2(&n) != NVML_ERROR_UNINITIALIZED)
    RC(p_nvmlShutdown(), NVML_SUCCESS);
}

/* Runs `call` with stderr captured; checks the library printed "fake-nvml: <state>:<line>: ". */
static nvmlReturn_t expect_parse_error(nvmlReturn_t (*call)(void), unsigned int line) {
  char log[sizeof g_dir + 16], want[sizeof g_state + 32], got[512] = {0};
  snprintf(log, sizeof log, "%s/stderr", g_dir);
  fflush(stderr);
  int saved = dup(2), fd = open(log, O_CREAT | O_TRUNC | O_RDWR, 0600);
  CHECK(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2, "cannot capture stderr");
  nvmlReturn_t rc = call();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  CHECK(pread(fd, got, sizeof got - 1, 0) >= 0, "cannot read captured stderr");
  close(fd);
  snprintf(want, sizeof want, "fake-nvml: %s:%u: ", g_state, line);
  CHECK(strncmp(got, want, strlen(want)) == 0, "stderr '%s', want it to start with '%s'", got,
        want);
  return rc;
}

static nvmlReturn_t call_count(void) {
  unsigned int n;
  return p_nvmlDeviceGetCount_v2(&n);
}

/* ---- Default machine ---- */

static void check_default_gpu(unsigned int i, char seen[][NVML_DEVICE_UUID_V2_BUFFER_SIZE]) {
  static const unsigned int bus[8] = {0x18, 0x2a, 0x3a, 0x5d, 0x9a, 0xab, 0xba, 0xdb};
  nvmlDevice_t d = handle(i);
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
  nvmlPciInfo_t pci;
  RC(p_nvmlDeviceGetName(d, name, sizeof name), NVML_SUCCESS);
  CHECK(!strcmp(name, "NVIDIA H100 80GB HBM3"), "gpu %u name '%s'", i, name);
  RC(p_nvmlDeviceGetPciInfo_v3(d, &pci), NVML_SUCCESS);
  CHECK(pci.bus == bus[i] && pci.domain == 0, "gpu %u pci %s", i, pci.busId);
  RC(p_nvmlDeviceGetUUID(d, seen[i], NVML_DEVICE_UUID_V2_BUFFER_SIZE), NVML_SUCCESS);
  CHECK(strlen(seen[i]) == 40 && !strncmp(seen[i], "GPU-", 4) && seen[i][12] == '-', "uuid '%s'",
        seen[i]);
  for (unsigned int j = 0; j < i; j++)
    CHECK(strcmp(seen[i], seen[j]) != 0, "gpus %u and %u share a uuid", i, j);
  CHECK(temperature(d) == 33, "gpu %u temperature %u", i, temperature(d));
}

static void test_default(void) {
  unsetenv(FAKE_STATE_ENV);
  unsigned int n;
  RC(p_nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
  CHECK(!strcmp(p_nvmlErrorString(NVML_ERROR_GPU_IS_LOST), "GPU is lost"), "error string of 15");
  CHECK(!strcmp(p_nvmlErrorString(31), "Unknown Error"), "error string of 31");
  RC(p_nvmlInit_v2(), NVML_SUCCESS);
  RC(p_nvmlInit_v2(), NVML_SUCCESS); /* refcount 2 */
  CHECK(count() == 8, "default machine has %u GPUs", count());
  char uuids[8][NVML_DEVICE_UUID_V2_BUFFER_SIZE];
  for (unsigned int i = 0; i < 8; i++) check_default_gpu(i, uuids);
  char small[4];
  RC(p_nvmlDeviceGetName(handle(0), small, sizeof small), NVML_ERROR_INSUFFICIENT_SIZE);
  RC(p_nvmlDeviceGetPowerUsage(handle(0), NULL), NVML_ERROR_INVALID_ARGUMENT);
  RC(p_nvmlDeviceGetPowerUsage((nvmlDevice_t)&n, &n), NVML_ERROR_INVALID_ARGUMENT);
  if (p_nvmlDeviceGetMemoryInfo_v2) {
    nvmlMemory_v2_t m = {.version = 1};
    RC(p_nvmlDeviceGetMemoryInfo_v2(handle(0), &m), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  }
  RC(p_nvmlShutdown(), NVML_SUCCESS);
  CHECK(count() == 8, "still initialised after one of two shutdowns");
  RC(p_nvmlShutdown(), NVML_SUCCESS);
  RC(p_nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
  RC(p_nvmlShutdown(), NVML_SUCCESS); /* extra shutdowns are not errors */
}

/* ---- Scripted state, overrides, fields, retired pages ---- */

static const char *const scripted =
    "# selftest\n"
    "gpus 4\n"
    "rc nvmlDeviceGetPowerUsage 3\n"
    "missing nvmlDeviceGetSerial\n"
    "gpu 1 temp 91\n"
    "gpu 1 name Test GPU One\n"
    "gpu 2 rc nvmlDeviceGetTemperature 17\n"
    "gpu 2 rc nvmlDeviceGetTemperatureV 17\n"
    "gpu 3 reset_required 1\n"
    "gpu 0 retired_dbe 3\n"
    "gpu 0 field 82 41\n"
    "gpu 0 field 161 2 7\n"
    "gpu 0 field 220 1.5\n";

static void check_fields(nvmlDevice_t d) {
  nvmlFieldValue_t v[5] = {{.fieldId = 82},
                           {.fieldId = 161, .scopeId = 2},
                           {.fieldId = 161, .scopeId = 3},
                           {.fieldId = 220},
                           {.fieldId = 230}};
  RC(p_nvmlDeviceGetFieldValues(d, 5, v), NVML_SUCCESS);
  CHECK(v[0].nvmlReturn == NVML_SUCCESS && v[0].value.ullVal == 41, "field 82");
  CHECK(v[1].nvmlReturn == NVML_SUCCESS && v[1].value.ullVal == 7, "field 161 scope 2");
  CHECK(v[2].nvmlReturn == NVML_ERROR_NOT_SUPPORTED, "field 161 scope 3 is %d", v[2].nvmlReturn);
  CHECK(v[3].valueType == NVML_VALUE_TYPE_DOUBLE && v[3].value.dVal == 1.5, "field 220");
  CHECK(v[4].nvmlReturn == NVML_SUCCESS && v[4].value.ullVal == 0, "field 230");
}

static void check_retired_pages(nvmlDevice_t d) {
  unsigned int n = 0;
  unsigned long long addr[8];
  RC(p_nvmlDeviceGetRetiredPages(d, 1, &n, NULL), NVML_SUCCESS);
  CHECK(n == 3, "sizing call says %u pages", n);
  n = 1;
  RC(p_nvmlDeviceGetRetiredPages(d, 1, &n, addr), NVML_ERROR_INSUFFICIENT_SIZE);
  CHECK(n == 3, "short buffer reports %u pages", n);
  n = 8;
  RC(p_nvmlDeviceGetRetiredPages(d, 1, &n, addr), NVML_SUCCESS);
  CHECK(n == 3 && addr[0] != addr[2], "filled %u pages", n);
}

static void test_scripted(void) {
  write_state(scripted);
  setenv(FAKE_STATE_ENV, g_state, 1);
  RC(p_nvmlInit_v2(), NVML_SUCCESS);
  CHECK(count() == 4, "scripted machine has %u GPUs", count());
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
  unsigned int mw;
  RC(p_nvmlDeviceGetName(handle(1), name, sizeof name), NVML_SUCCESS);
  CHECK(!strcmp(name, "Test GPU One") && temperature(handle(1)) == 91, "gpu 1 is '%s'", name);
  RC(p_nvmlDeviceGetPowerUsage(handle(0), &mw), NVML_ERROR_NOT_SUPPORTED);
  RC(p_nvmlDeviceGetSerial(handle(1), name, sizeof name), NVML_ERROR_FUNCTION_NOT_FOUND);
  RC(p_nvmlDeviceGetTemperature(handle(2), NVML_TEMPERATURE_GPU, &mw), NVML_ERROR_OPERATING_SYSTEM);
  RC(p_nvmlDeviceGetTemperature(handle(3), NVML_TEMPERATURE_GPU, &mw), NVML_ERROR_RESET_REQUIRED);
  check_fields(handle(0));
  check_retired_pages(handle(0));
}

/* ---- Reload: only Init, GetCount and the wait re-read the file ---- */

static void test_reload(void) {
  nvmlDevice_t g1 = handle(1), g3 = handle(3);
  unsigned int t;
  write_state("gpus 4\ngpu 1 temp 50\ngpu 3 lost 1\n");
  CHECK(temperature(g1) == 91, "a per-GPU call reloaded the state");
  CHECK(count() == 4, "count after reload");
  CHECK(temperature(g1) == 50, "temperature after reload is %u", temperature(g1));
  nvmlDevice_t d;
  RC(p_nvmlDeviceGetHandleByIndex_v2(3, &d), NVML_ERROR_GPU_IS_LOST);
  RC(p_nvmlDeviceGetTemperature(g3, NVML_TEMPERATURE_GPU, &t), NVML_ERROR_GPU_IS_LOST);
  RC(p_nvmlDeviceGetPowerUsage(g1, &t), NVML_SUCCESS); /* the global override is gone */
  write_state("gpus 2\n");
  CHECK(count() == 2, "count after shrinking");
  RC(p_nvmlDeviceGetTemperature(g3, NVML_TEMPERATURE_GPU, &t), NVML_ERROR_GPU_IS_LOST);
  RC(p_nvmlDeviceGetHandleByIndex_v2(3, &d), NVML_ERROR_INVALID_ARGUMENT);
  write_state("gpus 4\nbogus_key 1\n");
  RC(expect_parse_error(call_count, 2), NVML_SUCCESS);
  CHECK(count() == 2, "a bad reload replaced the state");
  shutdown_all();
  RC(expect_parse_error(p_nvmlInit_v2, 2), NVML_ERROR_UNKNOWN);
  RC(p_nvmlDeviceGetCount_v2(&t), NVML_ERROR_UNINITIALIZED);
  write_state("init_rc 9\n");
  RC(p_nvmlInit_v2(), NVML_ERROR_DRIVER_NOT_LOADED);
  RC(p_nvmlDeviceGetCount_v2(&t), NVML_ERROR_UNINITIALIZED);
}

/* ---- Events ---- */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void expect_event(nvmlEventSet_t set, nvmlDevice_t d, unsigned long long data,
                         unsigned int gi) {
  nvmlEventData_t e;
  RC(p_nvmlEventSetWait_v2(set, &e, 1000), NVML_SUCCESS);
  CHECK(e.device == d && e.eventType == nvmlEventTypeXidCriticalError && e.eventData == data,
        "event data %llu", e.eventData);
  CHECK(e.gpuInstanceId == gi && e.computeInstanceId == (gi == 0xffffffffu ? gi : 0),
        "instance ids");
}

struct waiter {
  nvmlEventSet_t set;
  nvmlEventData_t data;
  nvmlReturn_t rc;
};

static void *wait_thread(void *arg) {
  struct waiter *w = arg;
  w->rc = p_nvmlEventSetWait_v2(w->set, &w->data, 5000);
  return NULL;
}

/* A wait on another thread sees an event written while it waits, with no GetCount in between. */
static void check_wait_reloads(nvmlEventSet_t set) {
  struct waiter w = {.set = set};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, wait_thread, &w) == 0, "pthread_create");
  struct timespec nap = {0, 20000000};
  nanosleep(&nap, NULL);
  write_state("gpus 2\nevent 1 0 8 31\nevent 5 0 8 94\n");
  pthread_join(th, NULL);
  CHECK(w.rc == NVML_SUCCESS && w.data.eventData == 94, "threaded wait got %d, data %llu", w.rc,
        w.data.eventData);
}

static void test_events(void) {
  write_state("gpus 2\nevent 1 0 8 31\n");
  RC(p_nvmlInit_v2(), NVML_SUCCESS);
  nvmlDevice_t g0 = handle(0), g1 = handle(1);
  nvmlEventSet_t set;
  nvmlEventData_t e;
  RC(p_nvmlEventSetCreate(&set), NVML_SUCCESS);
  RC(p_nvmlDeviceRegisterEvents(g0, nvmlEventTypeXidCriticalError | nvmlEventTypePState, set),
     NVML_SUCCESS);
  RC(p_nvmlDeviceRegisterEvents(g1, nvmlEventTypePState, set), NVML_ERROR_NOT_SUPPORTED);
  long long start = now_ms();
  RC(p_nvmlEventSetWait_v2(set, &e, 30), NVML_ERROR_TIMEOUT); /* event 1 is history */
  CHECK(now_ms() - start >= 29, "timed out after %lld ms", now_ms() - start);
  RC(p_nvmlDeviceRegisterEvents(g1, nvmlEventTypeXidCriticalError, set), NVML_SUCCESS);
  /* Event 3 (a DBE on GPU 1) is skipped: the set registered only XIDs there. */
  write_state(
      "gpus 2\nevent 1 0 8 31\nevent 2 0 8 79\nevent 3 1 2 0\nevent 4 1 8 48 1 0\ngpu 1 lost 1\n");
  expect_event(set, g0, 79, 0xffffffffu);
  expect_event(set, g1, 48, 1); /* an event for a lost GPU is still delivered */
  RC(p_nvmlEventSetWait_v2(set, &e, 1000), NVML_ERROR_GPU_IS_LOST);
  CHECK(e.device == g1, "the loss names GPU 1");
  RC(p_nvmlEventSetWait_v2(set, &e, 10), NVML_ERROR_TIMEOUT); /* reported once */
  check_wait_reloads(set);
  RC(p_nvmlEventSetFree(set), NVML_SUCCESS);
  RC(p_nvmlEventSetWait_v2(set, &e, 0), NVML_ERROR_INVALID_ARGUMENT);
  shutdown_all();
}

static void cleanup(void) {
  char path[sizeof g_dir + 16];
  unlink(g_state);
  snprintf(path, sizeof path, "%s/stderr", g_dir);
  unlink(path);
  rmdir(g_dir);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    printf("usage: selftest <libnvidia-ml.so.1> [<symbol that must be missing>...]\n");
    return 2;
  }
  CHECK(mkdtemp(g_dir), "mkdtemp");
  snprintf(g_state, sizeof g_state, "%s/state", g_dir);
  load(argc, argv);
  test_default();
  test_scripted();
  test_reload();
  test_events();
  cleanup();
  printf("selftest: ok\n");
  return 0;
}
