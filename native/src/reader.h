// Reads NVML signals into plain JS objects shaped like proto/shoal.proto's messages (JSON field
// names), recording every signal it could not read and why. A failed read is data for the health
// policy (NOT_SUPPORTED, GPU_IS_LOST, a missing symbol), never an exception.
#ifndef SHOAL_READER_H
#define SHOAL_READER_H

#include <napi.h>

#include "library.h"

namespace shoal {

inline Napi::Number Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// Reading stops early once a GPU is lost: every further call would only say so again.
class Reader {
 public:
  Reader(Napi::Env env, const Library& lib, nvmlDevice_t device)
      : env_(env), lib_(lib), device_(device), unread_(Napi::Array::New(env)) {}

  // Objects are built as protobuf-es messages (with $typeName, implicit fields present), so the
  // TypeScript face can hand them on without copying them through create().
  Napi::Object Message(const char* typeName);
  void Put(Napi::Object o, const char* key, napi_value v);
  void Put(Napi::Object o, const char* key, double v) { Put(o, key, static_cast<napi_value>(Num(env_, v))); }
  void PutBool(Napi::Object o, const char* key, bool v) { Put(o, key, static_cast<napi_value>(Napi::Boolean::New(env_, v))); }
  void Put(Napi::Object o, const char* key, const std::string& v) { Put(o, key, static_cast<napi_value>(Napi::String::New(env_, v))); }

  // True when rc is SUCCESS; otherwise records {signal, nvmlReturn} and notes lost/reset.
  bool Ok(const char* signal, nvmlReturn_t rc);
  void Unread(const std::string& signal, nvmlReturn_t rc);

  Napi::Env env() const { return env_; }
  const Library& lib() const { return lib_; }
  nvmlDevice_t device() const { return device_; }
  bool lost() const { return lost_; }
  bool resetRequired() const { return resetRequired_; }
  Napi::Array unread() const { return unread_; }

 private:
  Napi::Env env_;
  const Library& lib_;
  nvmlDevice_t device_;
  Napi::Array unread_;
  uint32_t unreadCount_ = 0;
  bool lost_ = false;
  bool resetRequired_ = false;
};

// One row of a table of calls that differ only in a kind argument (threshold type, clock type).
struct KeyedSignal {
  int kind;
  const char* key;     // field of the target message
  const char* signal;  // name in `unread` when the call fails
};
using KeyedCall = nvmlReturn_t (*)(nvmlDevice_t, int, unsigned int*);

// One call per row into target[key]; a driver lacking the call answers FUNCTION_NOT_FOUND per row.
template <size_t N>
void ReadKeyed(Reader& r, Napi::Object target, KeyedCall call, const KeyedSignal (&rows)[N]) {
  for (const KeyedSignal& row : rows) {
    unsigned int value = 0;
    nvmlReturn_t rc = call != nullptr ? call(r.device(), row.kind, &value) : NVML_ERROR_FUNCTION_NOT_FOUND;
    if (r.Ok(row.signal, rc)) r.Put(target, row.key, value);
  }
}

// Bounded strings: NVML writes at most `size` bytes; we never trust it to terminate them.
std::string FromBuffer(const char* buffer, size_t size);


// nvmlFieldValue_t's union read by its declared type; NaN for a type NVML does not define.
double FieldNumber(const nvmlFieldValue_t& f);

}  // namespace shoal

#endif
