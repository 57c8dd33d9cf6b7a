#include "config/config_loader.h"

#include <arpa/inet.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <system_error>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include "config/sections.h"
#include "config/tls_files.h"
#include "config/yaml_reader.h"

namespace portico::config {
namespace {

Mark to_mark(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  Cidr out;
  out.text = std::string(text);
  auto slash = text.find('/');
  std::string address(text.substr(0, slash));
  out.v6 = address.find(':') != std::string::npos;
  int max_prefix = out.v6 ? 128 : 32;
  if (inet_pton(out.v6 ? AF_INET6 : AF_INET, address.c_str(), out.bytes) != 1) return std::nullopt;
  out.prefix = max_prefix;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    int prefix = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > max_prefix) return std::nullopt;
    out.prefix = prefix;
  }
  return out;
}

void read_tls(YamlReader& r, const std::optional<Field>& field, ServerConfig& server) {
  auto tls = r.mapping(field, yaml_keys<ServerTlsConfig>());
  if (!tls) return;
  ServerTlsConfig out;
  // The files are read here, so that a missing file, a bad PEM or a key that is not the
  // certificate's is reported at the line naming it.
  auto pem_file = [&](const Field& value_field, const std::string& path, auto problem_of) {
    std::string problem = problem_of(path);
    if (!problem.empty()) r.error(value_field, problem);
  };
  auto certificates = r.list(tls->get("certificates"));
  if (!certificates || certificates->empty()) {
    if (!certificates)
      r.error(tls->self(), "missing key \"certificates\" (a list of {cert, key})");
    else
      r.error(*tls->get("certificates"), "expected at least one {cert, key}");
  } else {
    for (const auto& item : *certificates) {
      auto pair = r.mapping(item, yaml_keys<TlsCertificate>());
      if (!pair) continue;
      TlsCertificate certificate;
      for (auto key : {"cert", "key"}) {
        auto value = pair->get(key);
        if (!value)
          r.error(item, std::string("missing key \"") + key + "\" (a PEM file)");
        else
          assign(r.non_empty(value),
                 key == std::string_view("cert") ? certificate.cert : certificate.key);
      }
      if (!certificate.cert.empty())
        pem_file(*pair->get("cert"), certificate.cert, certificate_file_problem);
      if (!certificate.key.empty()) pem_file(*pair->get("key"), certificate.key, key_file_problem);
      if (!certificate.cert.empty() && !certificate.key.empty() &&
          certificate_file_problem(certificate.cert).empty() &&
          key_file_problem(certificate.key).empty()) {
        auto mismatch = key_mismatch_problem(certificate.cert, certificate.key);
        if (!mismatch.empty()) r.error(*pair->get("key"), mismatch);
      }
      out.certificates.push_back(std::move(certificate));
    }
  }
  assign(r.choice(tls->get("min_version"), kTlsVersions), out.min_version);
  if (auto ca = r.non_empty(tls->get("client_ca"))) {
    pem_file(*tls->get("client_ca"), *ca, certificate_file_problem);
    out.client_ca = *ca;
    out.client_auth = "require";
  }
  assign(r.choice(tls->get("client_auth"), kClientAuthModes), out.client_auth);
  if (tls->has("client_auth") && !tls->has("client_ca"))
    r.error(*tls->get("client_auth"),
            "client_auth needs client_ca (the bundle that verifies "
            "client certificates)");
  server.tls = std::move(out);
}

void read_limits(YamlReader& r, const std::optional<Field>& field, Limits& limits) {
  auto f = r.mapping(field, yaml_keys<Limits>());
  if (!f) return;
  assign(r.size(f->get("max_header_bytes")), limits.max_header_bytes);
  assign(r.size(f->get("max_body_bytes")), limits.max_body_bytes);
  assign(r.duration(f->get("header_timeout")), limits.header_timeout);
  assign(r.duration(f->get("idle_timeout")), limits.idle_timeout);
  assign(r.integer(f->get("max_connections"), 1, INT32_MAX), limits.max_connections);
}

void read_http2(YamlReader& r, const std::optional<Field>& field, Http2Config& http2) {
  auto f = r.mapping(field, yaml_keys<Http2Config>());
  if (!f) return;
  assign(r.boolean(f->get("enabled")), http2.enabled);
  assign(r.integer(f->get("max_concurrent_streams"), 1, 1 << 20), http2.max_concurrent_streams);
  assign(r.size(f->get("initial_window")), http2.initial_window);
  // Below 16KiB every stream would stall on round trips; HTTP/2 caps a window at 2^31 - 1.
  if (f->has("initial_window") &&
      (http2.initial_window < 16 * 1024 || http2.initial_window > 0x7fffffffu))
    r.error(*f->get("initial_window"), "expected a size from 16KiB to 2GiB - 1");
}

// Where a second, non-empty YAML document starts, if there is one. Looks at two documents at
// most: yaml-cpp 0.7's LoadAll loops forever on a stray "," (jbeder/yaml-cpp#1040).
std::optional<Mark> second_document(const std::string& text) {
  class Probe final : public YAML::EventHandler {
   public:
    void OnDocumentStart(const YAML::Mark& mark) override { start = to_mark(mark); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override { content = true; }
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {
      content = true;
    }
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
      content = true;
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
      content = true;
    }
    void OnMapEnd() override {}
    Mark start;
    bool content = false;
  };
  std::istringstream in(text);
  YAML::Parser parser(in);
  Probe first;
  Probe second;
  if (!parser.HandleNextDocument(first) || !parser.HandleNextDocument(second)) return std::nullopt;
  if (!second.content) return std::nullopt;
  return second.start;
}

bool overlaps(const Endpoint& a, const Endpoint& b) {
  auto wildcard = [](const std::string& host) { return host == "0.0.0.0" || host == "::"; };
  return a.port != 0 && a.port == b.port &&
         (a.host == b.host || wildcard(a.host) || wildcard(b.host));
}

void read_config(YamlReader& r, const Field& root, Config& config) {
  auto f = r.mapping(root, yaml_keys<Config>());
  if (!f) return;
  read_server(r, f->get("server"), config.server);
  read_admin(r, f->get("admin"), config.admin);
  read_upstreams(r, f->get("upstreams"), config);
  config.auth = filters::auth::read_auth_config(r, f->get("auth"));
  config.rate_limits = filters::rate_limit::read_rate_limits_config(r, f->get("rate_limits"));
  config.cache = filters::cache::read_cache_config(r, f->get("cache"));
  config.compression = filters::compress::read_compression_config(r, f->get("compression"));
  config.cors = filters::cors::read_cors_config(r, f->get("cors"));
  read_defaults(r, f->get("defaults"), config);
  read_routes(r, f->get("routes"), config);
  read_observability(r, f->get("observability"), config.observability);
  assign(r.boolean(f->get("watch")), config.watch);

  if (config.admin.listen) {
    for (const auto& listen : config.server.listen) {
      if (overlaps(*config.admin.listen, listen)) {
        auto field = f->get("admin");
        r.error(field->mark, "admin.listen",
                "the admin listener " + config.admin.listen->text +
                    " collides with server.listen " + listen.text);
      }
    }
  }
}

}  // namespace

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

void read_server(YamlReader& r, const std::optional<Field>& field, ServerConfig& server) {
  auto f = r.mapping(field, yaml_keys<ServerConfig>());
  if (f) {
    if (auto listen = r.list(f->get("listen"), true)) {
      if (listen->empty()) r.error(*f->get("listen"), "expected at least one address");
      for (const auto& item : *listen) {
        if (auto endpoint = r.endpoint(item)) server.listen.push_back(std::move(*endpoint));
      }
    }
    if (auto workers = f->get("workers")) {
      if (auto text = r.text(workers); text && *text != "auto") {
        int count = 0;
        auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), count);
        if (ec == std::errc{} && end == text->data() + text->size() && count >= 1 &&
            count <= 1024) {
          server.workers = count;
        } else {
          r.error(*workers, "expected auto or a whole number from 1 to 1024, got " + quoted(*text));
        }
      }
    }
    read_tls(r, f->get("tls"), server);
    read_limits(r, f->get("limits"), server.limits);
    read_http2(r, f->get("http2"), server.http2);
    if (auto proxies = r.list(f->get("trusted_proxies"), true)) {
      for (const auto& item : *proxies) {
        auto text = r.text(item);
        if (!text) continue;
        if (auto cidr = parse_cidr(*text))
          server.trusted_proxies.push_back(std::move(*cidr));
        else
          r.error(item, "expected an IP network like 10.0.0.0/8 or ::1/128, got " + quoted(*text));
      }
    }
    assign(r.header_name(f->get("request_id_header")), server.request_id_header);
    assign(r.duration(f->get("drain_timeout"), true), server.drain_timeout);
  }
  if (!f || !f->has("listen")) server.listen.push_back(Endpoint{"0.0.0.0", 8080, "0.0.0.0:8080"});
}

void read_admin(YamlReader& r, const std::optional<Field>& field, AdminConfig& admin) {
  auto f = r.mapping(field, yaml_keys<AdminConfig>());
  if (!f) return;
  admin.listen = Endpoint{"127.0.0.1", 9901, "127.0.0.1:9901"};  // loopback unless told otherwise
  assign(r.endpoint(f->get("listen")), admin.listen);
  assign(r.text(f->get("token")), admin.token);
}

void read_observability(YamlReader& r, const std::optional<Field>& field,
                        ObservabilityConfig& observability) {
  auto f = r.mapping(field, yaml_keys<ObservabilityConfig>());
  if (!f) return;
  if (auto log = r.mapping(f->get("access_log"), yaml_keys<AccessLogConfig>())) {
    assign(r.non_empty(log->get("path")), observability.access_log.path);
    assign(r.choice(log->get("format"), kAccessLogFormats), observability.access_log.format);
  }
  assign(r.choice(f->get("log_level"), kLogLevels), observability.log_level);
  if (auto tracing = r.mapping(f->get("tracing"), yaml_keys<TracingConfig>())) {
    TracingConfig out;
    assign(r.boolean(tracing->get("propagate")), out.propagate);
    assign(r.url(tracing->get("otlp_endpoint"), {"http", "https"}), out.otlp_endpoint);
    assign(r.percent(tracing->get("sample_ratio")), out.sample_ratio);
    observability.tracing = std::move(out);
    r.not_built("tracing", tracing->self().path);
  }
}

namespace {

LoadResult load(std::string_view yaml, const std::string& file_name, std::string source_path,
                const EnvLookup& env) {
  LoadResult result;
  YamlReader reader(file_name, env);
  auto config = std::make_shared<Config>();
  config->source_path = std::move(source_path);
  try {
    std::string text(yaml);
    YAML::Node root = YAML::Load(text);
    if (root.IsNull()) {
      reader.error(Mark{}, "", "config is empty; run `portico init` to write a starter file");
    } else {
      if (auto second = second_document(text)) {
        reader.error(*second, "", "expected one YAML document; remove the second (after ---)");
      }
      read_config(reader, reader.root(root), *config);
    }
  } catch (const YAML::DeepRecursion& e) {
    reader.error(to_mark(e.mark), "", "invalid YAML: nested too deeply");
  } catch (const YAML::Exception& e) {
    reader.error(to_mark(e.mark), "", "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    reader.error(Mark{}, "", std::string("cannot read the config: ") + e.what());
  }
  result.errors = reader.take_errors();
  result.warnings = reader.warnings();
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

// The whole file, or the errno that stopped reading it (a directory fails here, not later).
std::optional<std::string> read_file(const std::string& path, int& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno;
    return std::nullopt;
  }
  std::string text;
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      error = errno;
      ::close(fd);
      return std::nullopt;
    }
  }
  ::close(fd);
  return text;
}

}  // namespace

LoadResult load_config_string(std::string_view yaml, const std::string& file_name,
                              const EnvLookup& env) {
  return load(yaml, file_name, "", env);
}

LoadResult load_config_file(const std::string& path, const EnvLookup& env) {
  int error = 0;
  auto text = read_file(path, error);
  if (!text) {
    LoadResult result;
    std::string reason = std::error_code(error, std::generic_category()).message();
    result.errors.push_back(ConfigError{"", {}, "", "cannot read " + path + ": " + reason});
    return result;
  }
  return load(*text, path, path, env);
}

}  // namespace portico::config
