#include "library.h"

#include <dlfcn.h>

namespace shoal {

bool Library::Load(const std::string& libraryPath, std::string* error) {
  // RTLD_LOCAL: NVML's symbols must not satisfy other libraries' lookups in this process.
  void* h = dlopen(libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* why = dlerror();
    *error = "cannot load " + libraryPath + ": " + (why != nullptr ? why : "unknown dlopen error");
    return false;
  }
  std::vector<std::string> absent;
  std::string missingRequired;
#define SHOAL_RESOLVE(ret, name, params, required)                          \
  name = reinterpret_cast<ret(*) params>(dlsym(h, #name));                  \
  if (name == nullptr) {                                                    \
    if (required && missingRequired.empty()) missingRequired = #name;       \
    if (!required) absent.push_back(#name);                                 \
  }
  NVML_SYMBOLS(SHOAL_RESOLVE)
#undef SHOAL_RESOLVE
  if (!missingRequired.empty()) {
    *error = "missing symbol " + missingRequired + " in " + libraryPath +
             ": not an NVML library, or a driver older than Shoal supports";
#define SHOAL_CLEAR(ret, name, params, required) name = nullptr;
    NVML_SYMBOLS(SHOAL_CLEAR)
#undef SHOAL_CLEAR
    dlclose(h);
    return false;
  }
  handle = h;
  path = libraryPath;
  missing = std::move(absent);
  return true;
}

}  // namespace shoal
