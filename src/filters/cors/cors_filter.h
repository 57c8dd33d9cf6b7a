// The top-level `cors:` policy on a route with `cors: true`. A preflight (OPTIONS with Origin
// and Access-Control-Request-Method) is answered here, 204 or 403, before authentication: a
// browser sends it without credentials. Other requests from an allowed origin get the
// Access-Control-* response headers, also on the gateway's own error answers.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/filter.h"

namespace portico::filters::cors {

class CorsFilter final : public proxy::Filter {
 public:
  explicit CorsFilter(const config::CorsConfig& config);

  std::string_view name() const override { return "cors"; }
  proxy::Next on_request(proxy::RequestContext& ctx) const override;
  void on_response(const proxy::RequestContext& ctx, std::string& head) const override;

 private:
  bool origin_allowed(std::string_view origin) const;
  bool method_allowed(std::string_view method) const;
  bool headers_allowed(std::string_view requested) const;
  void append_allow_origin(std::string& head, std::string_view origin) const;

  std::vector<std::string> origins_;
  std::vector<std::string> methods_;
  std::vector<std::string> headers_;
  bool any_origin_ = false;
  bool any_header_ = false;
  bool credentials_ = false;
  // Header lines built once.
  std::string preflight_lines_;  // Allow-Methods, Allow-Headers, Max-Age
  std::string expose_line_;
};

}  // namespace portico::filters::cors
