// `compression:`, what routes with `compress: true` (or defaults.compress) apply, and its parse
// rules: a small library (portico_compress_config) that config/ holds in Config without
// depending on the filter. A route may compress without the section: these defaults apply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {
class YamlReader;
struct Field;
}  // namespace portico::config

namespace portico::filters::compress {

inline constexpr std::string_view kEncodingNames[] = {"zstd", "br", "gzip"};

// Each encoder's level: zlib 1-9, brotli quality 0-11, zstd 1-19.
struct CompressionLevels {
  int gzip = 5;
  int br = 4;
  int zstd = 3;
  bool operator==(const CompressionLevels&) const = default;
};
BOOST_DESCRIBE_STRUCT(CompressionLevels, (), (gzip, br, zstd))
constexpr auto notes_of(const CompressionLevels*) {
  using config::Note;
  return std::to_array<Note>({
      {.member = "gzip", .schema = R"({"type": "integer", "minimum": 1, "maximum": 9})"},
      {.member = "br", .schema = R"({"type": "integer", "minimum": 0, "maximum": 11})"},
      {.member = "zstd", .schema = R"({"type": "integer", "minimum": 1, "maximum": 19})"},
  });
}

// The defaults, from functions: a braced list as a member's initializer crashes GCC 12 in
// Boost.PFR's field count.
std::vector<std::string> default_encodings();
std::vector<std::string> default_types();

struct CompressionConfig {
  std::vector<std::string> encodings = default_encodings();  // server preference
  std::uint64_t min_size = 1024;  // bodies known to be smaller are sent as they are
  std::vector<std::string> types = default_types();
  CompressionLevels level;
  bool operator==(const CompressionConfig&) const = default;
};
BOOST_DESCRIBE_STRUCT(CompressionConfig, (), (encodings, min_size, types, level))
constexpr auto notes_of(const CompressionConfig*) {
  using config::Note;
  return std::to_array<Note>({
      {.member = "",
       .description = "Response compression where a route (or defaults) says compress: true."},
      {.member = "encodings",
       .choices = kEncodingNames,
       .description = "Server preference among what Accept-Encoding allows."},
      {.member = "min_size", .schema = config::kSizeSchema},
      {.member = "types", .description = "Media types (type/* for a whole type) compressed."},
  });
}

// The top-level `compression:` section; nullopt when absent.
std::optional<CompressionConfig> read_compression_config(config::YamlReader& reader,
                                                         const std::optional<config::Field>& field);

}  // namespace portico::filters::compress
