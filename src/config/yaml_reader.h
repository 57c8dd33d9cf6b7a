// Internal to the config loader: reads YAML nodes into typed values, substituting ${VAR}s and
// collecting every error with its position and key path instead of stopping at the first.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"
#include "core/units.h"

namespace portico::config {

// A YAML node with the key path and position that messages about it name.
struct Field {
  YAML::Node node;
  std::string path;
  Mark mark;
};

// A mapping with fixed keys, its unknown and duplicate keys already reported.
class Fields {
 public:
  std::optional<Field> get(std::string_view key) const;
  bool has(std::string_view key) const { return get(key).has_value(); }
  const Field& self() const { return self_; }

 private:
  friend class YamlReader;
  Field self_;
  std::vector<std::pair<std::string, Field>> entries_;
};

// One entry of a mapping whose keys the user chooses (upstream names, header names).
struct Entry {
  std::string key;
  Mark key_mark;
  Field value;
};

// Typed reads take std::optional<Field> so that an absent key simply reads as nullopt;
// a present but malformed value is reported and also reads as nullopt.
class YamlReader {
 public:
  YamlReader(std::string file, const EnvLookup& env);

  void error(const Mark& mark, const std::string& path, std::string message);
  void error(const Field& field, std::string message) {
    error(field.mark, field.path, std::move(message));
  }
  // Records a section this build accepts but does not act on yet (one warning per feature).
  void not_built(std::string_view feature, std::string where);

  Field root(const YAML::Node& node) const;

  // Null reads as an empty mapping / list: `admin:` alone means "all defaults".
  // `known`: yaml_keys<T>() for a described struct T.
  std::optional<Fields> mapping(const std::optional<Field>& field,
                                std::span<const std::string_view> known);
  // Reports each of `keys` (required_keys<T>()) that `fields` lacks, at the mapping itself.
  void require(const Fields& fields, std::span<const std::string_view> keys);
  std::optional<std::vector<Entry>> entries(const std::optional<Field>& field);
  // `scalar_ok`: a single scalar stands for a list of one.
  std::optional<std::vector<Field>> list(const std::optional<Field>& field, bool scalar_ok = false);

  std::optional<std::string> text(const std::optional<Field>& field);  // ${VAR} substituted
  std::optional<std::string> non_empty(const std::optional<Field>& field);
  std::optional<bool> boolean(const std::optional<Field>& field);
  std::optional<std::int64_t> integer(const std::optional<Field>& field, std::int64_t min,
                                      std::int64_t max);
  // Durations must be positive unless `allow_zero`.
  std::optional<Duration> duration(const std::optional<Field>& field, bool allow_zero = false);
  std::optional<std::uint64_t> size(const std::optional<Field>& field);
  std::optional<double> percent(const std::optional<Field>& field);
  std::optional<core::Rate> rate(const std::optional<Field>& field);
  std::optional<std::string> choice(const std::optional<Field>& field,
                                    std::span<const std::string_view> choices);
  std::optional<std::string> choice(const std::optional<Field>& field,
                                    std::initializer_list<std::string_view> choices) {
    return choice(field, std::span(choices.begin(), choices.size()));
  }
  std::optional<Endpoint> endpoint(const std::optional<Field>& field);
  std::optional<std::string> header_name(const std::optional<Field>& field);
  // A URL whose scheme is one of `schemes` and which names a host.
  std::optional<std::string> url(const std::optional<Field>& field,
                                 std::initializer_list<std::string_view> schemes);
  std::optional<std::vector<std::string>> strings(const std::optional<Field>& field,
                                                  bool scalar_ok = true);
  std::optional<std::vector<std::string>> header_names(const std::optional<Field>& field);
  // name -> value; with `header_keys` the names must be valid header names.
  std::optional<HeaderList> string_map(const std::optional<Field>& field, bool header_keys);

  std::vector<ConfigError> take_errors();
  std::vector<std::string> warnings() const;
  const std::string& file() const { return file_; }

 private:
  std::optional<std::string> substitute(const Field& field, const std::string& raw);
  // Every item of a list read with `read_item`; nullopt when any item failed (each reported).
  std::optional<std::vector<std::string>> each_item(
      const std::optional<Field>& field, bool scalar_ok,
      std::optional<std::string> (YamlReader::*read_item)(const std::optional<Field>&));

  std::string file_;
  const EnvLookup& env_;
  std::vector<ConfigError> errors_;
  std::size_t dropped_errors_ = 0;
  std::vector<std::pair<std::string, std::vector<std::string>>> not_built_;
};

// Assigns a successfully read value; leaves `out` (its default) alone otherwise.
template <class T, class U>
void assign(std::optional<U>&& value, T& out) {
  if (value) out = std::move(*value);
}

// Helpers shared by the section readers.
std::string child_path(const std::string& parent, std::string_view key);
std::string index_path(const std::string& parent, std::size_t index);
std::string quoted(std::string_view text);
std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates);
std::string lower_ascii(std::string_view text);
std::string upper_ascii(std::string_view text);
bool is_header_name(std::string_view name);
bool is_http_method(std::string_view method);
// "host:port" / "[v6]:port"; `port_required`: without it the port is 0.
bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port,
                     std::string& problem, bool port_required = true);
bool is_host_name(std::string_view host);

}  // namespace portico::config
