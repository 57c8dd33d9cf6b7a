// `validate:` on a route, and its parse rules: the JSON Schema its request bodies must match
// (read and compiled here, while the config loads, so that a missing file, invalid JSON or an
// invalid schema is an error at the line of `json_schema:` and a reload with one keeps the old
// config) and the route's own bound on body size. Kept apart from the filter so that
// portico_config can hold it (the pattern of filters/cors/cors_config.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {
class YamlReader;
struct Field;
}  // namespace portico::config

namespace portico::filters::validate {

class JsonSchema;

struct ValidateConfig {
  std::string json_schema;                   // the path as written; empty: bodies are only bounded
  std::uint64_t max_body_bytes = 0;          // as written, or server.limits.max_body_bytes
  std::shared_ptr<const JsonSchema> schema;  // json_schema, compiled; null without one
};
BOOST_DESCRIBE_STRUCT(ValidateConfig, (), (json_schema, max_body_bytes, schema))
constexpr auto notes_of(const ValidateConfig*) {
  return std::to_array<config::Note>({
      {.member = "",
       .description = "Request bodies checked before the upstream sees them.",
       .extend = R"({"minProperties": 1})"},
      {.member = "json_schema",
       .empty = config::Empty::Omitted,
       .description = "A JSON Schema (draft 7) file, relative to the config file: "
                      "application/json bodies must match it (else 400); other types get 415.",
       .schema = config::kNonEmptySchema},
      {.member = "max_body_bytes",
       .description = "Larger bodies get 413; at most server.limits.max_body_bytes.",
       .schema = config::kSizeSchema},
      {.member = "schema", .where = config::Where::Neither},
  });
}

// A route's `validate:`; nullopt when absent or malformed (each problem reported at its line).
// `config_file`: the file the config came from (relative schema paths start beside it; empty:
// from the working directory); `server_max_body_bytes`: server.limits.max_body_bytes.
std::optional<ValidateConfig> read_validate(config::YamlReader& reader,
                                            const std::optional<config::Field>& field,
                                            const std::string& config_file,
                                            std::uint64_t server_max_body_bytes);

}  // namespace portico::filters::validate
