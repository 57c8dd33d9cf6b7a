#include "filters/compress/compress_config.h"

#include <algorithm>

#include "config/yaml_reader.h"

namespace portico::filters::compress {

using config::assign;

namespace {

void read_levels(config::YamlReader& r, const std::optional<config::Field>& field,
                 CompressionLevels& out) {
  auto f = r.mapping(field, config::yaml_keys<CompressionLevels>());
  if (!f) return;
  if (auto gzip = r.integer(f->get("gzip"), 1, 9)) out.gzip = static_cast<int>(*gzip);
  if (auto br = r.integer(f->get("br"), 0, 11)) out.br = static_cast<int>(*br);
  if (auto zstd = r.integer(f->get("zstd"), 1, 19)) out.zstd = static_cast<int>(*zstd);
}

bool is_media_type(std::string_view type) {
  auto slash = type.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == type.size()) return false;
  return std::none_of(type.begin(), type.end(), [](char c) {
    return c == ' ' || c == '\t' || c == ';' || c == ',' || static_cast<unsigned char>(c) < 0x20;
  });
}

}  // namespace

std::vector<std::string> default_encodings() {
  return {"zstd", "br", "gzip"};
}

std::vector<std::string> default_types() {
  return {"text/*", "application/json", "application/javascript", "application/xml",
          "image/svg+xml"};
}

std::optional<CompressionConfig> read_compression_config(
    config::YamlReader& r, const std::optional<config::Field>& field) {
  auto f = r.mapping(field, config::yaml_keys<CompressionConfig>());
  if (!f) return std::nullopt;
  CompressionConfig out;
  if (auto list = r.list(f->get("encodings"), true)) {
    std::vector<std::string> encodings;
    for (const auto& item : *list) {
      auto name = r.choice(item, kEncodingNames);
      if (!name) continue;
      if (std::find(encodings.begin(), encodings.end(), *name) != encodings.end())
        r.error(item, *name + " is listed twice");
      else
        encodings.push_back(*name);
    }
    if (list->empty()) r.error(*f->get("encodings"), "expected at least one encoding");
    out.encodings = std::move(encodings);
  }
  assign(r.size(f->get("min_size")), out.min_size);
  if (auto list = r.list(f->get("types"), true)) {
    std::vector<std::string> types;
    for (const auto& item : *list) {
      auto type = r.non_empty(item);
      if (!type) continue;
      if (!is_media_type(*type))
        r.error(item,
                "expected a media type like text/html or text/*, got " + config::quoted(*type));
      else
        types.push_back(config::lower_ascii(*type));
    }
    out.types = std::move(types);
  }
  read_levels(r, f->get("level"), out.level);
  return out;
}

}  // namespace portico::filters::compress
