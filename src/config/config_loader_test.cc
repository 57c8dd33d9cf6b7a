#include "config/config_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace portico::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

LoadResult load(std::string_view yaml, std::map<std::string, std::string> vars = {}) {
  return load_config_string(yaml, "portico.yaml", env_of(std::move(vars)));
}

std::string describe(const LoadResult& result) {
  std::string out;
  for (const auto& error : result.errors) out += error.to_string() + "\n";
  return out;
}

// The one error reported for `key_path`; fails the test when there is not exactly one.
ConfigError error_at(const LoadResult& result, std::string_view key_path) {
  std::vector<ConfigError> found;
  for (const auto& error : result.errors) {
    if (error.key_path == key_path) found.push_back(error);
  }
  EXPECT_EQ(found.size(), 1u) << "errors for " << key_path << " in:\n" << describe(result);
  return found.empty() ? ConfigError{} : found.front();
}

constexpr std::string_view kUpstream = R"(
upstreams:
  users:
    targets: [http://127.0.0.1:8081]
)";

std::string with_upstream(std::string_view rest) {
  return std::string(kUpstream) + std::string(rest);
}

// The example of the contract (shared/spec/portico.example.yaml), kept here so the test is
// hermetic; it must load as long as the contract holds.
constexpr std::string_view kExample = R"(
server:
  listen: [0.0.0.0:8080]
  workers: auto
  limits: {max_header_bytes: 16KiB, max_body_bytes: 10MiB, header_timeout: 10s, idle_timeout: 60s}
  request_id_header: X-Correlation-ID
  drain_timeout: 15s

admin:
  listen: 127.0.0.1:9901

upstreams:
  users:
    targets: [http://127.0.0.1:8081, http://127.0.0.1:8091]
    balance: least_connections
    timeouts: {connect: 2s, request: 30s}
    retries: {attempts: 2, on: [connect_failure, reset, 502, 503], backoff: 25ms}
    circuit_breaker: {consecutive_failures: 5, open_for: 60s, half_open_requests: 3}
    health_check: {path: /health, interval: 5s, timeout: 1s}
  orders:
    targets: [http://127.0.0.1:8082]
    circuit_breaker: {consecutive_failures: 5, open_for: 60s, half_open_requests: 3}
  products:
    targets: [http://127.0.0.1:8083]
  greeter:
    targets: [http://127.0.0.1:50051]
    protocol: grpc

auth:
  users-jwt:
    type: jwt
    secret: ${JWT_SECRET}
    algorithms: [HS256]
    forward_claims: {user_id: X-User-Id, email: X-User-Email}
    roles_claim: roles

rate_limits:
  store: ${RATE_LIMIT_STORE:-memory}
  redis: {url: "${REDIS_URL:-redis://127.0.0.1:6379/0}"}
  policies:
    per-ip: {key: client_ip, rate: 100/s, burst: 200}
    service: {key: route, rate: 100/s, burst: 200}

cache:
  store: ${CACHE_STORE:-memory}
  redis: {url: "${REDIS_URL:-redis://127.0.0.1:6379/1}"}
  max_size: 128MiB

cors:
  allow_origins: ["*"]
  allow_methods: [GET, POST, PUT, DELETE]
  allow_headers: [Authorization, Content-Type, X-Correlation-ID]

observability:
  access_log: {path: stdout, format: json}

defaults:
  rate_limit: [per-ip]
  cors: true
  compress: true

routes:
  - name: products
    match: {prefix: /api/v1/products, methods: [GET]}
    upstream: products
    strip_prefix: /api/v1
    rate_limit: [per-ip, service]
    cache: {ttl: 30s}

  - name: users
    match: {prefix: /api/v1/users, methods: [GET]}
    auth: users-jwt
    upstream: users
    strip_prefix: /api/v1

  - name: orders
    match: {prefix: /api/v1/orders, methods: [GET]}
    auth: users-jwt
    upstream: orders
    strip_prefix: /api/v1

  - name: dashboard
    match: {path: "/api/v1/dashboard/{id}", methods: [GET]}
    auth: users-jwt
    aggregate:
      timeout: 2s
      calls:
        user: {upstream: users, path: "/users/{id}"}
        orders: {upstream: orders, path: "/orders?user_id={id}"}
        profile: {upstream: users, path: "/profiles/{id}", optional: true}

  - name: admin-users
    match: {prefix: /api/v1/admin/users, methods: [GET]}
    auth: users-jwt
    require_roles: [admin]
    upstream: users
    rewrite: /users/{rest}

  - name: greet
    match: {path: "/api/v1/greeter/{name}", methods: [GET, POST]}
    grpc:
      upstream: greeter
      descriptors: protos/greeter.pb
      method: helloworld.Greeter/SayHello
)";

TEST(ConfigLoader, ErrorCarriesFileLineColumnKeyPathAndWhatWasExpected) {
  auto result = load(R"(upstreams:
  users:
    targets: [http://127.0.0.1:8081]
    timeouts:
      connect: 2x
)");
  ASSERT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  const ConfigError& error = result.errors[0];
  EXPECT_EQ(error.file, "portico.yaml");
  EXPECT_EQ(error.mark.line, 5);
  EXPECT_EQ(error.mark.column, 16);
  EXPECT_EQ(error.key_path, "upstreams.users.timeouts.connect");
  EXPECT_EQ(error.to_string(),
            "portico.yaml:5:16: upstreams.users.timeouts.connect: expected a duration like 250ms, "
            "2s, 5m or 1h, got \"2x\"");
  EXPECT_EQ(result.config, nullptr);
}

TEST(ConfigLoader, RouteErrorsNameTheRouteByIndex) {
  auto result = load(with_upstream(R"(
routes:
  - {match: {prefix: /a}, upstream: users}
  - {match: {prefix: /b}, upstream: users}
  - match:
      prefix: api
    upstream: users
)"));
  auto error = error_at(result, "routes[2].match.prefix");
  EXPECT_EQ(error.mark.line, 10);
  EXPECT_EQ(error.mark.column, 15);
  EXPECT_THAT(error.message, HasSubstr("starting with /"));
}

TEST(ConfigLoader, ReportsEveryErrorAtOnceInFileOrder) {
  auto result = load(R"(server:
  listen: nowhere
upstreams:
  users:
    targets: [ftp://127.0.0.1:21]
    max_connections: -1
routes:
  - match: {prefix: /x}
    upstream: missing
)");
  ASSERT_EQ(result.errors.size(), 4u) << describe(result);
  EXPECT_EQ(result.errors[0].key_path, "server.listen");
  EXPECT_EQ(result.errors[1].key_path, "upstreams.users.targets[0]");
  EXPECT_EQ(result.errors[2].key_path, "upstreams.users.max_connections");
  EXPECT_EQ(result.errors[3].key_path, "routes[0].upstream");
  EXPECT_LT(result.errors[0].mark.line, result.errors[3].mark.line);
}

TEST(ConfigLoader, UnknownKeyIsRejectedWithTheNearestKnownKey) {
  auto result = load(with_upstream(R"(
routes:
  - match: {prefix: /users}
    upstreem: users
)"));
  auto error = error_at(result, "routes[0].upstreem");
  EXPECT_EQ(error.message, "unknown key \"upstreem\"; did you mean \"upstream\"?");
  EXPECT_EQ(error.mark.line, 8);
  EXPECT_EQ(error.mark.column, 5);
}

TEST(ConfigLoader, UnknownKeysAreRejectedAtEveryLevel) {
  auto result = load(R"(rotes: []
server: {listn: 0.0.0.0:80}
upstreams:
  users:
    targets: [http://127.0.0.1:8081]
    timeouts: {conect: 1s}
    health_check: {intervall: 5s}
bogus_section: 1
)");
  EXPECT_THAT(error_at(result, "rotes").message, HasSubstr("did you mean \"routes\"?"));
  EXPECT_THAT(error_at(result, "server.listn").message, HasSubstr("did you mean \"listen\"?"));
  EXPECT_THAT(error_at(result, "upstreams.users.timeouts.conect").message,
              HasSubstr("did you mean \"connect\"?"));
  EXPECT_THAT(error_at(result, "upstreams.users.health_check.intervall").message,
              HasSubstr("did you mean \"interval\"?"));
  EXPECT_THAT(error_at(result, "bogus_section").message, HasSubstr("expected one of: server,"));
}

TEST(ConfigLoader, SubstitutesSetVariablesAndDefaults) {
  auto result = load(R"(
admin: {listen: "127.0.0.1:${ADMIN_PORT:-9901}", token: "${ADMIN_TOKEN}"}
upstreams:
  users:
    targets: ["http://${USERS_HOST}:${USERS_PORT:-8081}"]
    timeouts: {request: "${REQUEST_TIMEOUT:-5s}"}
)",
                     {{"ADMIN_TOKEN", "s3cret"}, {"USERS_HOST", "users.internal"}});
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(result.config->admin.token, "s3cret");
  EXPECT_EQ(result.config->admin.listen->port, 9901);
  const auto& target = result.config->upstreams.at("users").targets.at(0);
  EXPECT_EQ(target.host, "users.internal");
  EXPECT_EQ(target.port, 8081);
  EXPECT_EQ(result.config->upstreams.at("users").timeouts.request, std::chrono::seconds(5));
}

TEST(ConfigLoader, UnsetVariableWithoutDefaultIsAnErrorAtItsScalar) {
  auto result = load(R"(admin:
  token: ${ADMIN_TOKEN}
)");
  auto error = error_at(result, "admin.token");
  EXPECT_EQ(error.mark.line, 2);
  EXPECT_EQ(error.mark.column, 10);
  EXPECT_THAT(error.message, HasSubstr("environment variable ADMIN_TOKEN is not set"));
}

TEST(ConfigLoader, MalformedReferencesAreErrors) {
  auto result = load(R"(upstreams:
  a: {targets: ["http://${HOST"]}
  b: {targets: ["http://${1HOST}:80"]}
  c: {targets: ["http://${A:-${B}}:80"]}
)");
  EXPECT_THAT(error_at(result, "upstreams.a.targets[0]").message, HasSubstr("unterminated ${"));
  EXPECT_THAT(error_at(result, "upstreams.b.targets[0]").message,
              HasSubstr("bad environment variable name \"1HOST\""));
  EXPECT_THAT(error_at(result, "upstreams.c.targets[0]").message, HasSubstr("nested"));
}

TEST(ConfigLoader, EmptyDefaultIsAllowed) {
  auto result = load("admin: {token: \"${ADMIN_TOKEN:-}\"}\n");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(result.config->admin.token, "");
}

TEST(ConfigLoader, WrongTypesSayWhatWasExpected) {
  auto result = load(R"(server:
  listen: {host: 0.0.0.0}
  workers: many
watch: maybe
upstreams:
  users:
    targets: http://127.0.0.1:8081
    max_connections: [1]
)");
  EXPECT_THAT(error_at(result, "server.listen").message,
              HasSubstr("expected a list, got a mapping"));
  EXPECT_THAT(error_at(result, "server.workers").message,
              HasSubstr("expected auto or a whole number from 1 to 1024, got \"many\""));
  EXPECT_THAT(error_at(result, "watch").message, HasSubstr("expected true or false"));
  EXPECT_THAT(error_at(result, "upstreams.users.max_connections").message,
              HasSubstr("expected a single value, got a list"));
  EXPECT_EQ(result.errors.size(), 4u) << describe(result);  // a single target is fine
}

TEST(ConfigLoader, BadDurationsAndSizesAreReported) {
  auto result = load(R"(server:
  limits: {max_header_bytes: 16QiB, max_body_bytes: lots, header_timeout: 10, idle_timeout: 0s}
  drain_timeout: 1 fortnight
)");
  EXPECT_THAT(error_at(result, "server.limits.max_header_bytes").message,
              HasSubstr("expected a size like"));
  EXPECT_THAT(error_at(result, "server.limits.max_body_bytes").message, HasSubstr("got \"lots\""));
  EXPECT_THAT(error_at(result, "server.limits.header_timeout").message,
              HasSubstr("expected a duration like"));
  EXPECT_THAT(error_at(result, "server.limits.idle_timeout").message,
              HasSubstr("greater than zero"));
  EXPECT_THAT(error_at(result, "server.drain_timeout").message, HasSubstr("1 fortnight"));
}

TEST(ConfigLoader, UndefinedUpstreamIsReportedWithASuggestion) {
  auto result = load(with_upstream(R"(
routes:
  - match: {prefix: /users}
    upstream: user
)"));
  EXPECT_EQ(error_at(result, "routes[0].upstream").message,
            "undefined upstream \"user\"; did you mean \"users\"?");
}

TEST(ConfigLoader, UndefinedProvidersPoliciesAndCallUpstreamsAreReported) {
  auto result = load(with_upstream(R"(
auth:
  users-jwt: {type: jwt, secret: k}
rate_limits:
  policies: {per-ip: {key: client_ip, rate: 10/s}}
routes:
  - match: {path: "/d/{id}"}
    auth: [users-jwt, partner-keys]
    rate_limit: [per-ip, global]
    aggregate:
      calls:
        a: {upstream: users, path: "/a/{id}"}
        b: {upstream: nobody, path: "/b"}
)"));
  EXPECT_THAT(error_at(result, "routes[0].auth[1]").message,
              HasSubstr("undefined auth provider \"partner-keys\""));
  EXPECT_THAT(error_at(result, "routes[0].rate_limit[1]").message,
              HasSubstr("undefined rate limit policy \"global\""));
  EXPECT_THAT(error_at(result, "routes[0].aggregate.calls.b.upstream").message,
              HasSubstr("undefined upstream \"nobody\""));
  EXPECT_EQ(result.errors.size(), 3u) << describe(result);
}

TEST(ConfigLoader, AggregateDependenciesAreCheckedAtTheirLines) {
  auto result = load(with_upstream(R"(
routes:
  - match: {path: "/d/{id}"}
    aggregate:
      calls:
        a: {upstream: users, path: "/a/{b.id}", depends_on: [b]}
        b: {upstream: users, path: "/b/{c.id}", depends_on: [c]}
        c: {upstream: users, path: "/c", depends_on: [a]}
  - match: {path: "/e/{id}"}
    aggregate:
      calls:
        user: {upstream: users, path: "/u/{id}", depends_on: [usr, user]}
        orders: {upstream: users, path: "/o?user={user.id}&{query}", fields: [id, total]}
)"));
  auto cycle = error_at(result, "routes[0].aggregate.calls.a.depends_on");
  EXPECT_THAT(cycle.message, HasSubstr("depends_on makes a cycle: a -> b -> c -> a"));
  EXPECT_EQ(cycle.mark.line, 10);  // call a's line, below the three of the upstream
  EXPECT_THAT(error_at(result, "routes[1].aggregate.calls.user.depends_on[0]").message,
              HasSubstr("undefined call \"usr\"; did you mean \"user\"?"));
  EXPECT_THAT(error_at(result, "routes[1].aggregate.calls.user.depends_on[1]").message,
              HasSubstr("a call cannot depend on itself"));
  EXPECT_THAT(error_at(result, "routes[1].aggregate.calls.orders.path").message,
              HasSubstr("{user.id} takes a field of call \"user\", so this call needs "
                        "depends_on: [user]"));
  EXPECT_EQ(result.errors.size(), 4u) << describe(result);
}

TEST(ConfigLoader, AggregateCallsReadDependenciesFieldsAndTheQuery) {
  auto result = load(with_upstream(R"(
routes:
  - match: {path: "/d/{id}"}
    aggregate:
      timeout: 2s
      calls:
        user: {upstream: users, path: "/users/{id}"}
        orders: {upstream: users, path: "/orders?user_id={user.id}&{query}", depends_on: user}
        profile: {upstream: users, path: "/p/{id}", optional: true, fields: [bio, avatar]}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  const auto& calls = result.config->routes[0].aggregate->calls;
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_THAT(calls[1].depends_on, ElementsAre("user"));
  EXPECT_THAT(calls[2].fields, ElementsAre("bio", "avatar"));
  EXPECT_TRUE(calls[2].optional);
}

TEST(ConfigLoader, DuplicateRouteNamesAreErrors) {
  auto result = load(with_upstream(R"(
routes:
  - {name: users, match: {prefix: /users}, upstream: users}
  - {name: users, match: {prefix: /people}, upstream: users}
  - {match: {path: /ping}, respond: {body: pong}}
  - {match: {path: /ping}, respond: {body: pong}}
)"));
  EXPECT_THAT(error_at(result, "routes[1].name").message,
              HasSubstr("duplicate route name \"users\" (also routes[0])"));
  EXPECT_THAT(error_at(result, "routes[3].match").message,
              HasSubstr("duplicate route name \"/ping\""));
}

TEST(ConfigLoader, RouteNameDefaultsToTheMatchPattern) {
  auto result = load(with_upstream(R"(
routes:
  - {match: {prefix: /users}, upstream: users}
  - {match: {regex: "^/v[0-9]+/x$"}, upstream: users}
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(result.config->routes[0].name, "/users");
  EXPECT_EQ(result.config->routes[1].name, "^/v[0-9]+/x$");
  EXPECT_EQ(result.config->routes[1].match.kind(), RouteMatch::Kind::Regex);
}

TEST(ConfigLoader, RouteNeedsExactlyOneAction) {
  auto result = load(with_upstream(R"(
routes:
  - name: nothing
    match: {prefix: /a}
  - name: two
    match: {prefix: /b}
    upstream: users
    respond: {status: 204}
)"));
  EXPECT_THAT(error_at(result, "routes[0]").message,
              HasSubstr("a route needs one action: upstream, respond, aggregate or grpc"));
  EXPECT_THAT(error_at(result, "routes[1].respond").message,
              HasSubstr("exactly one action, but this one has both upstream and respond"));
}

TEST(ConfigLoader, MatchNeedsExactlyOneOfPrefixPathRegex) {
  auto result = load(with_upstream(R"(
routes:
  - {match: {prefix: /a, path: /a}, upstream: users}
  - {match: {methods: [GET]}, upstream: users, name: x}
)"));
  EXPECT_THAT(error_at(result, "routes[0].match").message, HasSubstr("only one of"));
  EXPECT_THAT(error_at(result, "routes[1].match").message,
              HasSubstr("expected one of prefix, path or regex"));
}

TEST(ConfigLoader, BadRegexesReportRe2sError) {
  auto result = load(with_upstream(R"(
routes:
  - match: {regex: "^/(unclosed"}
    upstream: users
  - match:
      prefix: /h
      headers: {X-Version: "~[v"}
      query: {beta: "~(?P<x"}
    upstream: users
)"));
  EXPECT_THAT(error_at(result, "routes[0].match.regex").message,
              HasSubstr("invalid RE2 pattern \"^/(unclosed\": missing )"));
  EXPECT_THAT(error_at(result, "routes[1].match.headers.X-Version").message,
              HasSubstr("invalid RE2 pattern \"[v\""));
  EXPECT_THAT(error_at(result, "routes[1].match.query.beta").message,
              HasSubstr("invalid RE2 pattern"));
}

TEST(ConfigLoader, TildeValuesBecomeRegexMatches) {
  auto result = load(with_upstream(R"(
routes:
  - match:
      prefix: /h
      methods: [get, Post]
      host: API.Example.com
      headers: {X-Version: "~^v[0-9]+$", X-Exact: "2"}
    upstream: users
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  const RouteMatch& match = result.config->routes[0].match;
  EXPECT_THAT(match.methods, ElementsAre("GET", "POST"));
  EXPECT_EQ(match.host, "api.example.com");
  ASSERT_EQ(match.headers.size(), 2u);
  EXPECT_EQ(match.headers[0].value, "^v[0-9]+$");
  EXPECT_TRUE(match.headers[0].regex);
  EXPECT_EQ(match.headers[1].value, "2");
  EXPECT_FALSE(match.headers[1].regex);
}

TEST(ConfigLoader, RewriteMayUseOnlyParamsTheMatchDefines) {
  auto result = load(with_upstream(R"(
routes:
  - {match: {path: "/u/{id}"}, upstream: users, rewrite: "/users/{id}/{jwt.sub}/{consumer}"}
  - {match: {prefix: /p}, upstream: users, rewrite: "/q/{rest}"}
  - {match: {path: "/files/{rest...}"}, upstream: users, rewrite: "/f/{rest}"}
  - {match: {path: "/v/{id}"}, upstream: users, rewrite: "/v/{name}", name: bad}
  - {match: {prefix: /w}, upstream: users, rewrite: "/w/{id}", name: bad2}
)"));
  EXPECT_THAT(error_at(result, "routes[3].rewrite").message,
              HasSubstr("{name} is not defined by the route's match (it defines id"));
  EXPECT_THAT(error_at(result, "routes[4].rewrite").message, HasSubstr("{id} is not defined"));
  EXPECT_EQ(result.errors.size(), 2u) << describe(result);
}

TEST(ConfigLoader, PathTemplatesAreValidated) {
  auto result = load(with_upstream(R"(
routes:
  - {match: {path: "/a/{rest...}/b"}, upstream: users}
  - {match: {path: "/a/v{id}"}, upstream: users}
  - {match: {path: "/a/{id}/{id}"}, upstream: users}
  - {match: {path: "a/b"}, upstream: users}
  - {match: {path: "/a//b"}, upstream: users}
)"));
  EXPECT_THAT(error_at(result, "routes[0].match.path").message, HasSubstr("last segment"));
  EXPECT_THAT(error_at(result, "routes[1].match.path").message, HasSubstr("whole segment"));
  EXPECT_THAT(error_at(result, "routes[2].match.path").message, HasSubstr("appears twice"));
  EXPECT_THAT(error_at(result, "routes[3].match.path").message, HasSubstr("starts with /"));
  EXPECT_THAT(error_at(result, "routes[4].match.path").message, HasSubstr("empty segment"));
}

TEST(ConfigLoader, ExampleConfigLoadsWithWarningsForUnbuiltSections) {
  auto result = load(kExample, {{"JWT_SECRET", "test-secret"}});
  ASSERT_TRUE(result.ok()) << describe(result);
  const Config& config = *result.config;
  EXPECT_EQ(config.upstreams.size(), 4u);
  ASSERT_EQ(config.routes.size(), 6u);
  EXPECT_EQ(config.upstreams.at("users").balance, "least_connections");
  EXPECT_EQ(config.upstreams.at("users").retries->on,
            (std::vector<std::string>{"connect_failure", "reset", "502", "503"}));
  EXPECT_EQ(config.auth.at("users-jwt").type, "jwt");
  EXPECT_EQ(config.auth.at("users-jwt").secret, "test-secret");
  ASSERT_EQ(config.rate_limits->policies.size(), 2u);
  EXPECT_EQ(config.rate_limits->policies[0].name, "per-ip");
  EXPECT_EQ(config.rate_limits->policies[1].name, "service");
  EXPECT_EQ(config.rate_limits->store, "memory");

  const RouteConfig& products = config.routes[0];
  EXPECT_EQ(products.upstream, "products");
  EXPECT_THAT(*products.rate_limit, ElementsAre("per-ip", "service"));
  ASSERT_TRUE(products.cache.has_value());
  EXPECT_EQ(products.cache->ttl, std::chrono::seconds(30));
  const RouteConfig& users = config.routes[1];
  EXPECT_THAT(users.auth, ElementsAre("users-jwt"));
  EXPECT_THAT(*users.rate_limit, ElementsAre("per-ip"));  // from defaults
  EXPECT_EQ(users.compress, true);
  EXPECT_EQ(users.cors, true);
  EXPECT_FALSE(users.cache.has_value());
  const RouteConfig& dashboard = config.routes[3];
  ASSERT_TRUE(dashboard.aggregate.has_value());
  EXPECT_EQ(dashboard.aggregate->calls.size(), 3u);
  EXPECT_TRUE(dashboard.aggregate->calls[2].optional);
  EXPECT_EQ(config.routes[4].rewrite, "/users/{rest}");
  EXPECT_TRUE(config.routes[5].grpc.has_value());

  std::string warnings;
  for (const auto& warning : result.warnings) warnings += warning + "\n";
  for (auto feature : {"grpc:", "protocol grpc:"}) {
    EXPECT_THAT(warnings, HasSubstr(feature)) << warnings;
  }
  // Built features are not warned about.
  for (auto feature :
       {"aggregate:", "auth:", "cors:", "rate_limits:", "retries:", "circuit_breaker:",
        "health_check:", "balance least_connections:", "cache:", "compress:"}) {
    EXPECT_THAT(warnings, Not(HasSubstr(feature))) << warnings;
  }
}

TEST(ConfigLoader, TheContractsExampleFileLoads) {
  std::string path = std::string(PORTICO_SPEC_DIR) + "/portico.example.yaml";
  if (!std::ifstream(path)) GTEST_SKIP() << path << " not found";
  auto result = load_config_file(path, env_of({{"JWT_SECRET", "test-secret"}}));
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_FALSE(result.warnings.empty());
}

TEST(ConfigLoader, ExampleConfigWithoutItsSecretFailsAtTheSecret) {
  auto result = load(kExample);
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].key_path, "auth.users-jwt.secret");
}

TEST(ConfigLoader, DefaultsApplyOnlyToRoutesThatDoNotSetThem) {
  auto result = load(with_upstream(R"(
auth:
  jwt: {type: jwt, secret: k}
rate_limits:
  policies: {per-ip: {key: client_ip, rate: 10/s}}
defaults: {auth: jwt, rate_limit: per-ip, compress: true, timeout: 3s, cache: {ttl: 10s}}
routes:
  - {name: plain, match: {prefix: /a}, upstream: users}
  - name: own
    match: {prefix: /b}
    upstream: users
    auth: none
    rate_limit: []
    compress: false
    timeout: 1s
)"));
  ASSERT_TRUE(result.ok()) << describe(result);
  const RouteConfig& plain = result.config->routes[0];
  EXPECT_THAT(plain.auth, ElementsAre("jwt"));
  EXPECT_THAT(*plain.rate_limit, ElementsAre("per-ip"));
  EXPECT_EQ(plain.compress, true);
  EXPECT_EQ(plain.timeout, std::chrono::seconds(3));
  EXPECT_TRUE(plain.cache.has_value());
  const RouteConfig& own = result.config->routes[1];
  EXPECT_THAT(own.auth, ElementsAre("none"));
  EXPECT_TRUE(own.rate_limit->empty());
  EXPECT_EQ(own.compress, false);
  EXPECT_EQ(own.timeout, std::chrono::seconds(1));
}

TEST(ConfigLoader, ServerListenDefaultsAndAcceptsAStringOrAList) {
  auto defaults = load("watch: true\n");
  ASSERT_TRUE(defaults.ok()) << describe(defaults);
  ASSERT_EQ(defaults.config->server.listen.size(), 1u);
  EXPECT_EQ(defaults.config->server.listen[0].text, "0.0.0.0:8080");
  EXPECT_EQ(defaults.config->server.workers, 0);
  EXPECT_FALSE(defaults.config->admin.listen.has_value());
  EXPECT_TRUE(defaults.config->watch);

  auto one = load("server: {listen: \"[::]:8443\", workers: 4}\n");
  ASSERT_TRUE(one.ok()) << describe(one);
  EXPECT_EQ(one.config->server.listen[0].host, "::");
  EXPECT_EQ(one.config->server.listen[0].port, 8443);
  EXPECT_EQ(one.config->server.workers, 4);

  auto many = load("server: {listen: [127.0.0.1:80, \"[::1]:81\"], workers: auto}\n");
  ASSERT_TRUE(many.ok()) << describe(many);
  EXPECT_EQ(many.config->server.listen.size(), 2u);
  EXPECT_EQ(many.config->server.workers, 0);
}

TEST(ConfigLoader, AddressesAreValidated) {
  auto result = load(R"(server:
  listen: [":80", "::1:80", "127.0.0.1:99999", "host"]
  trusted_proxies: [10.0.0.0/8, "::1/128", 10.0.0.0/33]
admin: {listen: 0.0.0.0:8080}
)");
  for (int i = 0; i < 4; ++i) {
    EXPECT_THAT(error_at(result, "server.listen[" + std::to_string(i) + "]").message,
                HasSubstr("expected an address like"));
  }
  EXPECT_THAT(error_at(result, "server.trusted_proxies[2]").message,
              HasSubstr("expected an IP network"));
  EXPECT_EQ(result.errors.size(), 5u) << describe(result);
}

TEST(ConfigLoader, AdminListenerMayNotShareTheServersPort) {
  auto result = load("admin: {listen: 127.0.0.1:8080}\n");
  EXPECT_THAT(error_at(result, "admin.listen").message, HasSubstr("collides with server.listen"));
}

TEST(ConfigLoader, UpstreamTlsIsReadAndChecked) {
  auto good = load(R"(upstreams:
  users:
    targets: ["https://10.0.0.1:8443", "http://10.0.0.2:8080"]
    tls: {ca: /dev/null, verify: false, server_name: api.internal, cert: /dev/null, key: /dev/null}
  plain:
    targets: ["https://api.internal"]
)");
  ASSERT_TRUE(good.ok()) << describe(good);
  const auto& tls = good.config->upstreams.at("users").tls;
  EXPECT_EQ(tls.ca_file, "/dev/null");
  EXPECT_FALSE(tls.verify);
  EXPECT_EQ(tls.server_name, "api.internal");
  EXPECT_EQ(tls.cert_file, "/dev/null");
  EXPECT_EQ(tls.key_file, "/dev/null");
  const auto& defaults = good.config->upstreams.at("plain").tls;
  EXPECT_TRUE(defaults.verify);
  EXPECT_TRUE(defaults.ca_file.empty());

  auto bad = load(R"(upstreams:
  http_only:
    targets: ["http://a:1"]
    tls: {verify: false}
  half_pair:
    targets: ["https://a:1"]
    tls: {cert: /dev/null}
  missing:
    targets: ["https://a:1"]
    tls: {ca: /nonexistent/ca.pem, verfy: true}
)");
  EXPECT_THAT(error_at(bad, "upstreams.http_only.tls").message, HasSubstr("https:// targets"));
  EXPECT_THAT(error_at(bad, "upstreams.half_pair.tls").message, HasSubstr("both cert and key"));
  EXPECT_THAT(error_at(bad, "upstreams.missing.tls.ca").message,
              HasSubstr("cannot read \"/nonexistent/ca.pem\""));
  EXPECT_THAT(error_at(bad, "upstreams.missing.tls.verfy").message, HasSubstr("verify"));
}

TEST(ConfigLoader, UpstreamTargetsAreParsedAndValidated) {
  auto good = load(R"(upstreams:
  users:
    targets: ["https://api.internal", {url: "http://[::1]:9000", weight: 3}]
)");
  ASSERT_TRUE(good.ok()) << describe(good);
  const auto& targets = good.config->upstreams.at("users").targets;
  EXPECT_EQ(targets[0].scheme, "https");
  EXPECT_EQ(targets[0].port, 443);
  EXPECT_EQ(targets[1].host, "::1");
  EXPECT_EQ(targets[1].port, 9000);
  EXPECT_EQ(targets[1].weight, 3u);

  auto bad = load(R"(upstreams:
  users:
    targets: ["ftp://a:1", "http://a:1/api", "127.0.0.1:80", {url: "http://a:1", weight: 0}]
  empty: {targets: []}
  none: {}
)");
  EXPECT_THAT(error_at(bad, "upstreams.users.targets[0]").message, HasSubstr("http or https"));
  EXPECT_THAT(error_at(bad, "upstreams.users.targets[1]").message, HasSubstr("no path"));
  EXPECT_THAT(error_at(bad, "upstreams.users.targets[2]").message, HasSubstr("no scheme"));
  EXPECT_THAT(error_at(bad, "upstreams.users.targets[3].weight").message,
              HasSubstr("from 1 to 10000"));
  EXPECT_THAT(error_at(bad, "upstreams.empty.targets").message, HasSubstr("at least one"));
  EXPECT_THAT(error_at(bad, "upstreams.none").message, HasSubstr("missing key \"targets\""));
}

TEST(ConfigLoader, UpstreamEnumsAndResilienceSettingsAreValidated) {
  auto result = load(R"(upstreams:
  users:
    targets: [http://a:1]
    protocol: http3
    balance: round_robbin
    hash_key: header:X-User
    retries: {attempts: 2, on: [reset, 200, nope]}
    circuit_breaker: {failure_rate: 150%}
    health_check: {type: udp, path: health}
    outlier_detection: {eject_for: soon}
)");
  EXPECT_THAT(error_at(result, "upstreams.users.protocol").message,
              HasSubstr("expected one of http1 | http2 | grpc"));
  EXPECT_THAT(error_at(result, "upstreams.users.balance").message,
              HasSubstr("did you mean \"round_robin\"?"));
  EXPECT_THAT(error_at(result, "upstreams.users.hash_key").message,
              HasSubstr("only with balance: consistent_hash"));
  EXPECT_THAT(error_at(result, "upstreams.users.retries.on[1]").message,
              HasSubstr("from 400 to 599"));
  EXPECT_THAT(error_at(result, "upstreams.users.retries.on[2]").message, HasSubstr("nope"));
  EXPECT_THAT(error_at(result, "upstreams.users.circuit_breaker.failure_rate").message,
              HasSubstr("percentage"));
  EXPECT_THAT(error_at(result, "upstreams.users.health_check.type").message,
              HasSubstr("http | tcp"));
  EXPECT_THAT(error_at(result, "upstreams.users.health_check.path").message,
              HasSubstr("starting with /"));
  EXPECT_THAT(error_at(result, "upstreams.users.outlier_detection.eject_for").message,
              HasSubstr("duration"));
}

TEST(ConfigLoader, AuthProvidersAreValidatedByType) {
  auto result = load(R"(auth:
  a: {type: jwtt, secret: k}
  b: {type: api_key, header: X-Key, keys: {k1: partner}, secret: k}
  c: {type: jwt, secret: k, algorithms: [none, RS256]}
  d: {type: jwt}
  e: {type: oauth2_introspection, url: "http://idp/introspect"}
  f: {secret: k}
)");
  EXPECT_THAT(error_at(result, "auth.a.type").message, HasSubstr("did you mean \"jwt\"?"));
  EXPECT_THAT(error_at(result, "auth.b.secret").message,
              HasSubstr("does not apply to type api_key"));
  EXPECT_THAT(error_at(result, "auth.c.algorithms[0]").message, HasSubstr("never accepted"));
  EXPECT_THAT(error_at(result, "auth.c.algorithms[1]").message,
              HasSubstr("a secret signs HS256/HS384/HS512 only"));
  EXPECT_THAT(error_at(result, "auth.d").message, HasSubstr("needs one key"));
  EXPECT_THAT(error_at(result, "auth.e").message, HasSubstr("missing key \"client_id\""));
  EXPECT_THAT(error_at(result, "auth.f").message, HasSubstr("missing key \"type\""));
}

// A key noted `required` (for a provider: of its type) is reported at the mapping that lacks
// it, one error a key, in the order the struct declares them.
TEST(ConfigLoader, ReportsEachMissingRequiredKeyAtItsMapping) {
  auto result = load(with_upstream(R"(
auth:
  idp: {type: oauth2_introspection}
rate_limits:
  policies:
    p: {}
routes:
  - match: {prefix: /a}
    aggregate: {calls: {one: {}}}
  - match: {prefix: /g}
    grpc: {}
)"));
  EXPECT_EQ(describe(result),
            "portico.yaml:7:8: auth.idp: missing key \"url\"\n"
            "portico.yaml:7:8: auth.idp: missing key \"client_id\"\n"
            "portico.yaml:10:8: rate_limits.policies.p: missing key \"key\"\n"
            "portico.yaml:10:8: rate_limits.policies.p: missing key \"rate\"\n"
            "portico.yaml:13:30: routes[0].aggregate.calls.one: missing key \"upstream\"\n"
            "portico.yaml:13:30: routes[0].aggregate.calls.one: missing key \"path\"\n"
            "portico.yaml:15:11: routes[1].grpc: missing key \"upstream\"\n"
            "portico.yaml:15:11: routes[1].grpc: missing key \"descriptors\"\n"
            "portico.yaml:15:11: routes[1].grpc: missing key \"method\"\n");
}

TEST(ConfigLoader, RequireRolesNeedsAuth) {
  auto result = load(with_upstream(R"(
routes:
  - {match: {prefix: /a}, upstream: users, require_roles: [admin]}
)"));
  EXPECT_THAT(error_at(result, "routes[0].require_roles").message, HasSubstr("needs auth"));
}

TEST(ConfigLoader, CorsTrueNeedsTheTopLevelPolicy) {
  auto result = load(with_upstream(R"(
routes:
  - {match: {prefix: /a}, upstream: users, cors: true}
)"));
  EXPECT_THAT(error_at(result, "routes[0].cors").message, HasSubstr("no cors section"));
}

TEST(ConfigLoader, GrpcRoutesNeedAGrpcUpstream) {
  auto result = load(with_upstream(R"(
routes:
  - match: {path: /g}
    grpc: {upstream: users, descriptors: g.pb, method: NoSlash}
)"));
  EXPECT_THAT(error_at(result, "routes[0].grpc.upstream").message,
              HasSubstr("needs protocol: grpc"));
  EXPECT_THAT(error_at(result, "routes[0].grpc.method").message,
              HasSubstr("package.Service/Method"));
}

TEST(ConfigLoader, EachUnbuiltFeatureWarnsOnceNamingWhere) {
  auto result = load(R"(upstreams:
  a: {targets: [http://a:1], protocol: http2}
  b: {targets: [http://b:1], protocol: http2}
observability: {tracing: {sample_ratio: 10%}}
)");
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_THAT(result.warnings,
              ElementsAre("protocol http2: accepted but not enforced by this build yet (at "
                          "upstreams.a.protocol, upstreams.b.protocol)",
                          "tracing: accepted but not enforced by this build yet (at "
                          "observability.tracing)"));
}

TEST(ConfigLoader, DuplicateKeysAreReported) {
  auto result = load(R"(upstreams:
  users: {targets: [http://a:1]}
  users: {targets: [http://b:1]}
)");
  auto error = error_at(result, "upstreams.users");
  EXPECT_EQ(error.mark.line, 3);
  EXPECT_THAT(error.message, HasSubstr("duplicate key \"users\" (first at line 2)"));
}

TEST(ConfigLoader, EmptyConfigSaysHowToGetOne) {
  for (std::string_view text : {"", "   \n", "# only a comment\n"}) {
    auto result = load(text);
    ASSERT_EQ(result.errors.size(), 1u) << describe(result);
    EXPECT_EQ(result.errors[0].to_string(),
              "portico.yaml: config is empty; run `portico init` to write a starter file");
  }
}

TEST(ConfigLoader, MissingFileSaysItCannotBeRead) {
  auto result = load_config_file("/nonexistent/portico.yaml", env_of({}));
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(),
            "cannot read /nonexistent/portico.yaml: No such file or directory");
}

TEST(ConfigLoader, LoadsAFileAndRemembersItsPath) {
  std::string path = ::testing::TempDir() + "portico_config_test.yaml";
  {
    std::ofstream out(path);
    out << starter_config();
  }
  auto result = load_config_file(path, env_of({}));
  std::remove(path.c_str());
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(result.config->source_path, path);
}

TEST(ConfigLoader, YamlSyntaxErrorsCarryTheirMark) {
  auto result = load("server:\n  listen: [0.0.0.0:8080\nroutes: []\n");
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_GT(result.errors[0].mark.line, 0);
  EXPECT_THAT(result.errors[0].message, HasSubstr("invalid YAML"));
}

TEST(ConfigLoader, ASecondYamlDocumentIsAnError) {
  auto result = load("watch: true\n---\nwatch: false\n");
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].mark.line, 2);  // its ---
  EXPECT_THAT(result.errors[0].message, HasSubstr("expected one YAML document"));
  EXPECT_TRUE(load("watch: true\n---\n").ok());
}

// yaml-cpp 0.7's LoadAll never returns on these (found by config_loader_fuzz).
TEST(ConfigLoader, StrayCommasDoNotHangTheParser) {
  for (std::string_view text : {",", ", a", "watch: true\n,\n"}) {
    auto result = load(text);
    EXPECT_FALSE(result.ok()) << text;
  }
}

TEST(ConfigLoader, DeeplyNestedInputIsRejected) {
  auto result = load(std::string(5000, '['));
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_EQ(result.errors[0].message, "invalid YAML: nested too deeply");
}

TEST(ConfigLoader, TopLevelMustBeAMapping) {
  auto result = load("- server\n");
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  EXPECT_THAT(result.errors[0].message, HasSubstr("expected a mapping, got a list"));
}

TEST(ConfigLoader, SelfReferencingAliasesDoNotLoop) {
  auto result = load("server: &s {listen: *s}\nroutes: &r [*r]\n");
  EXPECT_FALSE(result.ok());
}

TEST(ConfigLoader, StarterConfigValidatesCleanly) {
  auto result = load(starter_config());
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.config->routes.size(), 2u);
  EXPECT_TRUE(result.config->admin.listen.has_value());
}

}  // namespace
}  // namespace portico::config

namespace portico::config {
namespace {

TEST(ConfigLoader, ReadsTheRateLimitStoresAndTheirErrorsAtTheirLines) {
  auto ok = load(R"(
rate_limits:
  store: redis
  redis: {cluster: [127.0.0.1:7000, "127.0.0.1:7001"], timeout: 20ms}
  on_store_error: local
  expected_instances: 3
  max_keys: 5000
  policies: {p: {key: client_ip+header:X-K, rate: 5/s}}
routes: []
)");
  ASSERT_TRUE(ok.ok()) << describe(ok);
  const auto& limits = *ok.config->rate_limits;
  EXPECT_EQ(limits.redis->cluster, (std::vector<std::string>{"127.0.0.1:7000", "127.0.0.1:7001"}));
  EXPECT_EQ(limits.on_store_error, "local");
  EXPECT_EQ(limits.expected_instances, 3u);
  EXPECT_EQ(limits.max_keys, 5000u);
  EXPECT_EQ(limits.policies[0].burst, 5u);

  auto bad = load(R"(
rate_limits:
  store: redis
  redis: {url: "redis://127.0.0.1:6379/0", cluster: [127.0.0.1:7000]}
  on_store_error: sometimes
  max_keys: 0
routes: []
)");
  EXPECT_THAT(error_at(bad, "rate_limits.redis.cluster").to_string(), HasSubstr("portico.yaml:4:"));
  EXPECT_THAT(error_at(bad, "rate_limits.redis.cluster").message, HasSubstr("not both"));
  EXPECT_THAT(error_at(bad, "rate_limits.on_store_error").message,
              HasSubstr("allow | deny | local"));
  EXPECT_EQ(error_at(bad, "rate_limits.max_keys").mark.line, 6);

  auto neither = load("rate_limits: {store: redis, redis: {timeout: 5ms}}\nroutes: []\n");
  EXPECT_THAT(describe(neither), HasSubstr("missing key \"url\""));
  auto bad_node = load("rate_limits: {redis: {cluster: [\"nohost\"]}}\nroutes: []\n");
  EXPECT_THAT(describe(bad_node), HasSubstr("rate_limits.redis.cluster[0]"));
}

TEST(ConfigLoader, ReadsServerHttp2AndPointsAtABadWindow) {
  auto ok = load(R"(
server:
  http2: {enabled: false, max_concurrent_streams: 32, initial_window: 256KiB}
routes: []
)");
  ASSERT_TRUE(ok.ok()) << describe(ok);
  EXPECT_FALSE(ok.config->server.http2.enabled);
  EXPECT_EQ(ok.config->server.http2.max_concurrent_streams, 32u);
  EXPECT_EQ(ok.config->server.http2.initial_window, 256u * 1024);

  auto defaults = load("routes: []\n");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults.config->server.http2.enabled);
  EXPECT_EQ(defaults.config->server.http2.initial_window, 1024u * 1024);

  auto bad = load(R"(
server:
  http2:
    initial_window: 1KiB
    max_concurrent_streams: 0
    max_streams: 3
routes: []
)");
  ASSERT_EQ(bad.errors.size(), 3u) << describe(bad);
  EXPECT_EQ(bad.errors[0].key_path, "server.http2.initial_window");
  EXPECT_EQ(bad.errors[0].mark.line, 4);
  EXPECT_EQ(bad.errors[1].key_path, "server.http2.max_concurrent_streams");
  EXPECT_EQ(bad.errors[2].key_path, "server.http2.max_streams");
}

}  // namespace
}  // namespace portico::config
