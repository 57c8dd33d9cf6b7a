// The value types that every config section and the YAML reader share. Kept apart from
// config.h so that a feature folder's config (filters/cors/cors_config.h) can use them and
// the reader without depending on the whole Config.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/units.h"

namespace portico::config {

using core::Duration;
using namespace std::chrono_literals;

// Where a value came from, for messages that point at the line.
struct Mark {
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
  // Where a value was written is not part of it: a section moved by an edit elsewhere in the
  // file compares equal (a reload keeps what was built from it).
  friend constexpr bool operator==(const Mark&, const Mark&) { return true; }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;  // order as written

struct Endpoint {
  std::string host;  // "0.0.0.0", "127.0.0.1", "::" (brackets removed)
  std::uint16_t port = 0;
  std::string text;  // as written: "127.0.0.1:8080"
};

// An IP network for trusted_proxies: 10.0.0.0/8, ::1/128.
struct Cidr {
  std::string text;
  bool v6 = false;
  std::uint8_t bytes[16] = {};
  int prefix = 0;
};

struct ConfigError {
  std::string file;
  Mark mark;
  std::string key_path;  // "upstreams.users.timeouts.connect", "routes[2].match"
  std::string message;   // what was expected, and a suggestion when there is one
  // "portico.yaml:12:5: upstreams.users.timeouts.connect: expected a duration like 2s, got \"2x\""
  std::string to_string() const;
};

// Looks up environment variables; the default reads the process environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

}  // namespace portico::config
