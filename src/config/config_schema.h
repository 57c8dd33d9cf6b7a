// The JSON Schema (draft 2020-12) of portico.yaml, for `portico schema`: editors and CI linters.
#pragma once

#include <string_view>

namespace portico::config {

// Looser than the loader where YAML allows ${VAR} for any value; the loader remains the
// authority (references between sections, regexes and path templates are checked only there).
std::string_view config_json_schema();

}  // namespace portico::config
