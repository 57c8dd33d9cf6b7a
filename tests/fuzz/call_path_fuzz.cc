// libFuzzer target for aggregate call paths: a template (the first line) filled from a JSON
// answer (the rest) and a query string. Any bytes: no fault; a template that compiles fills to
// a path starting with '/', and a value that fails the call leaves a problem saying which.
#include <boost/json/parse.hpp>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "actions/aggregate/call_path.h"

namespace aggregate = portico::actions::aggregate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto newline = text.find('\n');
  auto pattern = text.substr(0, newline);
  auto rest = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);

  std::optional<aggregate::CallPath> path;
  try {
    path.emplace(pattern, [](std::string_view name) -> std::optional<std::size_t> {
      if (name == "a") return 0;
      return std::nullopt;
    });
  } catch (const std::runtime_error&) {
    return 0;  // an unclosed brace or an unknown call: refused, as config validation would
  }
  boost::system::error_code ec;
  auto answer = boost::json::parse(rest, ec);
  const boost::json::value* answers[] = {ec ? nullptr : &answer};

  portico::core::RequestHead head;
  head.has_query = true;
  head.query = rest.substr(0, 64);
  portico::routing::MatchResult match;
  portico::proxy::RequestContext ctx;
  ctx.head = &head;
  ctx.match = &match;
  std::string out_path, out_query, problem;
  if (path->fill(ctx, answers, out_path, out_query, problem)) {
    if (out_path.empty()) std::abort();
  } else if (problem.empty()) {
    std::abort();
  }
  return 0;
}
