// `routes:` — match, action and per-route settings, with references checked against the
// sections already read, and `defaults:` applied.
#include <re2/re2.h>

#include <algorithm>
#include <functional>
#include <map>

#include "config/sections.h"

namespace portico::config {
namespace {

bool is_param_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// The params a path template defines, or what is wrong with it.
std::optional<std::vector<std::string>> parse_path_template(std::string_view path,
                                                            std::string& problem) {
  if (path.empty() || path.front() != '/') {
    problem = "a path starts with /";
    return std::nullopt;
  }
  std::vector<std::string> params;
  std::string_view rest = path.substr(1);
  while (true) {
    auto slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    bool last = slash == std::string_view::npos;
    if (segment.empty() && !last) {
      problem = "empty segment (//) can never match a normalized path";
      return std::nullopt;
    }
    if (!segment.empty() && segment.front() == '{') {
      if (segment.back() != '}') {
        problem = "a {param} must be a whole segment";
        return std::nullopt;
      }
      std::string_view name = segment.substr(1, segment.size() - 2);
      bool catch_all = name.size() > 3 && name.substr(name.size() - 3) == "...";
      if (catch_all) name.remove_suffix(3);
      if (catch_all && !last) {
        problem = "{" + std::string(name) + "...} catches the tail, so it must be the last segment";
        return std::nullopt;
      }
      if (!is_param_name(name)) {
        problem = quoted(segment) + " is not a {param}: names use letters, digits and _";
        return std::nullopt;
      }
      if (std::find(params.begin(), params.end(), name) != params.end()) {
        problem = "{" + std::string(name) + "} appears twice";
        return std::nullopt;
      }
      params.emplace_back(name);
    } else if (segment.find_first_of("{}") != std::string_view::npos) {
      problem = "a {param} must be a whole segment, as in /users/{id}";
      return std::nullopt;
    }
    if (last) break;
    rest = rest.substr(slash + 1);
  }
  return params;
}

// Empty when every {name} in `text` is one the route can fill.
// `more` may accept further names: it returns nullopt for a name it does not claim, an empty
// string for one it accepts, or what is wrong with it.
using MorePlaceholders = std::function<std::optional<std::string>(std::string_view)>;

std::string placeholder_problem(std::string_view text, const std::vector<std::string>& params,
                                const MorePlaceholders& more = {}) {
  std::size_t at = 0;
  while ((at = text.find_first_of("{}", at)) != std::string_view::npos) {
    if (text[at] == '}') return "unmatched }";
    auto close = text.find('}', at);
    if (close == std::string_view::npos) return "unclosed {";
    std::string_view name = text.substr(at + 1, close - at - 1);
    if (auto claimed = more ? more(name) : std::nullopt) {
      if (!claimed->empty()) return *claimed;
      at = close + 1;
      continue;
    }
    bool known = std::find(params.begin(), params.end(), name) != params.end() ||
                 name == "consumer" || name == "client_cert.subject" ||
                 (name.size() > 4 && name.substr(0, 4) == "jwt.");
    if (!known) {
      std::string defined;
      for (const auto& param : params) defined += (defined.empty() ? "" : ", ") + param;
      return "{" + std::string(name) + "} is not defined by the route's match (" +
             (defined.empty() ? "it defines no params" : "it defines " + defined) +
             "; {consumer}, {jwt.CLAIM} and {client_cert.subject} are always available)";
    }
    at = close + 1;
  }
  return {};
}

std::optional<std::string> compile_problem(const std::string& pattern,
                                           std::vector<std::string>* groups = nullptr) {
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(pattern, options);
  if (!re.ok()) return re.error();
  if (groups) {
    for (const auto& [name, index] : re.NamedCapturingGroups()) groups->push_back(name);
  }
  return std::nullopt;
}

std::optional<std::vector<ValueMatch>> read_value_matches(YamlReader& r,
                                                          const std::optional<Field>& field,
                                                          bool header_names) {
  auto entries = r.entries(field);
  if (!entries) return std::nullopt;
  std::vector<ValueMatch> out;
  for (const auto& entry : *entries) {
    if (header_names && !is_header_name(entry.key)) {
      r.error(entry.key_mark, entry.value.path, "expected a header name, got " + quoted(entry.key));
      continue;
    }
    auto value = r.text(entry.value);
    if (!value) continue;
    ValueMatch match{entry.key, *value, false};
    if (!value->empty() && value->front() == '~') {
      match.regex = true;
      match.value = value->substr(1);
      if (auto problem = compile_problem(match.value)) {
        r.error(entry.value, "invalid RE2 pattern " + quoted(match.value) + ": " + *problem);
        continue;
      }
    }
    out.push_back(std::move(match));
  }
  return out;
}

bool valid_host_pattern(std::string_view host) {
  if (host.substr(0, 2) == "*.") host.remove_prefix(2);
  return is_host_name(host) && host.find('*') == std::string_view::npos;
}

// Reads `match:`; returns the params it defines for rewrite and aggregate paths.
std::vector<std::string> read_match(YamlReader& r, const Field& field, RouteMatch& match) {
  std::vector<std::string> params;
  auto f = r.mapping(field, yaml_keys<RouteMatch>());
  if (!f) return params;
  int kinds = f->has("prefix") + f->has("path") + f->has("regex");
  if (kinds != 1) {
    r.error(f->self(), kinds == 0 ? "expected one of prefix, path or regex"
                                  : "expected only one of prefix, path or regex");
  }
  if (auto prefix = r.non_empty(f->get("prefix")); prefix && kinds == 1) {
    match.prefix = *prefix;
    params.push_back("rest");
    if (prefix->front() != '/') {
      r.error(*f->get("prefix"), "expected a prefix starting with /, got " + quoted(*prefix));
    } else if (prefix->find_first_of("{}") != std::string::npos) {
      r.error(*f->get("prefix"), "a prefix is literal; use path: for {params}");
    }
  }
  if (auto path = r.non_empty(f->get("path")); path && kinds == 1) {
    match.path = *path;
    std::string problem;
    if (auto names = parse_path_template(*path, problem))
      params = std::move(*names);
    else
      r.error(*f->get("path"), "invalid path template " + quoted(*path) + ": " + problem);
  }
  if (auto regex = r.non_empty(f->get("regex")); regex && kinds == 1) {
    match.regex = *regex;
    if (auto problem = compile_problem(*regex, &params)) {
      r.error(*f->get("regex"), "invalid RE2 pattern " + quoted(*regex) + ": " + *problem);
    }
  }
  if (auto methods = r.list(f->get("methods"), true)) {
    for (const auto& item : *methods) {
      auto method = r.non_empty(item);
      if (!method) continue;
      std::string upper = upper_ascii(*method);
      if (is_http_method(upper))
        match.methods.push_back(upper);
      else
        r.error(item, "expected an HTTP method like GET, got " + quoted(*method));
    }
  }
  if (auto host = r.non_empty(f->get("host"))) {
    std::string lowered = lower_ascii(*host);
    if (valid_host_pattern(lowered))
      match.host = lowered;
    else
      r.error(*f->get("host"),
              "expected a host like api.example.com or *.example.com, got " + quoted(*host));
  }
  assign(read_value_matches(r, f->get("headers"), true), match.headers);
  assign(read_value_matches(r, f->get("query"), false), match.query);
  return params;
}

std::string undefined(std::string_view what, const std::string& name,
                      const std::vector<std::string_view>& known) {
  std::string message = "undefined " + std::string(what) + " " + quoted(name);
  std::string suggestion = nearest(name, known);
  if (!suggestion.empty()) return message + "; did you mean " + quoted(suggestion) + "?";
  if (known.empty()) return message + " (none are defined)";
  std::string list;
  for (auto item : known) list += (list.empty() ? "" : ", ") + std::string(item);
  return message + " (defined: " + list + ")";
}

std::vector<std::string_view> upstream_names(const Config& config) {
  std::vector<std::string_view> names;
  for (const auto& [name, upstream] : config.upstreams) names.push_back(name);
  return names;
}

std::optional<std::string> read_upstream_name(YamlReader& r, const std::optional<Field>& field,
                                              const Config& config) {
  auto name = r.non_empty(field);
  if (name && !config.upstreams.count(*name)) {
    r.error(*field, undefined("upstream", *name, upstream_names(config)));
    return std::nullopt;
  }
  return name;
}

std::optional<RespondConfig> read_respond(YamlReader& r, const std::optional<Field>& field) {
  auto f = r.mapping(field, yaml_keys<RespondConfig>());
  if (!f) return std::nullopt;
  RespondConfig out;
  assign(r.integer(f->get("status"), 100, 599), out.status);
  assign(r.text(f->get("body")), out.body);
  assign(r.string_map(f->get("headers"), true), out.headers);
  return out;
}

// What an aggregate call's path may use beyond a rewrite's placeholders: {query}, and
// {call.field.sub} for a call it depends on.
MorePlaceholders aggregate_placeholders(const std::vector<std::string>& depends_on,
                                        const std::vector<std::string_view>& calls) {
  return [&](std::string_view name) -> std::optional<std::string> {
    if (name == "query") return std::string();
    auto dot = name.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    auto call = name.substr(0, dot);
    if (call == "jwt" || call == "client_cert") return std::nullopt;
    auto field = name.substr(dot + 1);
    if (field.empty() || field.front() == '.' || field.back() == '.' ||
        field.find("..") != std::string_view::npos)
      return "{" + std::string(name) + "} names an empty field";
    if (std::find(depends_on.begin(), depends_on.end(), call) != depends_on.end())
      return std::string();
    if (std::find(calls.begin(), calls.end(), call) == calls.end())
      return "{" + std::string(name) + "}: there is no call " + quoted(call);
    return "{" + std::string(name) + "} takes a field of call " + quoted(call) +
           ", so this call needs depends_on: [" + std::string(call) + "]";
  };
}

// The first cycle through depends_on, as "a -> b -> a"; empty when there is none.
std::string dependency_cycle(const std::vector<AggregateCall>& calls, std::size_t& first) {
  std::map<std::string_view, std::size_t> index;
  for (std::size_t i = 0; i < calls.size(); ++i) index[calls[i].name] = i;
  enum Mark { Unseen, OnPath, Done };
  std::vector<Mark> marks(calls.size(), Unseen);
  std::vector<std::size_t> path;
  std::function<bool(std::size_t)> visit = [&](std::size_t i) {
    if (marks[i] == Done) return false;
    if (marks[i] == OnPath) {
      path.erase(path.begin(), std::find(path.begin(), path.end(), i));
      path.push_back(i);
      return true;
    }
    marks[i] = OnPath;
    path.push_back(i);
    for (const auto& dependency : calls[i].depends_on)
      if (auto it = index.find(dependency); it != index.end() && visit(it->second)) return true;
    path.pop_back();
    marks[i] = Done;
    return false;
  };
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (!visit(i)) continue;
    std::string text;
    for (auto at : path) text += (text.empty() ? "" : " -> ") + calls[at].name;
    first = path.front();
    return text;
  }
  return {};
}

std::optional<AggregateConfig> read_aggregate(YamlReader& r, const std::optional<Field>& field,
                                              const Config& config,
                                              const std::vector<std::string>& params) {
  auto f = r.mapping(field, yaml_keys<AggregateConfig>());
  if (!f) return std::nullopt;
  AggregateConfig out;
  assign(r.duration(f->get("timeout")), out.timeout);
  auto calls = r.entries(f->get("calls"));
  if (!f->has("calls"))
    r.error(f->self(), "missing key \"calls\" (name: {upstream, path})");
  else if (calls && calls->empty())
    r.error(*f->get("calls"), "expected at least one call");
  const auto entries = calls.value_or(std::vector<Entry>{});
  std::vector<std::string_view> names;
  for (const auto& entry : entries) names.push_back(entry.key);
  std::vector<std::optional<Field>> depends_fields;
  for (const auto& entry : entries) {
    auto call = r.mapping(entry.value, yaml_keys<AggregateCall>());
    if (!call) continue;
    AggregateCall item;
    item.name = entry.key;
    r.require(*call, required_keys<AggregateCall>());
    assign(read_upstream_name(r, call->get("upstream"), config), item.upstream);
    assign(r.boolean(call->get("optional")), item.optional);
    if (auto items = r.list(call->get("depends_on"), true)) {
      for (const auto& dependency : *items) {
        auto name = r.non_empty(dependency);
        if (!name) continue;
        if (*name == item.name)
          r.error(dependency, "a call cannot depend on itself");
        else if (std::find(names.begin(), names.end(), *name) == names.end())
          r.error(dependency, undefined("call", *name, names));
        else if (std::find(item.depends_on.begin(), item.depends_on.end(), *name) ==
                 item.depends_on.end())
          item.depends_on.push_back(*name);
      }
    }
    if (auto path = r.non_empty(call->get("path"))) {
      std::string problem =
          path->front() == '/'
              ? placeholder_problem(*path, params, aggregate_placeholders(item.depends_on, names))
              : "a path starts with /";
      if (problem.empty())
        item.path = *path;
      else
        r.error(*call->get("path"), "invalid call path " + quoted(*path) + ": " + problem);
    }
    assign(r.strings(call->get("fields")), item.fields);
    for (const auto& kept : item.fields)
      if (kept.empty()) r.error(*call->get("fields"), "expected member names, got an empty one");
    depends_fields.push_back(call->get("depends_on"));
    out.calls.push_back(std::move(item));
  }
  std::size_t first = 0;
  if (auto cycle = dependency_cycle(out.calls, first); !cycle.empty() && depends_fields[first])
    r.error(*depends_fields[first], "depends_on makes a cycle: " + cycle);
  return out;
}

std::optional<GrpcConfig> read_grpc(YamlReader& r, const std::optional<Field>& field,
                                    const Config& config) {
  auto f = r.mapping(field, yaml_keys<GrpcConfig>());
  if (!f) return std::nullopt;
  GrpcConfig out;
  r.require(*f, required_keys<GrpcConfig>());
  if (auto upstream = read_upstream_name(r, f->get("upstream"), config)) {
    out.upstream = *upstream;
    if (config.upstreams.at(*upstream).protocol != "grpc") {
      r.error(*f->get("upstream"),
              "upstream " + quoted(*upstream) + " needs protocol: grpc to serve a grpc route");
    }
  }
  assign(r.non_empty(f->get("descriptors")), out.descriptors);
  if (auto method = r.non_empty(f->get("method"))) {
    auto slash = method->find('/');
    bool valid = slash != std::string::npos && slash > 0 && slash + 1 < method->size() &&
                 method->find('/', slash + 1) == std::string::npos;
    if (valid)
      out.method = *method;
    else
      r.error(*f->get("method"), "expected package.Service/Method, got " + quoted(*method));
  }
  assign(r.choice(f->get("json_names"), kJsonNames), out.json_names);
  return out;
}

// `websocket: true | false | {idle_timeout: D}`.
void read_websocket(YamlReader& r, const std::optional<Field>& field, RouteConfig& route) {
  if (!field) return;
  if (field->node.IsMap()) {
    auto f = r.mapping(field, yaml_keys<WebSocketConfig>());
    if (!f) return;
    route.websocket.enabled = true;
    assign(r.duration(f->get("idle_timeout")), route.websocket.idle_timeout);
    return;
  }
  assign(r.boolean(field), route.websocket.enabled);
}

// Returns where the route's name comes from, for duplicate-name errors.
Field read_route(YamlReader& r, const Field& field, Config& config, RouteConfig& route) {
  auto f = r.mapping(field, yaml_keys<RouteConfig>());
  if (!f) return field;
  std::vector<std::string> params;
  if (auto match = f->get("match"))
    params = read_match(r, *match, route.match);
  else
    r.error(f->self(), "missing key \"match\" (prefix, path or regex)");
  assign(r.non_empty(f->get("name")), route.name);
  if (route.name.empty()) route.name = route.match.pattern();

  std::vector<std::string> actions;
  for (auto key : {"upstream", "respond", "aggregate", "grpc"}) {
    if (f->has(key)) actions.emplace_back(key);
  }
  if (actions.empty()) {
    r.error(f->self(), "a route needs one action: upstream, respond, aggregate or grpc");
  } else if (actions.size() > 1) {
    r.error(*f->get(actions[1]), "a route takes exactly one action, but this one has both " +
                                     actions[0] + " and " + actions[1]);
  }
  assign(read_upstream_name(r, f->get("upstream"), config), route.upstream);
  route.respond = read_respond(r, f->get("respond"));
  route.aggregate = read_aggregate(r, f->get("aggregate"), config, params);
  route.grpc = read_grpc(r, f->get("grpc"), config);
  if (route.grpc) r.not_built("grpc", f->get("grpc")->path);

  if (auto strip = r.non_empty(f->get("strip_prefix"))) {
    if (strip->front() != '/') {
      r.error(*f->get("strip_prefix"), "expected a prefix starting with /, got " + quoted(*strip));
    } else if (route.match.kind() == RouteMatch::Kind::Prefix &&
               route.match.prefix.compare(0, strip->size(), *strip) != 0) {
      r.error(*f->get("strip_prefix"), quoted(*strip) + " is not a prefix of the match prefix " +
                                           quoted(route.match.prefix) + ", so it never applies");
    } else {
      route.strip_prefix = *strip;
    }
  }
  if (auto rewrite = r.non_empty(f->get("rewrite"))) {
    std::string problem =
        rewrite->front() == '/' ? placeholder_problem(*rewrite, params) : "a path starts with /";
    if (!problem.empty()) {
      r.error(*f->get("rewrite"), "invalid rewrite " + quoted(*rewrite) + ": " + problem);
    } else if (f->has("strip_prefix")) {
      r.error(*f->get("rewrite"), "rewrite builds the whole path; drop strip_prefix or rewrite");
    } else {
      route.rewrite = *rewrite;
    }
  }
  assign(r.string_map(f->get("set_headers"), true), route.set_headers);
  assign(r.header_names(f->get("remove_headers")), route.remove_headers);
  assign(r.string_map(f->get("response_headers"), true), route.response_headers);
  assign(r.duration(f->get("timeout")), route.timeout);

  assign(read_auth_names(r, f->get("auth"), config), route.auth);
  assign(r.strings(f->get("require_roles")), route.require_roles);
  assign(r.strings(f->get("require_scopes")), route.require_scopes);
  route.rate_limit = read_policy_names(r, f->get("rate_limit"), config);
  route.cache = read_route_cache(r, f->get("cache"));
  route.compress = r.boolean(f->get("compress"));
  route.cors = filters::cors::read_cors_switch(r, f->get("cors"), config.cors.has_value());
  route.ip = filters::ip_rules::read_ip_rules(r, f->get("ip"));
  route.validate = filters::validate::read_validate(r, f->get("validate"), config.source_path,
                                                    config.server.limits.max_body_bytes);
  read_websocket(r, f->get("websocket"), route);

  // What the route enables itself; what defaults enable is reported once under defaults.

  const DefaultsConfig& defaults = config.defaults;
  if (!f->has("auth")) route.auth = defaults.auth;
  if (!route.rate_limit) route.rate_limit = defaults.rate_limit;
  if (!route.compress) route.compress = defaults.compress;
  if (!route.cors) route.cors = defaults.cors;
  if (!route.timeout) route.timeout = defaults.timeout;
  if (!f->has("cache")) route.cache = defaults.cache;

  bool authenticated = !route.auth.empty() && route.auth.front() != "none";
  for (auto key : {"require_roles", "require_scopes"}) {
    if (f->has(key) && !authenticated) {
      r.error(*f->get(key), std::string(key) + " needs auth on the route (or in defaults)");
    }
  }
  return f->get("name").value_or(f->get("match").value_or(field));
}

}  // namespace

std::optional<std::vector<std::string>> read_auth_names(YamlReader& r,
                                                        const std::optional<Field>& field,
                                                        const Config& config) {
  auto items = r.list(field, true);
  if (!items) return std::nullopt;
  if (items->empty()) {
    r.error(*field, "expected a provider, a list of providers, or none");
    return std::nullopt;
  }
  std::vector<std::string_view> known;
  for (const auto& [name, provider] : config.auth) known.push_back(name);
  std::vector<std::string> out;
  bool failed = false;
  for (const auto& item : *items) {
    auto name = r.non_empty(item);
    if (!name) {
      failed = true;
    } else if (*name == "none") {
      if (items->size() > 1) {
        r.error(item, "none cannot be combined with providers");
        failed = true;
      }
      out.push_back(*name);
    } else if (!config.auth.count(*name)) {
      r.error(item, undefined("auth provider", *name, known));
      failed = true;
    } else {
      out.push_back(*name);
    }
  }
  if (failed) return std::nullopt;
  return out;
}

std::optional<std::vector<std::string>> read_policy_names(YamlReader& r,
                                                          const std::optional<Field>& field,
                                                          const Config& config) {
  auto items = r.list(field, true);
  if (!items) return std::nullopt;
  std::vector<std::string_view> known;
  if (config.rate_limits) {
    for (const auto& policy : config.rate_limits->policies) known.push_back(policy.name);
  }
  std::vector<std::string> out;
  bool failed = false;
  for (const auto& item : *items) {
    auto name = r.non_empty(item);
    if (!name) {
      failed = true;
    } else if (std::find(known.begin(), known.end(), *name) == known.end()) {
      r.error(item, undefined("rate limit policy", *name, known));
      failed = true;
    } else {
      out.push_back(*name);
    }
  }
  if (failed) return std::nullopt;
  return out;
}

std::optional<RouteCacheConfig> read_route_cache(YamlReader& r, const std::optional<Field>& field) {
  auto f = r.mapping(field, yaml_keys<RouteCacheConfig>());
  if (!f) return std::nullopt;
  RouteCacheConfig out;
  if (!f->has("ttl")) r.error(f->self(), "missing key \"ttl\" (how long entries live, like 30s)");
  assign(r.duration(f->get("ttl")), out.ttl);
  assign(r.header_names(f->get("vary")), out.vary);
  assign(r.duration(f->get("stale_while_revalidate"), true), out.stale_while_revalidate);
  assign(r.duration(f->get("stale_if_error"), true), out.stale_if_error);
  assign(r.boolean(f->get("shared")), out.shared);
  return out;
}

void read_routes(YamlReader& r, const std::optional<Field>& field, Config& config) {
  auto items = r.list(field);
  if (!items) return;
  std::map<std::string, std::string> seen;  // name -> key path of its first route
  for (const auto& item : *items) {
    RouteConfig route;
    route.mark = item.mark;
    Field name = read_route(r, item, config, route);
    if (!route.name.empty()) {
      auto [previous, inserted] = seen.emplace(route.name, item.path);
      if (!inserted) {
        r.error(name, "duplicate route name " + quoted(route.name) + " (also " + previous->second +
                          "); names label logs and metrics, so each route needs its own");
      }
    }
    config.routes.push_back(std::move(route));
  }
}

}  // namespace portico::config
