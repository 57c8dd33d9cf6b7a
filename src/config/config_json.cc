// The JSON view, derived from the config structs' descriptions (config/describe.h): a
// described struct is an object of its members, each shown as its type and its note say.
#include "config/config_json.h"

#include <boost/json.hpp>

#include <type_traits>

namespace portico::config {
namespace json = boost::json;
namespace {

constexpr std::string_view kMasked = "***";

std::string format_rate(const core::Rate& rate) {
  std::string unit = rate.per == std::chrono::hours(1)     ? "h"
                     : rate.per == std::chrono::minutes(1) ? "min"
                                                           : "s";
  return std::to_string(rate.count) + "/" + unit;
}

template <class T>
json::value view(const T& value);

template <class T>
json::object view_struct(const T& value);

template <class T>
bool is_empty(const T& value) {
  if constexpr (is_optional<T>)
    return !value.has_value();
  else if constexpr (requires { value.empty(); })
    return value.empty();
  else
    return false;
}

// A member as its note says: masked, empty as null, zero as a word, a list keyed by name.
template <class T>
json::value view_member(const T& value, const Note& note) {
  if (note.empty == Empty::Null && is_empty(value)) return nullptr;
  if constexpr (std::is_same_v<T, std::string>) {
    if (note.mask == Mask::Secret) return json::value(value.empty() ? "" : kMasked);
    if (note.mask == Mask::UrlPassword) return json::value(mask_url_password(value));
  } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (value == 0 && !note.zero.empty()) return json::value(note.zero);
  } else if constexpr (is_vector<T>) {
    if constexpr (requires(typename T::value_type item) { item.name; }) {
      if (note.by_name) {
        json::object out;
        for (const auto& item : value) out[item.name] = view_struct(item);
        return out;
      }
    }
  }
  return view(value);
}

template <class T>
json::object view_struct(const T& value) {
  static_assert(check_description<T>(), "a note names a member that is not described");
  // Notes `only_for` a type apply when the struct's `type` member names it.
  std::string_view type;
  if constexpr (requires { value.type; }) type = value.type;
  json::object out;
  boost::mp11::mp_for_each<Members<T>>([&](auto d) {
    constexpr Note note = note_of<T>(decltype(d)::name);
    if constexpr (note.where != Where::Neither) {
      const auto& member = value.*d.pointer;
      if (!note.only_for.empty() && note.only_for != type) return;
      if (note.empty == Empty::Omitted && is_empty(member)) return;
      out[key_of(note)] = view_member(member, note);
    }
  });
  return out;
}

template <class T>
json::value view(const T& value) {
  if constexpr (std::is_same_v<T, std::string> || std::is_arithmetic_v<T>) {
    return json::value(value);
  } else if constexpr (std::is_same_v<T, Duration>) {
    return json::value(format_duration(value));
  } else if constexpr (std::is_same_v<T, core::Rate>) {
    return json::value(format_rate(value));
  } else if constexpr (std::is_same_v<T, Endpoint> || std::is_same_v<T, Cidr>) {
    return json::value(value.text);
  } else if constexpr (std::is_same_v<T, HeaderList>) {
    json::object out;
    for (const auto& [name, item] : value) out[name] = item;
    return out;
  } else if constexpr (is_optional<T>) {
    return value ? view(*value) : json::value(nullptr);
  } else if constexpr (is_vector<T>) {
    json::array out;
    for (const auto& item : value) out.push_back(view(item));
    return out;
  } else if constexpr (is_map<T>) {
    json::object out;
    for (const auto& [name, item] : value) out[name] = view(item);
    return out;
  } else {
    static_assert(is_described<T>, "a config type the JSON view does not know; describe it");
    return view_struct(value);
  }
}

}  // namespace

std::string format_duration(Duration duration) {
  auto ms = duration.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string mask_url_password(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  auto authority_start = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string_view::npos) authority_end = url.size();
  auto at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < authority_start) return std::string(url);
  std::string_view user_info = url.substr(authority_start, at - authority_start);
  auto colon = user_info.find(':');
  // Without a colon, clients such as Redis read the whole user info as the password.
  std::string user = colon == std::string_view::npos ? "" : std::string(user_info.substr(0, colon));
  return std::string(url.substr(0, authority_start)) + user + ":" + std::string(kMasked) +
         std::string(url.substr(at));
}

json::value config_to_json(const Config& config) {
  return view_struct(config);
}

}  // namespace portico::config
