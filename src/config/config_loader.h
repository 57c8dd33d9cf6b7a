// YAML -> Config, with every error reported at once and pointing at file:line:column.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace portico::config {

struct ConfigError {
  std::string file;
  Mark mark;
  std::string key_path;  // "upstreams.users.timeouts.connect", "routes[2].match"
  std::string message;   // what was expected, and a suggestion when there is one
  // "portico.yaml:12:5: upstreams.users.timeouts.connect: expected a duration like 2s, got \"2x\""
  std::string to_string() const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  std::vector<ConfigError> errors;
  std::vector<std::string> warnings;  // accepted-but-not-yet-built sections, etc.
  bool ok() const { return errors.empty() && config != nullptr; }
};

// Looks up environment variables; the default reads the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_env();

LoadResult load_config_file(const std::string& path, const EnvLookup& env = process_env());
LoadResult load_config_string(std::string_view yaml, const std::string& file_name,
                              const EnvLookup& env = process_env());

// The commented starter file written by `portico init`.
std::string_view starter_config();

}  // namespace portico::config
