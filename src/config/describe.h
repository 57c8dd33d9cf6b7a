// A config struct is described once: BOOST_DESCRIBE_STRUCT beside it lists its members, and
// an optional table of notes (`notes_of`) says what a member's type alone cannot: its key
// when that is not the member's name, how the JSON view shows it, its JSON Schema where the
// type's own is too loose. The JSON view (config_json.cc), the JSON Schema (config_schema.cc)
// and the loader's lists of known keys are derived from these; nothing else lists the fields.
//
//   struct RedisConfig { std::string url; Duration timeout = 50ms; std::string password; };
//   BOOST_DESCRIBE_STRUCT(RedisConfig, (), (url, timeout, password))
//   constexpr auto notes_of(const RedisConfig*) {
//     return std::to_array<Note>({{.member = "password", .mask = Mask::Secret}});
//   }
#pragma once

#include <boost/describe/class.hpp>
#include <boost/describe/members.hpp>
#include <boost/mp11/algorithm.hpp>
#include <boost/pfr/core.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portico::config {

// Whether a member is a key of the file (and so of the schema) and of the JSON view.
enum class Where : std::uint8_t {
  Both,
  ViewOnly,  // derived while loading (a target's host and port): shown, not written
  Neither,   // bookkeeping: the name that keys the parent mapping, the mark
};

// How the JSON view shows a string; the view is served by the admin API, so secrets never
// appear in it.
enum class Mask : std::uint8_t {
  None,
  Secret,       // "***" when set, "" when not
  UrlPassword,  // the password of the URL's user info as "***"
};

// How the JSON view shows an empty string, list or an absent optional.
enum class Empty : std::uint8_t { Shown, Null, Omitted };

// One annotation; `member` empty annotates the struct itself. Designated initializers must
// follow this order.
struct Note {
  std::string_view member;
  std::string_view key = {};  // the key when not the member's name; for the struct: its $defs name
  Where where = Where::Both;
  Mask mask = Mask::None;
  Empty empty = Empty::Shown;
  std::string_view zero = {};      // shown instead of 0 (workers: "auto")
  std::string_view only_for = {};  // applies only when the struct's `type` member is this
  bool required = false;
  bool by_name = false;      // a list of structs written and shown as a mapping keyed by `name`
  bool one_or_list = false;  // a list of which one item may stand alone; at least one
  std::span<const std::string_view> choices = {};  // the schema's enum; of a list, its items'
  std::string_view description = {};
  std::string_view schema = {};     // JSON Schema replacing the one the member's type gives
  std::string_view extend = {};     // JSON Schema keywords added to the one its type gives
  std::string_view shorthand = {};  // for the struct: JSON Schema of a scalar standing for it
};

// Schemas shared by many notes; the names are the value kinds under $defs (config_schema.cc).
inline constexpr std::string_view kSizeSchema = R"({"$ref": "#/$defs/size"})";
inline constexpr std::string_view kIntegerSchema = R"({"$ref": "#/$defs/integer"})";
inline constexpr std::string_view kStringListSchema = R"({"$ref": "#/$defs/stringList"})";
inline constexpr std::string_view kHeaderNameSchema = R"({"$ref": "#/$defs/headerName"})";
inline constexpr std::string_view kPathSchema = R"({"type": "string", "pattern": "^/"})";
inline constexpr std::string_view kNonEmptySchema = R"({"type": "string", "minLength": 1})";
inline constexpr std::string_view kHttpUrlSchema =
    R"json({"type": "string", "pattern": "^(https?://|\\$\\{)"})json";
inline constexpr std::string_view kStoreSchema = R"({"$ref": "#/$defs/store"})";

// Structs without notes; a struct's own overload is found by argument-dependent lookup.
constexpr std::array<Note, 0> notes_of(const void*) {
  return {};
}

template <class T>
using Members = boost::describe::describe_members<T, boost::describe::mod_public>;

// Which container a member's type is, for the generators.
template <class T>
inline constexpr bool is_optional = false;
template <class T>
inline constexpr bool is_optional<std::optional<T>> = true;
template <class T>
inline constexpr bool is_vector = false;
template <class T>
inline constexpr bool is_vector<std::vector<T>> = true;
template <class T>
inline constexpr bool is_map = false;
template <class T>
inline constexpr bool is_map<std::map<std::string, T>> = true;

template <class T>
inline constexpr bool is_described = boost::describe::has_describe_members<T>::value;

template <class T>
consteval Note note_of(std::string_view member) {
  for (const Note& note : notes_of(static_cast<const T*>(nullptr))) {
    if (note.member == member) return note;
  }
  return Note{member};
}

constexpr std::string_view key_of(const Note& note) {
  return note.key.empty() ? note.member : note.key;
}

// What a generator reads about a struct; a typo in a note or a member missing from
// BOOST_DESCRIBE_STRUCT fails the build here rather than silently leaving a key out.
template <class T>
consteval bool check_description() {
  static_assert(boost::pfr::tuple_size_v<T> == boost::mp11::mp_size<Members<T>>::value,
                "every member of a config struct is listed in its BOOST_DESCRIBE_STRUCT");
  for (const Note& note : notes_of(static_cast<const T*>(nullptr))) {
    if (note.member.empty()) continue;
    bool found = false;
    boost::mp11::mp_for_each<Members<T>>([&](auto d) { found = found || note.member == d.name; });
    if (!found) return false;
  }
  return true;
}

// The keys a mapping of T may have in the file, for YamlReader::mapping.
template <class T>
const std::vector<std::string_view>& yaml_keys() {
  static_assert(check_description<T>(), "a note names a member that is not described");
  static const std::vector<std::string_view> keys = [] {
    std::vector<std::string_view> out;
    boost::mp11::mp_for_each<Members<T>>([&](auto d) {
      constexpr Note note = note_of<T>(decltype(d)::name);
      if (note.where == Where::Both) out.push_back(key_of(note));
    });
    return out;
  }();
  return keys;
}

// The keys a mapping of T must have, in member order: those noted `required` whose `only_for`
// is `type` (by default, the keys every type needs), for YamlReader::require.
template <class T>
std::vector<std::string_view> required_keys(std::string_view type = {}) {
  static_assert(check_description<T>(), "a note names a member that is not described");
  std::vector<std::string_view> out;
  boost::mp11::mp_for_each<Members<T>>([&](auto d) {
    constexpr Note note = note_of<T>(decltype(d)::name);
    if (note.required && note.only_for == type) out.push_back(key_of(note));
  });
  return out;
}

}  // namespace portico::config
