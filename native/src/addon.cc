// Shoal's NVML binding. The JS surface is small: load/init/shutdown, refresh (count and handles),
// info and sample per GPU (one crossing each), one fine-grained call for the benchmark, and the
// event watcher. The typed face is native/nvml.ts; nothing else should require this module.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "device.h"
#include "events.h"
#include "library.h"

namespace shoal {

// No host has more GPUs than this today (DGX/HGX: 8, GB200 NVL72 trays: 4); a larger count from
// the driver is cut and reported rather than trusted.
static constexpr unsigned int kMaxDevices = 64;

class NvmlAddon : public Napi::Addon<NvmlAddon> {
 public:
  NvmlAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("load", &NvmlAddon::Load),
        InstanceMethod("init", &NvmlAddon::Initialize),
        InstanceMethod("shutdown", &NvmlAddon::Shutdown),
        InstanceMethod("system", &NvmlAddon::System),
        InstanceMethod("refresh", &NvmlAddon::Refresh),
        InstanceMethod("info", &NvmlAddon::Info),
        InstanceMethod("sample", &NvmlAddon::Sample),
        InstanceMethod("errorString", &NvmlAddon::ErrorString),
        InstanceMethod("watchEvents", &NvmlAddon::WatchEvents),
        InstanceMethod("unwatchEvents", &NvmlAddon::UnwatchEvents),
    });
    // The benchmark's call is plain N-API: node-addon-api's instance-method dispatch costs more
    // than the NVML call it wraps (≈80 ns against ≈30 ns measured).
    napi_value fn = nullptr;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "temperature", NAPI_AUTO_LENGTH,
                                                        &NvmlAddon::Temperature, this, &fn));
    exports.Set("temperature", Napi::Value(env, fn));
    // The NVLink table's layout, so the TypeScript face does not restate it.
    exports.Set("nvlinkTableSize", Napi::Number::New(env, static_cast<double>(kNvLinkTableSize)));
    exports.Set("nvlinkRow", Napi::Number::New(env, kNvLinkRow));
  }

 private:
  Library lib_;
  bool initialized_ = false;
  std::vector<nvmlDevice_t> handles_;
  std::vector<nvmlReturn_t> handleRc_;
  std::shared_ptr<EventWatcher*> watcher_ = std::make_shared<EventWatcher*>(nullptr);

  Napi::Value Fail(Napi::Env env, const char* code, const std::string& message) {
    Napi::Error e = Napi::Error::New(env, message);
    e.Set("code", Napi::String::New(env, code));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value FailNvml(Napi::Env env, const char* call, nvmlReturn_t rc) {
    Napi::Error e = Napi::Error::New(env, std::string(call) + ": " + lib_.nvmlErrorString(rc));
    e.Set("code", Napi::String::New(env, "ERR_NVML"));
    e.Set("nvmlReturn", Napi::Number::New(env, rc));
    e.Set("nvmlCall", Napi::String::New(env, call));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }

  bool Ready(Napi::Env env) {
    if (initialized_) return true;
    Fail(env, "ERR_NVML_STATE", lib_.loaded() ? "NVML is not initialised: call init() first"
                                              : "NVML is not loaded: call load() first");
    return false;
  }

  // Index argument (nullptr when absent) checked against the handles of the last refresh().
  bool DeviceIndex(Napi::Env env, napi_value arg, uint32_t* index) {
    if (!Ready(env)) return false;
    if (arg == nullptr || napi_get_value_uint32(env, arg, index) != napi_ok) {
      Fail(env, "ERR_INVALID_ARG", "device index must be a number");
      return false;
    }
    if (*index >= handles_.size()) {
      Fail(env, "ERR_INVALID_ARG", "device index " + std::to_string(*index) + " out of range (" +
                                       std::to_string(handles_.size()) + " GPUs)");
      return false;
    }
    return true;
  }

  bool DeviceIndex(const Napi::CallbackInfo& info, uint32_t* index) {
    return DeviceIndex(info.Env(), info.Length() < 1 ? nullptr : static_cast<napi_value>(info[0]), index);
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) return Fail(env, "ERR_INVALID_ARG", "load(path): path must be a string");
    std::string path = info[0].As<Napi::String>();
    if (lib_.loaded() && lib_.path != path) {
      return Fail(env, "ERR_NVML_STATE", "NVML already loaded from " + lib_.path + "; cannot load " + path);
    }
    std::string error;
    if (!lib_.loaded() && !lib_.Load(path, &error)) return Fail(env, "ERR_NVML_LIBRARY", error);
    Napi::Object out = Napi::Object::New(env);
    out.Set("path", lib_.path);
    Napi::Array missing = Napi::Array::New(env, lib_.missing.size());
    for (uint32_t i = 0; i < lib_.missing.size(); i++) missing.Set(i, lib_.missing[i]);
    out.Set("missing", missing);
    return out;
  }

  Napi::Value Initialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!lib_.loaded()) return Fail(env, "ERR_NVML_STATE", "NVML is not loaded: call load() first");
    if (initialized_) return env.Undefined();
    nvmlReturn_t rc = lib_.nvmlInit_v2();
    if (rc != NVML_SUCCESS) return FailNvml(env, "nvmlInit_v2", rc);
    initialized_ = true;
    return env.Undefined();
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (*watcher_ != nullptr) return Fail(env, "ERR_NVML_STATE", "stop the event watcher before shutdown");
    if (!initialized_) return env.Undefined();
    initialized_ = false;
    handles_.clear();
    handleRc_.clear();
    nvmlReturn_t rc = lib_.nvmlShutdown();
    if (rc != NVML_SUCCESS) return FailNvml(env, "nvmlShutdown", rc);
    return env.Undefined();
  }

  Napi::Value System(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    Reader r(env, lib_, nullptr);
    Napi::Object o = Napi::Object::New(env);
    char buf[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = {0};
    if (r.Ok("driver_version", NVML_CALL(lib_, nvmlSystemGetDriverVersion, buf, sizeof buf))) {
      o.Set("driverVersion", FromBuffer(buf, sizeof buf));
    }
    char nvml[NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE] = {0};
    if (r.Ok("nvml_version", NVML_CALL(lib_, nvmlSystemGetNVMLVersion, nvml, sizeof nvml))) {
      o.Set("nvmlVersion", FromBuffer(nvml, sizeof nvml));
    }
    int cuda = 0;
    if (r.Ok("cuda_driver_version", NVML_CALL(lib_, nvmlSystemGetCudaDriverVersion_v2, &cuda))) {
      o.Set("cudaDriverVersion", std::to_string(cuda / 1000) + "." + std::to_string((cuda % 1000) / 10));
    }
    o.Set("unread", r.unread());
    return o;
  }

  // Re-reads the device count and every handle. Cheap (count + N calls); the agent calls it once
  // per sampling cycle so a GPU that disappears or is lost shows up in the same cycle.
  Napi::Value Refresh(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    // The watcher keeps its own copy of the handles it registered; NVML hands out the same handle
    // for an index for the whole session, so events still map to the right GPU after a refresh.
    unsigned int count = 0;
    nvmlReturn_t rc = lib_.nvmlDeviceGetCount_v2(&count);
    if (rc != NVML_SUCCESS) return FailNvml(env, "nvmlDeviceGetCount_v2", rc);
    bool truncated = count > kMaxDevices;
    if (truncated) count = kMaxDevices;
    handles_.assign(count, nullptr);
    handleRc_.assign(count, NVML_SUCCESS);
    Napi::Array devices = Napi::Array::New(env, count);
    for (unsigned int i = 0; i < count; i++) {
      handleRc_[i] = lib_.nvmlDeviceGetHandleByIndex_v2(i, &handles_[i]);
      Napi::Object d = Napi::Object::New(env);
      d.Set("index", Num(env, i));
      d.Set("nvmlReturn", Num(env, handleRc_[i]));
      devices.Set(i, d);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("count", Num(env, count));
    out.Set("truncated", Napi::Boolean::New(env, truncated));
    out.Set("devices", devices);
    return out;
  }

  // A GPU whose handle could not be taken, saying why: a whole GpuSample message for sample(), the
  // fields GpuInfo shares with it for info() (the face completes that one with create()).
  Napi::Object Unreachable(Napi::Env env, uint32_t index, bool asSample) {
    Reader r(env, lib_, nullptr);
    r.Unread("handle", handleRc_[index]);
    Napi::Object o = asSample ? r.Message("shoal.v1.GpuSample") : Napi::Object::New(env);
    r.Put(o, "index", index);
    r.Put(o, "uuid", std::string());
    if (asSample) r.Put(o, "nvlinks", Napi::Array::New(env));
    r.PutBool(o, "lost", r.lost());
    if (asSample) r.PutBool(o, "resetRequired", r.resetRequired());
    r.Put(o, "unread", r.unread());
    return o;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    uint32_t index = 0;
    if (!DeviceIndex(info, &index)) return info.Env().Undefined();
    if (handleRc_[index] != NVML_SUCCESS) return Unreachable(info.Env(), index, false);
    Reader r(info.Env(), lib_, handles_[index]);
    return ReadInfo(r, index);
  }

  // sample(index, nvlinkTable: Float64Array of kNvLinkTableSize) -> GpuSample without links.
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    uint32_t index = 0;
    if (!DeviceIndex(info, &index)) return info.Env().Undefined();
    if (info.Length() < 2 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[1].As<Napi::Float64Array>().ElementLength() < kNvLinkTableSize) {
      return Fail(info.Env(), "ERR_INVALID_ARG",
                  "sample(index, table): table must be a Float64Array of " + std::to_string(kNvLinkTableSize));
    }
    double* table = info[1].As<Napi::Float64Array>().Data();
    table[0] = 0;
    if (handleRc_[index] != NVML_SUCCESS) return Unreachable(info.Env(), index, true);
    Reader r(info.Env(), lib_, handles_[index]);
    return ReadSample(r, index, table);
  }

  // The cheapest useful call, for the JS-vs-C benchmark: exactly what bench_call.c does in C.
  static napi_value Temperature(napi_env env, napi_callback_info cbinfo) {
    size_t argc = 1;
    napi_value arg = nullptr;
    void* data = nullptr;
    napi_get_cb_info(env, cbinfo, &argc, &arg, nullptr, &data);
    auto* self = static_cast<NvmlAddon*>(data);
    Napi::Env e(env);
    uint32_t index = 0;
    if (!self->DeviceIndex(e, argc < 1 ? nullptr : arg, &index)) return nullptr;
    if (self->handleRc_[index] != NVML_SUCCESS) {
      self->FailNvml(e, "nvmlDeviceGetHandleByIndex_v2", self->handleRc_[index]);
      return nullptr;
    }
    int celsius = 0;
    const char* call = nullptr;
    nvmlReturn_t rc = GpuTemperature(self->lib_, self->handles_[index], &celsius, &call);
    if (rc != NVML_SUCCESS) {
      self->FailNvml(e, call, rc);
      return nullptr;
    }
    napi_value out = nullptr;
    napi_create_int32(env, celsius, &out);
    return out;
  }

  Napi::Value ErrorString(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!lib_.loaded()) return Fail(env, "ERR_NVML_STATE", "NVML is not loaded: call load() first");
    if (info.Length() < 1 || !info[0].IsNumber()) return Fail(env, "ERR_INVALID_ARG", "errorString(code): code must be a number");
    return Napi::String::New(env, lib_.nvmlErrorString(info[0].As<Napi::Number>().Int32Value()));
  }

  // watchEvents(callback, mask, timeoutMs, queueLimit) -> per-device registrations.
  Napi::Value WatchEvents(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Ready(env)) return env.Undefined();
    if (*watcher_ != nullptr) return Fail(env, "ERR_NVML_STATE", "the event watcher is already running");
    if (info.Length() < 4 || !info[0].IsFunction() || !info[1].IsNumber() || !info[2].IsNumber() ||
        !info[3].IsNumber()) {
      return Fail(env, "ERR_INVALID_ARG", "watchEvents(callback, mask, timeoutMs, queueLimit)");
    }
    if (lib_.nvmlEventSetWait_v2 == nullptr) {
      return FailNvml(env, "nvmlEventSetWait_v2", NVML_ERROR_FUNCTION_NOT_FOUND);
    }
    WatchOptions options{static_cast<unsigned long long>(info[1].As<Napi::Number>().Int64Value()),
                         info[2].As<Napi::Number>().Uint32Value(),
                         static_cast<size_t>(info[3].As<Napi::Number>().Uint32Value())};
    std::vector<nvmlDevice_t> devices;
    for (size_t i = 0; i < handles_.size(); i++) devices.push_back(handleRc_[i] == NVML_SUCCESS ? handles_[i] : nullptr);
    Napi::Array registrations = Napi::Array::New(env);
    std::string error;
    if (EventWatcher::Start(env, lib_, devices, info[0].As<Napi::Function>(), options, registrations,
                            watcher_, &error) == nullptr) {
      return Fail(env, "ERR_NVML_EVENTS", error);
    }
    return registrations;
  }

  Napi::Value UnwatchEvents(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
    if (*watcher_ == nullptr) {
      done.Resolve(env.Undefined());
    } else if (!(*watcher_)->Stop(done)) {
      done.Reject(Napi::Error::New(env, "the event watcher is already stopping").Value());
    }
    return done.Promise();
  }
};

}  // namespace shoal

using shoal::NvmlAddon;
NODE_API_ADDON(NvmlAddon)
