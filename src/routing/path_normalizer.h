// Path normalization before routing (config.md "Matching happens on the normalized path").
#pragma once

#include <string>
#include <string_view>

namespace portico::routing {

enum class NormalizeResult {
  Ok,
  ClimbsAboveRoot,  // more ".." than segments: answered 400
  Invalid,          // not an origin-form path (no leading '/', bad %-escape, control bytes)
};

// Writes the normalized form of `raw_path` (the request target without its query) to `out`:
// %-escapes of unreserved characters decoded and other escapes upper-cased, "." and ".."
// segments resolved, repeated '/' merged. `out` is cleared first; no allocation once it
// has capacity.
NormalizeResult normalize_path(std::string_view raw_path, std::string& out);

}  // namespace portico::routing
