// libFuzzer target: any bytes given to the config loader yield a LoadResult, never a crash,
// a hang or an escaped exception.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include "config/config_json.h"
#include "config/config_loader.h"

namespace {

// Fixed, so that a crashing input reproduces without the fuzzing machine's environment.
std::optional<std::string> fixed_env(std::string_view name) {
  if (name == "JWT_SECRET") return "fuzz-secret";
  if (name == "PORT") return "8080";
  if (name == "EMPTY") return "";
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  try {
    auto result = portico::config::load_config_string(yaml, "fuzz.yaml", fixed_env);
    for (const auto& error : result.errors) (void)error.to_string();
    // A config that loads must also render, as GET /admin/config does.
    if (result.config) (void)portico::config::config_to_json(*result.config);
  } catch (...) {
    std::terminate();  // the loader promises not to throw; make a broken promise a crash
  }
  return 0;
}
