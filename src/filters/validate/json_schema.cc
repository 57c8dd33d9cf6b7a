#include "filters/validate/json_schema.h"

#include <re2/re2.h>

#include <boost/json/serialize.hpp>
#include <boost/json/stream_parser.hpp>
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/constraint_builder.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <new>

namespace portico::filters::validate {

namespace json = boost::json;

namespace {

// valijson 1.0 matches `pattern` with std::regex, which backtracks and recurses once per
// character: a long string in a request body could exhaust a worker's stack. Schemas are
// handed to valijson with `pattern` renamed to this keyword, which matches with RE2 (linear
// in the input, as the router's patterns are).
constexpr std::string_view kRe2Pattern = "x-portico-re2-pattern";

RE2::Options re2_options() {
  RE2::Options options;
  options.set_log_errors(false);
  return options;
}

class Re2PatternConstraint final : public valijson::constraints::PolyConstraint {
 public:
  explicit Re2PatternConstraint(std::shared_ptr<const RE2> re) : re_(std::move(re)) {}

  bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                valijson::ValidationResults* results) const override {
    if (!target.isString() || RE2::PartialMatch(target.asString(), *re_)) return true;
    if (results) results->pushError(context, "Failed to match the pattern " + re_->pattern() + ".");
    return false;
  }

 private:
  Constraint* cloneInto(void* memory) const override {
    return new (memory) Re2PatternConstraint(re_);
  }
  size_t sizeOf() const override { return sizeof(Re2PatternConstraint); }

  std::shared_ptr<const RE2> re_;
};

class Re2PatternBuilder final : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const valijson::adapters::Adapter& value) const override {
    auto re = std::make_shared<const RE2>(value.asString(), re2_options());
    if (!re->ok()) throw std::runtime_error("pattern " + value.asString() + ": " + re->error());
    return new Re2PatternConstraint(std::move(re));
  }
};

// "line L, column C" of byte `offset` of `text`.
std::string position(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  auto before = text.substr(0, offset);
  std::size_t line = 1 + std::count(before.begin(), before.end(), '\n');
  auto last_newline = before.rfind('\n');
  std::size_t column = offset - (last_newline == std::string_view::npos ? 0 : last_newline + 1) + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

std::string quoted_json(std::string_view text) {
  return json::serialize(json::value(text));
}

// A JSON pointer's reference token for `key`.
std::string escaped(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

bool is_data_keyword(std::string_view key) {
  return key == "enum" || key == "const" || key == "default" || key == "examples";
}

// Keywords whose value maps names (properties, definitions) to schemas.
bool is_name_map_keyword(std::string_view key) {
  return key == "properties" || key == "definitions" || key == "dependencies" ||
         key == "patternProperties";
}

// The schema as valijson is given it: `pattern` renamed to kRe2Pattern (each checked to
// compile in RE2), `format` left out (draft 7 makes it an annotation; valijson 1.0 would check
// dates with std::regex), `$id` left out (refs resolve within the file, by pointer only). Empty
// `problem` when it can be used. `names`: the keys of `value` are property names, not keywords.
json::value prepared(const json::value& value, std::string& problem, bool names = false) {
  if (const auto* array = value.if_array()) {
    json::array out;
    for (const auto& item : *array) out.push_back(prepared(item, problem));
    return out;
  }
  const auto* object = value.if_object();
  if (!object) return value;
  json::object out;
  for (const auto& [key, item] : *object) {
    if (!names && is_data_keyword(key)) {
      out[key] = item;
    } else if (!names && (key == "format" || key == "$id" || key == "id")) {
      // $id (and draft 4's id) would move the base that refs resolve against; valijson 1.0
      // then loses track of what it already parsed and recurses without end on a "#" ref.
      continue;
    } else if (!names && key == "patternProperties") {
      // valijson 1.0 compiles these std::regex on every validation and runs them over the
      // request's property names.
      if (problem.empty())
        problem =
            "uses patternProperties, which this gateway does not apply; use properties or "
            "propertyNames with a pattern";
    } else if (!names && key == "pattern" && item.is_string()) {
      RE2 re(std::string(item.get_string()), re2_options());
      if (!re.ok() && problem.empty())
        problem = "has a pattern RE2 cannot compile (no lookaround or backreferences): " +
                  quoted_json(item.get_string()) + ": " + re.error();
      out[kRe2Pattern] = item;
    } else {
      out[key] = prepared(item, problem, !names && is_name_map_keyword(key));
    }
  }
  return out;
}

// Pointers (without the leading #) of the subschemas that apply to the very value `schema`
// (at `at`) applies to: a local $ref's target, allOf / anyOf / oneOf items, not, if, then,
// else, and schema dependencies.
void same_value_subschemas(const json::value& schema, const std::string& at,
                           std::vector<std::string>& out) {
  const auto* object = schema.if_object();
  if (!object) return;
  if (const auto* ref = object->if_contains("$ref"); ref && ref->is_string()) {
    std::string_view target = ref->get_string();
    if (!target.empty() && target.front() == '#') out.emplace_back(target.substr(1));
    return;  // draft 7: beside $ref, other keywords are ignored
  }
  for (auto key : {"allOf", "anyOf", "oneOf"}) {
    if (const auto* list = object->if_contains(key); list && list->is_array()) {
      for (std::size_t i = 0; i < list->get_array().size(); ++i)
        out.push_back(at + "/" + key + "/" + std::to_string(i));
    }
  }
  for (auto key : {"not", "if", "then", "else"}) {
    if (object->contains(key)) out.push_back(at + "/" + key);
  }
  if (const auto* dependencies = object->if_contains("dependencies");
      dependencies && dependencies->is_object()) {
    for (const auto& [name, value] : dependencies->get_object()) {
      if (value.is_object()) out.push_back(at + "/dependencies/" + escaped(name));
    }
  }
}

// Every object of a schema document with its pointer, data keywords' values left out.
void subschemas(const json::value& value, const std::string& at, std::vector<std::string>& out) {
  if (const auto* array = value.if_array()) {
    for (std::size_t i = 0; i < array->size(); ++i)
      subschemas((*array)[i], at + "/" + std::to_string(i), out);
    return;
  }
  const auto* object = value.if_object();
  if (!object) return;
  out.push_back(at);
  for (const auto& [key, item] : *object) {
    if (!is_data_keyword(key)) subschemas(item, at + "/" + escaped(key), out);
  }
}

// Whether some subschema reaches itself without descending into the value, so that checking
// anything against it would recurse without end: {"$ref": "#"}, {"allOf": [{"$ref": "#"}]}.
bool applies_to_itself(const json::value& root) {
  enum class State { Open, Done };
  std::map<std::string, State> seen;
  std::function<bool(const std::string&)> loops = [&](const std::string& at) {
    auto [it, fresh] = seen.emplace(at, State::Open);
    if (!fresh) return it->second == State::Open;
    boost::system::error_code ec;
    std::vector<std::string> next;
    if (const auto* schema = root.find_pointer(at, ec)) same_value_subschemas(*schema, at, next);
    for (const auto& target : next)
      if (loops(target)) return true;
    seen[at] = State::Done;
    return false;
  };
  std::vector<std::string> all;
  subschemas(root, "", all);
  return std::any_of(all.begin(), all.end(), loops);
}

bool is_draft7_uri(std::string_view uri) {
  for (std::string_view base :
       {"http://json-schema.org/draft-07/schema", "https://json-schema.org/draft-07/schema"}) {
    if (uri == base ||
        (uri.size() == base.size() + 1 && uri.substr(0, base.size()) == base && uri.back() == '#'))
      return true;
  }
  return false;
}

// valijson's context ("<root>", "[items]", "[0]", ...) as an RFC 6901 pointer.
std::string pointer_of(const std::vector<std::string>& context) {
  std::string out;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string_view part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']')
      part = part.substr(1, part.size() - 2);
    out += '/';
    out += escaped(part);
  }
  return out;
}

// valijson's messages that only say a deeper (or same-place) error made a subschema fail.
bool is_summary(std::string_view message) {
  for (std::string_view prefix : {
           "Failed to validate item #",
           "Failed to validate against schema associated with",
           "Failed to validate against additional properties schema",
           "Failed to validate against child schema #",
           "Failed to validate against dependent schema",
           "Failed to validate against a conditional schema",
       }) {
    if (message.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

bool within(std::string_view pointer, std::string_view ancestor) {
  return pointer.substr(0, ancestor.size()) == ancestor &&
         (pointer.size() == ancestor.size() || pointer[ancestor.size()] == '/');
}

}  // namespace

std::optional<json::value> parse_json(std::string_view text, std::string& problem) {
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  json::stream_parser parser({}, options);
  boost::system::error_code ec;
  std::size_t used = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    problem = "malformed JSON at " + position(text, used) + ": " + ec.message();
    return std::nullopt;
  }
  return parser.release();
}

JsonSchema::JsonSchema() : schema_(std::make_unique<valijson::Schema>()) {}
JsonSchema::~JsonSchema() = default;

std::shared_ptr<const JsonSchema> JsonSchema::compile(std::string_view text, std::string& problem) {
  auto document = parse_json(text, problem);
  if (!document) {
    problem = "is not JSON: " + problem;
    return nullptr;
  }
  return compile(*document, problem);
}

std::shared_ptr<const JsonSchema> JsonSchema::compile(const json::value& schema,
                                                      std::string& problem) {
  problem.clear();
  if (!schema.is_object() && !schema.is_bool()) {
    problem = "is not a JSON Schema: expected an object (or true / false) at the top";
    return nullptr;
  }
  if (const auto* object = schema.if_object()) {
    if (const auto* declared = object->if_contains("$schema")) {
      if (!declared->is_string() || !is_draft7_uri(declared->get_string())) {
        problem = "declares \"$schema\": " + json::serialize(*declared) +
                  "; only JSON Schema draft 7 (http://json-schema.org/draft-07/schema#) is "
                  "supported";
        return nullptr;
      }
    }
  }
  json::value document = prepared(schema, problem);
  if (!problem.empty()) return nullptr;
  if (applies_to_itself(document)) {
    problem =
        "is not a usable JSON Schema: a $ref (or allOf / anyOf / oneOf / not) cycle "
        "applies a schema to the same value again without end";
    return nullptr;
  }
  std::shared_ptr<JsonSchema> out(new JsonSchema());
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    parser.addConstraintBuilder(std::string(kRe2Pattern), new Re2PatternBuilder());
    valijson::adapters::BoostJsonAdapter adapter(document);
    // No document fetcher: a $ref into another document is refused; refs within the file
    // resolve.
    parser.populateSchema(adapter, *out->schema_);
  } catch (const std::exception& e) {
    problem = std::string("is not a valid JSON Schema (draft 7): ") + e.what();
    return nullptr;
  }
  return out;
}

bool JsonSchema::validate(const json::value& document, std::vector<Violation>& violations,
                          std::size_t limit) const {
  // Cheap to make: its only state is a cache of std::regex patterns, which nothing uses here
  // (patterns are RE2 constraints of the schema itself).
  valijson::Validator validator;
  valijson::adapters::BoostJsonAdapter adapter(document);
  valijson::ValidationResults results;
  if (validator.validate(*schema_, adapter, &results)) return true;
  std::vector<Violation> found;
  std::vector<bool> summary;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    summary.push_back(is_summary(error.description));
    found.push_back({pointer_of(error.context), std::move(error.description)});
  }
  for (std::size_t i = 0; i < found.size() && violations.size() < limit; ++i) {
    bool repeats = summary[i] && std::any_of(found.begin(), found.end(), [&](const Violation& v) {
                     return &v != &found[i] && within(v.pointer, found[i].pointer);
                   });
    if (!repeats) violations.push_back(found[i]);
  }
  if (violations.empty() && !found.empty()) violations.push_back(found.front());
  return false;
}

}  // namespace portico::filters::validate
