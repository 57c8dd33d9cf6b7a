#include "routing/router.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "core/testing/allocation_counter.h"

namespace {

using portico::config::RouteConfig;
using portico::config::RouteMatch;
using portico::config::ValueMatch;
using portico::core::HeaderField;
using portico::core::RequestHead;
using portico::routing::MatchResult;
using portico::routing::MatchStatus;
using portico::routing::Router;
using Kind = RouteMatch::Kind;

RouteConfig route(std::string name, Kind kind, std::string pattern,
                  std::vector<std::string> methods = {}) {
  RouteConfig r;
  r.name = std::move(name);
  auto& field = kind == Kind::Path    ? r.match.path
                : kind == Kind::Regex ? r.match.regex
                                      : r.match.prefix;
  field = std::move(pattern);
  r.match.methods = std::move(methods);
  return r;
}

RouteConfig path(std::string pattern, std::vector<std::string> methods = {}) {
  return route(pattern, Kind::Path, pattern, std::move(methods));
}
RouteConfig prefix(std::string pattern, std::vector<std::string> methods = {}) {
  return route(pattern, Kind::Prefix, pattern, std::move(methods));
}
RouteConfig regex(std::string pattern, std::vector<std::string> methods = {}) {
  return route(pattern, Kind::Regex, pattern, std::move(methods));
}

// A request head as the HTTP/1 parser leaves it; `target` may carry a query.
struct Request {
  RequestHead head;
  explicit Request(std::string_view target, std::string_view method = "GET",
                   std::vector<HeaderField> fields = {}) {
    head.method = method;
    head.target = target;
    const auto q = target.find('?');
    head.raw_path = target.substr(0, q);
    if (q != std::string_view::npos) {
      head.query = target.substr(q + 1);
      head.has_query = true;
    }
    head.path = std::string(head.raw_path);
    head.fields = std::move(fields);
  }
};

// Only status and allow may be read from the result: params point into the request, which is
// gone by then (param() below copies them out).
MatchResult match(const Router& router, std::string_view target, std::string_view method = "GET",
                  std::vector<HeaderField> fields = {}) {
  Request request(target, method, std::move(fields));
  return router.match(request.head);
}

// A captured parameter, copied out before the request it points into is gone; "<none>" when
// the route did not match or has no such parameter.
std::string param(const Router& router, std::string_view target, std::string_view name) {
  Request request(target);
  const MatchResult result = router.match(request.head);
  for (std::size_t i = 0; i < result.params.size; ++i)
    if (result.params.items[i].name == name) return std::string(result.params.items[i].value);
  return "<none>";
}

// Index of the winning route, or -1 when nothing matched.
int winner(const Router& router, std::string_view target, std::string_view method = "GET",
           std::vector<HeaderField> fields = {}) {
  const MatchResult result = match(router, target, method, std::move(fields));
  return result.status == MatchStatus::Matched ? static_cast<int>(result.route_index) : -1;
}

}  // namespace

TEST(Router, PrefersExactPathThenTemplateThenPrefixThenRegex) {
  // Written least specific first, so the order written cannot be what decides.
  const Router router(
      {regex("/api/.*"), prefix("/api/users"), path("/api/users/{id}"), path("/api/users/me")});
  EXPECT_EQ(winner(router, "/api/users/me"), 3);
  EXPECT_EQ(winner(router, "/api/users/7"), 2);
  EXPECT_EQ(winner(router, "/api/users/7/posts"), 1);
  EXPECT_EQ(winner(router, "/api/orders"), 0);
  EXPECT_EQ(winner(router, "/other"), -1);
}

TEST(Router, PrefersTheLongerPrefix) {
  const Router router({prefix("/"), prefix("/api"), prefix("/api/v1")});
  EXPECT_EQ(winner(router, "/api/v1/users"), 2);
  EXPECT_EQ(winner(router, "/api/v1"), 2);
  EXPECT_EQ(winner(router, "/api/v2"), 1);
  EXPECT_EQ(winner(router, "/web"), 0);
  EXPECT_EQ(winner(router, "/"), 0);
}

TEST(Router, PrefersTemplatesWithMoreLiteralSegments) {
  const Router router({path("/{a}/{b}/c"), path("/x/{b}/c"), path("/{a}/y/{c}")});
  EXPECT_EQ(winner(router, "/x/y/c"), 1);
  EXPECT_EQ(winner(router, "/q/y/c"), 0);  // two routes with one literal: first written
  EXPECT_EQ(winner(router, "/q/y/z"), 2);
}

TEST(Router, PrefersASingleParameterOverACatchAll) {
  const Router router({path("/files/{rest...}"), path("/files/{name}")});
  EXPECT_EQ(winner(router, "/files/a"), 1);
  EXPECT_EQ(winner(router, "/files/a/b"), 0);
}

TEST(Router, PrefersTheRouteWithMoreConditions) {
  RouteConfig plain = prefix("/api");
  RouteConfig guarded = prefix("/api", {"GET"});
  guarded.match.headers.push_back({"X-Beta", "1", false});
  const Router router({plain, guarded});
  EXPECT_EQ(winner(router, "/api/x", "GET", {{"X-Beta", "1"}}), 1);
  EXPECT_EQ(winner(router, "/api/x", "POST", {{"X-Beta", "1"}}), 0);
  EXPECT_EQ(winner(router, "/api/x", "GET"), 0);
}

TEST(Router, PathSpecificityOutranksConditions) {
  RouteConfig guarded = prefix("/api", {"GET"});
  guarded.match.host = "api.example.com";
  const Router router({guarded, prefix("/api/v1")});
  EXPECT_EQ(winner(router, "/api/v1/x", "GET", {{"Host", "api.example.com"}}), 1);
}

TEST(Router, FirstWrittenWinsATie) {
  const Router router({path("/same"), path("/same"), prefix("/p", {"GET"}), prefix("/p", {"GET"})});
  EXPECT_EQ(winner(router, "/same"), 0);
  EXPECT_EQ(winner(router, "/p/x"), 2);
}

TEST(Router, CapturesTemplateParametersAsViewsIntoThePath) {
  const Router router({path("/users/{id}/posts/{post}")});
  Request request("/users/42/posts/7");
  const MatchResult result = router.match(request.head);
  ASSERT_EQ(result.status, MatchStatus::Matched);
  EXPECT_EQ(result.params.size, 2u);
  EXPECT_EQ(result.params.find("id"), "42");
  EXPECT_EQ(result.params.find("post"), "7");
  EXPECT_EQ(result.params.find("id").data(), request.head.path.data() + 7);
}

TEST(Router, CatchAllTakesTheTail) {
  const Router router({path("/files/{path...}")});
  EXPECT_EQ(param(router, "/files/a/b/c", "path"), "a/b/c");
  EXPECT_EQ(param(router, "/files/a", "path"), "a");
  EXPECT_EQ(param(router, "/files/", "path"), "");
  EXPECT_EQ(match(router, "/files").status, MatchStatus::NotFound);
}

TEST(Router, PrefixGivesRestWithoutItsLeadingSlash) {
  const Router router({prefix("/api/v1"), prefix("/")});
  EXPECT_EQ(param(router, "/api/v1/users/7", "rest"), "users/7");
  EXPECT_EQ(param(router, "/api/v1/", "rest"), "");
  EXPECT_EQ(param(router, "/api/v1", "rest"), "");
  EXPECT_EQ(param(router, "/web/index.html", "rest"), "web/index.html");
}

TEST(Router, PrefixMatchesWholeSegmentsOnly) {
  const Router router({prefix("/api/users")});
  EXPECT_EQ(winner(router, "/api/users"), 0);
  EXPECT_EQ(winner(router, "/api/users/"), 0);
  EXPECT_EQ(winner(router, "/api/users/7"), 0);
  EXPECT_EQ(winner(router, "/api/usersx"), -1);
  EXPECT_EQ(winner(router, "/api/user"), -1);
  EXPECT_EQ(winner(router, "/api"), -1);
}

TEST(Router, PrefixWrittenWithTrailingSlashMeansTheSameSegments) {
  const Router router({prefix("/api/")});
  EXPECT_EQ(winner(router, "/api"), 0);
  EXPECT_EQ(winner(router, "/api/x"), 0);
  EXPECT_EQ(winner(router, "/apix"), -1);
}

TEST(Router, ExactPathKeepsItsTrailingSlash) {
  const Router router({path("/a"), path("/b/")});
  EXPECT_EQ(winner(router, "/a"), 0);
  EXPECT_EQ(winner(router, "/a/"), -1);
  EXPECT_EQ(winner(router, "/b/"), 1);
  EXPECT_EQ(winner(router, "/b"), -1);
}

TEST(Router, ParameterDoesNotMatchAnEmptySegment) {
  const Router router({path("/users/{id}")});
  EXPECT_EQ(winner(router, "/users/"), -1);
  EXPECT_EQ(winner(router, "/users"), -1);
  EXPECT_EQ(winner(router, "/users/1/2"), -1);
}

TEST(Router, MatchesRoutePatternsWrittenWithEscapes) {
  const Router router({path("/caf%c3%a9/%7Euser")});
  EXPECT_EQ(winner(router, "/caf%C3%A9/~user"), 0);
}

TEST(Router, AnswersMethodNotAllowedWithTheUnionOfAllowedMethods) {
  RouteConfig other_host = prefix("/", {"DELETE"});
  other_host.match.host = "other.example";
  const Router router({path("/x", {"PUT"}), path("/items", {"GET", "HEAD"}),
                       prefix("/items", {"POST", "GET"}), other_host});
  const MatchResult result = match(router, "/items", "DELETE");
  EXPECT_EQ(result.status, MatchStatus::MethodNotAllowed);
  EXPECT_EQ(result.allow, "GET, HEAD, POST");
  // One order for every Allow: methods as first written anywhere in the routes.
  EXPECT_EQ(match(router, "/items/1", "PUT").allow, "GET, POST");
  EXPECT_EQ(winner(router, "/items", "HEAD"), 1);
  EXPECT_EQ(winner(router, "/items", "POST"), 2);
}

TEST(Router, KeepsMethodsExactlyAsConfigured) {
  const Router router({path("/items", {"GET"})});
  const MatchResult result = match(router, "/items", "HEAD");
  EXPECT_EQ(result.status, MatchStatus::MethodNotAllowed);
  EXPECT_EQ(result.allow, "GET");
  EXPECT_EQ(match(router, "/items", "get").status, MatchStatus::MethodNotAllowed);
}

TEST(Router, FallsBackToALessSpecificRouteThatAllowsTheMethod) {
  const Router router({path("/items", {"GET"}), prefix("/")});
  EXPECT_EQ(winner(router, "/items", "DELETE"), 1);
}

TEST(Router, BuildsAllowStringsForManyDistinctMethods) {
  std::vector<RouteConfig> routes;
  for (int i = 0; i < 14; ++i) {
    std::string method = "M";
    method += std::to_string(i);
    routes.push_back(path("/r", {method}));
  }
  const Router router(routes);
  const MatchResult result = match(router, "/r", "GET");
  EXPECT_EQ(result.status, MatchStatus::MethodNotAllowed);
  EXPECT_EQ(result.allow, "M0, M1, M2, M3, M4, M5, M6, M7, M8, M9, M10, M11, M12, M13");
  EXPECT_EQ(winner(router, "/r", "M13"), 13);
}

TEST(Router, MatchesWildcardHostsOnSubdomainsOnly) {
  RouteConfig wildcard = prefix("/");
  wildcard.match.host = "*.example.com";
  const Router router({wildcard});
  EXPECT_EQ(winner(router, "/", "GET", {{"Host", "api.example.com"}}), 0);
  EXPECT_EQ(winner(router, "/", "GET", {{"Host", "a.b.example.com:8443"}}), 0);
  EXPECT_EQ(winner(router, "/", "GET", {{"host", "API.Example.COM"}}), 0);
  EXPECT_EQ(winner(router, "/", "GET", {{"Host", "example.com"}}), -1);
  EXPECT_EQ(winner(router, "/", "GET", {{"Host", "badexample.com"}}), -1);
  EXPECT_EQ(winner(router, "/", "GET", {{"Host", "api.example.org"}}), -1);
  EXPECT_EQ(winner(router, "/"), -1);
}

TEST(Router, MatchesExactHostIgnoringCaseAndPort) {
  RouteConfig api = prefix("/");
  api.match.host = "api.example.com";
  RouteConfig v6 = prefix("/");
  v6.match.host = "::1";
  const Router router({api, v6});
  EXPECT_EQ(winner(router, "/", "GET", {{"Host", "API.example.com:8080"}}), 0);
  EXPECT_EQ(winner(router, "/", "GET", {{"Host", "api.example.com."}}), 0);
  EXPECT_EQ(winner(router, "/", "GET", {{"Host", "www.example.com"}}), -1);
  EXPECT_EQ(winner(router, "/", "GET", {{"Host", "[::1]:8080"}}), 1);
}

TEST(Router, MatchesHeadersExactlyOrByRegex) {
  RouteConfig exact = prefix("/");
  exact.match.headers.push_back({"X-Api-Version", "2", false});
  RouteConfig pattern = prefix("/");
  pattern.match.headers.push_back({"X-Client", "mobile-[0-9]+", true});
  const Router router({exact, pattern});
  EXPECT_EQ(winner(router, "/", "GET", {{"x-api-version", "2"}}), 0);
  EXPECT_EQ(winner(router, "/", "GET", {{"X-Api-Version", "20"}}), -1);
  EXPECT_EQ(winner(router, "/", "GET", {{"X-Client", "mobile-12"}}), 1);
  EXPECT_EQ(winner(router, "/", "GET", {{"X-Client", "mobile-12-beta"}}), -1);  // full match
  EXPECT_EQ(winner(router, "/", "GET", {{"X-Client", "web"}, {"X-Client", "mobile-3"}}), 1);
  EXPECT_EQ(winner(router, "/"), -1);
}

TEST(Router, MatchesQueryParametersExactlyOrByRegex) {
  RouteConfig beta = prefix("/");
  beta.match.query.push_back({"beta", "true", false});
  RouteConfig search = prefix("/");
  search.match.query.push_back({"q", "[a-z ]+", true});
  RouteConfig flag = prefix("/");
  flag.match.query.push_back({"flag", "", false});
  const Router router({beta, search, flag});
  EXPECT_EQ(winner(router, "/?beta=true"), 0);
  EXPECT_EQ(winner(router, "/?a=1&beta=true&b=2"), 0);
  EXPECT_EQ(winner(router, "/?beta=tru%65"), 0);
  EXPECT_EQ(winner(router, "/?beta=false&beta=true"), 0);
  EXPECT_EQ(winner(router, "/?beta=false"), -1);
  EXPECT_EQ(winner(router, "/?betax=true"), -1);
  EXPECT_EQ(winner(router, "/?q=hello+world"), 1);
  EXPECT_EQ(winner(router, "/?q=hello%20world"), 1);
  EXPECT_EQ(winner(router, "/?q=Hello"), -1);
  EXPECT_EQ(winner(router, "/?flag"), 2);
  EXPECT_EQ(winner(router, "/?flag="), 2);
  EXPECT_EQ(winner(router, "/"), -1);
}

TEST(Router, RegexRoutesMatchTheWholePathAndCaptureNamedGroups) {
  const Router router({regex("/api/v(?P<version>[0-9]+)/legacy/(?P<rest>.*)")});
  EXPECT_EQ(param(router, "/api/v2/legacy/a/b", "version"), "2");
  EXPECT_EQ(param(router, "/api/v2/legacy/a/b", "rest"), "a/b");
  EXPECT_EQ(winner(router, "/x/api/v2/legacy/"), -1);
}

TEST(Router, AnswersNotFoundWhenNothingMatches) {
  const Router router({path("/a"), prefix("/b"), regex("/c.*")});
  const MatchResult result = match(router, "/d");
  EXPECT_EQ(result.status, MatchStatus::NotFound);
  EXPECT_EQ(result.allow, "");
  EXPECT_EQ(winner(Router({}), "/"), -1);
}

TEST(Router, RejectsPatternsThatCannotCompile) {
  EXPECT_THROW(Router({regex("/(unclosed")}), std::invalid_argument);
  RouteConfig bad_header = prefix("/");
  bad_header.match.headers.push_back({"X", "[", true});
  EXPECT_THROW(Router({bad_header}), std::invalid_argument);
  EXPECT_THROW(Router({path("/a/{rest...}/b")}), std::invalid_argument);
  EXPECT_THROW(Router({path("/a/x{id}")}), std::invalid_argument);
  EXPECT_THROW(Router({path("no-slash")}), std::invalid_argument);
  EXPECT_THROW(Router({path("/a/../b")}), std::invalid_argument);
}

TEST(Router, MatchingDoesNotAllocate) {
  RouteConfig q = path("/q/{id}", {"GET"});
  q.match.query.push_back({"name", "[a-z]+", true});
  q.match.headers.push_back({"X-Client", "mobile-.*", true});
  q.match.host = "*.example.com";
  const Router router({prefix("/api"), path("/users/{id}/posts/{post}", {"GET", "POST"}),
                       regex("/legacy/(?P<x>.*)"), q});
  Request requests[] = {
      Request("/users/1/posts/2"),
      Request("/users/1/posts/2", "DELETE"),
      Request("/legacy/a"),
      Request("/q/7?name=abcdefgh", "GET", {{"Host", "a.example.com"}, {"X-Client", "mobile-1"}}),
      Request("/nothing"),
  };
  for (auto& r : requests) router.match(r.head);  // RE2 builds its caches on first use
  const long before = portico::testing::allocations_so_far();
  int matched = 0;
  for (auto& r : requests) matched += router.match(r.head).status == MatchStatus::Matched;
  EXPECT_EQ(portico::testing::allocations_so_far() - before, 0);
  EXPECT_EQ(matched, 3);
}
