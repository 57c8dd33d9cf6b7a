// `routes:` and the `defaults:` they inherit: match, action and per-route settings.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"
#include "filters/ip_rules/ip_rules_config.h"
#include "filters/validate/validate_config.h"

namespace portico::config {

struct ValueMatch {
  std::string name;
  std::string value;   // exact value, or an RE2 pattern when `regex`
  bool regex = false;  // written with a leading `~`
};
BOOST_DESCRIBE_STRUCT(ValueMatch, (), (name, value, regex))

inline constexpr std::string_view kValueMatchesSchema = R"({"$ref": "#/$defs/valueMatches"})";

// Exactly one of prefix, path and regex is set, as written.
struct RouteMatch {
  enum class Kind { Prefix, Path, Regex };
  std::string prefix;
  std::string path;  // a template: literal and {param} segments
  std::string regex;
  std::vector<std::string> methods;  // upper case; empty = all
  std::string host;                  // exact or "*.example.com"; empty = any
  std::vector<ValueMatch> headers;
  std::vector<ValueMatch> query;

  Kind kind() const {
    return !path.empty() ? Kind::Path : !regex.empty() ? Kind::Regex : Kind::Prefix;
  }
  const std::string& pattern() const {
    return !path.empty() ? path : !regex.empty() ? regex : prefix;
  }
};
BOOST_DESCRIBE_STRUCT(RouteMatch, (), (prefix, path, regex, methods, host, headers, query))
constexpr auto notes_of(const RouteMatch*) {
  return std::to_array<Note>({
      {.member = "", .extend = R"({"oneOf": [{"required": ["prefix"]}, {"required": ["path"]},
                    {"required": ["regex"]}]})"},
      {.member = "prefix", .empty = Empty::Omitted, .schema = kPathSchema},
      {.member = "path",
       .empty = Empty::Omitted,
       .description = "Literal segments and {param} segments; {rest...} catches the tail.",
       .schema = kPathSchema},
      {.member = "regex", .empty = Empty::Omitted, .description = "RE2"},
      {.member = "headers", .schema = kValueMatchesSchema},
      {.member = "query", .schema = kValueMatchesSchema},
  });
}

// `cache:` on a route (or in `defaults:`): filters/cache stores and serves its answers.
struct RouteCacheConfig {
  Duration ttl = 0ms;             // upper bound; an upstream's max-age / s-maxage below it wins
  std::vector<std::string> vary;  // request headers that split entries (lower case)
  Duration stale_while_revalidate = 0ms;
  Duration stale_if_error = 0ms;
  bool shared = false;  // false: on routes with auth, each consumer has its own entries
  bool operator==(const RouteCacheConfig&) const = default;
};
BOOST_DESCRIBE_STRUCT(RouteCacheConfig, (),
                      (ttl, vary, stale_while_revalidate, stale_if_error, shared))
constexpr auto notes_of(const RouteCacheConfig*) {
  return std::to_array<Note>(
      {{.member = "", .key = "routeCache"},
       {.member = "ttl", .required = true},
       {.member = "stale_while_revalidate",
        .description = "Serve a stale entry this long past its expiry while one background "
                       "request refreshes it."},
       {.member = "stale_if_error",
        .description = "Serve a stale entry this long past its expiry when the upstream fails "
                       "(5xx, connect, timeout)."},
       {.member = "shared",
        .description = "On routes with auth: true shares entries between consumers."}});
}

struct AggregateCall {
  std::string name;
  std::string upstream;
  // May use {param}, {rest}, {jwt.CLAIM}, {consumer}, {client_cert.subject}, {query} (the
  // client's query string) and {call.field.sub} (a field of a call named in depends_on).
  std::string path;
  bool optional = false;
  std::vector<std::string> depends_on;  // calls that answer before this one starts
  std::vector<std::string> fields;      // top-level members kept; empty: all
};
BOOST_DESCRIBE_STRUCT(AggregateCall, (), (name, upstream, path, optional, depends_on, fields))
constexpr auto notes_of(const AggregateCall*) {
  return std::to_array<Note>(
      {{.member = "name", .where = Where::Neither},
       {.member = "upstream", .required = true},
       {.member = "path", .required = true, .schema = kPathSchema},
       {.member = "optional",
        .description = "A failure of this call gives null and X-Aggregate-Complete: false "
                       "instead of failing the answer."},
       {.member = "depends_on",
        .empty = Empty::Omitted,
        .description = "Calls that must answer first; {call.field} takes a field of their JSON.",
        .schema = kStringListSchema},
       {.member = "fields",
        .empty = Empty::Omitted,
        .description = "Keep only these top-level members of the answer.",
        .schema = kStringListSchema}});
}

// `aggregate:` on a route (actions/aggregate).
struct AggregateConfig {
  std::optional<Duration> timeout;
  std::vector<AggregateCall> calls;  // in the order written
};
BOOST_DESCRIBE_STRUCT(AggregateConfig, (), (timeout, calls))
constexpr auto notes_of(const AggregateConfig*) {
  return std::to_array<Note>({{.member = "calls",
                               .required = true,
                               .by_name = true,
                               .extend = R"({"minProperties": 1})"}});
}

inline constexpr std::string_view kJsonNames[] = {"camel", "original"};

// `grpc:` on a route; built by the transcoding issue.
struct GrpcConfig {
  std::string upstream;
  std::string descriptors;  // FileDescriptorSet path
  std::string method;       // package.Service/Method
  std::string json_names = "camel";
};
BOOST_DESCRIBE_STRUCT(GrpcConfig, (), (upstream, descriptors, method, json_names))
constexpr auto notes_of(const GrpcConfig*) {
  return std::to_array<Note>({
      {.member = "upstream", .required = true},
      {.member = "descriptors", .required = true},
      {.member = "method",
       .required = true,
       .schema = R"({"type": "string", "pattern": "^[^/]+/[^/]+$"})"},
      {.member = "json_names", .choices = kJsonNames},
  });
}

struct RespondConfig {
  int status = 200;
  std::string body;
  HeaderList headers;
};
BOOST_DESCRIBE_STRUCT(RespondConfig, (), (status, body, headers))
constexpr auto notes_of(const RespondConfig*) {
  return std::to_array<Note>(
      {{.member = "status", .schema = R"({"type": "integer", "minimum": 100, "maximum": 599})"}});
}

// `websocket: true | false | {idle_timeout: D}`; upgrades are relayed unless false (403).
struct WebSocketConfig {
  bool enabled = true;
  Duration idle_timeout = std::chrono::minutes(10);
};
BOOST_DESCRIBE_STRUCT(WebSocketConfig, (), (enabled, idle_timeout))
constexpr auto notes_of(const WebSocketConfig*) {
  return std::to_array<Note>({{.member = "", .shorthand = R"({"$ref": "#/$defs/boolean"})"},
                              {.member = "enabled", .where = Where::ViewOnly}});
}

struct RouteConfig {
  std::string name;
  Mark mark;
  RouteMatch match;
  std::string upstream;  // proxy action target; empty for respond / aggregate / grpc
  std::string strip_prefix;
  std::string rewrite;
  HeaderList set_headers;
  std::vector<std::string> remove_headers;
  HeaderList response_headers;
  std::optional<Duration> timeout;
  WebSocketConfig websocket;

  // The route's filters and actions beyond proxying. Those this build lacks are still parsed
  // and kept so validation and reload see them: grpc makes the route answer 501 (the route
  // compiler, proxy/runtime.cc).
  std::vector<std::string> auth;  // provider names; ["none"] = explicitly none
  std::vector<std::string> require_roles;
  std::vector<std::string> require_scopes;
  std::optional<std::vector<std::string>> rate_limit;
  std::optional<RouteCacheConfig> cache;
  std::optional<bool> compress;
  std::optional<bool> cors;
  std::optional<filters::ip_rules::IpRulesConfig> ip;
  std::optional<filters::validate::ValidateConfig> validate;
  std::optional<RespondConfig> respond;
  std::optional<AggregateConfig> aggregate;
  std::optional<GrpcConfig> grpc;
};
BOOST_DESCRIBE_STRUCT(RouteConfig, (),
                      (name, mark, match, upstream, strip_prefix, rewrite, set_headers,
                       remove_headers, response_headers, timeout, websocket, auth, require_roles,
                       require_scopes, rate_limit, cache, compress, cors, ip, validate, respond,
                       aggregate, grpc))
constexpr auto notes_of(const RouteConfig*) {
  return std::to_array<Note>({
      {.member = "",
       .key = "route",
       .extend = R"({"oneOf": [{"required": ["upstream"]}, {"required": ["respond"]},
                    {"required": ["aggregate"]}, {"required": ["grpc"]}]})"},
      {.member = "name", .description = "Unique; defaults to the match's path."},
      {.member = "mark", .where = Where::Neither},
      {.member = "match", .required = true},
      {.member = "upstream", .empty = Empty::Null},
      {.member = "strip_prefix", .schema = kPathSchema},
      {.member = "rewrite", .schema = kPathSchema},
      {.member = "websocket",
       .description = "Relay WebSocket upgrades (true, the default on upstream routes), refuse "
                      "them with 403 (false), or set the idle timeout."},
      {.member = "auth",
       .description = "A provider, a list of providers (any one may pass), or none."},
      {.member = "ip", .empty = Empty::Omitted},
      {.member = "validate", .empty = Empty::Omitted},
      {.member = "respond", .empty = Empty::Omitted},
      {.member = "aggregate", .empty = Empty::Omitted},
      {.member = "grpc", .empty = Empty::Omitted},
  });
}

// `defaults:` — route settings applied to routes that do not set them.
struct DefaultsConfig {
  std::vector<std::string> auth;
  std::optional<std::vector<std::string>> rate_limit;
  std::optional<bool> cors;
  std::optional<bool> compress;
  std::optional<Duration> timeout;
  std::optional<RouteCacheConfig> cache;
};
BOOST_DESCRIBE_STRUCT(DefaultsConfig, (), (auth, rate_limit, cors, compress, timeout, cache))
constexpr auto notes_of(const DefaultsConfig*) {
  return std::to_array<Note>(
      {{.member = "",
        .description = "Route settings applied to every route that does not set them."}});
}

}  // namespace portico::config
