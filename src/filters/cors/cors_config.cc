#include "filters/cors/cors_config.h"

#include "config/yaml_reader.h"

namespace portico::filters::cors {

using config::assign;

std::optional<CorsConfig> read_cors_config(config::YamlReader& r,
                                           const std::optional<config::Field>& field) {
  auto f = r.mapping(field, config::yaml_keys<CorsConfig>());
  if (!f) return std::nullopt;
  CorsConfig out;
  if (auto origins = r.list(f->get("allow_origins"), true)) {
    for (const auto& item : *origins) {
      auto origin = r.non_empty(item);
      if (!origin) continue;
      if (*origin == "*")
        out.allow_origins.push_back(*origin);
      else if (auto url = r.url(item, {"https", "http"}))
        out.allow_origins.push_back(*url);
    }
  }
  if (auto methods = r.list(f->get("allow_methods"), true)) {
    for (const auto& item : *methods) {
      auto method = r.non_empty(item);
      if (!method) continue;
      std::string upper = config::upper_ascii(*method);
      if (config::is_http_method(upper))
        out.allow_methods.push_back(upper);
      else
        r.error(item, "expected an HTTP method like GET, got " + config::quoted(*method));
    }
  }
  assign(r.header_names(f->get("allow_headers")), out.allow_headers);
  assign(r.header_names(f->get("expose_headers")), out.expose_headers);
  assign(r.boolean(f->get("allow_credentials")), out.allow_credentials);
  assign(r.duration(f->get("max_age"), true), out.max_age);
  return out;
}

std::optional<bool> read_cors_switch(config::YamlReader& r,
                                     const std::optional<config::Field>& field, bool has_policy) {
  auto on = r.boolean(field);
  if (on.value_or(false) && !has_policy) {
    r.error(*field, "cors: true applies the top-level cors policy, but there is no cors section");
    return std::nullopt;
  }
  return on;
}

}  // namespace portico::filters::cors
