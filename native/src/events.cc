#include "events.h"

#include <chrono>

namespace shoal {

struct EventMessage {
  int index;                       // -1: device not among ours
  unsigned long long type;
  unsigned long long data;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
  nvmlReturn_t rc;                 // not SUCCESS: the wait itself failed
  unsigned long long dropped;      // events lost to a full queue before this one
};

// A failing wait (driver gone, GPU lost) must not spin: back off, doubling, up to this bound.
static constexpr unsigned int kBackoffMinMs = 100;
static constexpr unsigned int kBackoffMaxMs = 5000;

EventWatcher* EventWatcher::Start(Napi::Env env, const Library& lib,
                                  const std::vector<nvmlDevice_t>& devices, Napi::Function callback,
                                  const WatchOptions& options, Napi::Array registrations,
                                  std::shared_ptr<EventWatcher*> slot, std::string* error) {
  nvmlEventSet_t set = nullptr;
  nvmlReturn_t rc = NVML_CALL(lib, nvmlEventSetCreate, &set);
  if (rc != NVML_SUCCESS) {
    *error = std::string("nvmlEventSetCreate: ") + lib.nvmlErrorString(rc);
    return nullptr;
  }
  for (uint32_t i = 0; i < devices.size(); i++) {
    unsigned long long supported = 0;
    nvmlReturn_t src = NVML_CALL(lib, nvmlDeviceGetSupportedEventTypes, devices[i], &supported);
    unsigned long long wanted = options.mask & supported;
    nvmlReturn_t reg = src != NVML_SUCCESS ? src
                       : wanted == 0       ? NVML_ERROR_NOT_SUPPORTED
                                           : NVML_CALL(lib, nvmlDeviceRegisterEvents, devices[i], wanted, set);
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("index", Napi::Number::New(env, i));
    entry.Set("mask", Napi::Number::New(env, static_cast<double>(reg == NVML_SUCCESS ? wanted : 0)));
    entry.Set("nvmlReturn", Napi::Number::New(env, reg));
    registrations.Set(i, entry);
  }
  auto* self = new EventWatcher(lib, devices, options);
  self->set_ = set;
  self->env_ = env;
  self->slot_ = std::move(slot);
  *self->slot_ = self;
  self->tsfn_ = Napi::ThreadSafeFunction::New(env, callback, "shoal-nvml-events", options.queueLimit, 1,
                                              self, Finalize, self);
  // Like a listening socket, a running watcher keeps the process alive until unwatchEvents().
  // Registered after the function, so it runs before the function's own teardown (hooks run in
  // reverse order): a process exiting without Stop still joins the thread before anything is freed.
  napi_add_env_cleanup_hook(env, CleanupHook, self);
  self->thread_ = std::thread(&EventWatcher::Run, self);
  return self;
}

int EventWatcher::IndexOf(nvmlDevice_t device) const {
  for (size_t i = 0; i < devices_.size(); i++) {
    if (devices_[i] == device) return static_cast<int>(i);
  }
  return -1;
}

bool EventWatcher::SleepUnlessStopped(unsigned int ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_.load(); });
}

void EventWatcher::Run() {
  unsigned int backoffMs = kBackoffMinMs;
  while (!stop_.load()) {
    nvmlEventData_t data{};
    nvmlReturn_t rc = lib_.nvmlEventSetWait_v2(set_, &data, options_.timeoutMs);
    if (rc == NVML_ERROR_TIMEOUT) continue;
    auto* m = new EventMessage{rc == NVML_SUCCESS ? IndexOf(data.device) : -1,
                               data.eventType, data.eventData, data.gpuInstanceId,
                               data.computeInstanceId, rc, dropped_.exchange(0)};
    napi_status s = tsfn_.NonBlockingCall(m, &EventWatcher::Deliver);
    if (s != napi_ok) {
      dropped_.fetch_add(1 + m->dropped);
      delete m;
      if (s == napi_closing) break;
    }
    if (rc == NVML_SUCCESS) {
      backoffMs = kBackoffMinMs;
    } else {
      if (!SleepUnlessStopped(backoffMs)) break;
      backoffMs = backoffMs * 2 > kBackoffMaxMs ? kBackoffMaxMs : backoffMs * 2;
    }
  }
  tsfn_.Release();
}

// On the JS thread. Raw N-API with every status checked: while the environment tears down, calls
// into JS fail, and node-addon-api's wrappers would turn that failure into a fatal error.
void EventWatcher::Deliver(Napi::Env env, Napi::Function callback, EventMessage* m) {
  std::unique_ptr<EventMessage> owned(m);
  if (env == nullptr || callback == nullptr) return;
  napi_env e = env;
  napi_value event = nullptr;
  if (napi_create_object(e, &event) != napi_ok) return;
  const struct { const char* key; double value; } fields[] = {
      {"index", static_cast<double>(m->index)},
      {"eventType", static_cast<double>(m->type)},
      {"eventData", static_cast<double>(m->data)},
      {"gpuInstanceId", static_cast<double>(m->gpuInstanceId)},
      {"computeInstanceId", static_cast<double>(m->computeInstanceId)},
      {"nvmlReturn", static_cast<double>(m->rc)},
      {"dropped", static_cast<double>(m->dropped)},
  };
  for (const auto& f : fields) {
    napi_value v = nullptr;
    if (napi_create_double(e, f.value, &v) != napi_ok) return;
    if (napi_set_named_property(e, event, f.key, v) != napi_ok) return;
  }
  napi_value undefined = nullptr;
  if (napi_get_undefined(e, &undefined) != napi_ok) return;
  napi_value result = nullptr;
  // A throwing listener is a bug in JS: leave it pending so Node reports it as uncaught.
  napi_call_function(e, undefined, callback, 1, &event, &result);
}

bool EventWatcher::Stop(Napi::Promise::Deferred done) {
  if (done_ != nullptr) return false;
  done_ = new Napi::Promise::Deferred(done);
  stop_.store(true);
  wake_.notify_all();
  return true;
}

void EventWatcher::CleanupHook(void* arg) {
  auto* self = static_cast<EventWatcher*>(arg);
  self->stop_.store(true);
  self->wake_.notify_all();
  if (self->thread_.joinable()) self->thread_.join();
}

void EventWatcher::Finalize(Napi::Env env, void*, EventWatcher* self) {
  self->stop_.store(true);
  self->wake_.notify_all();
  if (self->thread_.joinable()) self->thread_.join();
  napi_remove_env_cleanup_hook(self->env_, CleanupHook, self);
  NVML_CALL(self->lib_, nvmlEventSetFree, self->set_);
  if (*self->slot_ == self) *self->slot_ = nullptr;
  if (self->done_ != nullptr) {
    self->done_->Resolve(env.Undefined());
    delete self->done_;
  }
  delete self;
}

}  // namespace shoal
