// The JSON view and the JSON Schema derived from the descriptions (config/describe.h): the
// view keeps the shape the hand-written one had, reads back as the same config, and the
// schema names every key the loader accepts, at every level.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "config/config_json.h"
#include "config/config_loader.h"
#include "config/config_schema.h"

namespace portico::config {
namespace {

namespace json = boost::json;

std::string read_testdata(const std::string& name) {
  std::ifstream in(std::string(PORTICO_CONFIG_TESTDATA) + "/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::shared_ptr<const Config> load_ok(std::string_view yaml) {
  auto result = load_config_string(yaml, "sample.yaml",
                                   [](std::string_view) { return std::optional<std::string>(); });
  std::string errors;
  for (const auto& error : result.errors) errors += error.to_string() + "\n";
  EXPECT_TRUE(result.ok()) << errors;
  return result.config;
}

const json::object& schema() {
  static const json::object parsed = json::parse(config_json_schema()).as_object();
  return parsed;
}

// What a list or a mapping holds.
template <class M>
struct ItemOf {
  using type = typename M::value_type;
};
template <class V>
struct ItemOf<std::map<std::string, V>> {
  using type = V;
};

// ---- The schema names every described key ----------------------------------------------

const json::value& resolve(const json::value& schema) {
  if (const auto* object = schema.if_object(); object && object->contains("$ref")) {
    std::string_view ref = object->at("$ref").as_string();
    return config::schema().at("$defs").at(ref.substr(std::string_view("#/$defs/").size()));
  }
  return schema;
}

// The properties an object schema allows: its own, those of its type branches (allOf/then),
// and those of the object alternative when a scalar may stand for it (anyOf).
std::map<std::string, const json::value*> properties_of(const json::value& schema) {
  std::map<std::string, const json::value*> out;
  const json::object& object = resolve(schema).as_object();
  if (auto it = object.find("properties"); it != object.end()) {
    for (const auto& [name, property] : it->value().as_object()) {
      if (!property.is_bool()) out.emplace(name, &property);  // `"type": true` in a branch
    }
  }
  for (auto list : {"allOf", "anyOf"}) {
    if (!object.contains(list)) continue;
    for (const auto& part : object.at(list).as_array()) {
      const json::value& inner = part.as_object().contains("then") ? part.at("then") : part;
      if (resolve(inner).as_object().contains("properties")) out.merge(properties_of(inner));
    }
  }
  return out;
}

// What a list's or mapping's items must be: `items`, `additionalProperties`, or the item
// that may stand alone for a list of one.
const json::value& element_of(const json::value& schema) {
  const json::object& object = resolve(schema).as_object();
  if (object.contains("items")) return object.at("items");
  if (object.contains("additionalProperties")) return object.at("additionalProperties");
  return object.at("anyOf").at(0);
}

template <class T>
void expect_keys_named(const json::value& schema, const std::string& where);

template <class M>
void expect_member_named(const json::value& schema, const std::string& where) {
  if constexpr (is_optional<M>) {
    expect_member_named<typename M::value_type>(schema, where);
  } else if constexpr (is_described<M>) {
    expect_keys_named<M>(schema, where);
  } else if constexpr (is_vector<M> || is_map<M>) {
    using Item = typename ItemOf<M>::type;
    if constexpr (is_described<Item>) expect_keys_named<Item>(element_of(schema), where + "[]");
  }
}

template <class T>
void expect_keys_named(const json::value& schema, const std::string& where) {
  auto properties = properties_of(schema);
  std::set<std::string> described;
  boost::mp11::mp_for_each<Members<T>>([&](auto d) {
    constexpr Note note = note_of<T>(decltype(d)::name);
    if constexpr (note.where == Where::Both) {
      using Member = std::remove_cvref_t<decltype(std::declval<T>().*d.pointer)>;
      std::string key(key_of(note));
      described.insert(key);
      auto it = properties.find(key);
      if (it == properties.end()) {
        ADD_FAILURE() << "the schema lacks " << where << "." << key;
      } else if (note.schema.empty()) {
        expect_member_named<Member>(*it->second, where + "." + key);
      }
    }
  });
  for (const auto& [name, property] : properties) {
    EXPECT_TRUE(described.count(name)) << where << "." << name << " is not a described key";
  }
}

TEST(ConfigSchema, NamesEveryDescribedKeyAtEveryLevel) {
  expect_keys_named<Config>(json::value(schema()), "");
}

TEST(ConfigSchema, EveryReferenceResolves) {
  std::vector<const json::value*> pending{};
  json::value root(schema());
  pending.push_back(&root);
  int refs = 0;
  while (!pending.empty()) {
    const json::value* value = pending.back();
    pending.pop_back();
    if (const auto* object = value->if_object()) {
      for (const auto& [key, item] : *object) {
        if (key == "$ref") {
          ++refs;
          std::string_view ref = item.as_string();
          ASSERT_EQ(ref.substr(0, 8), "#/$defs/");
          EXPECT_TRUE(schema().at("$defs").as_object().contains(ref.substr(8))) << ref;
        }
        pending.push_back(&item);
      }
    } else if (const auto* array = value->if_array()) {
      for (const auto& item : *array) pending.push_back(&item);
    }
  }
  EXPECT_GT(refs, 50);
}

TEST(ConfigSchema, SplitsAuthProviderKeysByType) {
  const auto& provider = schema().at("$defs").at("authProvider").as_object();
  EXPECT_EQ(provider.at("required"), json::array{"type"});
  std::map<std::string, std::set<std::string>> keys;
  for (const auto& branch : provider.at("allOf").as_array()) {
    std::string type(branch.at_pointer("/if/properties/type/const").as_string());
    for (const auto& [key, value] : branch.at_pointer("/then/properties").as_object())
      keys[type].insert(key);
    EXPECT_EQ(branch.at_pointer("/then/additionalProperties"), false) << type;
  }
  EXPECT_THAT(keys["api_key"], ::testing::ElementsAre("header", "keys", "keys_file", "type"));
  EXPECT_TRUE(keys["jwt"].count("jwks_url"));
  EXPECT_FALSE(keys["jwt"].count("url"));
  EXPECT_TRUE(keys["oauth2_introspection"].count("client_secret"));
  EXPECT_EQ(provider.at("allOf").at(2).at_pointer("/then/required"),
            (json::array{"url", "client_id"}));
}

// ---- The view ----------------------------------------------------------------------------

TEST(ConfigJson, ViewOfTheSampleHasTheHandWrittenViewsShape) {
  auto config = load_ok(read_testdata("sample.yaml"));
  ASSERT_NE(config, nullptr);
  json::object expected = json::parse(read_testdata("sample.view.json")).as_object();
  json::object view = config_to_json(*config).as_object();
  for (const auto& [section, value] : expected) {
    EXPECT_EQ(view[section], value) << section << ": " << json::serialize(view[section]);
  }
  EXPECT_EQ(view.size(), expected.size());
}

// The view written back in the file's own shape: what the loader derives (ViewOnly) and
// unset values are left out, leaves at their struct's defaults too (an upstream's `tls:
// {verify: true}` is refused without https targets), and the lists that the file writes as
// mappings become mappings again.
template <class T>
json::value file_form(const json::value& view);

template <class M>
json::value member_file_form(const json::value& view) {
  if constexpr (is_optional<M>) {
    return member_file_form<typename M::value_type>(view);
  } else if constexpr (std::is_same_v<M, WebSocketConfig>) {
    if (!view.at("enabled").as_bool()) return false;
    return json::object{{"idle_timeout", view.at("idle_timeout")}};
  } else if constexpr (std::is_same_v<M, std::vector<ValueMatch>>) {
    json::object out;
    for (const auto& match : view.as_array()) {
      std::string value(match.at("value").as_string());
      out[match.at("name").as_string()] = match.at("regex").as_bool() ? "~" + value : value;
    }
    return out;
  } else if constexpr (std::is_same_v<M, std::vector<filters::auth::ApiKey>>) {
    json::object out;
    for (const auto& key : view.as_array()) out[key.at("key").as_string()] = key.at("consumer");
    return out;
  } else if constexpr (is_described<M>) {
    return file_form<M>(view);
  } else if constexpr ((is_vector<M> || is_map<M>)&&!std::is_same_v<M, HeaderList>) {
    using Item = typename ItemOf<M>::type;
    if constexpr (is_described<Item>) {
      if (view.is_object()) {  // a mapping of named items
        json::object out;
        for (const auto& [name, item] : view.as_object()) out[name] = file_form<Item>(item);
        return out;
      }
      json::array out;
      for (const auto& item : view.as_array()) out.push_back(file_form<Item>(item));
      return out;
    }
  }
  return view;
}

template <class M>
bool at_default(const json::value& view, const M& fallback) {
  if (view.is_null() || (view.is_string() && view.as_string().empty())) return true;
  if (view.is_array() && view.as_array().empty()) return true;
  if constexpr (std::is_arithmetic_v<M> || std::is_same_v<M, std::string>)
    return view == json::value(fallback);
  else if constexpr (std::is_same_v<M, Duration>)
    return view == json::value(format_duration(fallback));
  return false;
}

template <class T>
json::value file_form(const json::value& view) {
  json::object out;
  const T fallback{};
  boost::mp11::mp_for_each<Members<T>>([&](auto d) {
    constexpr Note note = note_of<T>(decltype(d)::name);
    using Member = std::remove_cvref_t<decltype(std::declval<T>().*d.pointer)>;
    if constexpr (note.where == Where::Both) {
      const auto* value = view.as_object().if_contains(key_of(note));
      if (!value || at_default(*value, fallback.*d.pointer)) return;
      json::value written = member_file_form<Member>(*value);
      bool empty_mapping = written.is_object() && written.as_object().empty();
      if (!(empty_mapping && is_described<Member>)) out[key_of(note)] = std::move(written);
    }
  });
  return out;
}

TEST(ConfigJson, TheSampleReadsBackFromItsViewAsTheSameConfig) {
  auto config = load_ok(read_testdata("sample.yaml"));
  ASSERT_NE(config, nullptr);
  json::value view = config_to_json(*config);
  // JSON is YAML; masked secrets read back as "***" and are masked again.
  std::string written = json::serialize(file_form<Config>(view));
  auto again = load_ok(written);
  ASSERT_NE(again, nullptr) << written;
  EXPECT_EQ(config_to_json(*again), view) << written;
}

}  // namespace
}  // namespace portico::config
