#include "reader.h"

#include <cmath>
#include <cstring>

namespace shoal {

// A sample lists at most this many unread signals; beyond it the list says it was cut. Keeps a
// misbehaving driver from growing a sample without bound.
static constexpr uint32_t kMaxUnread = 256;

Napi::Object Reader::Message(const char* typeName) {
  Napi::Object o = Napi::Object::New(env_);
  Put(o, "$typeName", std::string(typeName));
  return o;
}

void Reader::Put(Napi::Object o, const char* key, napi_value v) {
  napi_set_named_property(env_, o, key, v);
}

bool Reader::Ok(const char* signal, nvmlReturn_t rc) {
  if (rc == NVML_SUCCESS) return true;
  Unread(signal, rc);
  return false;
}

void Reader::Unread(const std::string& signal, nvmlReturn_t rc) {
  if (rc == NVML_ERROR_GPU_IS_LOST) lost_ = true;
  if (rc == NVML_ERROR_RESET_REQUIRED) resetRequired_ = true;
  if (unreadCount_ > kMaxUnread) return;
  Napi::Object entry = Message("shoal.v1.SignalStatus");
  Put(entry, "signal", unreadCount_ == kMaxUnread ? std::string("unread.truncated") : signal);
  Put(entry, "nvmlReturn", rc);
  unread_.Set(unreadCount_++, entry);
}

std::string FromBuffer(const char* buffer, size_t size) {
  return std::string(buffer, strnlen(buffer, size));
}

double FieldNumber(const nvmlFieldValue_t& f) {
  switch (f.valueType) {
    case NVML_VALUE_TYPE_DOUBLE: return f.value.dVal;
    case NVML_VALUE_TYPE_UNSIGNED_INT: return f.value.uiVal;
    case NVML_VALUE_TYPE_UNSIGNED_LONG: return static_cast<double>(f.value.ulVal);
    case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: return static_cast<double>(f.value.ullVal);
    case NVML_VALUE_TYPE_SIGNED_LONG_LONG: return static_cast<double>(f.value.sllVal);
    case NVML_VALUE_TYPE_SIGNED_INT: return f.value.siVal;
    case NVML_VALUE_TYPE_UNSIGNED_SHORT: return f.value.usVal;
    default: return std::nan("");
  }
}

}  // namespace shoal
