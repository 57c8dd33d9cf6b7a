// libFuzzer target for JSON Schema validation (filters/validate/json_schema.h). Each input is
// used two ways:
//  1. as a request body, parsed and validated against a fixed schema that uses every keyword
//     the contract names ($ref, items, pattern, enum, ...): violations never exceed the limit
//     and none is reported for a body the schema accepts;
//  2. when it holds a NUL byte, the text before it as a schema and the rest as a body: a schema
//     that compiles validates any parsed body without crashing, with the same guarantees.
// Aborts when a check fails.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "filters/validate/json_schema.h"

namespace {

using portico::filters::validate::JsonSchema;
using portico::filters::validate::parse_json;

constexpr std::string_view kSchema = R"({
  "type": "object",
  "required": ["id", "items"],
  "additionalProperties": false,
  "properties": {
    "id": {"type": "string", "pattern": "^[a-z0-9-]{1,36}$", "minLength": 1, "maxLength": 36},
    "status": {"enum": ["new", "paid", null, 3]},
    "version": {"const": {"major": 1}},
    "note": {"type": ["string", "null"], "maxLength": 200},
    "items": {"type": "array", "maxItems": 50, "items": {"$ref": "#/definitions/item"}},
    "tree": {"$ref": "#/definitions/node"}
  },
  "propertyNames": {"pattern": "^[a-z]+$", "maxLength": 16},
  "definitions": {
    "item": {
      "type": "object",
      "required": ["sku", "qty"],
      "properties": {
        "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
        "qty": {"type": "integer", "minimum": 1, "maximum": 1000},
        "price": {"type": "number", "exclusiveMinimum": 0}
      }
    },
    "node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/definitions/node"}}}}
  }
})";

void check(const JsonSchema& schema, std::string_view body) {
  std::string problem;
  auto document = parse_json(body, problem);
  if (!document) {
    if (problem.empty()) std::abort();
    return;
  }
  std::vector<JsonSchema::Violation> violations;
  bool valid = schema.validate(*document, violations, 10);
  if (valid != violations.empty() || violations.size() > 10) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto fixed = [] {
    std::string problem;
    auto schema = JsonSchema::compile(kSchema, problem);
    if (!schema) {
      std::fprintf(stderr, "the fixed schema %s\n", problem.c_str());
      std::abort();
    }
    return schema;
  }();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  check(*fixed, input);
  auto nul = input.find('\0');
  if (nul != std::string_view::npos) {
    std::string problem;
    if (auto schema = JsonSchema::compile(input.substr(0, nul), problem))
      check(*schema, input.substr(nul + 1));
    else if (problem.empty())
      std::abort();
  }
  return 0;
}
