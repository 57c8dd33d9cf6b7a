#include "filters/validate/validate_config.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/yaml_reader.h"
#include "core/units.h"
#include "filters/validate/json_schema.h"

namespace portico::filters::validate {

namespace {

// The schema file's path: as written when absolute, else beside the config file.
std::string resolve(const std::string& written, const std::string& config_file) {
  std::filesystem::path path(written);
  if (path.is_absolute() || config_file.empty()) return written;
  return (std::filesystem::path(config_file).parent_path() / path).lexically_normal().string();
}

// The file's text, or nullopt and why not.
std::optional<std::string> read_file(const std::string& path, std::string& problem) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    problem = "cannot read \"" + path + "\": it is a directory";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problem = "cannot read \"" + path + "\": " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

}  // namespace

std::optional<ValidateConfig> read_validate(config::YamlReader& r,
                                            const std::optional<config::Field>& field,
                                            const std::string& config_file,
                                            std::uint64_t server_max_body_bytes) {
  auto f = r.mapping(field, config::yaml_keys<ValidateConfig>());
  if (!f) return std::nullopt;
  if (!f->has("json_schema") && !f->has("max_body_bytes")) {
    r.error(f->self(), "expected json_schema (a JSON Schema file), max_body_bytes, or both");
    return std::nullopt;
  }
  ValidateConfig out;
  out.max_body_bytes = server_max_body_bytes;
  bool failed = false;
  if (auto size = f->get("max_body_bytes")) {
    auto bytes = r.size(size);
    if (!bytes) {
      failed = true;
    } else if (*bytes == 0) {
      r.error(*size, "expected a size above 0, like 64KiB");
      failed = true;
    } else if (*bytes > server_max_body_bytes) {
      r.error(*size, "a route's max_body_bytes must not exceed server.limits.max_body_bytes (" +
                         std::to_string(server_max_body_bytes) + " bytes), got " +
                         std::to_string(*bytes));
      failed = true;
    } else {
      out.max_body_bytes = *bytes;
    }
  }
  if (auto schema_field = f->get("json_schema")) {
    auto written = r.non_empty(schema_field);
    if (!written) return std::nullopt;
    out.json_schema = *written;
    std::string path = resolve(*written, config_file);
    std::string problem;
    if (auto text = read_file(path, problem)) {
      out.schema = JsonSchema::compile(*text, problem);
      if (!out.schema) problem = "\"" + path + "\": " + problem;
    }
    if (!out.schema) {
      r.error(*schema_field, problem);
      failed = true;
    }
  }
  if (failed) return std::nullopt;
  return out;
}

}  // namespace portico::filters::validate
