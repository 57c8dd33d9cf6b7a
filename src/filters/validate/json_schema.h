// A JSON Schema (draft 7) compiled once by valijson, checked against documents parsed by
// Boost.JSON. Immutable once compiled: validate() runs on every worker at once. `pattern` and
// `patternProperties` use RE2 (linear time on any input), so a schema whose patterns RE2
// cannot compile (lookaround, backreferences) is refused when it is compiled.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace valijson {
class Schema;
}

namespace portico::filters::validate {

// How deep a document (a schema or a body) may nest: deeper is refused as malformed, so
// neither parsing nor validation recursion is unbounded.
inline constexpr std::size_t kMaxJsonDepth = 64;

// `text` as one JSON value; nullopt and `problem` ("... at line 3, column 14") otherwise.
std::optional<boost::json::value> parse_json(std::string_view text, std::string& problem);

class JsonSchema {
 public:
  struct Violation {
    std::string pointer;  // RFC 6901 pointer into the document; "" is the whole document
    std::string message;
  };

  // nullptr and `problem` when `text` is not JSON or not a draft 7 schema this build can apply
  // (remote $refs, patterns RE2 cannot compile, a $schema of another draft).
  static std::shared_ptr<const JsonSchema> compile(std::string_view text, std::string& problem);
  static std::shared_ptr<const JsonSchema> compile(const boost::json::value& schema,
                                                   std::string& problem);
  ~JsonSchema();

  // True when `document` matches. Otherwise appends up to `limit` violations, those that name
  // the deepest place first, leaving out the summaries that only repeat a deeper one.
  bool validate(const boost::json::value& document, std::vector<Violation>& violations,
                std::size_t limit) const;

 private:
  JsonSchema();
  std::unique_ptr<valijson::Schema> schema_;
};

}  // namespace portico::filters::validate
