// NVML event watcher: a native thread blocks in nvmlEventSetWait_v2 and hands each event to JS
// through a thread-safe function, so the event loop never blocks. Stop is asynchronous: the thread
// notices within one wait timeout, releases the function, and its finalizer (on the JS thread)
// joins the thread, frees the event set and resolves the stop promise.
#ifndef SHOAL_EVENTS_H
#define SHOAL_EVENTS_H

#include <napi.h>

#include <atomic>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "library.h"

namespace shoal {

struct EventMessage;

struct WatchOptions {
  unsigned long long mask;  // event bits wanted; each device registers mask & supported
  unsigned int timeoutMs;   // one wait; bounds how long stop takes
  size_t queueLimit;        // events waiting for JS; beyond it events are counted as dropped
};

class EventWatcher {
 public:
  // Registers the devices and starts the thread. On failure returns nullptr with *error set.
  static EventWatcher* Start(Napi::Env env, const Library& lib, const std::vector<nvmlDevice_t>& devices,
                             Napi::Function callback, const WatchOptions& options,
                             Napi::Array registrations, std::shared_ptr<EventWatcher*> slot,
                             std::string* error);

  // Asks the thread to stop; `done` resolves once it has and the event set is freed. A second
  // call while stopping is refused (false).
  bool Stop(Napi::Promise::Deferred done);

 private:
  EventWatcher(const Library& lib, std::vector<nvmlDevice_t> devices, WatchOptions options)
      : lib_(lib), devices_(std::move(devices)), options_(options) {}
  void Run();
  static void Deliver(Napi::Env env, Napi::Function callback, struct EventMessage* message);
  int IndexOf(nvmlDevice_t device) const;
  bool SleepUnlessStopped(unsigned int ms);
  static void Finalize(Napi::Env env, void* data, EventWatcher* self);
  static void CleanupHook(void* arg);

  const Library& lib_;
  std::vector<nvmlDevice_t> devices_;
  WatchOptions options_;
  nvmlEventSet_t set_ = nullptr;
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<unsigned long long> dropped_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  Napi::Promise::Deferred* done_ = nullptr;
  napi_env env_ = nullptr;
  // The addon's pointer to this watcher; cleared when the watcher is gone, however it ended.
  std::shared_ptr<EventWatcher*> slot_;
};

}  // namespace shoal

#endif
