// YAML -> Config, with every error reported at once and pointing at file:line:column.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/config_types.h"

namespace portico::config {

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  std::vector<ConfigError> errors;
  std::vector<std::string> warnings;  // accepted-but-not-yet-built sections, etc.
  bool ok() const { return errors.empty() && config != nullptr; }
};

// The default EnvLookup (config_types.h): the process environment.
EnvLookup process_env();

LoadResult load_config_file(const std::string& path, const EnvLookup& env = process_env());
LoadResult load_config_string(std::string_view yaml, const std::string& file_name,
                              const EnvLookup& env = process_env());

// The commented starter file written by `portico init`.
std::string_view starter_config();

}  // namespace portico::config
