#include "config/yaml_reader.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/ascii.h"

namespace portico::config {
namespace {

// A file with this many mistakes is not worth listing further; the rest are counted.
constexpr std::size_t kMaxErrors = 500;

Mark to_mark(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

// The mark of `node`, or `fallback` when the node has none of its own (null values,
// which yaml-cpp places at the start of the next token).
Mark mark_or(const YAML::Node& node, Mark fallback) {
  if (node.IsNull()) return fallback;
  Mark mark = to_mark(node.Mark());
  return mark.line == 0 ? fallback : mark;
}

std::string kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quoted(node.Scalar());
    default:
      return "nothing";
  }
}

std::string got(std::string_view value) {
  return value.empty() ? std::string("nothing") : quoted(value);
}

bool is_var_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string join(const std::vector<std::string_view>& words, std::string_view separator) {
  std::string out;
  for (auto word : words) {
    if (!out.empty()) out += separator;
    out += word;
  }
  return out;
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

}  // namespace

std::string child_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out = parent;
  out += '.';
  out += key;
  return out;
}

std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += c == '\n' ? "\\n" : c == '\t' ? "\\t" : "?";
    } else {
      out += c;
    }
    if (out.size() > 80) {
      out += "...";
      break;
    }
  }
  out += '"';
  return out;
}

std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string wanted = lower_ascii(word);
  std::size_t best_distance = std::max<std::size_t>(1, std::min<std::size_t>(3, word.size() / 3));
  std::string best;
  for (auto candidate : candidates) {
    std::size_t distance = edit_distance(wanted, lower_ascii(candidate));
    if (distance <= best_distance && (best.empty() || distance < best_distance)) {
      best_distance = distance;
      best = std::string(candidate);
    }
  }
  return best;
}

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = core::ascii_lower(c);
  return out;
}

std::string upper_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool is_header_name(std::string_view name) {
  static constexpr std::string_view kTokenPunctuation = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           kTokenPunctuation.find(c) != std::string_view::npos;
  });
}

bool is_http_method(std::string_view method) {
  return is_header_name(method);  // a method is a token, like a header name
}

bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-') return false;
  bool numeric = true;
  for (char c : host) {
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '-' || c == '_')
      numeric = false;
    else if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.')
      return false;
  }
  if (!numeric) return true;
  in_addr v4{};
  return inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1;
}

bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port,
                     std::string& problem, bool port_required) {
  std::string_view host_part;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      problem = "an IPv6 address needs its closing ]";
      return false;
    }
    host_part = text.substr(1, close - 1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host_part).c_str(), &v6) != 1) {
      problem = quoted(host_part) + " is not an IPv6 address";
      return false;
    }
    rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      problem = "expected :port after ]";
      return false;
    }
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) {
      problem = "an IPv6 address goes in brackets, like [::1]:8080";
      return false;
    }
    host_part = text.substr(0, colon == std::string_view::npos ? text.size() : colon);
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
    if (!is_host_name(host_part)) {
      problem = host_part.empty() ? "the host is missing" : quoted(host_part) + " is not a host";
      return false;
    }
  }
  host = std::string(host_part);
  port = 0;
  if (rest.empty()) {
    if (port_required) problem = "the :port is missing";
    return !port_required;
  }
  rest.remove_prefix(1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (!all_digits(rest) || ec != std::errc{} || end != rest.data() + rest.size() || value > 65535) {
    problem = "the port must be a number from 0 to 65535";
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::optional<Field> Fields::get(std::string_view key) const {
  for (const auto& [name, field] : entries_)
    if (name == key) return field;
  return std::nullopt;
}

std::string ConfigError::to_string() const {
  std::string out;
  if (!file.empty()) out += file;
  if (mark.line > 0) {
    out += ':';
    out += std::to_string(mark.line);
    out += ':';
    out += std::to_string(mark.column);
  }
  if (!out.empty()) out += ": ";
  if (!key_path.empty()) {
    out += key_path;
    out += ": ";
  }
  out += message;
  return out;
}

YamlReader::YamlReader(std::string file, const EnvLookup& env)
    : file_(std::move(file)), env_(env) {}

void YamlReader::error(const Mark& mark, const std::string& path, std::string message) {
  if (errors_.size() >= kMaxErrors) {
    ++dropped_errors_;
    return;
  }
  errors_.push_back(ConfigError{file_, mark, path, std::move(message)});
}

void YamlReader::not_built(std::string_view feature, std::string where) {
  auto it = std::find_if(not_built_.begin(), not_built_.end(),
                         [&](const auto& item) { return item.first == feature; });
  if (it == not_built_.end()) {
    not_built_.emplace_back(std::string(feature), std::vector<std::string>{});
    it = std::prev(not_built_.end());
  }
  if (!where.empty()) it->second.push_back(std::move(where));
}

Field YamlReader::root(const YAML::Node& node) const {
  return Field{node, "", mark_or(node, Mark{1, 1})};
}

std::optional<Fields> YamlReader::mapping(const std::optional<Field>& field,
                                          std::span<const std::string_view> known) {
  if (!field) return std::nullopt;
  Fields fields;
  fields.self_ = *field;
  if (field->node.IsNull()) return fields;
  if (!field->node.IsMap()) {
    error(*field, "expected a mapping, got " + kind_of(field->node));
    return std::nullopt;
  }
  std::vector<std::string_view> names(known.begin(), known.end());
  std::map<std::string, Mark> seen;
  for (const auto& item : field->node) {
    Mark key_mark = mark_or(item.first, field->mark);
    if (!item.first.IsScalar()) {
      error(key_mark, field->path, "a key must be a plain name, got " + kind_of(item.first));
      continue;
    }
    const std::string& key = item.first.Scalar();
    std::string path = child_path(field->path, key);
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      std::string suggestion = nearest(key, names);
      error(key_mark, path,
            "unknown key " + quoted(key) +
                (suggestion.empty() ? "; expected one of: " + join(names, ", ")
                                    : "; did you mean " + quoted(suggestion) + "?"));
      continue;
    }
    auto [previous, inserted] = seen.emplace(key, key_mark);
    if (!inserted) {
      error(key_mark, path,
            "duplicate key " + quoted(key) + " (first at line " +
                std::to_string(previous->second.line) + ")");
      continue;
    }
    fields.entries_.emplace_back(key, Field{item.second, path, mark_or(item.second, key_mark)});
  }
  return fields;
}

void YamlReader::require(const Fields& fields, std::span<const std::string_view> keys) {
  for (auto key : keys) {
    if (!fields.has(key)) error(fields.self(), "missing key " + quoted(key));
  }
}

std::optional<std::vector<Entry>> YamlReader::entries(const std::optional<Field>& field) {
  if (!field) return std::nullopt;
  std::vector<Entry> out;
  if (field->node.IsNull()) return out;
  if (!field->node.IsMap()) {
    error(*field, "expected a mapping, got " + kind_of(field->node));
    return std::nullopt;
  }
  std::map<std::string, Mark> seen;
  for (const auto& item : field->node) {
    Mark key_mark = mark_or(item.first, field->mark);
    if (!item.first.IsScalar() || item.first.Scalar().empty()) {
      error(key_mark, field->path, "a key must be a non-empty name, got " + kind_of(item.first));
      continue;
    }
    const std::string& key = item.first.Scalar();
    std::string path = child_path(field->path, key);
    auto [previous, inserted] = seen.emplace(key, key_mark);
    if (!inserted) {
      error(key_mark, path,
            "duplicate key " + quoted(key) + " (first at line " +
                std::to_string(previous->second.line) + ")");
      continue;
    }
    out.push_back(Entry{key, key_mark, Field{item.second, path, mark_or(item.second, key_mark)}});
  }
  return out;
}

std::optional<std::vector<Field>> YamlReader::list(const std::optional<Field>& field,
                                                   bool scalar_ok) {
  if (!field) return std::nullopt;
  std::vector<Field> out;
  if (field->node.IsNull()) return out;
  if (scalar_ok && field->node.IsScalar()) {
    out.push_back(*field);
    return out;
  }
  if (!field->node.IsSequence()) {
    error(*field, "expected a list, got " + kind_of(field->node));
    return std::nullopt;
  }
  std::size_t index = 0;
  for (const auto& item : field->node) {
    out.push_back(Field{item, index_path(field->path, index), mark_or(item, field->mark)});
    ++index;
  }
  return out;
}

std::optional<std::string> YamlReader::substitute(const Field& field, const std::string& raw) {
  std::string out;
  bool failed = false;
  std::size_t i = 0;
  while (i < raw.size()) {
    if (raw[i] != '$' || i + 1 >= raw.size() || raw[i + 1] != '{') {
      out += raw[i++];
      continue;
    }
    auto close = raw.find('}', i + 2);
    if (close == std::string::npos) {
      error(field, "unterminated ${ in " + quoted(raw) + "; write ${NAME} or ${NAME:-default}");
      return std::nullopt;
    }
    std::string_view inner(raw.data() + i + 2, close - i - 2);
    auto separator = inner.find(":-");
    std::string_view name = inner.substr(0, separator);
    if (inner.find("${") != std::string_view::npos) {
      error(field, "nested ${...} is not supported in " + quoted(raw));
      failed = true;
    } else if (!is_var_name(name)) {
      error(field, "bad environment variable name " + quoted(name) +
                       " (letters, digits and _, not starting with a digit)");
      failed = true;
    } else if (auto value = env_(name);
               value && (!value->empty() || separator == std::string_view::npos)) {
      out += *value;
    } else if (separator != std::string_view::npos) {
      out += inner.substr(separator + 2);
    } else {
      error(field, "environment variable " + std::string(name) + " is not set (write ${" +
                       std::string(name) + ":-default} to give a default)");
      failed = true;
    }
    i = close + 1;
  }
  if (failed) return std::nullopt;
  return out;
}

std::optional<std::string> YamlReader::text(const std::optional<Field>& field) {
  if (!field) return std::nullopt;
  if (field->node.IsNull()) return std::string();
  if (!field->node.IsScalar()) {
    error(*field, "expected a single value, got " + kind_of(field->node));
    return std::nullopt;
  }
  return substitute(*field, field->node.Scalar());
}

std::optional<std::string> YamlReader::non_empty(const std::optional<Field>& field) {
  auto value = text(field);
  if (value && value->empty()) {
    error(*field, "expected a non-empty value");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> YamlReader::boolean(const std::optional<Field>& field) {
  auto value = text(field);
  if (!value) return std::nullopt;
  std::string word = lower_ascii(*value);
  if (word == "true") return true;
  if (word == "false") return false;
  error(*field, "expected true or false, got " + got(*value));
  return std::nullopt;
}

std::optional<std::int64_t> YamlReader::integer(const std::optional<Field>& field, std::int64_t min,
                                                std::int64_t max) {
  auto value = text(field);
  if (!value) return std::nullopt;
  std::int64_t number = 0;
  const char* end = value->data() + value->size();
  auto [stop, ec] = std::from_chars(value->data(), end, number);
  bool ok = !value->empty() && ec == std::errc{} && stop == end;
  if (ok && number >= min && number <= max) return number;
  std::string range = max == INT64_MAX
                          ? " of at least " + std::to_string(min)
                          : " from " + std::to_string(min) + " to " + std::to_string(max);
  error(*field, "expected a whole number" + range + ", got " + got(*value));
  return std::nullopt;
}

std::optional<Duration> YamlReader::duration(const std::optional<Field>& field, bool allow_zero) {
  auto value = text(field);
  if (!value) return std::nullopt;
  auto parsed = core::parse_duration(*value);
  if (!parsed) {
    error(*field, "expected a duration like 250ms, 2s, 5m or 1h, got " + got(*value));
    return std::nullopt;
  }
  if (!allow_zero && parsed->count() <= 0) {
    error(*field, "expected a duration greater than zero, got " + got(*value));
    return std::nullopt;
  }
  return parsed;
}

std::optional<std::uint64_t> YamlReader::size(const std::optional<Field>& field) {
  auto value = text(field);
  if (!value) return std::nullopt;
  auto parsed = core::parse_size(*value);
  if (!parsed) error(*field, "expected a size like 1024, 16KiB or 10MiB, got " + got(*value));
  return parsed;
}

std::optional<double> YamlReader::percent(const std::optional<Field>& field) {
  auto value = text(field);
  if (!value) return std::nullopt;
  auto parsed = core::parse_percent(*value);
  if (!parsed) {
    error(*field, "expected a percentage like 50% (or a number from 0 to 1), got " + got(*value));
  }
  return parsed;
}

std::optional<core::Rate> YamlReader::rate(const std::optional<Field>& field) {
  auto value = text(field);
  if (!value) return std::nullopt;
  auto parsed = core::parse_rate(*value);
  if (!parsed) error(*field, "expected a rate like 100/s, 1000/min or 10/h, got " + got(*value));
  return parsed;
}

std::optional<std::string> YamlReader::choice(const std::optional<Field>& field,
                                              std::span<const std::string_view> choices) {
  auto value = text(field);
  if (!value) return std::nullopt;
  std::vector<std::string_view> names(choices.begin(), choices.end());
  if (std::find(names.begin(), names.end(), *value) != names.end()) return value;
  std::string suggestion = nearest(*value, names);
  error(*field, "expected one of " + join(names, " | ") + ", got " + got(*value) +
                    (suggestion.empty() ? "" : "; did you mean " + quoted(suggestion) + "?"));
  return std::nullopt;
}

std::optional<Endpoint> YamlReader::endpoint(const std::optional<Field>& field) {
  auto value = text(field);
  if (!value) return std::nullopt;
  Endpoint out;
  std::string problem;
  if (!split_host_port(*value, out.host, out.port, problem)) {
    error(*field, "expected an address like 127.0.0.1:8080 or [::]:8080, got " + got(*value) +
                      ": " + problem);
    return std::nullopt;
  }
  out.text = *value;
  return out;
}

std::optional<std::string> YamlReader::header_name(const std::optional<Field>& field) {
  auto value = text(field);
  if (!value) return std::nullopt;
  if (is_header_name(*value)) return value;
  error(*field, "expected a header name (letters, digits and !#$%&'*+-.^_`|~), got " + got(*value));
  return std::nullopt;
}

std::optional<std::string> YamlReader::url(const std::optional<Field>& field,
                                           std::initializer_list<std::string_view> schemes) {
  auto value = text(field);
  if (!value) return std::nullopt;
  std::vector<std::string_view> names(schemes);
  std::string_view rest = *value;
  auto scheme_end = rest.find("://");
  std::string scheme(scheme_end == std::string_view::npos ? "" : rest.substr(0, scheme_end));
  std::string problem;
  if (std::find(names.begin(), names.end(), lower_ascii(scheme)) == names.end()) {
    problem = "the scheme must be " + join(names, " or ");
  } else {
    rest.remove_prefix(scheme_end + 3);
    auto authority = rest.substr(0, rest.find_first_of("/?#"));
    auto at = authority.rfind('@');
    if (at != std::string_view::npos) authority.remove_prefix(at + 1);
    std::string host;
    std::uint16_t port = 0;
    if (split_host_port(authority, host, port, problem, false)) return value;
  }
  error(*field, "expected a URL like " + std::string(names.front()) + "://host:port, got " +
                    got(*value) + ": " + problem);
  return std::nullopt;
}

std::optional<std::vector<std::string>> YamlReader::each_item(
    const std::optional<Field>& field, bool scalar_ok,
    std::optional<std::string> (YamlReader::*read_item)(const std::optional<Field>&)) {
  auto items = list(field, scalar_ok);
  if (!items) return std::nullopt;
  std::vector<std::string> out;
  bool failed = false;
  for (const auto& item : *items) {
    if (auto value = (this->*read_item)(item))
      out.push_back(std::move(*value));
    else
      failed = true;
  }
  if (failed) return std::nullopt;
  return out;
}

std::optional<std::vector<std::string>> YamlReader::strings(const std::optional<Field>& field,
                                                            bool scalar_ok) {
  return each_item(field, scalar_ok, &YamlReader::non_empty);
}

std::optional<std::vector<std::string>> YamlReader::header_names(
    const std::optional<Field>& field) {
  return each_item(field, true, &YamlReader::header_name);
}

std::optional<HeaderList> YamlReader::string_map(const std::optional<Field>& field,
                                                 bool header_keys) {
  auto items = entries(field);
  if (!items) return std::nullopt;
  HeaderList out;
  bool failed = false;
  for (const auto& entry : *items) {
    if (header_keys && !is_header_name(entry.key)) {
      error(
          entry.key_mark, entry.value.path,
          "expected a header name (letters, digits and !#$%&'*+-.^_`|~), got " + quoted(entry.key));
      failed = true;
      continue;
    }
    if (auto value = text(entry.value))
      out.emplace_back(entry.key, std::move(*value));
    else
      failed = true;
  }
  if (failed) return std::nullopt;
  return out;
}

std::vector<ConfigError> YamlReader::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::pair(a.mark.line, a.mark.column) < std::pair(b.mark.line, b.mark.column);
  });
  if (dropped_errors_ > 0) {
    errors_.push_back(ConfigError{
        file_, {}, "", "... and " + std::to_string(dropped_errors_) + " more errors not shown"});
    dropped_errors_ = 0;
  }
  return std::move(errors_);
}

std::vector<std::string> YamlReader::warnings() const {
  constexpr std::size_t kPlacesShown = 6;
  std::vector<std::string> out;
  for (const auto& [feature, places] : not_built_) {
    std::string line = feature + ": accepted but not enforced by this build yet";
    if (!places.empty()) {
      line += " (at ";
      for (std::size_t i = 0; i < places.size() && i < kPlacesShown; ++i) {
        if (i > 0) line += ", ";
        line += places[i];
      }
      if (places.size() > kPlacesShown) {
        line += ", +" + std::to_string(places.size() - kPlacesShown) + " more";
      }
      line += ")";
    }
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace portico::config
