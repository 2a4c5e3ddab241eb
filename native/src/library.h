// The dlopen'd NVML: one function pointer per symbol of the generated table. Loaded at run time, as
// go-nvml does, so the addon builds and loads on hosts with no driver and says so clearly.
#ifndef SHOAL_LIBRARY_H
#define SHOAL_LIBRARY_H

#include <string>
#include <vector>

#include "nvml_symbols.h"

namespace shoal {

struct Library {
#define SHOAL_FN_PTR(ret, name, params, required) ret(*name) params = nullptr;
  NVML_SYMBOLS(SHOAL_FN_PTR)
#undef SHOAL_FN_PTR

  void* handle = nullptr;
  std::string path;
  std::vector<std::string> missing;  // optional symbols this driver lacks

  // Opens `path` and resolves every symbol. On failure returns false with `error` set and leaves
  // the library unloaded; a missing optional symbol is not a failure (that signal degrades).
  bool Load(const std::string& path, std::string* error);
  bool loaded() const { return handle != nullptr; }
};

// Calls an optional NVML entry point; a symbol the driver lacks answers FUNCTION_NOT_FOUND, the same
// code NVML itself uses, so callers handle one case.
#define NVML_CALL(lib, fn, ...) \
  ((lib).fn != nullptr ? (lib).fn(__VA_ARGS__) : NVML_ERROR_FUNCTION_NOT_FOUND)

}  // namespace shoal

#endif
