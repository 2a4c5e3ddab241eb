/*
 * C baseline of the NVML per-call benchmark: the cost of one temperature read through a dlsym'd
 * pointer, loaded the way the addon loads it. The addon's benchmark divides its JS figure by this
 * one (DESIGN.md: a call from JS within 10x of the same call from C).
 *
 *   bench_call <path-to-libnvidia-ml.so.1> <iterations>
 *   {"c_call_ns":12.34,"iterations":1000000,"symbol":"nvmlDeviceGetTemperatureV"}
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvml_types.h"

/* Best of three rounds: the minimum is the least disturbed by the scheduler. */
#define BENCH_ROUNDS 3
/* Calls before timing, to fault in the library's pages and warm the branch predictor. */
#define BENCH_WARMUP 10000ull
/* Upper bound on iterations: ten billion calls is minutes even against the fake. */
#define BENCH_MAX_ITERATIONS 10000000000ull

typedef nvmlReturn_t (*init_fn)(void);
typedef nvmlReturn_t (*handle_fn)(unsigned int, nvmlDevice_t *);
typedef nvmlReturn_t (*temp_v_fn)(nvmlDevice_t, nvmlTemperature_t *);
typedef nvmlReturn_t (*temp_fn)(nvmlDevice_t, nvmlTemperatureSensors_t, unsigned int *);

struct bench {
  nvmlDevice_t device;
  temp_v_fn temp_v; /* preferred, as in the addon */
  temp_fn temp; /* fallback on drivers without nvmlDeviceGetTemperatureV */
};

/* Keeps the accumulated temperatures observable, so the loop cannot be dropped. */
static volatile unsigned long long sink;

static void die(const char *what, nvmlReturn_t rc) {
  fprintf(stderr, "bench_call: %s returned %d\n", what, rc);
  exit(1);
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* n calls; the two loops are separate so the timed one has no branch on which symbol to call. */
static void run(const struct bench *b, unsigned long long n) {
  unsigned long long acc = 0;
  if (b->temp_v) {
    for (unsigned long long i = 0; i < n; i++) {
      nvmlTemperature_t t = {.version = nvmlTemperature_v1, .sensorType = NVML_TEMPERATURE_GPU};
      nvmlReturn_t rc = b->temp_v(b->device, &t);
      if (rc != NVML_SUCCESS) die("nvmlDeviceGetTemperatureV", rc);
      acc += (unsigned long long)t.temperature;
    }
  } else {
    for (unsigned long long i = 0; i < n; i++) {
      unsigned int t = 0;
      nvmlReturn_t rc = b->temp(b->device, NVML_TEMPERATURE_GPU, &t);
      if (rc != NVML_SUCCESS) die("nvmlDeviceGetTemperature", rc);
      acc += t;
    }
  }
  sink += acc;
}

static unsigned long long parse_iterations(const char *s) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(s, &end, 10);
  if (s[0] < '1' || s[0] > '9' || *end != '\0' || errno != 0 || n > BENCH_MAX_ITERATIONS) {
    fprintf(stderr, "bench_call: iterations must be 1..%llu, got '%s'\n", BENCH_MAX_ITERATIONS, s);
    exit(2);
  }
  return n;
}

static void open_bench(const char *path, struct bench *b) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "bench_call: %s\n", dlerror());
    exit(1);
  }
  init_fn init = (init_fn)dlsym(lib, "nvmlInit_v2");
  handle_fn handle = (handle_fn)dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
  b->temp_v = (temp_v_fn)dlsym(lib, "nvmlDeviceGetTemperatureV");
  b->temp = (temp_fn)dlsym(lib, "nvmlDeviceGetTemperature");
  if (!init || !handle || (!b->temp_v && !b->temp)) {
    fprintf(stderr, "bench_call: %s lacks nvmlInit_v2, a handle or a temperature call\n", path);
    exit(1);
  }
  nvmlReturn_t rc = init();
  if (rc != NVML_SUCCESS) die("nvmlInit_v2", rc);
  rc = handle(0, &b->device);
  if (rc != NVML_SUCCESS) die("nvmlDeviceGetHandleByIndex_v2", rc);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: bench_call <path-to-libnvidia-ml.so.1> <iterations>\n");
    return 2;
  }
  unsigned long long iterations = parse_iterations(argv[2]);
  struct bench b = {0};
  open_bench(argv[1], &b);
  run(&b, BENCH_WARMUP);
  double best = -1;
  for (int round = 0; round < BENCH_ROUNDS; round++) {
    long long start = now_ns();
    run(&b, iterations);
    double per_call = (double)(now_ns() - start) / (double)iterations;
    if (best < 0 || per_call < best) best = per_call;
  }
  printf("{\"c_call_ns\":%.2f,\"iterations\":%llu,\"symbol\":\"%s\"}\n", best, iterations,
         b.temp_v ? "nvmlDeviceGetTemperatureV" : "nvmlDeviceGetTemperature");
  return 0;
}
