// The JSON Schema, derived from the config structs' descriptions (config/describe.h): a
// described struct is an object of its members; a member's schema is the one its type gives
// (below) unless its note gives one. Only the value kinds (durations, sizes, ...) are written
// out here, because they are the file's notation rather than a struct.
#include "config/config_schema.h"

#include <boost/json.hpp>

#include <algorithm>
#include <string>
#include <type_traits>

#include "config/config.h"

namespace portico::config {
namespace json = boost::json;
namespace {

constexpr std::string_view kValueKinds = R"({
  "env": {"type": "string", "pattern": "\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}"},
  "duration": {
    "description": "A number and ms, s, m or h: 250ms, 2s, 5m.",
    "anyOf": [{"type": "string", "pattern": "^ *[0-9]+ *(ms|s|m|min|h)$"}, {"$ref": "#/$defs/env"}]
  },
  "size": {
    "description": "Bytes, or a number and KiB, MiB, GiB: 16KiB, 10MiB.",
    "anyOf": [{"type": "integer", "minimum": 0},
              {"type": "string", "pattern": "^ *[0-9]+ *(B|KiB|MiB|GiB|KB|MB|GB)?$"},
              {"$ref": "#/$defs/env"}]
  },
  "rate": {
    "description": "count/unit: 100/s, 1000/min, 10/h.",
    "anyOf": [{"type": "string", "pattern": "^ *[1-9][0-9]*/(s|m|min|h)$"}, {"$ref": "#/$defs/env"}]
  },
  "percent": {
    "description": "50%, or a number from 0 to 1.",
    "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "string", "pattern": "^[0-9.]+%$"},
              {"$ref": "#/$defs/env"}]
  },
  "integer": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/env"}]},
  "positiveInteger": {"anyOf": [{"type": "integer", "minimum": 1}, {"$ref": "#/$defs/env"}]},
  "boolean": {"anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/env"}]},
  "address": {
    "description": "host:port; 0.0.0.0 and [::] for all interfaces.",
    "anyOf": [{"type": "string", "pattern": "^(\\[[0-9A-Fa-f:.]+\\]|[^:\\[\\]]+):[0-9]{1,5}$"},
              {"$ref": "#/$defs/env"}]
  },
  "headerName": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"},
  "stringList": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
  "stringMap": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
  "store": {"anyOf": [{"enum": ["memory", "redis"]}, {"$ref": "#/$defs/env"}]},
  "valueMatches": {
    "description": "Exact values; a leading ~ makes the value an RE2 pattern.",
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "boolean"]}
  }
})";

json::object ref(std::string_view def) {
  return {{"$ref", "#/$defs/" + std::string(def)}};
}

void merge(json::object& into, std::string_view keywords) {
  if (keywords.empty()) return;
  json::value parsed = json::parse(keywords);
  for (const auto& [key, value] : parsed.as_object()) into[key] = value;
}

class SchemaBuilder {
 public:
  SchemaBuilder() : defs_(json::parse(kValueKinds).as_object()) {}

  template <class T>
  json::object struct_schema();
  json::object take_defs() { return std::move(defs_); }

 private:
  template <class T>
  json::value type_schema();
  // `kOwn`: the note gives the schema (or the enum), so the type's own is never asked for.
  template <class T, bool kOwn>
  json::value member_schema(const Note& note);

  json::object defs_;
};

template <class T>
json::value SchemaBuilder::type_schema() {
  if constexpr (is_optional<T>) {
    return type_schema<typename T::value_type>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return json::object{{"type", "string"}};
  } else if constexpr (std::is_same_v<T, bool>) {
    return ref("boolean");
  } else if constexpr (std::is_integral_v<T>) {
    return ref("positiveInteger");  // counts and limits; a note says where 0 is allowed
  } else if constexpr (std::is_floating_point_v<T>) {
    return ref("percent");  // shares: budgets, ratios, failure rates
  } else if constexpr (std::is_same_v<T, Duration>) {
    return ref("duration");
  } else if constexpr (std::is_same_v<T, core::Rate>) {
    return ref("rate");
  } else if constexpr (std::is_same_v<T, Endpoint>) {
    return ref("address");
  } else if constexpr (std::is_same_v<T, HeaderList>) {
    return ref("stringMap");
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return ref("stringList");
  } else if constexpr (is_vector<T>) {
    return json::object{{"type", "array"}, {"items", type_schema<typename T::value_type>()}};
  } else if constexpr (is_map<T>) {
    return json::object{{"type", "object"},
                        {"additionalProperties", type_schema<typename T::mapped_type>()}};
  } else {
    static_assert(is_described<T>, "a config type the schema does not know; give it a note");
    // A struct with a $defs name is written once there and referred to.
    for (const Note& note : notes_of(static_cast<const T*>(nullptr))) {
      if (!note.member.empty() || note.key.empty()) continue;
      if (!defs_.contains(note.key)) defs_[note.key] = struct_schema<T>();
      return ref(note.key);
    }
    return struct_schema<T>();
  }
}

template <class T, bool kOwn>
json::value SchemaBuilder::member_schema(const Note& note) {
  json::value schema;
  if constexpr (kOwn) {
    if (!note.schema.empty()) {
      schema = json::parse(note.schema);
    } else {
      json::array choices(note.choices.begin(), note.choices.end());
      schema = json::object{{"enum", std::move(choices)}};
      if constexpr (is_vector<T>)
        schema = json::object{{"type", "array"}, {"items", std::move(schema)}};
    }
  } else if constexpr (is_vector<T> && !std::is_same_v<T, HeaderList>) {
    json::value item = type_schema<typename T::value_type>();
    if (note.by_name) {
      schema = json::object{{"type", "object"}, {"additionalProperties", std::move(item)}};
    } else if (note.one_or_list) {
      json::object list{{"type", "array"}, {"minItems", 1}, {"items", item}};
      schema = json::object{{"anyOf", json::array{item, std::move(list)}}};
    } else {
      schema = type_schema<T>();
    }
  } else {
    schema = type_schema<T>();
  }
  merge(schema.as_object(), note.extend);
  if (!note.description.empty()) schema.as_object()["description"] = note.description;
  return schema;
}

// Members noted `only_for` a type go to an if/then branch for that value of `type`; each
// branch closes the object itself, so that a key of one type is refused for the others.
template <class T>
json::object SchemaBuilder::struct_schema() {
  static_assert(check_description<T>(), "a note names a member that is not described");
  struct Part {
    std::string_view only_for;  // parts[0]: the members of every type
    json::object properties;
    json::array required;
  };
  std::vector<Part> parts(1);
  boost::mp11::mp_for_each<Members<T>>([&](auto d) {
    constexpr Note note = note_of<T>(decltype(d)::name);
    if constexpr (note.where == Where::Both) {
      using Member = std::remove_cvref_t<decltype(std::declval<T>().*d.pointer)>;
      auto it = std::find_if(parts.begin(), parts.end(),
                             [&](const Part& p) { return p.only_for == note.only_for; });
      if (it == parts.end()) it = parts.insert(it, Part{note.only_for, {{"type", true}}, {}});
      constexpr bool kOwn = !note.schema.empty() || !note.choices.empty();
      it->properties[key_of(note)] = member_schema<Member, kOwn>(note);
      if (note.required) it->required.emplace_back(key_of(note));
    }
  });
  constexpr auto notes = notes_of(static_cast<const T*>(nullptr));
  auto close = [&](json::object& out, Part& part) {
    out["additionalProperties"] = false;
    if (!part.required.empty()) out["required"] = std::move(part.required);
    out["properties"] = std::move(part.properties);
    for (const Note& note : notes) {
      if (note.member.empty() && note.only_for == part.only_for) merge(out, note.extend);
    }
  };
  json::object out{{"type", "object"}};
  for (const Note& note : notes) {
    if (note.member.empty() && !note.description.empty()) out["description"] = note.description;
  }
  if (parts.size() == 1) {
    close(out, parts[0]);
  } else {
    if (!parts[0].required.empty()) out["required"] = std::move(parts[0].required);
    out["properties"] = std::move(parts[0].properties);
    json::array branches;
    for (auto part = parts.begin() + 1; part != parts.end(); ++part) {
      json::object type{{"type", json::object{{"const", part->only_for}}}};
      json::object when{{"properties", std::move(type)}};
      json::object then;
      close(then, *part);
      branches.push_back(json::object{{"if", std::move(when)}, {"then", std::move(then)}});
    }
    out["allOf"] = std::move(branches);
  }
  for (const Note& note : notes) {
    if (note.member.empty() && !note.shorthand.empty())
      return {{"anyOf", json::array{json::parse(note.shorthand), std::move(out)}}};
  }
  return out;
}

// Objects and arrays that fit on a line are written on one; the rest one member a line.
std::string one_line(const json::value& value) {
  if (!value.is_object() && !value.is_array()) return json::serialize(value);
  std::string out(1, value.is_object() ? '{' : '[');
  auto separate = [&] {
    if (out.size() > 1) out += ", ";
  };
  if (value.is_object()) {
    for (const auto& [key, item] : value.get_object()) {
      separate();
      out += json::serialize(key);
      out += ": ";
      out += one_line(item);
    }
  } else {
    for (const auto& item : value.get_array()) {
      separate();
      out += one_line(item);
    }
  }
  out += value.is_object() ? '}' : ']';
  return out;
}

void write_pretty(std::string& out, const json::value& value, std::size_t indent) {
  constexpr std::size_t kWidth = 100;
  std::string line = one_line(value);
  if (indent + line.size() <= kWidth || !(value.is_object() || value.is_array())) {
    out += line;
    return;
  }
  std::string pad(indent + 2, ' ');
  bool first = true;
  auto next = [&] {
    out += first ? "\n" : ",\n";
    out += pad;
    first = false;
  };
  if (value.is_object()) {
    out += '{';
    for (const auto& [key, item] : value.get_object()) {
      next();
      out += json::serialize(key);
      out += ": ";
      write_pretty(out, item, indent + 2);
    }
  } else {
    out += '[';
    for (const auto& item : value.get_array()) {
      next();
      write_pretty(out, item, indent + 2);
    }
  }
  out += '\n';
  out.append(indent, ' ');
  out += value.is_object() ? '}' : ']';
}

// Every section may be written empty (`admin:` alone means its defaults).
void make_nullable(json::value& schema) {
  auto* object = schema.if_object();
  if (!object || !object->contains("type") || !object->at("type").is_string()) return;
  json::string type = object->at("type").get_string();
  (*object)["type"] = json::array{type, "null"};
}

std::string build_schema() {
  SchemaBuilder builder;
  json::object body = builder.struct_schema<Config>();
  for (auto& [key, property] : body["properties"].as_object()) make_nullable(property);
  json::object root{{"$schema", "https://json-schema.org/draft/2020-12/schema"},
                    {"title", "portico.yaml"}};
  for (auto& [key, value] : body) root[key] = std::move(value);
  root["$defs"] = builder.take_defs();
  std::string out;
  write_pretty(out, root, 0);
  return out;
}

}  // namespace

std::string_view config_json_schema() {
  static const std::string schema = build_schema();
  return schema;
}

}  // namespace portico::config
