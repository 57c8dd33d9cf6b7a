// libFuzzer target for routing::Router: a fixed route table, fuzzed path, method, Host, one
// header and query. Input: "path\nhost\nheader\nquery\nM", where M's first byte picks the
// method (GET when absent), so the path corpus doubles as this target's seeds.
// Checks that a match is consistent with itself; aborts otherwise.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "routing/path_normalizer.h"
#include "routing/router.h"

namespace {

using namespace portico;
using config::RouteConfig;
using Kind = config::RouteMatch::Kind;

RouteConfig route(Kind kind, std::string pattern, std::vector<std::string> methods = {}) {
  RouteConfig r;
  r.name = pattern;
  auto& field = kind == Kind::Path    ? r.match.path
                : kind == Kind::Regex ? r.match.regex
                                      : r.match.prefix;
  field = std::move(pattern);
  r.match.methods = std::move(methods);
  return r;
}

std::vector<RouteConfig> route_table() {
  std::vector<RouteConfig> routes;
  routes.push_back(route(Kind::Prefix, "/"));
  routes.push_back(route(Kind::Prefix, "/api", {"GET", "POST"}));
  routes.push_back(route(Kind::Prefix, "/api/v1/products", {"GET", "HEAD"}));
  routes.push_back(route(Kind::Path, "/api/v1/users/{id}", {"GET", "PUT", "DELETE"}));
  routes.push_back(route(Kind::Path, "/api/v1/users/me"));
  routes.push_back(route(Kind::Path, "/api/{version}/users/{id}/posts/{post}"));
  routes.push_back(route(Kind::Path, "/files/{path...}", {"GET"}));
  routes.push_back(route(Kind::Path, "/a/"));
  routes.push_back(route(Kind::Regex, "/legacy/v(?P<v>[0-9]+)/(?P<tail>.*)"));
  auto hosted = route(Kind::Prefix, "/admin", {"GET"});
  hosted.match.host = "*.example.com";
  routes.push_back(hosted);
  auto exact_host = route(Kind::Path, "/admin/{page}");
  exact_host.match.host = "admin.example.com";
  exact_host.match.headers.push_back({"X-Client", "mobile-[0-9]+", true});
  routes.push_back(exact_host);
  auto beta = route(Kind::Prefix, "/api", {"GET"});
  beta.match.query.push_back({"beta", "true", false});
  beta.match.query.push_back({"q", "[a-z ]*", true});
  beta.match.headers.push_back({"X-Client", "web", false});
  routes.push_back(beta);
  return routes;
}

const std::vector<RouteConfig>& routes() {
  static const std::vector<RouteConfig> table = route_table();
  return table;
}

bool within(std::string_view part, const std::string& whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check(const routing::Router& router, const core::RequestHead& request) {
  const routing::MatchResult result = router.match(request);
  switch (result.status) {
    case routing::MatchStatus::Matched:
      if (result.route_index >= routes().size() || !result.allow.empty()) std::abort();
      if (result.params.size > routing::PathParams::capacity) std::abort();
      for (std::size_t i = 0; i < result.params.size; ++i)
        if (result.params.items[i].name.empty() ||
            !within(result.params.items[i].value, request.path))
          std::abort();
      break;
    case routing::MatchStatus::MethodNotAllowed:
      if (result.allow.empty()) std::abort();
      break;
    case routing::MatchStatus::NotFound:
      if (!result.allow.empty() || result.params.size != 0) std::abort();
      break;
  }
  const routing::MatchResult again = router.match(request);
  if (again.status != result.status || again.route_index != result.route_index ||
      again.allow != result.allow)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const routing::Router router(routes());
  static constexpr std::array<std::string_view, 8> kMethods = {"GET",    "HEAD",    "POST",  "PUT",
                                                               "DELETE", "OPTIONS", "PATCH", "get"};
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::array<std::string_view, 5> parts{};  // path, host, header, query, method
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::size_t nl = std::min(input.find('\n'), input.size());
    parts[i] = input.substr(0, nl);
    input.remove_prefix(std::min(nl + 1, input.size()));
  }

  core::RequestHead request;
  request.method = parts[4].empty()
                       ? kMethods[0]
                       : kMethods[static_cast<unsigned char>(parts[4][0]) % kMethods.size()];
  request.query = parts[3];
  request.has_query = !parts[3].empty();
  request.fields.push_back({"Host", parts[1]});
  request.fields.push_back({"x-client", parts[2]});

  // The router is promised a normalized path, but must not misbehave on any other string.
  request.path.assign(parts[0]);
  check(router, request);
  std::string normalized;
  if (routing::normalize_path(parts[0], normalized) == routing::NormalizeResult::Ok) {
    request.path = normalized;
    check(router, request);
  }
  return 0;
}
