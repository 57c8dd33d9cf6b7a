// The official JSON-Schema-Test-Suite (Debian's json-schema-test-suite), draft 7: every case of
// the keyword files below must come out as the suite says. Groups left out, and why, are in
// kSkipped (docs/design-notes.md, "Request validation and IP rules").
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "filters/validate/json_schema.h"

namespace portico::filters::validate {
namespace {

namespace json = boost::json;

constexpr std::string_view kSuite = PORTICO_JSON_SCHEMA_TEST_SUITE;

// Every draft 7 keyword file but two: the keywords the contract names (type, properties,
// required, items, enum, const, minimum / maximum, minLength / maxLength, pattern,
// additionalProperties, $ref within the file) and the rest valijson applies. Left out:
// patternProperties.json (compile refuses the keyword, see kSkipped) and refRemote.json (remote
// refs, which the gateway never fetches); optional/ (format, bignum, ECMA-262 regex) is not
// required by the draft.
const char* const kKeywordFiles[] = {
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "additionalProperties",
    "ref",
    "definitions",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "contains",
    "if-then-else",
    "boolean_schema",
    "additionalItems",
    "dependencies",
    "default",
};

struct Skip {
  std::string_view file;
  std::string_view group;  // the group's description
  std::string_view why;
};
const Skip kSkipped[] = {
    {"ref", "remote ref, containing refs itself",
     "$refs the draft 7 meta-schema by URL: the gateway fetches no remote documents"},
    {"definitions", "valid definition", "$refs the draft 7 meta-schema by URL (as above)"},
    {"definitions", "invalid definition", "$refs the draft 7 meta-schema by URL (as above)"},
    {"properties", "properties, patternProperties, additionalProperties interaction",
     "uses patternProperties, which compile refuses: valijson 1.0 applies it with std::regex to "
     "the body's property names, and std::regex recurses once per character"},
    {"additionalProperties", "additionalProperties being false does not allow other properties",
     "uses patternProperties (see above)"},
    {"additionalProperties", "non-ASCII pattern with additionalProperties",
     "uses patternProperties (see above)"},
    {"ref", "Recursive references between schemas",
     "refs by $id URIs (\"$id\": \"http://localhost:1234/tree\", \"$ref\": \"node\"): valijson "
     "1.0 resolves those only through a document fetcher, and the gateway fetches nothing; refs "
     "by JSON pointer within the file resolve"},
};

bool skipped(std::string_view file, std::string_view group) {
  for (const auto& s : kSkipped)
    if (s.file == file && s.group == group) return true;
  return false;
}

json::value read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

TEST(JsonSchemaTestSuite, Draft7CasesOfTheSupportedKeywordsPass) {
  std::filesystem::path root = std::filesystem::path(kSuite) / "draft7";
  ASSERT_TRUE(std::filesystem::is_directory(root))
      << root << " not found: install Debian's json-schema-test-suite (scripts/install-deps.sh)";
  std::size_t cases = 0;
  for (std::string_view file : kKeywordFiles) {
    auto path = root / (std::string(file) + ".json");
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    json::value groups = read_json(path);
    for (const auto& group : groups.as_array()) {
      std::string description(group.at("description").as_string());
      if (skipped(file, description)) continue;
      std::string problem;
      auto schema = JsonSchema::compile(group.at("schema"), problem);
      EXPECT_TRUE(schema) << file << ": " << description << ": " << problem;
      if (!schema) continue;
      for (const auto& test : group.at("tests").as_array()) {
        std::vector<JsonSchema::Violation> violations;
        bool valid = schema->validate(test.at("data"), violations, 10);
        EXPECT_EQ(valid, test.at("valid").as_bool())
            << file << ": " << description << ": " << test.at("description").as_string()
            << "\n  data: " << json::serialize(test.at("data"));
        ++cases;
      }
    }
  }
  EXPECT_GE(cases, 365u);  // the suite as Debian 12 packages it
  std::cout << cases << " cases of " << std::size(kKeywordFiles) << " keyword files passed\n";
}

}  // namespace
}  // namespace portico::filters::validate
