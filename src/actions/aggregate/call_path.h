// An aggregate call's path template ("/orders?user_id={user.id}&{query}") compiled once, then
// filled per request from the route's match, the identity, the client's query string and the
// JSON answers of the calls it depends on. Values are percent-encoded for where they land (a
// path segment or a query value); a field that is missing, null, an object or an array fails
// the call, as does an identity value the request lacks, an empty value, and "." or ".." in a
// path.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/request_context.h"

namespace portico::actions::aggregate {

class CallPath {
 public:
  // `call_index` maps a call name to its index (only calls the config lets it name).
  CallPath(std::string_view pattern,
           const std::function<std::optional<std::size_t>(std::string_view)>& call_index);

  // The answers of the calls this path may name, by call index; null where a call has none.
  using Answers = std::span<const boost::json::value* const>;

  // Writes the path into `path` and the query (without '?', empty items dropped) into
  // `query`. False, with `problem` set, when a value is missing.
  bool fill(const portico::proxy::RequestContext& ctx, Answers answers, std::string& path,
            std::string& query, std::string& problem) const;

 private:
  struct Part {
    enum class Kind { Text, Param, Consumer, Claim, CertSubject, Query, CallField };
    Kind kind = Kind::Text;
    std::string text;  // Text: the literal; Param, Claim: the name; CallField: "call.a.b"
    std::size_t call = 0;
    std::vector<std::string> field;  // CallField: the member names (or array indexes) in turn
    bool in_query = false;           // after the template's '?'
  };
  static std::optional<std::string> identity_text(const portico::proxy::RequestContext& ctx,
                                                  const Part& part);
  std::vector<Part> parts_;
};

// The text a JSON scalar stands for in a URL (a string as itself, a number, true/false);
// nullopt for null, objects and arrays.
std::optional<std::string> scalar_text(const boost::json::value& value);

// The member at `field` inside `root` (object members by name, array items by index).
const boost::json::value* find_field(const boost::json::value& root,
                                     std::span<const std::string> field);

}  // namespace portico::actions::aggregate
