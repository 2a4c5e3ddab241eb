{
  "targets": [
    {
      "target_name": "shoal_nvml",
      "sources": [
        "src/addon.cc",
        "src/library.cc",
        "src/reader.cc",
        "src/info.cc",
        "src/sample.cc",
        "src/events.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"],
      "libraries": ["-ldl"]
    }
  ]
}
