// `upstreams:` — named pools of targets, with their timeouts and resilience settings.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/sections.h"

namespace portico::config {
namespace {

// Upstream names become metric label values, so they stay plain.
bool is_plain_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::optional<Target> parse_target(std::string_view url, std::string& problem) {
  Target target;
  target.url = std::string(url);
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    problem = "it has no scheme";
    return std::nullopt;
  }
  target.scheme = std::string(url.substr(0, scheme_end));
  if (target.scheme != "http" && target.scheme != "https") {
    problem = "the scheme must be http or https";
    return std::nullopt;
  }
  std::string_view rest = url.substr(scheme_end + 3);
  auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  if (path_start != std::string_view::npos && rest.substr(path_start) != "/") {
    problem = "a target has no path; use strip_prefix or rewrite on the route";
    return std::nullopt;
  }
  if (authority.find('@') != std::string_view::npos) {
    problem = "credentials do not belong in a target URL; use set_headers on the route";
    return std::nullopt;
  }
  if (!split_host_port(authority, target.host, target.port, problem, false)) return std::nullopt;
  bool port_written = authority.size() > target.host.size() + (authority.front() == '[' ? 2 : 0);
  if (target.port == 0) {
    if (port_written) {
      problem = "port 0 cannot be connected to";
      return std::nullopt;
    }
    target.port = target.scheme == "https" ? 443 : 80;
  }
  return target;
}

void read_targets(YamlReader& r, const Fields& f, UpstreamConfig& upstream) {
  auto items = r.list(f.get("targets"), true);
  if (!items) {
    if (!f.has("targets")) {
      r.error(f.self(), "missing key \"targets\" (a list of http://host:port)");
    }
    return;
  }
  if (items->empty()) r.error(*f.get("targets"), "expected at least one target");
  for (const auto& item : *items) {
    std::optional<Field> url_field = item;
    std::uint32_t weight = 1;
    if (item.node.IsMap()) {
      auto target = r.mapping(item, yaml_keys<Target>());
      if (!target) continue;
      url_field = target->get("url");
      if (!url_field) {
        r.error(item, "missing key \"url\" (http://host:port)");
        continue;
      }
      assign(r.integer(target->get("weight"), 1, 10000), weight);
    }
    auto url = r.non_empty(url_field);
    if (!url) continue;
    std::string problem;
    if (auto target = parse_target(*url, problem)) {
      target->weight = weight;
      upstream.targets.push_back(std::move(*target));
    } else {
      r.error(*url_field, "expected a target like http://host:port or https://host:port, got " +
                              quoted(*url) + ": " + problem);
    }
  }
}

bool valid_hash_key(std::string_view key) {
  if (key == "client_ip" || key == "path") return true;
  for (std::string_view prefix : {"header:", "cookie:", "jwt:"}) {
    if (key.substr(0, prefix.size()) == prefix) {
      auto name = key.substr(prefix.size());
      return prefix == "header:" ? is_header_name(name) : !name.empty();
    }
  }
  return false;
}

void read_timeouts(YamlReader& r, const std::optional<Field>& field, UpstreamTimeouts& timeouts) {
  auto f = r.mapping(field, yaml_keys<UpstreamTimeouts>());
  if (!f) return;
  assign(r.duration(f->get("connect")), timeouts.connect);
  assign(r.duration(f->get("request")), timeouts.request);
  assign(r.duration(f->get("idle")), timeouts.idle);
}

std::optional<RetryConfig> read_retries(YamlReader& r, const std::optional<Field>& field) {
  auto f = r.mapping(field, yaml_keys<RetryConfig>());
  if (!f) return std::nullopt;
  RetryConfig out;
  out.on = {"connect_failure", "reset", "502", "503", "504"};
  assign(r.integer(f->get("attempts"), 0, 10), out.attempts);
  if (auto conditions = r.list(f->get("on"), true)) {
    out.on.clear();
    for (const auto& item : *conditions) {
      auto text = r.text(item);
      if (!text) continue;
      bool status =
          text->size() == 3 && *text >= "400" && *text <= "599" &&
          std::all_of(text->begin(), text->end(), [](char c) { return c >= '0' && c <= '9'; });
      if (status || *text == "connect_failure" || *text == "reset" || *text == "timeout") {
        out.on.push_back(*text);
      } else {
        r.error(item, "expected connect_failure, reset, timeout or a status from 400 to 599, got " +
                          quoted(*text));
      }
    }
  }
  assign(r.duration(f->get("backoff"), true), out.backoff);
  assign(r.percent(f->get("budget")), out.budget);
  if (auto methods = r.list(f->get("methods"), true)) {
    for (const auto& item : *methods) {
      auto text = r.non_empty(item);
      if (!text) continue;
      *text = upper_ascii(*text);
      if (is_http_method(*text))
        out.methods.push_back(*text);
      else
        r.error(item, "expected an HTTP method like GET, got " + quoted(*text));
    }
  }
  return out;
}

std::optional<CircuitBreakerConfig> read_circuit_breaker(YamlReader& r,
                                                         const std::optional<Field>& field) {
  auto f = r.mapping(field, yaml_keys<CircuitBreakerConfig>());
  if (!f) return std::nullopt;
  CircuitBreakerConfig out;
  assign(r.integer(f->get("consecutive_failures"), 1, 1000000), out.consecutive_failures);
  assign(r.percent(f->get("failure_rate")), out.failure_rate);
  assign(r.duration(f->get("window")), out.window);
  assign(r.integer(f->get("min_requests"), 1, 1000000), out.min_requests);
  assign(r.duration(f->get("open_for")), out.open_for);
  assign(r.integer(f->get("half_open_requests"), 1, 1000000), out.half_open_requests);
  assign(r.integer(f->get("max_requests"), 1, INT32_MAX), out.max_requests);
  if (out.failure_rate && *out.failure_rate <= 0) {
    r.error(*f->get("failure_rate"), "expected a failure rate above 0%");
  }
  return out;
}

std::optional<HealthCheckConfig> read_health_check(YamlReader& r,
                                                   const std::optional<Field>& field) {
  auto f = r.mapping(field, yaml_keys<HealthCheckConfig>());
  if (!f) return std::nullopt;
  HealthCheckConfig out;
  assign(r.choice(f->get("type"), kHealthCheckTypes), out.type);
  if (auto path = r.non_empty(f->get("path"))) {
    if (path->front() == '/')
      out.path = *path;
    else
      r.error(*f->get("path"), "expected a path starting with /, got " + quoted(*path));
  }
  assign(r.duration(f->get("interval")), out.interval);
  assign(r.duration(f->get("timeout")), out.timeout);
  assign(r.integer(f->get("healthy_after"), 1, 1000), out.healthy_after);
  assign(r.integer(f->get("unhealthy_after"), 1, 1000), out.unhealthy_after);
  return out;
}

std::optional<OutlierDetectionConfig> read_outlier_detection(YamlReader& r,
                                                             const std::optional<Field>& field) {
  auto f = r.mapping(field, yaml_keys<OutlierDetectionConfig>());
  if (!f) return std::nullopt;
  OutlierDetectionConfig out;
  assign(r.integer(f->get("consecutive_failures"), 1, 1000000), out.consecutive_failures);
  assign(r.duration(f->get("eject_for")), out.eject_for);
  assign(r.percent(f->get("max_ejected")), out.max_ejected);
  return out;
}

void read_tls(YamlReader& r, const std::optional<Field>& field, UpstreamConfig& upstream) {
  auto f = r.mapping(field, yaml_keys<UpstreamTlsConfig>());
  if (!f) return;
  auto& tls = upstream.tls;
  // Files are checked here too, so that the error points at the line; their contents are
  // checked when the TLS context is built.
  auto readable_file = [&](std::string_view key, std::string& out) {
    auto path = r.non_empty(f->get(key));
    if (!path) return;
    if (::access(path->c_str(), R_OK) != 0)
      r.error(*f->get(key), "cannot read " + quoted(*path) + ": " + std::strerror(errno));
    out = *path;
  };
  readable_file("ca", tls.ca_file);
  assign(r.boolean(f->get("verify")), tls.verify);
  assign(r.non_empty(f->get("server_name")), tls.server_name);
  readable_file("cert", tls.cert_file);
  readable_file("key", tls.key_file);
  if (f->has("cert") != f->has("key"))
    r.error(f->self(), "a client certificate needs both cert and key");
  bool any_https = std::any_of(upstream.targets.begin(), upstream.targets.end(),
                               [](const Target& t) { return t.scheme == "https"; });
  if (!any_https && !upstream.targets.empty())
    r.error(f->self(), "tls applies to https:// targets, and this upstream has none");
}

void read_upstream(YamlReader& r, const Field& field, UpstreamConfig& upstream) {
  auto f = r.mapping(field, yaml_keys<UpstreamConfig>());
  if (!f) return;
  read_targets(r, *f, upstream);
  if (auto protocol = r.choice(f->get("protocol"), kProtocols)) {
    upstream.protocol = *protocol;
    if (*protocol != "http1") r.not_built("protocol " + *protocol, f->get("protocol")->path);
  }
  assign(r.choice(f->get("balance"), kBalancers), upstream.balance);
  if (auto hash_key = r.non_empty(f->get("hash_key"))) {
    if (!valid_hash_key(*hash_key)) {
      r.error(*f->get("hash_key"),
              "expected client_ip, header:NAME, cookie:NAME, jwt:CLAIM or path, got " +
                  quoted(*hash_key));
    } else if (upstream.balance != "consistent_hash") {
      r.error(*f->get("hash_key"), "hash_key applies only with balance: consistent_hash");
    } else {
      upstream.hash_key = *hash_key;
    }
  }
  if (upstream.balance == "consistent_hash" && upstream.hash_key.empty()) {
    upstream.hash_key = "client_ip";
  }
  read_timeouts(r, f->get("timeouts"), upstream.timeouts);
  assign(r.integer(f->get("max_connections"), 1, INT32_MAX), upstream.max_connections);
  assign(r.duration(f->get("dns_refresh")), upstream.dns_refresh);
  upstream.retries = read_retries(r, f->get("retries"));
  upstream.circuit_breaker = read_circuit_breaker(r, f->get("circuit_breaker"));
  upstream.health_check = read_health_check(r, f->get("health_check"));
  upstream.outlier_detection = read_outlier_detection(r, f->get("outlier_detection"));
  read_tls(r, f->get("tls"), upstream);
}

}  // namespace

void read_upstreams(YamlReader& r, const std::optional<Field>& field, Config& config) {
  auto entries = r.entries(field);
  if (!entries) return;
  for (const auto& entry : *entries) {
    if (!is_plain_name(entry.key)) {
      r.error(entry.key_mark, entry.value.path,
              "an upstream name uses letters, digits, '-', '_' and '.', got " + quoted(entry.key));
    }
    // Kept even when invalid, so routes naming it get no second, misleading error.
    UpstreamConfig& upstream = config.upstreams[entry.key];
    upstream.name = entry.key;
    upstream.mark = entry.key_mark;
    read_upstream(r, entry.value, upstream);
  }
}

}  // namespace portico::config
