// The route table: a segment trie over literal path segments for `path` and `prefix` routes,
// RE2 for `regex` routes, then each candidate's conditions (methods, host, headers, query).
// Built once per config snapshot, then read-only and shared by every worker.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/request_head.h"

namespace portico::routing {

struct PathParam {
  std::string_view name;   // view into the router's own storage
  std::string_view value;  // view into the matched path
};

// Params captured by a match; fixed capacity so matching never allocates.
struct PathParams {
  static constexpr std::size_t capacity = 16;
  std::array<PathParam, capacity> items{};
  std::size_t size = 0;
  std::string_view find(std::string_view name) const {
    for (std::size_t i = 0; i < size; ++i)
      if (items[i].name == name) return items[i].value;
    return {};
  }
};

enum class MatchStatus { Matched, NotFound, MethodNotAllowed };

struct MatchResult {
  MatchStatus status = MatchStatus::NotFound;
  std::size_t route_index = 0;  // into the routes the router was built from
  PathParams params;            // includes "rest" for prefix and {rest...} matches
  std::string_view allow;       // for MethodNotAllowed: "GET, HEAD" (router-owned storage)
};

class Router {
 public:
  // Throws std::invalid_argument naming the route when a pattern does not compile
  // (the config loader validates first, so this means a bug or an unchecked input).
  explicit Router(const std::vector<config::RouteConfig>& routes);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // `request.path` must already be normalized; host is taken from `Host` (port stripped).
  MatchResult match(const core::RequestHead& request) const;

 private:
  struct Table;
  std::unique_ptr<Table> table_;
};

}  // namespace portico::routing
