// Compiling schemas (what is refused, and why) and the violations a document gets, as pointers.
#include "filters/validate/json_schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace portico::filters::validate {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

std::shared_ptr<const JsonSchema> compiled(std::string_view text) {
  std::string problem;
  auto schema = JsonSchema::compile(text, problem);
  EXPECT_TRUE(schema) << problem;
  return schema;
}

std::string refused(std::string_view text) {
  std::string problem;
  EXPECT_FALSE(JsonSchema::compile(text, problem)) << text;
  return problem;
}

std::vector<JsonSchema::Violation> violations(const JsonSchema& schema, std::string_view body,
                                              std::size_t limit = 10) {
  std::vector<JsonSchema::Violation> out;
  bool valid = schema.validate(json::parse(body), out, limit);
  EXPECT_EQ(valid, out.empty());
  return out;
}

std::vector<std::string> pointers(const std::vector<JsonSchema::Violation>& found) {
  std::vector<std::string> out;
  for (const auto& v : found) out.push_back(v.pointer);
  return out;
}

constexpr std::string_view kOrder = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["customer", "items"],
  "additionalProperties": false,
  "properties": {
    "customer": {"type": "string", "minLength": 2, "maxLength": 20, "pattern": "^[a-z]+$"},
    "status": {"enum": ["new", "paid"]},
    "version": {"const": 1},
    "items": {"type": "array", "items": {"$ref": "#/definitions/item"}}
  },
  "definitions": {
    "item": {
      "type": "object",
      "required": ["sku", "qty"],
      "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1, "maximum": 99}}
    }
  }
})";

TEST(JsonSchema, AMatchingDocumentHasNoViolations) {
  auto schema = compiled(kOrder);
  EXPECT_TRUE(
      violations(*schema, R"({"customer": "ann", "items": [{"sku": "a", "qty": 2}]})").empty());
}

TEST(JsonSchema, ViolationsPointAtTheValueThatFailed) {
  auto schema = compiled(kOrder);
  auto found = violations(*schema, R"({"customer": "ann", "items": [{"sku": "a", "qty": 0}]})");
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found.front().pointer, "/items/0/qty");
  EXPECT_FALSE(found.front().message.empty());
}

TEST(JsonSchema, EachKeywordReportsItsOwnPlace) {
  auto schema = compiled(kOrder);
  auto at = [&](std::string_view body) { return pointers(violations(*schema, body)); };
  using ::testing::Contains;
  EXPECT_THAT(at(R"({"customer": 5, "items": []})"), Contains("/customer"));  // type
  EXPECT_THAT(at(R"({"items": []})"), Contains(""));                          // required
  EXPECT_THAT(at(R"({"customer": "ann", "items": [], "status": "x"})"), Contains("/status"));
  EXPECT_THAT(at(R"({"customer": "ann", "items": [], "version": 2})"), Contains("/version"));
  EXPECT_THAT(at(R"({"customer": "Ann", "items": []})"), Contains("/customer"));  // pattern
  EXPECT_THAT(at(R"({"customer": "a", "items": []})"), Contains("/customer"));    // minLength
  EXPECT_THAT(at(R"({"customer": "abcdefghijklmnopqrstuvwxyz", "items": []})"),
              Contains("/customer"));  // maxLength
  EXPECT_THAT(at(R"({"customer": "ann", "items": [{"sku": "a", "qty": 100}]})"),
              Contains("/items/0/qty"));                                             // maximum
  EXPECT_THAT(at(R"({"customer": "ann", "items": [], "extra": 1})"), Contains(""));  // additional
  EXPECT_THAT(at(R"({"customer": "ann", "items": [{"qty": 1}]})"), Contains("/items/0"));
}

TEST(JsonSchema, TheDeepestViolationsComeFirstAndSummariesAreLeftOut) {
  auto schema = compiled(kOrder);
  auto found = violations(*schema, R"({"customer": "ann", "items": [{"sku": "a", "qty": 0},
                                                                   {"sku": 1, "qty": 1}]})");
  EXPECT_THAT(pointers(found), ::testing::ElementsAre("/items/0/qty", "/items/1/sku"));
}

TEST(JsonSchema, AtMostTheLimitIsReported) {
  auto schema = compiled(R"({"type": "array", "items": {"type": "integer"}})");
  auto found = violations(*schema, R"(["a","b","c","d","e","f","g","h","i","j","k","l"])", 10);
  ASSERT_EQ(found.size(), 10u);
  EXPECT_EQ(found[0].pointer, "/0");
  EXPECT_EQ(found[9].pointer, "/9");
}

TEST(JsonSchema, PointersEscapeSlashAndTilde) {
  auto schema =
      compiled(R"({"properties": {"a/b": {"type": "integer"}, "m~n": {"type": "integer"}}})");
  EXPECT_THAT(pointers(violations(*schema, R"({"a/b": "x"})")), ::testing::Contains("/a~1b"));
  EXPECT_THAT(pointers(violations(*schema, R"({"m~n": "x"})")), ::testing::Contains("/m~0n"));
}

TEST(JsonSchema, PatternsAreRe2AndLinearOnLongInput) {
  auto schema = compiled(R"({"type": "string", "pattern": "^(a|aa)*$"})");
  std::string body = "\"" + std::string(200000, 'a') + "b\"";
  EXPECT_FALSE(violations(*schema, body).empty());
  EXPECT_THAT(refused(R"json({"pattern": "(?=a)"})json"), HasSubstr("RE2"));
  EXPECT_THAT(refused(R"json({"properties": {"a": {"pattern": "(a)\\1"}}})json"), HasSubstr("RE2"));
  // A property may be named "pattern": only keywords are patterns.
  compiled(R"json({"properties": {"pattern": {"type": "string"}}})json");
  EXPECT_THAT(refused(R"json({"patternProperties": {"^a": {}}})json"),
              HasSubstr("patternProperties"));
}

TEST(JsonSchema, WhatCannotBeCompiledSaysWhy) {
  EXPECT_THAT(refused("{\n  \"type\": \"object\",\n  oops\n}"), HasSubstr("line 3, column 3"));
  EXPECT_THAT(refused(R"({"type": "strnig"})"), HasSubstr("JSON Schema"));
  EXPECT_THAT(refused(R"({"minimum": "one"})"), HasSubstr("JSON Schema"));
  EXPECT_THAT(refused(R"({"$ref": "#/definitions/missing"})"), HasSubstr("JSON Schema"));
  EXPECT_THAT(refused(R"({"$ref": "http://example.com/other.json"})"), HasSubstr("JSON Schema"));
  EXPECT_THAT(refused(R"({"$schema": "https://json-schema.org/draft/2020-12/schema"})"),
              HasSubstr("draft 7"));
  EXPECT_THAT(refused("[1, 2]"), HasSubstr("object"));
}

TEST(JsonSchema, ASchemaThatAppliesItselfToTheSameValueIsRefused) {
  EXPECT_THAT(refused(R"({"$ref": "#"})"), HasSubstr("cycle"));
  EXPECT_THAT(refused(R"({"allOf": [{"$ref": "#"}]})"), HasSubstr("cycle"));
  EXPECT_THAT(refused(R"({"definitions": {"a": {"not": {"$ref": "#/definitions/b"}},
                                          "b": {"anyOf": [{"$ref": "#/definitions/a"}]}}})"),
              HasSubstr("cycle"));
  // Recursion that descends into the value is a tree, and fine.
  auto tree = compiled(R"({"type": "object", "required": ["name"],
                           "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}})");
  EXPECT_TRUE(
      violations(*tree, R"({"name": "a", "children": [{"name": "b", "children": []}]})").empty());
  EXPECT_THAT(pointers(violations(*tree, R"({"name": "a", "children": [{"children": []}]})")),
              ::testing::ElementsAre("/children/0"));
}

TEST(JsonSchema, IdsDoNotMoveTheBaseOfRefs) {
  // Found by the fuzzer: with the base moved by an id, valijson 1.0 recursed without end on
  // the "#" below. Refs resolve within the file, by pointer.
  auto schema = compiled(R"({"id": "B", "$id": "http://example.com/s",
                             "items": {"items": {"$ref": "#"}}})");
  EXPECT_TRUE(violations(*schema, "[[[1]]]").empty());
}

TEST(JsonSchema, FormatIsAnAnnotation) {
  auto schema = compiled(R"({"type": "string", "format": "date-time"})");
  EXPECT_TRUE(violations(*schema, "\"" + std::string(100000, '1') + "\"").empty());
}

TEST(JsonSchema, ParseJsonRefusesTrailingDataAndDeepNesting) {
  std::string problem;
  EXPECT_TRUE(parse_json(" {\"a\": [1, 2]} \n", problem)) << problem;
  EXPECT_FALSE(parse_json("{} {}", problem));
  EXPECT_THAT(problem, HasSubstr("line 1"));
  EXPECT_FALSE(parse_json("{\"a\": ", problem));
  EXPECT_FALSE(parse_json(std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']'),
                          problem));
  EXPECT_TRUE(
      parse_json(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']'), problem))
      << problem;
}

}  // namespace
}  // namespace portico::filters::validate
